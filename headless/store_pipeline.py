"""Where results land: uploads in memory, verification, and the store into the dataset, off the
broker's loop.

Uploaded chunks (or, in shared-filesystem mode, the worker's own writes into its staging
folder, see `farm_layout`) are kept per attempt; when the worker reports DONE, a storage
thread checks that every expected file is present with the declared size and SHA-256, writes
it under its dataset name and writes the character's metadata last (the commit marker).
Durability (fsync per file, or one syncfs per batch) goes through `durable_io`.

A superseded attempt only ever touches its own staging folder, which is deleted. Every file
operation goes through `dataset_fs`, so none follows a link out of the dataset.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth_humans_addon.core.dataset import (MASKS_DIR, METADATA_DIR, SUBSETS, RenderedImage, character_record,
                                             image_relpath, mask_relpath, metadata_relpath)
from synth_humans_addon.core.sampling import CharacterSample

from .dataset_fs import DatasetDirs, read_regular, remove_tree
from .dataset_recovery import remove_character_files
from .durable_io import Disk, fsync_dir
from .farm_layout import CharacterView, staged_name
from .protocol import FILE_KINDS, MAX_FILE_SIZE, ProtocolError, validate_image_info


class VerificationError(RuntimeError):
    """A result that does not match what the worker declared (missing file, size, checksum)."""


@dataclass
class DeclaredFile:
    k: int
    kind: str
    size: int
    sha256: str


def file_size_bound(crop_height: int) -> int:
    """The largest image or mask a worker may claim for a spec: a crop at most 4× as wide as it
    is tall, 3 bytes a pixel, twice over (a JPEG of noise at quality 100 can exceed its raw
    size), plus 1 MiB of headers; never above MAX_FILE_SIZE."""
    h = max(1, int(crop_height))
    return min(MAX_FILE_SIZE, 2 * 3 * h * 4 * h + (1 << 20))


@dataclass
class Upload:
    """Chunks of one attempt arriving at the broker, kept in memory until DONE.

    Files are crops of a few tens of kilobytes, so an upload costs no disk I/O until the
    result is verified; the storage threads then write each file once under its final name.
    Memory is taken as chunks arrive, never for a claimed size: a chunk may overwrite what
    arrived or extend it, but not leave a gap (one connection delivers a worker's chunks in
    order), so a peer claiming a large file and sending one byte holds one byte. A claim above
    `max_size` (from the spec's image size) is refused before anything is kept."""

    valid_k: frozenset[int]
    max_size: int = MAX_FILE_SIZE
    declared: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)  # (k, kind) → (size, sha)
    buffers: dict[tuple[int, str], bytes | bytearray] = field(default_factory=dict)
    nbytes: int = 0

    def write_chunk(self, k: int, kind: str, offset: int, size: int, sha: str, data: bytes) -> None:
        if k not in self.valid_k or kind not in FILE_KINDS:
            raise ProtocolError(f"chunk for unknown file k={k} kind={kind!r}")
        if not 0 < size <= self.max_size:
            raise ProtocolError(f"chunk claims a file of {size} bytes; this run's bound is {self.max_size}")
        if offset < 0 or offset + len(data) > size:
            raise ProtocolError(f"chunk outside its file: offset={offset} len={len(data)} size={size}")
        key = (k, kind)
        if self.declared.get(key) != (size, sha):  # a new file, or the worker restarted it
            old = self.buffers.pop(key, None)
            self.nbytes -= len(old) if old is not None else 0
            self.declared[key] = (size, sha)
            if offset == 0 and len(data) == size:  # the usual case: a whole file in one chunk, no copy
                self.buffers[key] = data
                self.nbytes += size
                return
            self.buffers[key] = bytearray()
        buf = self.buffers[key]
        if offset > len(buf):
            raise ProtocolError(f"chunk at offset {offset} of k={k} {kind} leaves a gap (have {len(buf)} bytes)")
        if not isinstance(buf, bytearray):  # a repeated chunk of a whole-file upload
            buf = self.buffers[key] = bytearray(buf)
        before = len(buf)
        buf[offset:offset + len(data)] = data
        self.nbytes += len(buf) - before

    def files(self) -> dict[tuple[int, str], bytes]:
        """Each file as received; one that never arrived completely comes out short (and fails verification)."""
        return {key: buf if isinstance(buf, bytes) else bytes(buf) for key, buf in self.buffers.items()}


