"""`python -m headless export DATASET --layout msmt17 --output DIR`: a copy other toolboxes read at any size.

The generated format is Market-1501's, and torchreid's and fast-reid's Market-1501 readers
assert identities ≤ 1501 and camera ids 1–6. Their MSMT17 readers assert neither: they take
identities from list files and the camera from the file name (``<pid>_<idx>_<cam>_...``).
This writes a dataset in MSMT17's `MSMT17_V1` layout:

    DIR/train/<label>/<label>_<k>_<cam>_synth_<frame>_0.jpg   training (and validation) identities
    DIR/test/<label>/...                                        test identities (query and gallery)
    DIR/list_train.txt  list_val.txt  list_query.txt  list_gallery.txt   "<relative path> <label>"

Labels are 0-based and contiguous: training identities 0…N−1, validation identities after
them (so torchreid's ``combineall`` joins them without collisions), test identities 0…M−1.
For torchreid put DIR at ``<data root>/msmt17/MSMT17_V1``, for fast-reid at
``<data root>/MSMT17_V1``: ``--for torchreid|fast-reid`` writes there under ``--output``, which
is then the root to pass. This project's `reid` reads DIR itself (layout ``msmt17``). Images
are hard-linked where the filesystem allows, else copied. ``provenance.json`` says where the
copy came from: the source dataset, its spec, the commit that exported it, and the counts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from synth_humans_addon.core.dataset import ImageRecord, link_or_copy, read_dataset

LAYOUTS = ("msmt17",)
# Where each toolbox's MSMT17 reader looks under the root it is given (torchreid:
# torchreid/data/datasets/image/msmt17.py, dataset_dir "msmt17" + "MSMT17_V1"; fast-reid:
# fastreid/data/datasets/msmt17.py, dataset_dir "MSMT17_V1").
TOOLBOX_FOLDERS = {"torchreid": ("msmt17", "MSMT17_V1"), "fast-reid": ("MSMT17_V1",)}
PROVENANCE_FILE = "provenance.json"


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
    lists = {"list_train.txt": ("train", ds.train, train_labels),
             "list_val.txt": ("train", ds.validation, val_labels),
             "list_query.txt": ("test", ds.query, test_labels),
             "list_gallery.txt": ("test", ds.gallery, test_labels)}
    counts = {}
    for list_name, (folder, records, labels) in lists.items():
        lines = []
        for r in sorted(records, key=lambda r: (r.pid, r.k)):
            label = labels[r.pid]
            rel = f"{label:04d}/{label:04d}_{r.k:03d}_{r.camera_id:02d}_synth_{r.frame:06d}_0{r.path.suffix}"
            link_or_copy(r.path, out / folder / rel)
            lines.append(f"{rel} {label}\n")
        (out / list_name).write_text("".join(lines))
        counts[list_name] = len(lines)
    result = ExportResult(out, counts, {"train": len(train_labels), "validation": len(val_labels),
                                        "test": len(test_labels)},
                          len({r.camera_id for r in ds.images}), len(ds.missing))
    import json

    (out / PROVENANCE_FILE).write_text(json.dumps({
        "source": str(Path(dataset).resolve()), "name": ds.manifest.get("name"), "layout": "msmt17",
        "spec": ds.manifest.get("spec"), "commit": _commit(), "images": counts, "identities": result.identities,
        "cameras": result.cameras, "missing_files_skipped": result.missing}, indent=1))
    return result
