"""What a restarted broker finds on disk: leftovers of an interrupted run, characters stored
completely before a crash, and the partial ones it deletes.

A character is complete when its metadata file (written last, atomically) exists and every
image and mask it lists matches its checksum.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from synth_humans_addon.core.dataset import (MASKS_DIR, METADATA_DIR, SUBSETS, contained_relpath, image_relpath,
                                             mask_relpath, metadata_path, sha256_file)
from synth_humans_addon.core.sampling import CharacterSample

from .farm_layout import STAGING_DIR, CharacterView, farm_dir


def character_intact(root: Path, pid: int) -> bool:
    """True if the character's metadata exists and every image and mask it lists matches its checksum."""
    mp = metadata_path(root, pid)
    try:
        rec = json.loads(mp.read_text())
        for e in rec["images"]:
            if not contained_relpath(e["mask"], MASKS_DIR) or \
                    not any(contained_relpath(e["file"], sub) for sub in SUBSETS):
                return False
            if sha256_file(Path(root) / e["file"]) != e["sha256"]:
                return False
            if sha256_file(Path(root) / e["mask"]) != e["mask_sha256"]:
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def remove_character_files(root: Path, character: CharacterSample | CharacterView) -> None:
    """Delete whatever a never-finished character left (images, masks, metadata)."""
    for im in character.images:
        for rel in (image_relpath(character.pid, im), mask_relpath(character.pid, im)):
            try:
                (Path(root) / rel).unlink()
            except FileNotFoundError:
                pass
    try:
        metadata_path(root, character.pid).unlink()
    except FileNotFoundError:
        pass


def clean_temporaries(root: Path) -> int:
    """Remove the staging area and half-written `.name.*.part` files of an interrupted run."""
    root = Path(root)
    n = 0
    staging = farm_dir(root) / STAGING_DIR
    if staging.exists():
        n += sum(1 for _ in staging.iterdir())
        shutil.rmtree(staging, ignore_errors=True)
    for sub in SUBSETS + (MASKS_DIR, METADATA_DIR):
        folder = root / sub
        if folder.is_dir():
            for f in folder.glob(".*.part"):
                f.unlink(missing_ok=True)
                n += 1
    return n
