"""Writing the dataset so that it survives: direct and atomic writes, fsync and syncfs, and the
storage seam through which every dataset write of the broker goes.

Every dataset write goes through a `Disk`: the real filesystem, or, for the fault tests, a
`FaultyDisk` that fails with ENOSPC, EROFS, EIO, EACCES or EPERM on cue. A write that fails
with such an error is a storage fault (`storage_fault`): the broker stops cleanly, and the
fault is never counted against the job. Writes name a file relative to the dataset root and go
through `dataset_fs.DatasetDirs`, so none follows a link out of the dataset.
"""
from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .dataset_fs import DatasetDirs

# O_NOFOLLOW: a link planted where a file is stored is replaced (below), never written through.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def _write_fd(folder: int, name: str, data: bytes, fsync: bool = False) -> None:
    # os.open/os.write: three syscalls, where open() adds fstat, ioctl and lseek to each file.
    try:
        fd = os.open(name, _CREATE_FLAGS, 0o666, dir_fd=folder)  # 0666 minus the umask, like any new file
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        os.unlink(name, dir_fd=folder)  # a link in the file's place: remove the link itself
        fd = os.open(name, _CREATE_FLAGS, 0o666, dir_fd=folder)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_renamed(folder: int, name: str, data: bytes, fsync: bool) -> None:
    """Write under a temporary name, then rename: the file appears whole or not at all."""
    tmp = f".{name}.{os.getpid()}.{threading.get_ident()}.part"
    try:
        _write_fd(folder, tmp, data, fsync)
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=folder)
        except OSError:
            pass
        raise


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

# Errors that say "this disk cannot take writes now", not "this job is bad": a full, read-only
# or failing disk, a folder made unwritable (chmod: EACCES, EPERM), and a dataset folder that is
# a link (ELOOP, see dataset_fs). Fix the folder and run again: the run resumes.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.ELOOP,
                         getattr(errno, "EDQUOT", errno.ENOSPC)})
INJECTABLE = ("ENOSPC", "EROFS", "EIO", "EACCES", "EPERM")


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
    """The storage fault behind `exc` (a DISK_ERRNOS error of a file, or SQLite's), else None."""
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
        if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in text:
            return StorageFault(str(default_path), errno.EACCES, text)  # e.g. no right to create its journal
    return None


def _named(path: str, write, *args) -> None:
    """Run a write; an OSError that names no file or only a bare name (the `dir_fd` calls) gets
    `path`, so a storage fault always names where it happened."""
    try:
        write(*args)
    except OSError as exc:
        if exc.filename is None or not os.path.isabs(os.fspath(exc.filename)):
            raise OSError(exc.errno, exc.strerror, path) from None
        raise


class Disk:
    """The seam every dataset write of the broker goes through (the real filesystem). A file is
    named by its path relative to the dataset (`masks/0001_….png`) in `dirs`' folders."""

    def write(self, dirs: DatasetDirs, rel: str, data: bytes) -> None:
        """Straight to the final name, no fsync (the group commit syncs the batch)."""
        _named(dirs.path(rel), lambda: _write_fd(*dirs.split(rel), data))

    def write_atomic(self, dirs: DatasetDirs, rel: str, data: bytes) -> None:
        """Temporary name, fsync, rename."""
        _named(dirs.path(rel), lambda: _write_renamed(*dirs.split(rel), data, True))

    def write_unsynced(self, dirs: DatasetDirs, rel: str, data: bytes) -> None:
        """Temporary name, rename, no fsync."""
        _named(dirs.path(rel), lambda: _write_renamed(*dirs.split(rel), data, False))

    def sync(self, root: Path) -> None:
        _named(os.fspath(root), syncfs, root)


class FaultyDisk(Disk):
    """A disk that fails every write after the first `after` with `errno` (tests; see `disk_from_env`).

    A full or read-only disk stays so: once failing it fails every write until the process ends."""

    def __init__(self, error: int, after: int = 0):
        self.error, self.after, self.writes = error, after, 0
        self._lock = threading.Lock()

    def _tick(self, path: str) -> None:
        with self._lock:
            self.writes += 1
            if self.writes > self.after:
                raise OSError(self.error, os.strerror(self.error), path)

    def write(self, dirs, rel, data):
        self._tick(dirs.path(rel))
        super().write(dirs, rel, data)

    def write_atomic(self, dirs, rel, data):
        self._tick(dirs.path(rel))
        super().write_atomic(dirs, rel, data)

    def write_unsynced(self, dirs, rel, data):
        self._tick(dirs.path(rel))
        super().write_unsynced(dirs, rel, data)

    def sync(self, root):
        with self._lock:
            failing = self.writes > self.after
        if failing:
            raise OSError(self.error, os.strerror(self.error), str(root))
        super().sync(root)


FAULT_ENV = "SYNTH_HUMANS_FARM_FAULT"


def disk_from_env(environ: dict[str, str] | None = None) -> Disk:
    """`SYNTH_HUMANS_FARM_FAULT=ENOSPC:AFTER` (or EROFS, EIO, EACCES, EPERM): a FaultyDisk for
    failure-injection tests of a broker process; unset: the real disk."""
    spec = (os.environ if environ is None else environ).get(FAULT_ENV, "").strip()
    if not spec:
        return Disk()
    name, _, after = spec.partition(":")
    if name.upper() not in INJECTABLE or (after and not after.isdigit()):
        raise ValueError(f"{FAULT_ENV}={spec!r}: expected one of {', '.join(INJECTABLE)}, optionally :N writes before")
    return FaultyDisk(getattr(errno, name.upper()), int(after or 0))


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
