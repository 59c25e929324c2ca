"""The broker's file operations inside a dataset folder, which never follow a link out of it.

The dataset root is the operator's choice (it may itself be a link). Below it the broker opens
every folder one component at a time with O_NOFOLLOW, relative to the folder above (`openat`),
so a folder that is a symbolic link — placed by a worker through the shared filesystem, or by
anyone else — stops the write with ELOOP (a storage fault: the broker stops, names the path and
resumes once the link is gone) instead of leading outside. Files are opened with O_NOFOLLOW too:
a link planted where the broker stores a file is replaced, never written through, and a file
the broker reads from a staging folder must be a regular file no larger than declared (a link,
a FIFO or a huge file there is the worker's bad result, never a read outside or a stall).
"""
from __future__ import annotations

import errno
import os
import shutil
import stat

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC  # NONBLOCK: a FIFO cannot stall the open
LINK_REFUSED = "a symbolic link: the farm never follows links out of the dataset"


def _refuse_link(exc: OSError, parent: int, name: str, path: str) -> OSError:
    """O_NOFOLLOW reports a link as ELOOP (a file) or ENOTDIR (a folder): say which it was."""
    try:
        is_link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        is_link = False
    if is_link:
        return OSError(errno.ELOOP, LINK_REFUSED, path)
    return OSError(exc.errno, exc.strerror, path)


class DatasetDirs:
    """The folders of one dataset, opened without following links and kept open for a batch of
    operations (one `openat` per folder per batch, not per file). Use as a context manager."""

    def __init__(self, root: str | os.PathLike):
        self.root = os.fspath(root)
        self._fds: dict[str, int] = {}

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def open_dir(self, rel_dir: str, create: bool = False) -> int:
        """A new fd of the folder `rel_dir` (relative to the root, "" for the root); the caller
        closes it. Missing folders are made with `create`, else FileNotFoundError."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
        done = []
        try:
            for part in filter(None, rel_dir.split("/")):
                if part in (".", ".."):
                    raise OSError(errno.EINVAL, "not a plain folder name", self.path(rel_dir))
                done.append(part)
                try:
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise FileNotFoundError(errno.ENOENT, "no such folder", self.path("/".join(done))) from None
                    try:
                        os.mkdir(part, 0o777, dir_fd=fd)
                    except FileExistsError:
                        pass  # made meanwhile: open it (and refuse it if it is a link)
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise _refuse_link(exc, fd, part, self.path("/".join(done))) from None
                    raise
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def dir_fd(self, rel_dir: str) -> int:
        """The cached fd of a folder of the dataset (made if missing)."""
        fd = self._fds.get(rel_dir)
        if fd is None:
            fd = self._fds[rel_dir] = self.open_dir(rel_dir, create=True)
        return fd

    def split(self, rel: str) -> tuple[int, str]:
        """(fd of the folder, file name) of a dataset file `<folder>/<name>`."""
        folder, _, name = rel.rpartition("/")
        return self.dir_fd(folder), name

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> "DatasetDirs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_regular(dirs: DatasetDirs, rel: str, max_size: int) -> bytes:
    """The bytes of a regular file inside the dataset, reached without following any link.
    Raises OSError naming the path for a link, anything but a regular file, or one larger
    than `max_size` bytes (nothing of it is read then)."""
    folder, _, name = rel.rpartition("/")
    dfd = dirs.open_dir(folder)
    try:
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _refuse_link(exc, dfd, name, dirs.path(rel)) from None
            raise OSError(exc.errno, exc.strerror, dirs.path(rel)) from None
    finally:
        os.close(dfd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", dirs.path(rel))
        if st.st_size > max_size:
            raise OSError(errno.EFBIG, f"{st.st_size} bytes, more than the {max_size} expected", dirs.path(rel))
        chunks, left = [], st.st_size + 1  # one byte more: a file still growing is caught by the size check
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            chunks.append(b)
            left -= len(b)
        data = b"".join(chunks)
        if len(data) > max_size:
            raise OSError(errno.EFBIG, f"more than the {max_size} bytes expected", dirs.path(rel))
        return data
    finally:
        os.close(fd)


def unlink(dirs: DatasetDirs, rel: str) -> None:
    """Remove a dataset file (a link is removed itself, never its target); missing is fine."""
    try:
        fd, name = dirs.split(rel)
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        pass


def remove_tree(dirs: DatasetDirs, rel: str) -> None:
    """Remove a folder inside the dataset and everything in it, best effort, without following
    links (a link in its place is removed itself); a missing one is fine."""
    folder, _, name = rel.rpartition("/")
    try:
        dfd = dirs.open_dir(folder)
    except OSError:
        return  # missing, or reached through a link: nothing of ours to remove
    try:
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=dfd, ignore_errors=True)  # fd-based: never follows links inside
        else:
            os.unlink(name, dir_fd=dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def names_in(dirs: DatasetDirs, rel_dir: str) -> list[str]:
    """The entries of a dataset folder (empty if it is missing)."""
    try:
        fd = dirs.open_dir(rel_dir)
    except FileNotFoundError:
        return []
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)
