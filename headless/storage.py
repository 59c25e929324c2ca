"""Where results land: a staging area per attempt, verification, and the move into the dataset.

Every attempt gets its own staging folder, ``DATASET/.farm/staging/<job>_<attempt>/``, named by
the broker; files inside are named ``<k:03d>.image`` / ``<k:03d>.mask`` by the broker too. A
worker never chooses a path: it names a file by (k, kind), which the broker checks against
the job's samples, so path traversal is impossible. Uploaded chunks (or, in shared-filesystem
mode, the worker's own writes) go there; when the worker reports DONE the broker checks that
every expected file is present with the declared size and SHA-256, fsyncs it, renames it into
its dataset name (atomic, same filesystem) and writes the character's metadata last.

A superseded attempt only ever touches its own staging folder, which is deleted.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth_humans_addon.core.dataset import (MASKS_DIR, METADATA_DIR, SUBSETS, RenderedImage, atomic_write,
                                             character_record, image_relpath, mask_relpath, metadata_path)
from synth_humans_addon.core.sampling import CharacterSample

from .protocol import FILE_KINDS, MAX_FILE_SIZE, ProtocolError

FARM_DIR = ".farm"
STAGING_DIR = "staging"
DB_NAME = "jobs.sqlite"


def farm_dir(root: Path) -> Path:
    return Path(root) / FARM_DIR


def db_path(root: Path) -> Path:
    return farm_dir(root) / DB_NAME


def staging_relpath(job: int, attempt: int) -> str:
    return f"{FARM_DIR}/{STAGING_DIR}/{job:05d}_{attempt:04d}"


def staged_name(k: int, kind: str) -> str:
    return f"{k:03d}.{kind}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class VerificationError(RuntimeError):
    """A result that does not match what the worker declared (missing file, size, checksum)."""


@dataclass
class DeclaredFile:
    k: int
    kind: str
    size: int
    sha256: str


@dataclass
class Upload:
    """Chunks of one attempt arriving at the broker (written in place, verified at DONE)."""

    folder: Path
    valid_k: frozenset[int]
    declared: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)  # (k, kind) → (size, sha)
    received: dict[tuple[int, str], int] = field(default_factory=dict)  # bytes written

    def write_chunk(self, k: int, kind: str, offset: int, size: int, sha: str, data: bytes) -> None:
        if k not in self.valid_k or kind not in FILE_KINDS:
            raise ProtocolError(f"chunk for unknown file k={k} kind={kind!r}")
        if not 0 < size <= MAX_FILE_SIZE or offset < 0 or offset + len(data) > size:
            raise ProtocolError(f"chunk outside its file: offset={offset} len={len(data)} size={size}")
        key = (k, kind)
        if self.declared.get(key) != (size, sha):  # a new file, or the worker restarted it
            self.declared[key] = (size, sha)
            self.received[key] = 0
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(self.folder / staged_name(k, kind), "wb") as f:
                f.truncate(size)
        fd = os.open(self.folder / staged_name(k, kind), os.O_WRONLY)
        try:
            os.pwrite(fd, data, offset)
        finally:
            os.close(fd)
        self.received[key] += len(data)


@dataclass
class StoredCharacter:
    pid: int
    images: int
    bytes: int


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def store_character(root: Path, staging: Path, character: CharacterSample, files: list[DeclaredFile],
                    infos: dict[int, dict[str, Any]], extra: dict[str, Any]) -> StoredCharacter:
    """Verify every staged file of a character, move it into the dataset, write metadata last.

    Raises VerificationError (and stores nothing of the metadata) if any file is missing or
    differs from its declaration. Safe to repeat: names are deterministic, renames atomic."""
    root = Path(root)
    expected = {(im.k, kind) for im in character.images for kind in FILE_KINDS}
    declared = {(f.k, f.kind): f for f in files}
    if set(declared) != expected:
        missing = sorted(expected - set(declared))[:5]
        extra_files = sorted(set(declared) - expected)[:5]
        raise VerificationError(f"character {character.pid:04d}: declared files do not match its images "
                                f"(missing {missing}, unexpected {extra_files})")
    total = 0
    checksums: dict[tuple[int, str], str] = {}
    for (k, kind), f in sorted(declared.items()):
        path = staging / staged_name(k, kind)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise VerificationError(f"character {character.pid:04d}: {kind} k={k} never arrived") from None
        if size != f.size:
            raise VerificationError(f"character {character.pid:04d}: {kind} k={k} has {size} bytes, "
                                    f"declared {f.size}")
        with open(path, "rb+") as fh:
            h = hashlib.sha256(fh.read()).hexdigest()
            os.fsync(fh.fileno())  # durable before it gets its final name
        if h != f.sha256:
            raise VerificationError(f"character {character.pid:04d}: {kind} k={k} SHA-256 mismatch")
        checksums[(k, kind)] = h
        total += size
    for im in character.images:
        for kind, rel in (("image", image_relpath(character.pid, im)), ("mask", mask_relpath(character.pid, im))):
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / staged_name(im.k, kind), dest)
    for sub in SUBSETS + (MASKS_DIR,):
        _fsync_dir(root / sub)
    rendered = []
    for im in character.images:
        info = dict(infos.get(im.k) or {})
        info["sha256"] = checksums[(im.k, "image")]
        info["mask_sha256"] = checksums[(im.k, "mask")]
        rendered.append(RenderedImage(k=im.k, image=b"", mask=b"", info=info))
    record = character_record(character, rendered, extra)
    atomic_write(metadata_path(root, character.pid), json.dumps(record, indent=1).encode())
    shutil.rmtree(staging, ignore_errors=True)
    return StoredCharacter(character.pid, len(character.images), total)


def character_intact(root: Path, pid: int) -> bool:
    """True if the character's metadata exists and every image and mask it lists matches its checksum."""
    mp = metadata_path(root, pid)
    try:
        rec = json.loads(mp.read_text())
        for e in rec["images"]:
            if sha256_file(Path(root) / e["file"]) != e["sha256"]:
                return False
            if sha256_file(Path(root) / e["mask"]) != e["mask_sha256"]:
                return False
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def remove_character_files(root: Path, character: CharacterSample) -> None:
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


# ---------------------------------------------------------------------------------------
# The invariant, checked by the fault tests and `status --verify`.


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
            for rel, key in ((e["file"], "sha256"), (e["mask"], "mask_sha256")):
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
