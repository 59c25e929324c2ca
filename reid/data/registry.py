"""The registry of dataset layouts: name → how to recognise a folder of it and how to load it.

Re-id (`load_dataset`) and the refiner (`refiner.data.load_domain`) both read folders through
it, so a layout is recognised the same way everywhere. Each layout registers itself from the
module that loads it — the common ones from :mod:`reid.data.layouts`, CUHK03 from
:mod:`reid.data.cuhk03` — and ``reid/data/__init__.py`` imports those modules, so importing
anything under ``reid.data`` fills the registry. A new layout is a loader plus one
``register(Layout(...))`` call in a module that the package imports.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .loading import DatasetLayoutError, LoadOptions
from .records import ImageItem, ReidData
from .splits import subsample_training

log = logging.getLogger(__name__)

AUTO = "auto"  # the option value that asks for detection
FALLBACK = "folder"  # what a folder no layout recognises is read as
# Other names accepted for a layout, never listed: the refiner called this project's own
# format "synth-humans" in what it printed and recorded.
LAYOUT_ALIASES = {"synth-humans": "generated"}


def canonical_layout(name: str) -> str:
    """The registered name of a layout given by one of its aliases (other names unchanged)."""
    return LAYOUT_ALIASES.get(name, name)


@dataclass(frozen=True)
class Layout:
    """One dataset layout."""

    name: str
    load: Callable[[Path, LoadOptions], ReidData]
    # True if a path holds this layout; None: never detected, only used when named or as FALLBACK.
    recognise: Callable[[Path], bool] | None = None
    # Detection tries lower ranks first: a generated dataset also has Market-1501 folders, so
    # `generated` must be tried before `market1501`.
    rank: int = 50
    # Its images lie in the Market-1501 subset folders (the refiner then reads only the chosen ones).
    market_subsets: bool = False


_LAYOUTS: dict[str, Layout] = {}


def register(layout: Layout) -> Layout:
    """Add a layout; a second one of the same name is a programming error."""
    if layout.name in _LAYOUTS or layout.name == AUTO:
        raise ValueError(f"dataset layout {layout.name!r} is registered twice")
    _LAYOUTS[layout.name] = layout
    return layout


def layout_names() -> tuple[str, ...]:
    """The registered layouts, in the order they registered (the options' choices add ``auto``)."""
    return tuple(_LAYOUTS)


def get_layout(name: str) -> Layout:
    try:
        return _LAYOUTS[canonical_layout(name)]
    except KeyError:
        raise DatasetLayoutError(f"layout {name!r}: expected one of {AUTO}, {', '.join(_LAYOUTS)}") from None


def detect_layout(root: str | Path) -> str:
    """The name of the layout `root` holds (a file only where a layout recognises one, e.g. a .mat)."""
    root = Path(root)
    for layout in sorted(_LAYOUTS.values(), key=lambda lay: lay.rank):
        if layout.recognise is not None and layout.recognise(root):
            return layout.name
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: no such dataset folder")
    return FALLBACK


def check_readable(items: list[ImageItem]) -> tuple[list[ImageItem], list[str]]:
    """Split items into readable ones and the paths of files PIL cannot identify."""
    from PIL import Image, UnidentifiedImageError
    from tqdm import tqdm

    good, bad = [], []
    for it in tqdm(items, desc="checking images", unit="img", disable=len(items) < 5000, leave=False):
        try:
            with Image.open(it.path) as im:
                w, h = im.size
            if w <= 0 or h <= 0:
                raise OSError("empty image")
            good.append(it)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            log.warning("skipping unreadable image %s (%s)", it.path, exc)
            bad.append(it.path)
    return good, bad


def load_dataset(root: str | Path, options: LoadOptions | None = None) -> ReidData:
    """Load `root` in its layout (detected unless `options.layout` names one)."""
    opt = options or LoadOptions()
    root = Path(root).expanduser()
    layout = get_layout(detect_layout(root) if opt.layout == AUTO else opt.layout)
    data = layout.load(root, opt)
    if opt.max_identities or opt.max_images_per_identity:  # before the header checks: fewer files to open
        data.train = subsample_training(data.train, opt.max_identities, opt.max_images_per_identity, opt.split_seed)
    if opt.check_images:
        for subset in ("train", "validation", "query", "gallery"):
            good, bad = check_readable(getattr(data, subset))
            if bad and opt.strict:
                raise DatasetLayoutError(f"{bad[0]}: unreadable image (drop --strict to skip such files)")
            setattr(data, subset, good)
            data.skipped.extend(bad)
    if not data.train and not data.query:
        raise DatasetLayoutError(f"{root}: no usable images in layout {layout.name}")
    return data
