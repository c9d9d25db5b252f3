"""Write-side bookkeeping: the pending-operation record, recovery, and removal of unreferenced files.

A long write (``build``, ``add``) first records its parameters in ``.pending.json``. If it is
interrupted, running the same command again finds the record, checks that nothing that changes the
result differs, and resumes; any other write first rolls the unfinished one back (store rows past the
committed count are deleted, files ``config.json`` does not name are removed).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import write_json
from .layout import (ANN_DIR, BM25_DIR, CONFIG, LOCK, PENDING, STORE, TOMBSTONES, VECTORS, IndexNotFoundError,
                     read_config)

logger = logging.getLogger(__name__)

_OURS = {CONFIG, PENDING, LOCK, STORE, f"{STORE}-wal", f"{STORE}-shm", f"{STORE}-journal",
         VECTORS, TOMBSTONES, BM25_DIR, ANN_DIR}


def read_pending(root: Path) -> dict[str, Any] | None:
    path = root / PENDING
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_pending(root: Path, record: dict[str, Any]) -> None:
    write_json(root / PENDING, record)


def clear_pending(root: Path) -> None:
    (root / PENDING).unlink(missing_ok=True)


def check_resumable(pending: dict[str, Any], op: str, identity: dict[str, Any], command: str) -> None:
    """Raise unless ``pending`` is the same operation with the same result-changing parameters."""
    if pending.get("op") == op and pending.get("identity") == identity:
        return
    diff = sorted(k for k in set(identity) | set(pending.get("identity", {}))
                  if identity.get(k) != pending.get("identity", {}).get(k))
    raise ConfigError(
        f"an unfinished `{pending.get('op')}` with different settings is in this index "
        f"(differs in: {', '.join(diff) or 'operation'}). Rerun the original command to finish it "
        f"({pending.get('command', 'see .pending.json')}), or pass --overwrite to {command} to discard it")


def check_empty_or_ours(root: Path) -> None:
    """Refuse to build into a directory that holds files this package did not write."""
    if not root.exists():
        return
    foreign = sorted(p.name for p in root.iterdir() if p.name not in _OURS)
    if foreign:
        raise ConfigError(f"{root} is not empty and not an index ({', '.join(foreign[:5])}); "
                          "choose a new or empty directory for the index")


def wipe(root: Path) -> None:
    """Remove every index file in ``root`` (only names this package writes; the lock file stays)."""
    for name in _OURS - {LOCK}:
        p = root / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def referenced(cfg: dict[str, Any] | None) -> set[str]:
    """Relative paths of every file and folder the committed config names."""
    if cfg is None:
        return set()
    out = {s["file"] for s in cfg["vectors"]["shards"]}
    if cfg.get("tombstones", {}).get("file"):
        out.add(cfg["tombstones"]["file"])
    if cfg.get("bm25") and cfg["bm25"].get("dir"):
        out.add(cfg["bm25"]["dir"])
    if cfg.get("ann") and cfg["ann"].get("file"):
        out.add(cfg["ann"]["file"])
    return out


def collect_garbage(root: Path, cfg: dict[str, Any] | None, keep: set[str] | None = None) -> int:
    """Delete files under the vectors/tombstones/bm25/ann folders that ``cfg`` does not name.

    Args:
        root: the index directory (the caller holds the write lock).
        cfg: the committed config (``None``: nothing committed).
        keep: extra relative paths to keep (shards a resumable operation will reuse).

    Returns:
        The number of files or folders removed.
    """
    names = referenced(cfg) | (keep or set())
    removed = 0
    for folder in (VECTORS, TOMBSTONES, ANN_DIR, BM25_DIR):
        d = root / folder
        if not d.is_dir():
            continue
        for p in d.iterdir():
            rel = f"{folder}/{p.name}"
            if rel in names:
                continue
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed += 1
    for p in root.glob(f".{CONFIG}.*.tmp"):
        p.unlink()
        removed += 1
    if removed:
        logger.info("removed %d unreferenced file(s) from %s", removed, root)
    return removed


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def try_config(root: Path) -> dict[str, Any] | None:
    """The committed config, or ``None`` when nothing is committed yet."""
    try:
        return read_config(root)
    except IndexNotFoundError:
        return None


def same_operation(pending: dict[str, Any], op: str, identity: dict[str, Any]) -> bool:
    return pending.get("op") == op and pending.get("identity") == identity


def shard_files(root: Path) -> set[str]:
    """Every shard file present (a resumed operation may reuse any of them; the rest go at commit)."""
    d = root / VECTORS
    return {f"{VECTORS}/{p.name}" for p in d.glob("shard-*.npy")} if d.is_dir() else set()


def rollback(root: Path, cfg: dict[str, Any], store, pending: dict[str, Any] | None) -> None:
    """Undo an unfinished write: drop store rows past the committed count and unreferenced files."""
    extra = store.truncate(cfg["counts"]["rows"])
    if pending is not None:
        logger.warning("discarding the unfinished `%s` in %s (%d stored rows)", pending.get("op"), root, extra)
        clear_pending(root)
    collect_garbage(root, cfg)


def load_tombstones(root: Path, cfg: dict[str, Any]) -> np.ndarray:
    """Sorted int64 rows deleted as of the committed generation."""
    f = (cfg.get("tombstones") or {}).get("file")
    return np.load(root / f, allow_pickle=False) if f else np.zeros(0, dtype=np.int64)
