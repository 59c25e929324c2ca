"""Writing the dataset so that it survives: direct and atomic writes, fsync and syncfs, and the
storage seam through which every dataset write of the broker goes.

Every dataset write goes through a `Disk`: the real filesystem, or, for the fault tests, a
`FaultyDisk` that fails with ENOSPC, EROFS or EIO on cue. A write that fails with such an
error is a storage fault (`storage_fault`): the broker stops cleanly, and the fault is never
counted against the job.
"""
from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from synth_humans_addon.core.dataset import atomic_write


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


def fsync_dir(path: Path) -> None:
    """Make the entries of a folder (the names of files renamed into it) durable; best effort."""
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
