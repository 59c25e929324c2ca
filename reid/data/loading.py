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

    layout: str = "auto"  # dataset layout (auto: detected)
    num_validation: int = 100  # identities moved from train to validation where a dataset has none
    num_test: int = 100  # folder layout: identities held out for testing
    split_seed: int = 0  # seed of the identity splits (and of --max-identities' choice)
    check_images: bool = True  # open every image's header once and skip unreadable ones
    strict: bool = False  # refuse a dataset with missing or unreadable image files (default: skip and report them)
    cuhk03_images: str = "labeled"  # CUHK03: labeled or detected crops
    cuhk03_protocol: str = "classic"  # CUHK03: classic (20 splits of 100 test ids) or new (767/700)
    cuhk03_split: int = 0  # CUHK03 classic: which of the 20 test splits
    folder_role: str = "split"  # folder layout: split (train/validation/test by identity) | train (all of it trains) | test (all of it is the test set)
    # a smaller training set (0 = all): nested identity subsets per split_seed (reid.data.splits)
    max_identities: int = 0  # train on this many identities of the training set (0 = all; nested subsets per --split-seed)
    max_images_per_identity: int = 0  # and at most this many images of each, round-robin over its cameras (0 = all)


class DatasetLayoutError(ValueError):
    """A folder that does not match the requested or any known layout; names the path."""


def with_validation(name, layout, train, query, gallery, opt: LoadOptions, protocols, skipped) -> ReidData:
    val: list[ImageItem] = []
    n_ids = len({it.pid for it in train})
    n_val = min(opt.num_validation, max(0, n_ids - 1))
    if n_val > 0:
        train, val, _ = split_by_identity(train, n_val, 0, opt.split_seed)
    return ReidData(name, layout, train, query, gallery, val, protocols, skipped)