@dataclass
class StoredCharacter:
    pid: int
    images: int
    bytes: int


def store_character(root: Path, character: CharacterSample | CharacterView, files: list[DeclaredFile],
                    infos: dict[int, dict[str, Any]], extra: dict[str, Any],
                    uploaded: dict[tuple[int, str], bytes] | None = None, staging: str | None = None,
                    durable: bool = True, disk: Disk | None = None, dirs: DatasetDirs | None = None) -> StoredCharacter:
    """Verify every file of a character, store it under its dataset name, write metadata last.

    The bytes come from an upload (`uploaded`) or, in shared-filesystem mode, from the files a
    worker wrote into `staging` (a folder relative to `root`; a staged file must be a regular
    file, not a link). Raises VerificationError (and writes nothing) if any file is missing or
    differs from its declaration. Safe to repeat: names are deterministic. `dirs`: the
    dataset's folders opened for a batch (`DatasetDirs`), else opened for this call.

    `durable=True` writes every file atomically with an fsync (temporary name, fsync, rename).
    `durable=False` is for the broker's group commit (one `syncfs` after a whole batch) and for
    `--no-fsync`: images and masks are written straight to their final names and only the
    metadata goes through a temporary name and a rename. That is as safe, because the metadata
    file is the commit marker: it appears, atomically, only after every image of the character
    is written; a character without it is incomplete for the reader, and the broker's recovery
    re-checks every checksum of an unfinished job before adopting or deleting its files. It
    saves two of the three syscalls-heavy renames per stored file.

    Per-image `infos` are checked against the schema (`validate_image_info`) first; every path
    and every field that names a file, subset, index or camera is built here, never taken from
    them. A write that fails removes what this call wrote of the character (best effort) and
    raises: nothing is left half-way under a final name with metadata."""
    if dirs is None:
        with DatasetDirs(root) as own:
            return store_character(root, character, files, infos, extra, uploaded, staging, durable, disk, own)
    disk = disk or Disk()
    for k, info in infos.items():
        try:
            validate_image_info(info, k)
        except ProtocolError as exc:
            raise VerificationError(f"character {character.pid:04d}: {exc}") from None
    expected = {(im.k, kind) for im in character.images for kind in FILE_KINDS}
    declared = {(f.k, f.kind): f for f in files}
    if set(declared) != expected:
        missing = sorted(expected - set(declared))[:5]
        extra_files = sorted(set(declared) - expected)[:5]
        raise VerificationError(f"character {character.pid:04d}: declared files do not match its images "
                                f"(missing {missing}, unexpected {extra_files})")
    blobs: dict[tuple[int, str], bytes] = {}
    for key, f in sorted(declared.items()):
        if uploaded is not None:
            data = uploaded.get(key)
        else:
            data = _read_staged(dirs, staging, key, f.size, character.pid)
        if data is None:
            raise VerificationError(f"character {character.pid:04d}: {key[1]} k={key[0]} never arrived")
        if len(data) != f.size:
            raise VerificationError(f"character {character.pid:04d}: {key[1]} k={key[0]} has {len(data)} bytes, "
                                    f"declared {f.size}")
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise VerificationError(f"character {character.pid:04d}: {key[1]} k={key[0]} SHA-256 mismatch")
        blobs[key] = data
    try:
        _write_character(dirs, character, blobs, declared, infos, extra, durable, disk)
    except OSError:
        try:
            remove_character_files(root, character, dirs)
        except OSError:
            pass  # a read-only disk: the restarted broker removes them (no metadata: incomplete)
        raise
    if staging is not None:
        remove_tree(dirs, staging)
    total = 0
    for im in character.images:
        total += len(blobs[(im.k, "image")]) + len(blobs[(im.k, "mask")])
    return StoredCharacter(character.pid, len(character.images), total)


