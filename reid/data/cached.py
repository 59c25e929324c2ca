"""Decode-once training data: every crop is decoded and resized once into one uint8 tensor,
and batches are augmented as tensors in the training process.

Why: on a small CPU machine the per-epoch JPEG decoding and PIL resizing of the reference
pipeline (``torch_dataset.TrainImages`` + ``transforms.build_transforms`` in DataLoader
worker processes) competes with the training threads for the same cores. Decoding once
removes that work from every epoch after the first and needs no worker processes.

Invariants the fast path relies on (tested against the reference pipeline):

* ``decode_resized`` resizes exactly as ``transforms.build_transforms`` does (the same
  torchvision ``Resize`` on the same PIL image), so ``frames[i] / 255`` equals the reference
  ``ToTensor()`` output before flips and normalisation;
* ``augment.Augment`` draws the reference pipeline's augmentations, in distribution.
* Memory: N × 3 × H × W bytes (3,000 crops at 144 × 56 ≈ 73 MB; 25,600 ≈ 620 MB; 60,000 at
  256 × 128 ≈ 5.9 GB). Frames larger than the memory limit are decoded into a file-backed
  array (``numpy.memmap`` in the run's folder) instead: the operating system keeps what fits
  in its page cache, so a cache that fits runs at the same speed, and one that does not
  never exhausts memory. A complete file is reused when the same crops are decoded again at
  the same size (a resumed run skips the decoding). ``cache_images = false`` in the
  training options selects the reference pipeline.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .records import ImageItem

if TYPE_CHECKING:
    from .augment import Augment

log = logging.getLogger(__name__)


def available_memory() -> int:
    """Bytes of memory the system reports available (MemAvailable), or 4 GiB where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def _frames_key(items: list[ImageItem], height: int, width: int) -> str:
    h = hashlib.sha256(f"{height}x{width}".encode())
    for it in items:
        h.update(it.path.encode())
        h.update(b"\0")
    return h.hexdigest()


def decode_resized(items: list[ImageItem], height: int, width: int, progress: bool = False,
                   cache_file: Path | None = None, memory_limit: int | None = None
                   ) -> tuple[torch.Tensor, list[str]]:
    """(N × 3 × H × W uint8 frames, paths that could not be decoded). An unreadable image
    becomes a mid-grey frame and is reported, so indices stay aligned with `items`.

    With `cache_file`, frames over `memory_limit` bytes (default: half the available memory)
    live in that file, memory-mapped; a complete file of the same crops and size is reused.
    """
    from torchvision import transforms as T

    shape = (len(items), 3, height, width)
    nbytes = int(np.prod(shape))
    limit = available_memory() // 2 if memory_limit is None else memory_limit
    meta_file = cache_file.with_name(cache_file.name + ".json") if cache_file is not None else None
    key = _frames_key(items, height, width)
    if cache_file is not None and nbytes > limit:
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        if meta.get("key") == key and cache_file.is_file() and cache_file.stat().st_size == nbytes:
            log.info("reusing the decoded crops in %s", cache_file)
            array = np.memmap(cache_file, dtype=np.uint8, mode="c", shape=shape)  # copy-on-write: never written back
            return torch.from_numpy(array), list(meta.get("bad", []))
        log.info("decoded crops (%.1f GB) exceed the memory limit (%.1f GB): memory-mapped in %s",
                 nbytes / 1e9, limit / 1e9, cache_file)
        if meta_file.is_file():
            meta_file.unlink()
        array = np.memmap(cache_file, dtype=np.uint8, mode="w+", shape=shape)
        frames = torch.from_numpy(array)
    else:
        array, frames = None, torch.empty(shape, dtype=torch.uint8)
    resize = T.Resize((height, width))
    bad = []
    for i, it in enumerate(tqdm(items, desc="decoding crops", unit="img", disable=not progress, leave=False)):
        try:
            with Image.open(it.path) as im:
                arr = np.asarray(resize(im.convert("RGB")), dtype=np.uint8)
            frames[i] = torch.from_numpy(arr.copy()).permute(2, 0, 1)
        except (OSError, ValueError) as exc:
            log.warning("unreadable training image %s (%s): a grey frame stands in", it.path, exc)
            frames[i] = 128
            bad.append(it.path)
    if array is not None:
        array.flush()
        tmp = meta_file.with_name(meta_file.name + ".part")
        tmp.write_text(json.dumps({"key": key, "shape": list(shape), "bad": bad}))
        os.replace(tmp, meta_file)  # written last: only a complete file is ever reused
    return frames, bad


class CachedBatches:
    """Batches (images, labels) over decoded frames: shuffled (`batch_size`, drop_last like
    the reference loader) or drawn by a batch sampler (P×K). Deterministic given the seed
    set by :meth:`set_epoch`.

    `shard` (a ``torchkit.distributed.DistContext`` under DDP): every rank draws and augments the
    same global batch and yields only its slice, so the ranks together see exactly the
    images and augmentations of a one-process run (augmenting is cheap next to training)."""

    def __init__(self, frames: torch.Tensor, labels: list[int], batch_size: int, augment: Augment,
                 batch_sampler=None, seed: int = 0, shard=None):
        self.frames = frames
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.batch_size = batch_size
        self.augment = augment
        self.batch_sampler = batch_sampler
        self.seed = seed
        self.shard = shard if shard is not None and shard.enabled else None
        self.epoch = 0
        self.drop_last = len(labels) > batch_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.batch_sampler is not None:
            self.batch_sampler.set_epoch(epoch)

    def _index_batches(self, gen: torch.Generator) -> list[torch.Tensor]:
        if self.batch_sampler is not None:
            return [torch.as_tensor(b) for b in self.batch_sampler]
        order = torch.randperm(len(self.labels), generator=gen)
        batches = list(order.split(self.batch_size))
        if self.drop_last and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)  # resume-stable
        for idx in self._index_batches(gen):
            images, labels = self.augment(self.frames[idx], gen), self.labels[idx]
            if self.shard is None:
                yield images, labels
            elif len(idx) >= self.shard.world_size:  # as ShardedBatchSampler: no rank sits a step out
                yield self.shard.take(images), self.shard.take(labels)
