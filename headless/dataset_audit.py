"""The farm's promise checked on a finished run (the fault tests and `status --verify`): every
job done exactly once, every image present with its checksum and metadata, nothing orphaned.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth_humans_addon.core.dataset import (MASKS_DIR, METADATA_DIR, SUBSETS, contained_relpath, metadata_path,
                                             sha256_file)

from .farm_layout import STAGING_DIR, db_path, farm_dir


@dataclass
class AuditReport:
    jobs: int = 0
    done: int = 0
    failed: int = 0
    lost: int = 0  # jobs neither done nor parked failed, or done without intact files
    duplicated: int = 0  # jobs marked done more than once
    orphaned: int = 0  # files in the dataset no metadata lists, leftover temporaries
    bad_checksums: int = 0
    images: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.orphaned == 0 and self.bad_checksums == 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("jobs", "done", "failed", "lost", "duplicated", "orphaned",
                                              "bad_checksums", "images")} | {"ok": self.ok}


def audit(root: Path) -> AuditReport:
    """Check the farm's promise on a finished run: every job done exactly once, every image
    present with a matching checksum and metadata, no orphan files, nothing lost."""
    import sqlite3

    root = Path(root)
    rep = AuditReport()
    db = sqlite3.connect(f"file:{db_path(root)}?mode=ro", uri=True)
    listed: set[str] = set()
    for job_id, pid, state, completions, n_images in db.execute(
            "SELECT id, pid, state, completions, images FROM jobs ORDER BY id"):
        rep.jobs += 1
        if completions > 1:
            rep.duplicated += 1
            rep.problems.append(f"job {job_id}: marked done {completions} times")
        if state == "failed":
            rep.failed += 1
            if metadata_path(root, pid).exists():
                rep.problems.append(f"job {job_id}: parked failed but has metadata")
                rep.orphaned += 1
            continue
        if state != "done":
            rep.lost += 1
            rep.problems.append(f"job {job_id}: state {state} at the end of the run")
            continue
        rep.done += 1
        mp = metadata_path(root, pid)
        try:
            rec = json.loads(mp.read_text())
            entries = rec["images"]
        except (OSError, ValueError, KeyError):
            rep.lost += 1
            rep.problems.append(f"job {job_id}: done but {mp} is missing or unreadable")
            continue
        if len(entries) != n_images:
            rep.lost += 1
            rep.problems.append(f"job {job_id}: metadata lists {len(entries)} images, expected {n_images}")
        for e in entries:
            for rel, key in ((e.get("file"), "sha256"), (e.get("mask"), "mask_sha256")):
                if not any(contained_relpath(rel, folder) for folder in SUBSETS + (MASKS_DIR,)):
                    rep.bad_checksums += 1
                    rep.problems.append(f"job {job_id}: metadata names {str(rel)[:120]!r}, not a file of the dataset")
                    continue
                listed.add(rel)
                p = root / rel
                if not p.is_file():
                    rep.lost += 1
                    rep.problems.append(f"job {job_id}: {rel} missing")
                elif sha256_file(p) != e.get(key):
                    rep.bad_checksums += 1
                    rep.problems.append(f"job {job_id}: {rel} checksum mismatch")
            rep.images += 1
    db.close()
    for sub in SUBSETS + (MASKS_DIR,):
        folder = root / sub
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            if f"{sub}/{f.name}" not in listed:
                rep.orphaned += 1
                rep.problems.append(f"orphan file {sub}/{f.name}")
    for f in (root / METADATA_DIR).glob(".*") if (root / METADATA_DIR).is_dir() else []:
        rep.orphaned += 1
        rep.problems.append(f"orphan temporary {METADATA_DIR}/{f.name}")
    staging = farm_dir(root) / STAGING_DIR
    if staging.is_dir() and any(staging.iterdir()):
        leftovers = list(staging.iterdir())
        rep.orphaned += len(leftovers)
        rep.problems.append(f"{len(leftovers)} staging folders left over")
    return rep