def _read_staged(dirs: DatasetDirs, staging: str | None, key: tuple[int, str], size: int, pid: int) -> bytes | None:
    """A file a worker staged (shared mode), read without following links; a link, a FIFO or a
    file larger than declared is the worker's bad result, not a read outside the dataset."""
    if staging is None:
        return None
    try:
        return read_regular(dirs, f"{staging}/{staged_name(*key)}", size)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise VerificationError(f"character {pid:04d}: staged {key[1]} k={key[0]}: {exc.strerror}") from None


def _write_character(dirs: DatasetDirs, character, blobs, declared, infos, extra, durable: bool, disk: Disk) -> None:
    write = disk.write_atomic if durable else disk.write  # durable: one fsync per file, else the batch's syncfs
    for im in character.images:
        write(dirs, image_relpath(character.pid, im), blobs[(im.k, "image")])
        write(dirs, mask_relpath(character.pid, im), blobs[(im.k, "mask")])
    rendered = []
    for im in character.images:
        info = dict(infos.get(im.k) or {})
        info["sha256"] = declared[(im.k, "image")].sha256
        info["mask_sha256"] = declared[(im.k, "mask")].sha256
        rendered.append(RenderedImage(k=im.k, image=b"", mask=b"", info=info))
    # The metadata, the commit marker, always through a temporary name and a rename.
    (disk.write_atomic if durable else disk.write_unsynced)(dirs, metadata_relpath(character.pid),
                                                             metadata_json(character, rendered, extra))


# Stands for the character's samples in the metadata while it is encoded; random, so that no
# worker-supplied text can imitate it.
_SAMPLE_MARK = "\x00sample-" + secrets.token_hex(16)
_SAMPLE_MARK_JSON = json.dumps(_SAMPLE_MARK)
_COMPACT = json.JSONEncoder(separators=(",", ":"))  # built once: json.dumps(separators=…) builds one per call


def metadata_json(character: CharacterSample | CharacterView, rendered: list[RenderedImage],
                  extra: dict[str, Any]) -> bytes:
    """The character's metadata file (`character_record`) as compact JSON.

    Compact, because `indent` switches `json` to its pure-Python encoder (4× slower). The
    samples, the bulk of the record, are spliced in as the JSON text the job table holds
    instead of being encoded again (they come first in the record, before any worker text)."""
    record = character_record(character, rendered, extra)
    raw = getattr(character, "json_text", None)
    if raw is None:
        return _COMPACT.encode(record).encode()
    record["character"] = _SAMPLE_MARK
    return _COMPACT.encode(record).replace(_SAMPLE_MARK_JSON, raw, 1).encode()


# ---------------------------------------------------------------------------------------
# The broker's storage pipeline: verification and file writes off the broker's loop.


@dataclass
class StoreTask:
    """One reported result to verify and store. The pipeline sets `error` (None: stored and,
    in durable mode, on disk) and hands the task back; the broker then commits or rejects it."""

    job: int
    attempt: int
    ident: bytes  # the worker that reported it
    n_images: int
    sample_json: str  # the character sample, parsed in the storage thread, not the broker's loop
    files: list[DeclaredFile]
    infos: dict[int, dict[str, Any]]
    extra: dict[str, Any]
    uploaded: dict[tuple[int, str], bytes] | None  # upload mode
    staging: str | None  # shared-filesystem mode: the attempt's staging folder, relative to the dataset
    render_s: float | None = None
    error: BaseException | None = None


_STOP = None


