"""One writer at a time: an advisory ``flock`` on ``INDEX_DIR/.lock``.

The kernel drops the lock when its process dies (even by ``kill -9``), so a crashed build never
leaves a stale lock behind. Readers take no lock: they see the last committed ``config.json``.

The holder removes the lock file when it is done (while still holding the lock), so a finished or
failed write leaves no ``.lock`` behind (only ``kill -9`` leaves an unlocked one, harmless). A
process may thus lock a file the previous holder has just removed: after ``flock`` succeeds, the
lock is kept only if the path still names the very file that was locked; otherwise it tries again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path

from ..errors import ReasonIRError
from .layout import LOCK


class IndexLockedError(ReasonIRError, RuntimeError):
    """Another process is writing to the index."""


class WriteLock:
    """Exclusive, non-blocking write lock on an index directory; use as a context manager.

    Args:
        index_dir: the index directory.
        operation: what the holder does (shown to a refused second writer).
        create: create ``index_dir`` (and missing parents) when it does not exist.
    """

    def __init__(self, index_dir: str | os.PathLike, operation: str, create: bool = True):
        self.path = Path(index_dir) / LOCK
        self.operation = operation
        self.create = create
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`IndexLockedError` naming the current holder."""
        if self.create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise IndexLockedError(
                    f"{self.path.parent} is being written by another process ({holder}); only one writer may "
                    "modify an index at a time. Wait for it to finish (or stop it) and run this command again."
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)          # the previous holder removed this file as we locked it: lock the new one
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "operation": self.operation, "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "argv": sys.argv[:8]}
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file, then drop the lock (in that order: see the module docstring)."""
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (ValueError, OSError):
        info = {}
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')}, `{info.get('operation')}` since {info.get('since')}"
