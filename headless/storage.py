"""Where results land: a staging area per attempt, verification, and the move into the dataset.

Every attempt gets its own staging folder, ``DATASET/.farm/staging/<job>_<attempt>/``, named by
the broker; files inside are named ``<k:03d>.image`` / ``<k:03d>.mask`` by the broker too. A
worker never chooses a path: it names a file by (k, kind), which the broker checks against
the job's samples, so path traversal is impossible. Uploaded chunks (or, in shared-filesystem
mode, the worker's own writes) go there; when the worker reports DONE the broker checks that
every expected file is present with the declared size and SHA-256, fsyncs it, renames it into
its dataset name (atomic, same filesystem) and writes the character's metadata last.

A superseded attempt only ever touches its own staging folder, which is deleted.

Every dataset write goes through a `Disk` (the storage seam): the real filesystem, or, for
the fault tests, a `FaultyDisk` that fails with ENOSPC, EROFS or EIO on cue. A write that
fails with such an error is a storage fault (`storage_fault`): the broker stops cleanly, and
the fault is never counted against the job.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import synth_humans_addon.core.dataset as _dataset
from synth_humans_addon.core.dataset import (MASKS_DIR, METADATA_DIR, SUBSETS, RenderedImage, atomic_write,
                                             character_record, contained_relpath, image_relpath, mask_relpath,
                                             metadata_path, metadata_relpath, sha256_file)
from synth_humans_addon.core.sampling import CharacterSample

from .protocol import FILE_KINDS, MAX_FILE_SIZE, ProtocolError, validate_image_info

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
class ImageView:
    k: int
    subset: str
    camera_id: int
    pose_phase: float


class CharacterView:
    """The few fields of a stored character sample that naming and metadata need.

    Duck-types `CharacterSample` for `image_relpath`, `mask_relpath` and `character_record`;
    the broker handles thousands of jobs a second and rebuilding the full dataclass tree
    (`CharacterSample.from_dict`) costs milliseconds it does not need to spend."""

    __slots__ = ("_d", "index", "pid", "split", "images", "json_text")

    def __init__(self, d: dict[str, Any], json_text: str | None = None):
        self._d = d
        self.json_text = json_text  # `d` as JSON, when known: the metadata embeds it without re-encoding
        self.index, self.pid, self.split = int(d["index"]), int(d["pid"]), d["split"]
        self.images = [ImageView(int(i["k"]), i["subset"], int(i["camera_id"]), float(i["pose_phase"]))
                       for i in d["images"]]

    @classmethod
    def from_json(cls, text: str) -> "CharacterView":
        return cls(json.loads(text), text)

    def to_dict(self) -> dict[str, Any]:
        return self._d


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


def store_character(root: Path, character: CharacterSample | CharacterView, files: list[DeclaredFile],
                    infos: dict[int, dict[str, Any]], extra: dict[str, Any],
                    uploaded: dict[tuple[int, str], bytes] | None = None, staging: Path | None = None,
                    durable: bool = True, disk: Disk | None = None) -> StoredCharacter:
    """Verify every file of a character, store it under its dataset name, write metadata last.

    The bytes come from an upload (`uploaded`) or, in shared-filesystem mode, from the files a
    worker wrote into `staging`. Raises VerificationError (and writes nothing) if any file is
    missing or differs from its declaration. Safe to repeat: names are deterministic.

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
    root = Path(root)
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
            try:
                data = (Path(staging) / staged_name(*key)).read_bytes()
            except (FileNotFoundError, TypeError):
                data = None
        if data is None:
            raise VerificationError(f"character {character.pid:04d}: {key[1]} k={key[0]} never arrived")
        if len(data) != f.size:
            raise VerificationError(f"character {character.pid:04d}: {key[1]} k={key[0]} has {len(data)} bytes, "
                                    f"declared {f.size}")
        if hashlib.sha256(data).hexdigest() != f.sha256:
            raise VerificationError(f"character {character.pid:04d}: {key[1]} k={key[0]} SHA-256 mismatch")
        blobs[key] = data
    try:
        _write_character(root, character, blobs, declared, infos, extra, durable, disk)
    except OSError:
        try:
            remove_character_files(root, character)
        except OSError:
            pass  # a read-only disk: the restarted broker removes them (no metadata: incomplete)
        raise
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
    total = 0
    for im in character.images:
        total += len(blobs[(im.k, "image")]) + len(blobs[(im.k, "mask")])
    return StoredCharacter(character.pid, len(character.images), total)


def _write_character(root: Path, character, blobs, declared, infos, extra, durable: bool, disk: Disk) -> None:
    base = os.fspath(root)  # plain strings: pathlib costs microseconds per file
    if durable:
        for im in character.images:
            disk.write_atomic(root / image_relpath(character.pid, im), blobs[(im.k, "image")])
            disk.write_atomic(root / mask_relpath(character.pid, im), blobs[(im.k, "mask")])
    else:
        for im in character.images:
            disk.write(f"{base}/{image_relpath(character.pid, im)}", blobs[(im.k, "image")])
            disk.write(f"{base}/{mask_relpath(character.pid, im)}", blobs[(im.k, "mask")])
    rendered = []
    for im in character.images:
        info = dict(infos.get(im.k) or {})
        info["sha256"] = declared[(im.k, "image")].sha256
        info["mask_sha256"] = declared[(im.k, "mask")].sha256
        rendered.append(RenderedImage(k=im.k, image=b"", mask=b"", info=info))
    if durable:
        disk.write_atomic(metadata_path(root, character.pid), metadata_json(character, rendered, extra))
    else:  # the same name as metadata_path(), without pathlib
        disk.write_unsynced(f"{base}/{metadata_relpath(character.pid)}",
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


_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _write_fd(path: str, data: bytes) -> None:
    # os.open/os.write: three syscalls, where open() adds fstat, ioctl and lseek to each file.
    fd = os.open(path, _CREATE_FLAGS, 0o666)  # 0666 minus the umask, like any new file
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def write_file(path: str | Path, data: bytes) -> None:
    """Write `data` under `path` directly (no temporary name, no fsync); creates the folder."""
    try:
        _write_fd(path, data)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_fd(path, data)


def write_unsynced(path: str | Path, data: bytes) -> None:
    """Like `atomic_write` (temporary name, then rename) without the fsync."""
    folder, name = os.path.split(os.fspath(path))
    tmp = f"{folder}/.{name}.{os.getpid()}.{threading.get_ident()}.part"
    write_file(tmp, data)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# The storage seam and storage faults.

# Errors that say "this disk cannot take writes now", not "this job is bad".
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EIO, getattr(errno, "EDQUOT", errno.ENOSPC)})


