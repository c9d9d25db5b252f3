"""Write-side bookkeeping: the pending-operation record, recovery, and removal of unreferenced files.

A long write (``build``, ``add``) first records its parameters in ``.pending.json``. If it is
interrupted, running the same command again finds the record, checks that nothing that changes the
result differs, and resumes; any other write first rolls the unfinished one back (store rows past the
committed count are deleted, files ``config.json`` does not name are removed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ReasonIRError
from ..io import write_json
from ..outputs import OutputError, writing
from .layout import (
    ANN_DIR,
    BM25_DIR,
    CONFIG,
    LITE_FILE,
    LOCK,
    PENDING,
    STORE,
    TOMBSTONES,
    VECTORS,
    IndexNotFoundError,
    read_config,
)

logger = logging.getLogger(__name__)

_OURS = {CONFIG, PENDING, LOCK, STORE, f"{STORE}-wal", f"{STORE}-shm", f"{STORE}-journal",
         VECTORS, TOMBSTONES, BM25_DIR, ANN_DIR, LITE_FILE}


@dataclass
class WriteReport:
    """What a write did.

    Attributes:
        index_dir: the index.
        operation: ``build``, ``add``, ``delete`` or ``noop``.
        rows_added: documents stored by this operation.
        deleted: documents tombstoned by this operation.
        documents: live documents after it.
        shards_encoded, shards_reused: shards encoded now vs. found complete from an interrupted run.
        seconds: wall time per phase.
        ann_recall_at_10: recall@10 of the ANN index against exact search (sampled), if any.
    """

    index_dir: str
    operation: str
    rows_added: int = 0
    deleted: int = 0
    documents: int = 0
    shards_encoded: int = 0
    shards_reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    ann_recall_at_10: float | None = None

    @property
    def docs_per_second(self) -> float:
        total = sum(self.seconds.values())
        return self.rows_added / total if total and self.rows_added else 0.0


def read_pending(root: Path) -> dict[str, Any] | None:
    path = root / PENDING
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def write_pending(root: Path, record: dict[str, Any]) -> None:
    write_json(root / PENDING, record)


def clear_pending(root: Path) -> None:
    (root / PENDING).unlink(missing_ok=True)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v and not prefix:
            out.update(_flat(v, f"{k}."))
        else:
            out[prefix + k] = v
    return out


def check_resumable(pending: dict[str, Any], op: str, identity: dict[str, Any], command: str) -> None:
    """Raise unless ``pending`` is the same operation with the same result-changing parameters.

    The message says what differs (old and new values) and gives advice that works: an unfinished
    operation over another corpus (or a corpus changed since) cannot be resumed, only discarded.
    """
    if pending.get("op") == op and pending.get("identity") == identity:
        return
    then, now = _flat(pending.get("identity") or {}), _flat(identity)
    diff = sorted(k for k in set(then) | set(now) if then.get(k) != now.get(k))
    what = f"an unfinished `{pending.get('op')}`"
    if pending.get("op") != op or any(k.startswith("corpus") for k in diff):
        raise ConfigError(
            f"{what} of another corpus (or of a corpus changed since it started) is in this index; it cannot be "
            f"resumed. Pass --overwrite to {command} to discard it and start over with the current corpus")
    shown = "; ".join(f"{k}: {_brief(then.get(k))} then, {_brief(now.get(k))} now" for k in diff[:4])
    raise ConfigError(
        f"{what} with different settings is in this index (differs in: {shown}). Run it again with its "
        f"settings to finish it, or pass --overwrite to {command} to discard it")


def _brief(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def check_empty_or_ours(root: Path) -> None:
    """Refuse to build into a directory that holds files this package did not write."""
    if not root.exists():
        return
    foreign = sorted(p.name for p in root.iterdir() if p.name not in _OURS)
    if foreign:
        raise ConfigError(f"{root} is not empty and not an index ({', '.join(foreign[:5])}); "
                          "choose a new or empty directory for the index")


def wipe(root: Path) -> None:
    """Remove every index file in ``root`` (only names this package writes; the lock file stays).

    A Milvus Lite store inside the folder stays too (it may be open in this process): the index's
    collections in it are dropped by the Milvus writer instead.
    """
    for name in _OURS - {LOCK, LITE_FILE}:
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
    """Make renames inside ``path`` durable (best effort: a folder that cannot be opened is skipped)."""
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


def rollback(root: Path, cfg: dict[str, Any], store, pending: dict[str, Any] | None, sink: Any = None) -> None:
    """Undo an unfinished write: drop store rows past the committed count and unreferenced files.

    ``sink``: the index's Milvus writer, if it has one (rows past the count and stale collections go too).
    """
    extra = store.truncate(cfg["counts"]["rows"])
    if pending is not None:
        logger.warning("discarding the unfinished `%s` in %s (%d stored rows)", pending.get("op"), root, extra)
        clear_pending(root)
    collect_garbage(root, cfg)
    if sink is not None:
        sink.collect_garbage(cfg, load_tombstones(root, cfg))


def load_tombstones(root: Path, cfg: dict[str, Any]) -> np.ndarray:
    """Sorted int64 rows deleted as of the committed generation."""
    f = (cfg.get("tombstones") or {}).get("file")
    return np.load(root / f, allow_pickle=False) if f else np.zeros(0, dtype=np.int64)


def sync_before_commit(root: Path, cfg: dict[str, Any]) -> None:
    """Make every file ``cfg`` names durable before ``config.json`` points at them."""
    for rel in sorted({str(Path(name).parent) for name in referenced(cfg)} | {VECTORS, TOMBSTONES}):
        fsync_dir(root / rel)


def missing_dirs(root: Path) -> list[Path]:
    """``root`` and its missing parents, deepest first: the folders a write to ``root`` will create."""
    out = []
    p = root.absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def remove_empty(dirs: list[Path]) -> None:
    """Remove the folders in ``dirs`` (deepest first) that are empty; stop at the first that is not."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return
        logger.debug("removed the empty folder %s", d)


def discard(root: Path, store: Any) -> None:
    """Throw away an unfinished build that failed on its input: every index file goes (the lock stays)."""
    if store is not None:
        store.close()
    wipe(root)
    logger.info("the failed build left nothing in %s", root)


@contextlib.contextmanager
def storage_errors(what: str, path: Path) -> Iterator[None]:
    """A full disk (or a refused write) while writing ``what`` becomes one :class:`OutputError` line.

    SQLite reports a full disk as ``OperationalError: database or disk is full``; it is mapped too.
    """
    try:
        with writing(f"{what} (the committed index is unchanged)", path):
            yield
    except sqlite3.OperationalError as exc:
        if "full" not in str(exc):
            raise
        raise OutputError(f"{path}: {exc} while writing {what} (the committed index is unchanged); free some space "
                          "and run the command again") from exc


def failed_on_input(exc: BaseException, root: Path, committed: dict[str, Any] | None) -> bool:
    """Whether an unfinished write that raised ``exc`` should be discarded rather than kept for resuming.

    Only when the input was bad (a :class:`ReasonIRError` other than a failed write) and no vector
    shard beyond those ``committed`` names was written: then nothing costly is lost, and the rerun
    that follows a fix of the input would not match the unfinished write anyway.
    """
    if not isinstance(exc, ReasonIRError) or isinstance(exc, OutputError):
        return False        # interrupted, or the environment failed: keep everything for the rerun to resume
    return not (shard_files(root) - referenced(committed))
