"""One writer at a time: an advisory ``flock`` on ``INDEX_DIR/.lock``.

The kernel drops the lock when its process dies (even by ``kill -9``), so a crashed build never
leaves a stale lock behind. Readers take no lock: they see the last committed ``config.json``.
"""

from __future__ import annotations

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
        index_dir: the index directory (created if missing).
        operation: what the holder does (shown to a refused second writer).
    """

    def __init__(self, index_dir: str | os.PathLike, operation: str):
        self.path = Path(index_dir) / LOCK
        self.operation = operation
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`IndexLockedError` naming the current holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise IndexLockedError(
                f"{self.path.parent} is being written by another process ({holder}); only one writer may "
                "modify an index at a time. Wait for it to finish (or stop it) and run this command again.")
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "operation": self.operation, "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                "argv": sys.argv[:8]}
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (ValueError, OSError):
        info = {}
    if not info:
        return "holder unknown"
    return f"pid {info.get('pid')}, `{info.get('operation')}` since {info.get('since')}"