@dataclass
class StorageFault:
    """Why the dataset's disk stopped taking writes: the broker stops on it (exit status 5)."""

    path: str
    errno: int
    message: str

    def line(self) -> str:
        name = errno.errorcode.get(self.errno, str(self.errno))
        return f"storage fault on {self.path}: {name} ({self.message})"


def storage_fault(exc: BaseException, default_path: str | Path = "") -> StorageFault | None:
    """The storage fault behind `exc` (ENOSPC, EROFS, EIO, from a file or SQLite), else None."""
    import sqlite3

    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        return StorageFault(str(exc.filename or default_path), exc.errno, exc.strerror or str(exc))
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        text = str(exc)
        if name.startswith("SQLITE_FULL") or "disk is full" in text:
            return StorageFault(str(default_path), errno.ENOSPC, text)
        if name.startswith("SQLITE_READONLY") or "readonly database" in text:
            return StorageFault(str(default_path), errno.EROFS, text)
        if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
            return StorageFault(str(default_path), errno.EIO, text)
    return None


def _named(path: str | Path, write, *args) -> None:
    """Run a write; an OSError without a file name (os.write, flush, fsync) gets `path`, so a
    storage fault always names where it happened."""
    try:
        write(*args)
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


class Disk:
    """The seam every dataset write of the broker goes through (the real filesystem)."""

    def write(self, path: str | Path, data: bytes) -> None:
        _named(path, write_file, path, data)

    def write_atomic(self, path: Path, data: bytes) -> None:
        _named(path, atomic_write, path, data)

    def write_unsynced(self, path: str | Path, data: bytes) -> None:
        _named(path, write_unsynced, path, data)

    def sync(self, root: Path) -> None:
        _named(root, syncfs, root)


class FaultyDisk(Disk):
    """A disk that fails every write after the first `after` with `errno` (tests; see `disk_from_env`).

    A full or read-only disk stays so: once failing it fails every write until the process ends."""

    def __init__(self, error: int, after: int = 0):
        self.error, self.after, self.writes = error, after, 0
        self._lock = threading.Lock()

    def _tick(self, path: str | Path) -> None:
        with self._lock:
            self.writes += 1
            if self.writes > self.after:
                raise OSError(self.error, os.strerror(self.error), str(path))

    def write(self, path, data):
        self._tick(path)
        super().write(path, data)

    def write_atomic(self, path, data):
        self._tick(path)
        super().write_atomic(path, data)

    def write_unsynced(self, path, data):
        self._tick(path)
        super().write_unsynced(path, data)

    def sync(self, root):
        with self._lock:
            failing = self.writes > self.after
        if failing:
            raise OSError(self.error, os.strerror(self.error), str(root))
        super().sync(root)


FAULT_ENV = "SYNTH_HUMANS_FARM_FAULT"


def disk_from_env(environ: dict[str, str] | None = None) -> Disk:
    """`SYNTH_HUMANS_FARM_FAULT=ENOSPC:AFTER` (or EROFS, EIO): a FaultyDisk for failure-injection
    tests of a broker process; unset: the real disk."""
    spec = (os.environ if environ is None else environ).get(FAULT_ENV, "").strip()
    if not spec:
        return Disk()
    name, _, after = spec.partition(":")
    code = getattr(errno, name.upper(), None)
    if code not in DISK_ERRNOS or (after and not after.isdigit()):
        raise ValueError(f"{FAULT_ENV}={spec!r}: expected ENOSPC, EROFS or EIO, optionally :N writes before")
    return FaultyDisk(code, int(after or 0))


_libc = None


def syncfs_available() -> bool:
    """Linux `syncfs(2)`: flush one filesystem (found through ctypes; absent elsewhere)."""
    global _libc
    if _libc is None:
        try:
            import ctypes
            import ctypes.util

            lib = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            _libc = lib if hasattr(lib, "syncfs") else False
        except OSError:
            _libc = False
    return bool(_libc)


def syncfs(path: Path) -> None:
    """Make everything written to `path`'s filesystem durable: one call for a whole batch of
    stored characters (group commit) instead of one fsync per file."""
    if not syncfs_available():
        raise OSError("syncfs is not available on this system")
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.syncfs(fd) != 0:  # ctypes releases the GIL for the call
            import ctypes

            err = ctypes.get_errno()
            raise OSError(err, f"syncfs({path}) failed: {os.strerror(err)}")
    finally:
        os.close(fd)


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
    staging: Path | None  # shared-filesystem mode
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
            for t in batch:
                try:
                    store_character(self.root, CharacterView.from_json(t.sample_json), t.files, t.infos, t.extra,
                                    t.uploaded, t.staging, durable=durable_each, disk=self.disk)
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
        _fsync_dir(Path(root) / sub)


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
