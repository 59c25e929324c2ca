"""The training set's batches, one epoch after another: decoded once and augmented as tensors
(`data.cached`, the default) or the torchvision reference pipeline in DataLoader workers
(``cache_images = false``); shuffled, or drawn P identities × K images for the triplet loss.

Each epoch's order is a function of the seed and the epoch (`set_epoch`), so a resumed run
draws the batches it would have drawn.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import torch

from torchkit.distributed import DistContext, ShardedBatchSampler

from .data.cached import CachedBatches, decode_resized
from .data.records import ImageItem
from .data.samplers import PKBatchSampler
from .data.torch_dataset import TrainImages
from .data.transforms import build_transforms
from .losses import needs_pk

if TYPE_CHECKING:
    from .options import TrainOptions

log = logging.getLogger(__name__)


def training_batches(items: list[ImageItem], opt: TrainOptions, height: int, width: int,
                     ctx: DistContext = DistContext()) -> tuple[Iterable, PKBatchSampler | None, TrainImages]:
    """(batches of (images, labels), the P×K sampler if one draws them, the labelled images)."""
    if opt.sampler not in ("random", "pk"):
        raise ValueError(f"sampler {opt.sampler!r}: expected 'random' or 'pk'")
    if opt.cache_images:  # no torchvision transforms: the frames are augmented as tensors
        ds = TrainImages(items, transform=None)
        return (*_cached_batches(ds, opt, height, width, ctx), ds)
    ds = TrainImages(items, build_transforms(height, width, train=True, augment=opt.augmentation()))
    return (*_reference_batches(ds, opt, ctx), ds)


def set_epoch(batches: Iterable, pk: PKBatchSampler | None, seed: int, epoch: int) -> None:
    """Make `epoch`'s order the same whether or not the run was resumed."""
    if isinstance(batches, CachedBatches):
        batches.set_epoch(epoch)
    elif pk is not None:
        pk.set_epoch(epoch)
    elif getattr(batches, "generator", None) is not None:
        batches.generator.manual_seed(seed * 1000 + epoch)


def _reference_batches(ds: TrainImages, opt: TrainOptions, ctx: DistContext):
    if opt.sampler == "pk" or needs_pk(opt):
        sampler = PKBatchSampler(ds.labels, opt.batch_size, opt.num_instances, opt.seed)
        batches = ShardedBatchSampler(sampler, ctx) if ctx.enabled else sampler
        return torch.utils.data.DataLoader(ds, batch_sampler=batches, num_workers=opt.workers), sampler
    gen = torch.Generator().manual_seed(opt.seed)
    if ctx.enabled:  # the batches DataLoader(shuffle=True, generator=gen) draws, this rank's slices
        batches = torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(ds, generator=gen), opt.batch_size,
                                                drop_last=len(ds) > opt.batch_size)
        return torch.utils.data.DataLoader(ds, batch_sampler=ShardedBatchSampler(batches, ctx), generator=gen,
                                           num_workers=opt.workers), None
    loader = torch.utils.data.DataLoader(ds, batch_size=opt.batch_size, shuffle=True, generator=gen,
                                         drop_last=len(ds) > opt.batch_size, num_workers=opt.workers)
    return loader, None


def _cached_batches(ds: TrainImages, opt: TrainOptions, height: int, width: int, ctx: DistContext):
    """The decode-once path (`data.cached`): same batches per epoch as the sampler says,
    augmentation on tensors in this process."""
    limit = opt.cache_memory_mb * (1 << 20) if opt.cache_memory_mb > 0 else None
    frames, bad = decode_resized(ds.items, height, width, opt.progress, Path(opt.output) / "frames.u8", limit)
    if bad:
        log.warning("%d unreadable training images replaced by grey frames (first: %s)", len(bad), bad[0])
    use_pk = opt.sampler == "pk" or needs_pk(opt)
    pk = PKBatchSampler(ds.labels, opt.batch_size, opt.num_instances, opt.seed) if use_pk else None
    return CachedBatches(frames, ds.labels, opt.batch_size, opt.augmentation(), pk, opt.seed, ctx), pk
