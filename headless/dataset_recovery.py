"""What a restarted broker finds on disk: leftovers of an interrupted run, characters stored
completely before a crash, and the partial ones it deletes.

A character is complete when its metadata file (written last, atomically) exists and every
image and mask it lists matches its checksum. Nothing here follows a link out of the dataset
(`dataset_fs`): a linked file never makes a character complete, and deleting never reaches
through a linked folder.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Collection

from synth_humans_addon.core.dataset import (MASKS_DIR, METADATA_DIR, SUBSETS, contained_relpath, image_relpath,
                                             mask_relpath, metadata_relpath)
from synth_humans_addon.core.sampling import CharacterSample

from .dataset_fs import DatasetDirs, names_in, read_regular, remove_tree, unlink
from .farm_layout import FARM_DIR, STAGING_DIR, CharacterView
from .protocol import MAX_FILE_SIZE

MAX_METADATA_SIZE = 64 * 1024 * 1024


def character_intact(root: Path, pid: int) -> bool:
    """True if the character's metadata exists and every image and mask it lists matches its
    checksum, all of them regular files inside the dataset (no links)."""
    with DatasetDirs(root) as dirs:
        try:
            rec = json.loads(read_regular(dirs, metadata_relpath(pid), MAX_METADATA_SIZE))
            for e in rec["images"]:
                if not contained_relpath(e["mask"], MASKS_DIR) or \
                        not any(contained_relpath(e["file"], sub) for sub in SUBSETS):
                    return False
                for rel, sha in ((e["file"], e["sha256"]), (e["mask"], e["mask_sha256"])):
                    if hashlib.sha256(read_regular(dirs, rel, MAX_FILE_SIZE)).hexdigest() != sha:
                        return False
            return True
        except (OSError, ValueError, KeyError, TypeError):
            return False


def remove_character_files(root: Path, character: CharacterSample | CharacterView,
                           dirs: DatasetDirs | None = None) -> None:
    """Delete whatever a never-finished character left (images, masks, metadata)."""
    if dirs is None:
        with DatasetDirs(root) as own:
            return remove_character_files(root, character, own)
    for im in character.images:
        unlink(dirs, image_relpath(character.pid, im))
        unlink(dirs, mask_relpath(character.pid, im))
    unlink(dirs, metadata_relpath(character.pid))


def remove_staging(root: Path, rel: str) -> None:
    """Delete one attempt's staging folder (best effort, never through a link)."""
    with DatasetDirs(root) as dirs:
        remove_tree(dirs, rel)


def clean_temporaries(root: Path, keep_staging: Collection[str] = ()) -> int:
    """Remove the staging area and half-written `.name.*.part` files of an interrupted run; the
    staging folders named in `keep_staging` (relative paths) stay."""
    n = 0
    with DatasetDirs(root) as dirs:
        staging = f"{FARM_DIR}/{STAGING_DIR}"
        for name in names_in(dirs, staging):
            if f"{staging}/{name}" not in keep_staging:
                remove_tree(dirs, f"{staging}/{name}")
                n += 1
        if not keep_staging:
            remove_tree(dirs, staging)
        for sub in SUBSETS + (MASKS_DIR, METADATA_DIR):
            for name in names_in(dirs, sub):
                if name.startswith(".") and name.endswith(".part"):
                    unlink(dirs, f"{sub}/{name}")
                    n += 1
    return n
