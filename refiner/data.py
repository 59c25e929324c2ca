"""Unaligned two-domain data: which images a domain holds, their masks, and the pairs of an epoch.

A domain's layout is recognised by the re-id layout registry (`reid.data.registry`, the one
detector of the project) and read in one of three ways (`load_domain`):

* a generated dataset (this project's format, layout `generated`): images of the chosen
  subsets, masks from the dataset (the generator renders them exactly);
* a Market-1501-style folder (`market1501`, `dukemtmc`): the chosen subset folders that exist;
* any other folder (`folder`, `msmt17`, a folder holding CUHK03's .mat): every image below it,
  recursively.

Masks of real images come from a pluggable `MaskSource` (a folder of PNGs, a segmentation
model the user provides, or none). Each image and its mask are fitted into the training frame
without distortion and then go through exactly the same random crop and flip
(`refiner.images.PairTransform`).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import torch
from PIL import Image

from reid.data.registry import canonical_layout, get_layout
from reid.data.registry import detect_layout as detect_reid_layout
from synth_humans_addon.core.dataset import SUBSET_TRAIN, SUBSETS, DatasetFormatError, read_dataset

from .images import CropFlip, PairTransform, image_to_tensor, load_image, mask_to_tensor

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# How the refiner reads a domain (the names are recorded in run.json and printed). The
# generated format is the registry's `generated`; it was once "synth-humans", which
# `canonical_layout` still reads.
LAYOUT_GENERATED, LAYOUT_MARKET, LAYOUT_FOLDER = "generated", "market1501", "folder"


@dataclass(frozen=True)
class DomainItem:
    """One image of a domain: its file, its mask file if known, and its path relative to the root."""

    image: Path
    mask: Path | None
    key: str  # relative path, e.g. "bounding_box_train/0001_c1s1_000123_00.jpg"


@dataclass
class Domain:
    root: Path
    layout: str
    items: list[DomainItem]

    def __len__(self) -> int:
        return len(self.items)


# ---------------------------------------------------------------------------------------
# Mask sources


class MaskSource(Protocol):
    """Gives the person mask of an image: 8-bit L, 255 = person, same size as the image, or None."""

    def __call__(self, item: DomainItem, image: Image.Image) -> Image.Image | None: ...


class NoMasks:
    def __call__(self, item: DomainItem, image: Image.Image) -> Image.Image | None:
        return None

    def __repr__(self) -> str:
        return "none"


class ItemMasks:
    """The mask file recorded with the item (generated datasets)."""

    def __call__(self, item: DomainItem, image: Image.Image) -> Image.Image | None:
        if item.mask is None:
            return None
        return load_mask(item.mask, image.size)

    def __repr__(self) -> str:
        return "dataset"


class FolderMasks:
    """PNG masks in a folder: `<folder>/<key with .png>`, else `<folder>/<stem>.png`."""

    def __init__(self, folder: str | Path, required: bool = True):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"mask folder {self.folder} does not exist")
        self.required = required

    def path_for(self, item: DomainItem) -> Path | None:
        for candidate in (self.folder / Path(item.key).with_suffix(".png"), self.folder / f"{item.image.stem}.png"):
            if candidate.is_file():
                return candidate
        return None

    def __call__(self, item: DomainItem, image: Image.Image) -> Image.Image | None:
        path = self.path_for(item)
        if path is None:
            if self.required:
                raise FileNotFoundError(f"no mask for {item.image} in {self.folder} "
                                        f"(looked for {Path(item.key).with_suffix('.png')} and {item.image.stem}.png)")
            return None
        return load_mask(path, image.size)

    def __repr__(self) -> str:
        return f"folder:{self.folder.resolve()}"


class ModelMasks:
    """Masks computed on the fly by a user's segmentation function `f(PIL RGB image) -> mask`.

    The mask may be a PIL image, or a numpy/torch array of shape H × W in [0, 1] or 0…255.
    Running a segmentation network per loaded image is slow: prefer `python -m refiner masks`
    once, then a `FolderMasks` source.
    """

    def __init__(self, fn: Callable, name: str = "model", scheme: str = "python"):
        self.fn, self.name, self.scheme = fn, name, scheme

    def __call__(self, item: DomainItem, image: Image.Image) -> Image.Image | None:
        return mask_to_image(self.fn(image), image.size, f"{self.name} on {item.image}")

    def __repr__(self) -> str:  # parse_mask_source reads it back (a resumed run's mask source)
        return f"{self.scheme}:{self.name}"


def mask_to_image(mask, size: tuple[int, int], what: str) -> Image.Image:
    """Normalise a PIL / numpy / torch mask to an 8-bit L image of `size` (w, h)."""
    if isinstance(mask, Image.Image):
        im = mask.convert("L")
    else:
        arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        arr = np.squeeze(arr)
        if arr.ndim != 2:
            raise ValueError(f"{what}: mask has shape {arr.shape}, expected H × W")
        if arr.dtype != np.uint8:
            arr = np.clip(arr.astype(np.float32) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, "L")
    if im.size != size:
        raise ValueError(f"{what}: mask is {im.size[0]}×{im.size[1]}, image is {size[0]}×{size[1]}")
    return im


def parse_mask_source(spec: str | None, layout: str) -> MaskSource:
    """A mask source from its command-line form.

    `auto` (default): the dataset's own masks for generated datasets, none otherwise;
    `none`; `dataset`; `folder:PATH` or just an existing folder PATH;
    `python:package.module:function`, a segmentation function `f(PIL RGB image) -> mask`
    (build a model lazily inside it on the first call); `ours:PATH` (or `ours`, its default
    path), the person segmenter trained on our renders (`refiner.segmenter`, fast enough to
    run on every loaded image).
    """
    spec = spec or "auto"
    if spec == "ours" or spec.startswith("ours:"):
        from .segmenter import load_segmenter

        segmenter = load_segmenter(spec[len("ours:"):] or None, "cpu")
        return ModelMasks(segmenter, segmenter.source, scheme="ours")
    if spec == "auto":
        return ItemMasks() if canonical_layout(layout) == LAYOUT_GENERATED else NoMasks()
    if spec == "none":
        return NoMasks()
    if spec == "dataset":
        return ItemMasks()
    if spec.startswith("folder:"):
        return FolderMasks(spec[len("folder:"):])
    if spec.startswith("python:"):
        target = spec[len("python:"):]
        module_name, _, attr = target.rpartition(":")
        if not module_name:
            raise ValueError(f"mask source {spec!r}: expected python:package.module:function")
        fn = getattr(importlib.import_module(module_name), attr)
        if not callable(fn):
            raise ValueError(f"mask source {spec!r}: {attr} is not callable")
        return ModelMasks(fn, target)
    if Path(spec).is_dir():
        return FolderMasks(spec)
    raise ValueError(f"mask source {spec!r}: use auto, none, dataset, folder:PATH, ours[:PATH] or "
                     "python:module:function")


def load_mask(path: Path, size: tuple[int, int]) -> Image.Image:
    with Image.open(path) as m:
        mask = m.convert("L")
    if mask.size != size:
        raise DatasetFormatError(f"{path}: mask is {mask.size[0]}×{mask.size[1]}, its image {size[0]}×{size[1]}")
    return mask


# ---------------------------------------------------------------------------------------
# Domains


def detect_layout(root: Path) -> str:
    """How to read the folder `root`, from the layout the registry recognises in it."""
    layout = get_layout(detect_reid_layout(root))
    if layout.name == LAYOUT_GENERATED:
        return LAYOUT_GENERATED
    return LAYOUT_MARKET if layout.market_subsets else LAYOUT_FOLDER


def load_domain(root: str | Path, subsets: Sequence[str] = (SUBSET_TRAIN,), strict: bool = False) -> Domain:
    """List a domain's images (sorted, so runs are reproducible). `subsets` applies to the
    generated and Market-1501 layouts; an empty list or ["all"] takes every subset.
    Files a generated dataset lists but lacks are skipped with a warning (`strict`: refused)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"domain folder {root} does not exist")
    layout = detect_layout(root)
    take_all = not subsets or list(subsets) == ["all"]
    if layout == LAYOUT_GENERATED:
        ds = read_dataset(root, strict=strict)
        records = ds.images if take_all else [r for r in ds.images if r.subset in subsets]
        items = [DomainItem(r.path, r.mask_path, r.path.relative_to(root).as_posix()) for r in records]
    else:
        folders = [root] if layout == LAYOUT_FOLDER else \
            [root / s for s in (SUBSETS if take_all else subsets) if (root / s).is_dir()]
        items = [DomainItem(p, None, p.relative_to(root).as_posix())
                 for folder in folders for p in sorted(folder.rglob("*"))
                 if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()]
    items.sort(key=lambda it: it.key)
    if not items:
        raise FileNotFoundError(f"no images in {root} (layout {layout}, subsets {list(subsets)})")
    return Domain(root, layout, items)


