"""Atomic file writes: a temporary file in the same folder, fsynced, renamed.

A reader (or a process started after a crash) sees either the old file or
the new one, never a torn one: ``os.replace`` is atomic on POSIX and Windows,
and the data are on disk (``fsync``) before the rename, and the rename is on
disk (``fsync`` of the folder) before the call returns.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Open a temporary file next to ``path``; rename it over ``path`` on success.

    If the block raises, the temporary file is removed and ``path`` is left
    as it was.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> with atomic_write(target) as f:
    ...     _ = f.write(b"new")
    >>> open(target, "rb").read(), oct(os.stat(target).st_mode & 0o777) != "0o600"
    (b'new', True)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(
        dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        os.chmod(temp, _file_mode(path))  # mkstemp's 0o600 would stick
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_folder(folder)


def _file_mode(path: str) -> int:
    """The replaced file's mode, else what ``open`` would give (0o666 & ~umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        pass
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


def fsync_folder(folder: str) -> None:
    """Flush a folder's entries (a rename) to disk, where the OS allows it.

    >>> fsync_folder(".")
    """
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its rename is durable
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