class StorePipeline:
    """Threads that store results in batches, so the broker's loop never waits on a disk.

    `store_threads` threads take every waiting task at once, verify and write each (see
    `store_character`). In group-commit mode (`sync="group"`) a batch then goes to one sync
    thread, which makes everything stored since its last call durable with a single `syncfs`
    while the next batch is being written. Finished tasks come back through `finished()`, and
    every hand-back writes a byte to `wake_fd`, which the broker polls next to its socket, so
    results are committed as soon as they are durable without the loop busy-waiting.

    Few threads on purpose: the work is mostly Python (checksums of small files, JSON), which
    holds the GIL; every extra thread adds GIL hand-offs (futex calls) that cost the broker's
    loop more than the parallel syscalls win on the machines measured (see docs/farm.md)."""

    def __init__(self, root: Path, sync: str = "group", store_threads: int = 1, disk: Disk | None = None):
        if sync not in ("group", "file", "none"):
            raise ValueError(f"sync must be 'group', 'file' or 'none', not {sync!r}")
        self.root = Path(root)
        self.sync = sync
        self.disk = disk or Disk()
        self.syncs = 0
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._to_sync: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self.wake_fd, self._wake_w = os.pipe()
        os.set_blocking(self.wake_fd, False)
        os.set_blocking(self._wake_w, False)
        self._stores = [threading.Thread(target=self._store_loop, name=f"store-{i}", daemon=True)
                        for i in range(max(1, store_threads))]
        self._syncer = threading.Thread(target=self._sync_loop, name="group-sync", daemon=True) \
            if sync == "group" else None
        for t in self._stores + ([self._syncer] if self._syncer else []):
            t.start()
        self._closed = False

    def submit(self, task: StoreTask) -> None:
        self._inbox.put(task)

    def finished(self) -> list[StoreTask]:
        """Every task handed back since the last call (never blocks)."""
        try:
            while os.read(self.wake_fd, 4096):
                pass
        except BlockingIOError:
            pass
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Finish every submitted task, then stop the threads (their results stay in `finished()`)."""
        if self._closed:
            return
        self._closed = True
        for _ in self._stores:
            self._inbox.put(_STOP)
        for t in self._stores:
            t.join()
        if self._syncer is not None:
            self._to_sync.put(_STOP)
            self._syncer.join()
        os.close(self._wake_w)
        # wake_fd stays open: the broker may still poll it; it is closed with the process.

    # -- threads -------------------------------------------------------------------------------
    @staticmethod
    def _take_batch(q: queue.SimpleQueue, limit: int = 512) -> tuple[list, bool]:
        """Block for one item, then take what else is waiting. Returns (items, stop seen)."""
        first = q.get()
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < limit:
            try:
                item = q.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _hand_back(self, tasks: list[StoreTask]) -> None:
        for t in tasks:
            self._done.put(t)
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # the pipe is full: the broker is awake anyway

    def _store_loop(self) -> None:
        durable_each = self.sync == "file"
        while True:
            batch, stop = self._take_batch(self._inbox)
            to_sync, final = [], []
            with DatasetDirs(self.root) as dirs:  # the dataset's folders, opened once per batch
                for t in batch:
                    try:
                        store_character(self.root, CharacterView.from_json(t.sample_json), t.files, t.infos,
                                        t.extra, t.uploaded, t.staging, durable_each, self.disk, dirs)
                    except BaseException as exc:  # reported to the broker, which rejects the result
                        t.error = exc
                    t.uploaded = None  # free the bytes now
                    (to_sync if t.error is None and self._syncer is not None else final).append(t)
            if to_sync:
                self._to_sync.put(to_sync)
            if final:
                self._hand_back(final)
            if stop:
                return

    def _sync_loop(self) -> None:
        while True:
            batches, stop = self._take_batch(self._to_sync)
            tasks = [t for b in batches for t in b]
            if tasks:
                try:
                    self.disk.sync(self.root)
                    self.syncs += 1
                except OSError as exc:
                    for t in tasks:
                        t.error = exc
                self._hand_back(tasks)
            if stop:
                return


def sync_dataset_dirs(root: Path) -> None:
    """fsync the dataset's folders so the renames of stored files survive a power cut.

    Called once per broker loop turn that completed jobs, before the job table commits them."""
    for sub in SUBSETS + (MASKS_DIR, METADATA_DIR):
        fsync_dir(Path(root) / sub)