# ---------------------------------------------------------------------------------------
# The unaligned two-domain dataset


class UnalignedPairs(torch.utils.data.Dataset):
    """Items are (A index, B index) pairs of an epoch plan; every item's crop/flip is drawn from
    a generator seeded by (seed, epoch, position, domain), so a run is the same whatever the
    number of loader workers, and a resumed run sees the same batches."""

    def __init__(self, domain_a: Domain, domain_b: Domain, masks_a: MaskSource, masks_b: MaskSource,
                 transform: PairTransform, seed: int = 0):
        self.a, self.b = domain_a, domain_b
        self.masks_a, self.masks_b = masks_a, masks_b
        self.transform, self.seed = transform, seed
        self.plan: list[tuple[int, int]] = []
        self.epoch, self.offset = 0, 0

    @property
    def epoch_length(self) -> int:
        """Items per epoch: the larger domain's size, as in the reference."""
        return max(len(self.a), len(self.b))

    def epoch_plan(self, epoch: int) -> list[tuple[int, int]]:
        """A runs through a shuffled order (cycling if B is larger), B is drawn at random."""
        rng = np.random.default_rng([self.seed, epoch, 0xA])
        n = self.epoch_length
        order_a = np.concatenate([rng.permutation(len(self.a)) for _ in range(-(-n // len(self.a)))])[:n]
        order_b = rng.integers(len(self.b), size=n)
        return [(int(i), int(j)) for i, j in zip(order_a, order_b)]

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use epoch `epoch`'s plan, skipping its first `start` items (a resumed epoch)."""
        self.epoch, self.offset = epoch, start
        self.plan = self.epoch_plan(epoch)[start:]

    def __len__(self) -> int:
        return len(self.plan)

    def load(self, domain: Domain, masks: MaskSource, index: int, params: CropFlip | None):
        item = domain.items[index]
        image = load_image(item.image)
        mask = masks(item, image)
        image, mask = self.transform(image, mask, params or self.transform.center())
        t = self.transform
        return image_to_tensor(image), mask_to_tensor(mask, t.height, t.width), mask is not None, item.key

    def __getitem__(self, position: int) -> dict:
        ia, ib = self.plan[position]
        rng = np.random.default_rng([self.seed, self.epoch, self.offset + position])
        a, ma, ha, ka = self.load(self.a, self.masks_a, ia, self.transform.draw(rng))
        b, mb, hb, kb = self.load(self.b, self.masks_b, ib, self.transform.draw(rng))
        return {"A": a, "B": b, "A_mask": ma, "B_mask": mb, "A_has_mask": ha, "B_has_mask": hb,
                "A_key": ka, "B_key": kb}

    def fixed_batch(self, count: int) -> dict:
        """`count` evenly spaced images per domain, centred, unflipped: the sample-grid batch."""
        def pick(domain: Domain, masks: MaskSource):
            idx = np.linspace(0, len(domain) - 1, min(count, len(domain))).round().astype(int)
            loaded = [self.load(domain, masks, int(i), None) for i in idx]
            return (torch.stack([x[0] for x in loaded]), torch.stack([x[1] for x in loaded]),
                    torch.tensor([x[2] for x in loaded]), [x[3] for x in loaded])

        a, ma, ha, ka = pick(self.a, self.masks_a)
        b, mb, hb, kb = pick(self.b, self.masks_b)
        return {"A": a, "B": b, "A_mask": ma, "B_mask": mb, "A_has_mask": ha, "B_has_mask": hb,
                "A_key": ka, "B_key": kb}
