"""The common dataset layouts, each a loader returning a :class:`ReidData`, registered in
:mod:`reid.data.registry` (CUHK03 registers itself from :mod:`reid.data.cuhk03`).

=============  ===========================================================================
layout         what the folder holds
=============  ===========================================================================
generated      this project's format (``dataset.json``; train / validation / query /
               bounding_box_test), read with ``synth_humans_addon.core.dataset``
market1501     ``bounding_box_train``, ``bounding_box_test``, ``query`` with
               ``<pid>_c<cam>s<seq>_<frame>_<k>.jpg``; pid −1 = junk (dropped), 0000 =
               distractor (kept in the gallery, never a query or a training identity)
dukemtmc       DukeMTMC-reID: the same layout as Market-1501
msmt17         MSMT17 (V1 ``train``/``test`` or V2 ``mask_train_v2``/``mask_test_v2``) with
               ``list_train.txt``, ``list_val.txt``, ``list_query.txt``, ``list_gallery.txt``
cuhk03         ``cuhk-03.mat`` (see :mod:`reid.data.cuhk03`)
folder         a plain folder (searched recursively) of ``<pid>_<cam>_*.jpg`` (``c`` before
               the camera number optional). ``folder_role`` says what it is: ``split``
               (split by identity into train / validation / test), ``train`` (all of it
               is the training side; validation identities are moved out of it) or
               ``test`` (all of it is the test set, e.g. a site's own 100 identities).
               ``python -m reid split-folder`` makes such folders from other namings.
=============  ===========================================================================

Datasets without a validation set (all but ``generated``) get ``num_validation`` training
identities moved to validation, as Open-ReID does. Files that cannot be opened are
reported by path (``ReidData.skipped`` and a warning) and skipped.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from synth_humans_addon.core import msmt17
from synth_humans_addon.core.dataset import DATASET_FILE, SUBSET_GALLERY, SUBSET_QUERY, SUBSET_TRAIN

from .loading import DatasetLayoutError, LoadOptions, with_validation
from .records import ImageItem, ReidData
from .registry import FALLBACK, Layout, register
from .splits import generated_order, query_gallery_split, split_by_identity

log = logging.getLogger(__name__)

FOLDER_ROLES = ("split", "train", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
MARKET_NAME_RE = re.compile(r"^(-?\d+)_c(\d+)")
# <pid>_<cam>_…, <pid>_c<cam>_… and Market-1501's <pid>_c<cam>s<seq>_… (0002_c1s1_000451_01.jpg)
FOLDER_NAME_RE = re.compile(r"^(-?\d+)_c?(\d+)(?:s\d+)?_")


def _images(folder: Path, recursive: bool = False) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))


def _parse_folder(folder: Path, pattern: re.Pattern, skipped: list[str], recursive: bool = False) -> list[ImageItem]:
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: missing folder")
    items, unnamed = [], []
    for p in _images(folder, recursive):
        m = pattern.match(p.name)
        if not m:
            unnamed.append(p)
            continue
        items.append(ImageItem(str(p), int(m[1]), int(m[2])))
    if unnamed:  # one warning per folder, not per file
        expected = "<pid>_c<cam>s<seq>_…" if pattern is MARKET_NAME_RE else "<pid>_<cam>_… or <pid>_c<cam>s<seq>_…"
        log.warning("%s: skipping %d image(s) not named %s, e.g. %s (`python -m reid split-folder --pattern` "
                    "reads other namings)", folder, len(unnamed), expected, unnamed[0].name)
        skipped.extend(map(str, unnamed))
    return items


def load_market_like(root: Path, opt: LoadOptions, layout: str = "market1501") -> ReidData:
    """Market-1501 and DukeMTMC-reID: junk (−1) dropped everywhere, distractors (0) only in the gallery."""
    skipped: list[str] = []
    train = _parse_folder(root / SUBSET_TRAIN, MARKET_NAME_RE, skipped)
    query = _parse_folder(root / SUBSET_QUERY, MARKET_NAME_RE, skipped)
    gallery = _parse_folder(root / SUBSET_GALLERY, MARKET_NAME_RE, skipped)
    train = [it for it in train if it.pid > 0]
    query = [it for it in query if it.pid > 0]
    gallery = [it for it in gallery if it.pid >= 0]
    return with_validation(root.name, layout, train, query, gallery, opt, ("cross-camera", "market1501"), skipped)


def _msmt_list(root: Path, list_name: str, image_dir: Path) -> list[ImageItem]:
    try:
        return [ImageItem(path, pid, camid) for path, pid, camid in msmt17.read_list(root, list_name, image_dir)]
    except msmt17.ListFileError as exc:
        raise DatasetLayoutError(str(exc)) from None


def load_msmt17(root: Path, opt: LoadOptions) -> ReidData:
    """MSMT17 (`core.msmt17`, beside its writer): the official train + val lists form train
    (the usual protocol); validation identities are then drawn from train like for Market-1501."""
    train_dir, test_dir = msmt17.image_folders(root)
    train = _msmt_list(root, msmt17.LIST_TRAIN, train_dir)
    if (root / msmt17.LIST_VAL).is_file():
        train += _msmt_list(root, msmt17.LIST_VAL, train_dir)
    # MSMT17 pids start at 0: shift by one so 0 never reads as a Market-1501 distractor.
    def shift(items):
        return [ImageItem(it.path, it.pid + 1, it.camid) for it in items]

    query = shift(_msmt_list(root, msmt17.LIST_QUERY, test_dir))
    gallery = shift(_msmt_list(root, msmt17.LIST_GALLERY, test_dir))
    return with_validation(root.name, "msmt17", shift(train), query, gallery, opt, ("cross-camera", "market1501"), [])


def load_folder(root: Path, opt: LoadOptions) -> ReidData:
    skipped: list[str] = []
    items = _parse_folder(root, FOLDER_NAME_RE, skipped, recursive=True)
    if not items:
        raise DatasetLayoutError(f"{root}: no images named <pid>_<cam>_*.jpg or <pid>_c<cam>s<seq>_*.jpg")
    protocols = ("cross-camera", "market1501", "cuhk03", "thesis")
    if opt.folder_role == "test":
        query, gallery = query_gallery_split([it for it in items if it.pid > 0])
        return ReidData(root.name, "folder", [], query, gallery, [], protocols, skipped)
    if opt.folder_role == "train":
        return with_validation(root.name, "folder", [it for it in items if it.pid > 0], [], [], opt, protocols,
                               skipped)
    if opt.folder_role != "split":
        raise DatasetLayoutError(f"folder_role {opt.folder_role!r}: expected one of {', '.join(FOLDER_ROLES)}")
    train, val, test = split_by_identity(items, opt.num_validation, opt.num_test, opt.split_seed)
    query, gallery = query_gallery_split(test)
    return ReidData(root.name, "folder", train, query, gallery, val, protocols, skipped)


def load_generated(root: Path, opt: LoadOptions) -> ReidData:
    """This project's format. Characters keep the split they were generated with. A dataset
    generated without test characters gets `num_test` training characters as its test set
    (query = first image per camera); one without validation characters gets
    `num_validation` of them as validation; never overlapping."""
    from synth_humans_addon.core.dataset import read_dataset

    ds = read_dataset(root, strict=opt.strict)

    def items(records):
        return [ImageItem(str(r.path), r.pid, r.camera_id) for r in records]

    train, val = items(ds.train), items(ds.validation)
    query, gallery = items(ds.query), items(ds.gallery)
    name = ds.manifest.get("name") or root.name
    protocols = ("thesis", "market1501", "cuhk03")  # camera ids are azimuth bins: see reid.metrics.single_shot
    n_ids = len({it.pid for it in train})
    n_val = 0 if val else min(opt.num_validation, max(0, n_ids - 1))
    n_test = 0 if (query or gallery) else min(opt.num_test, max(0, n_ids - n_val - 1))
    if n_val or n_test:
        train, new_val, test = split_by_identity(train, n_val, n_test, opt.split_seed)
        val = val or new_val
        if n_test:
            query, gallery = query_gallery_split(test, order=generated_order)
    return ReidData(name, "generated", train, query, gallery, val, protocols, [str(p) for p in ds.missing])


def _is_generated(root: Path) -> bool:
    return (root / DATASET_FILE).is_file()


def _is_market_like(root: Path) -> bool:
    return (root / SUBSET_TRAIN).is_dir() or (root / SUBSET_GALLERY).is_dir()


def _is_duke(root: Path) -> bool:
    return _is_market_like(root) and "duke" in root.name.lower()


register(Layout("generated", load_generated, _is_generated, rank=10))
register(Layout("market1501", load_market_like, _is_market_like, rank=40, market_subsets=True))
register(Layout("dukemtmc", lambda root, opt: load_market_like(root, opt, "dukemtmc"), _is_duke, rank=39,
                market_subsets=True))
register(Layout("msmt17", load_msmt17, lambda root: (root / msmt17.LIST_TRAIN).is_file(), rank=30))
register(Layout(FALLBACK, load_folder))
