"""What every dataset loader shares: how to load (`LoadOptions`), the one error a wrong folder
raises (`DatasetLayoutError`), and carving validation identities out of a training set.

Apart from `layouts.py` so that a loader in its own module (`cuhk03.py`) and the dispatcher in
`layouts.py` both read it without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass

from .records import ImageItem, ReidData
from .splits import split_by_identity


@dataclass
class LoadOptions:
    """How to load a dataset. `reid.options.TrainOptions` and `EvalOptions` inherit these fields."""

    layout: str = "auto"  # a registered layout (reid.data.registry) or auto: detected
    num_validation: int = 100  # identities moved from train to validation where a dataset has none
    num_test: int = 100  # `folder` layout: identities held out for testing
    split_seed: int = 0
    check_images: bool = True  # open every file's header once and skip unreadable ones
    strict: bool = False  # refuse a dataset with missing or unreadable files instead of skipping them
    cuhk03_images: str = "labeled"  # labeled | detected
    cuhk03_protocol: str = "classic"  # classic (20 splits of 100 test ids) | new (767/700)
    cuhk03_split: int = 0  # classic protocol: which of the 20 test splits
    folder_role: str = "split"  # `folder` layout: split | train (all of it trains) | test (reid.data.layouts)
    # a smaller training set (0 = all): nested identity subsets per split_seed (reid.data.splits)
    max_identities: int = 0
    max_images_per_identity: int = 0


class DatasetLayoutError(ValueError):
    """A folder that does not match the requested or any known layout; names the path."""


def with_validation(name, layout, train, query, gallery, opt: LoadOptions, protocols, skipped) -> ReidData:
    val: list[ImageItem] = []
    n_ids = len({it.pid for it in train})
    n_val = min(opt.num_validation, max(0, n_ids - 1))
    if n_val > 0:
        train, val, _ = split_by_identity(train, n_val, 0, opt.split_seed)
    return ReidData(name, layout, train, query, gallery, val, protocols, skipped)
