"""MSMT17's layout (`MSMT17_V1`), both ways: how re-id reads it and how a generated dataset is
exported to it, so the two sides of each rule stand together.

The generated format is Market-1501's, and torchreid's and fast-reid's Market-1501 readers
assert identities ≤ 1501 and camera ids 1–6. Their MSMT17 readers assert neither: they take
identities from list files and the camera from the file name (field `CAMERA_FIELD` of
``<pid>_<idx>_<cam>_...``). The layout:

    DIR/train/<label>/<label>_<k>_<cam>_synth_<frame>_0.jpg   training (and validation) identities
    DIR/test/<label>/...                                        test identities (query and gallery)
    DIR/list_train.txt  list_val.txt  list_query.txt  list_gallery.txt   "<relative path> <label>"

MSMT17 V2 names the image folders `mask_train_v2` and `mask_test_v2`; the reader takes either.

`export_msmt17` writes labels 0-based and contiguous: training identities 0…N−1, validation
identities after them (so torchreid's ``combineall`` joins them without collisions), test
identities 0…M−1. For torchreid put DIR at ``<data root>/msmt17/MSMT17_V1``, for fast-reid at
``<data root>/MSMT17_V1`` (`toolbox_folder`). Images are hard-linked where the filesystem
allows, else copied. ``provenance.json`` says where the copy came from: the source dataset,
its spec, the commit that exported it, and the counts. Re-id reads DIR itself (layout
``msmt17``, `reid.data.layouts.load_msmt17` on `read_list`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .dataset import ImageRecord, link_or_copy, read_dataset

LIST_TRAIN, LIST_VAL, LIST_QUERY, LIST_GALLERY = "list_train.txt", "list_val.txt", "list_query.txt", "list_gallery.txt"
TRAIN_FOLDERS = ("train", "mask_train_v2")  # V1, V2
TEST_FOLDERS = ("test", "mask_test_v2")
CAMERA_FIELD = 2  # 0000_000_01_0303morning_0015_0.jpg → camera 01
# Where each toolbox's MSMT17 reader looks under the root it is given (torchreid:
# torchreid/data/datasets/image/msmt17.py, dataset_dir "msmt17" + "MSMT17_V1"; fast-reid:
# fastreid/data/datasets/msmt17.py, dataset_dir "MSMT17_V1").
TOOLBOX_FOLDERS = {"torchreid": ("msmt17", "MSMT17_V1"), "fast-reid": ("MSMT17_V1",)}
PROVENANCE_FILE = "provenance.json"


class ListFileError(ValueError):
    """A missing or malformed list file; the message names the file (and the line)."""


# ---------------------------------------------------------------------------------------
# Reading


def image_folders(root: Path) -> tuple[Path, Path]:
    """The training and test image folders (V1's names unless only V2's exist)."""
    def first(names):
        return next((root / d for d in names if (root / d).is_dir()), root / names[0])

    return first(TRAIN_FOLDERS), first(TEST_FOLDERS)


def read_list(root: Path, list_name: str, image_dir: Path) -> list[tuple[str, int, int]]:
    """(image path, label, camera) of every line of the list file `root/list_name`."""
    path = root / list_name
    if not path.is_file():
        raise ListFileError(f"{path}: missing MSMT17 list file")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, label = line.split()[:2]
            camera = int(Path(rel).name.split("_")[CAMERA_FIELD])
            rows.append((str(image_dir / rel), int(label), camera))
        except (ValueError, IndexError):
            raise ListFileError(f"{path}:{n}: expected '<relative path> <pid>', got {line!r}") from None
    return rows


# ---------------------------------------------------------------------------------------
# Writing a generated dataset


def image_relpath(label: int, record: ImageRecord) -> str:
    """`<label>/<label>_<k>_<cam>_synth_<frame>_0<ext>`: the camera in field `CAMERA_FIELD`."""
    return f"{label:04d}/{label:04d}_{record.k:03d}_{record.camera_id:02d}_synth_{record.frame:06d}_0{record.path.suffix}"


def toolbox_folder(root: str | Path, toolbox: str | None) -> Path:
    """The folder to write the MSMT17 copy into so that `toolbox`, given `root`, finds it."""
    return Path(root).joinpath(*TOOLBOX_FOLDERS[toolbox]) if toolbox else Path(root)


def _commit() -> str | None:
    import subprocess

    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


@dataclass
class ExportResult:
    output: Path
    images: dict[str, int]  # per list file
    identities: dict[str, int]  # train, validation, test
    cameras: int
    missing: int  # files listed in the metadata but absent (skipped)


def _labels(records: list[ImageRecord], start: int = 0) -> dict[int, int]:
    return {pid: start + i for i, pid in enumerate(sorted({r.pid for r in records}))}


def export_msmt17(dataset: str | Path, output: str | Path, strict: bool = False) -> ExportResult:
    ds = read_dataset(dataset, strict=strict)
    out = Path(output)
    train_labels = _labels(ds.train)
    val_labels = _labels(ds.validation, start=len(train_labels))
    test_labels = _labels(ds.query + ds.gallery)
    train_dir, test_dir = TRAIN_FOLDERS[0], TEST_FOLDERS[0]
    lists = {LIST_TRAIN: (train_dir, ds.train, train_labels),
             LIST_VAL: (train_dir, ds.validation, val_labels),
             LIST_QUERY: (test_dir, ds.query, test_labels),
             LIST_GALLERY: (test_dir, ds.gallery, test_labels)}
    counts = {}
    for list_name, (folder, records, labels) in lists.items():
        lines = []
        for r in sorted(records, key=lambda r: (r.pid, r.k)):
            label = labels[r.pid]
            rel = image_relpath(label, r)
            link_or_copy(r.path, out / folder / rel)
            lines.append(f"{rel} {label}\n")
        (out / list_name).write_text("".join(lines))
        counts[list_name] = len(lines)
    result = ExportResult(out, counts, {"train": len(train_labels), "validation": len(val_labels),
                                        "test": len(test_labels)},
                          len({r.camera_id for r in ds.images}), len(ds.missing))
    (out / PROVENANCE_FILE).write_text(json.dumps({
        "source": str(Path(dataset).resolve()), "name": ds.manifest.get("name"), "layout": "msmt17",
        "spec": ds.manifest.get("spec"), "commit": _commit(), "images": counts, "identities": result.identities,
        "cameras": result.cameras, "missing_files_skipped": result.missing}, indent=1))
    return result
