"""Files derived from the store and the shards for one generation: tombstones, BM25, ANN.

Each is written under a generation-numbered name that no committed config names yet, so a crash
while writing leaves the committed index untouched; the next writer removes the leftovers.
:func:`derive_index` adds or rebuilds BM25 and ANN of a committed index from its stored texts and
vectors, without loading an encoder or touching a vector shard.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import atomic_write, write_json
from ..retrieve.bm25 import BM25Index
from .ann import (
    ANN_KINDS,
    AnnParams,
    ann_search,
    build_ann,
    extend_ann,
    gather_rows,
    load_ann,
    recall_at_k,
    rescore,
    save_ann,
)
from .exact import exact_search
from .layout import (
    ANN_DIR,
    BM25_DIR,
    STORE,
    TOMBSTONES,
    package_versions,
    read_config,
    sha256_file,
    sha256_files,
    write_config,
)
from .lock import WriteLock
from .options import IndexOptions
from .state import WriteReport, collect_garbage, fsync_dir, load_tombstones, read_pending, sync_before_commit
from .store import DocStore

logger = logging.getLogger(__name__)

RECALL_SAMPLE = 200


def save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_write(path, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


def save_tombstones(root: Path, gen: int, tombstones: np.ndarray) -> dict[str, Any]:
    """Write the sorted tombstone rows of generation ``gen`` (none: no file)."""
    if tombstones.size == 0:
        return {"file": None, "count": 0}
    rel = f"{TOMBSTONES}/g{gen}.npy"
    save_npy(root / rel, np.asarray(tombstones, dtype=np.int64))
    return {"file": rel, "count": int(tombstones.size), "sha256": sha256_file(root / rel)}


def build_bm25_generation(root: Path, gen: int, store: DocStore, total: int, tombstones: np.ndarray,
                          k1: float, b: float) -> dict[str, Any]:
    """Build BM25 over the live rows ``< total`` into ``bm25/g<gen>/`` (+ ``rows.npy``: position -> row)."""
    dead = np.zeros(total, dtype=bool)
    dead[tombstones] = True
    rows, ids, texts = [], [], []
    for row, doc in store.iter_range(0, total):
        if not dead[row]:
            rows.append(row)
            ids.append(doc.id)
            texts.append(doc.full_text)
    rel = f"{BM25_DIR}/g{gen}"
    out = root / rel
    if not texts:
        return {"dir": None, "k1": k1, "b": b, "documents": 0}
    index = BM25Index.build(texts, ids, k1=k1, b=b)
    index.save(out)
    save_npy(out / "rows.npy", np.asarray(rows, dtype=np.int64))
    write_json(out / "reasonir_rows.json", {"documents": len(rows)})
    files = sha256_files([p for p in out.iterdir() if p.is_file()], root)
    logger.info("BM25 over %d documents, %d terms", len(rows), len(index.vocab))
    return {"dir": rel, "k1": k1, "b": b, "documents": len(rows), "files": files}


def load_shards(root: Path, shards: list[dict[str, Any]]) -> list[np.ndarray]:
    """Memory-map the shard files (copy-on-write: writable views that never modify the files)."""
    return [np.load(root / s["file"], mmap_mode="c", allow_pickle=False) for s in shards]


def build_ann_generation(root: Path, gen: int, params: AnnParams, shards: list[dict[str, Any]], total: int,
                         previous: dict[str, Any] | None) -> dict[str, Any]:
    """Build (or extend the previous generation's) FAISS index over rows ``[0, total)``."""
    arrays = load_shards(root, shards)
    if previous is not None and previous.get("rows") == total:
        return previous
    if previous is not None and previous.get("file"):
        index = load_ann(root / previous["file"])
        extend_ann(index, arrays, index.ntotal)
    else:
        index = build_ann(params, arrays, total)
    rel = f"{ANN_DIR}/g{gen}.faiss"
    save_ann(index, root / rel)
    # recall@10 against exact search, with a sample of stored vectors as queries
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(total, size=min(RECALL_SAMPLE, total), replace=False))
    q = gather_rows(arrays, sample)
    exact, _ = exact_search(q, arrays, k=10)
    approx, _ = rescore(arrays, q, ann_search(index, params, q, 10), 10)
    recall = recall_at_k(approx, exact, 10)
    logger.info("ANN %s over %d vectors: recall@10 vs exact %.3f (%d sampled document vectors as queries)",
                params.kind, total, recall, len(sample))
    return {"kind": params.kind, "file": rel, "rows": total, "params": params.to_dict(),
            "recall_at_10": round(recall, 4), "recall_sample": len(sample), "sha256": sha256_file(root / rel)}


def derive_index(index_dir: str | os.PathLike, *, bm25: bool = False, k1: float | None = None,
                 b: float | None = None, ann: str | None = None, ann_params: AnnParams | None = None,
                 refine: int | None = None) -> WriteReport:
    """Add or rebuild BM25 and/or the ANN index of a committed index, without re-encoding anything.

    BM25 is built from the stored texts of the live documents, ANN from the stored vector shards;
    no encoder is loaded and no shard file is written. The result is committed as a new generation,
    so a failure part-way leaves the committed index exactly as it was.

    Args:
        index_dir: an existing local index.
        bm25: (re)build BM25.
        k1, b: BM25 parameters (default: the index's own).
        ann: (re)build a FAISS index of this kind (``hnsw``, ``ivfpq``, or the compressed codes ``sq8``
            or ``sq4``), or ``None`` to leave ANN alone.
        ann_params: FAISS parameters (default: the index's own, else the defaults).
        refine: candidates re-scored exactly per result for ``ivfpq``/``sq8``/``sq4`` (default: the
            parameters' own, 10 unless set).

    Returns:
        The report (``operation`` is ``"derive"``; ``seconds`` has ``bm25`` and/or ``ann``).

    Raises:
        ConfigError: nothing asked for, an unknown ANN kind, an unfinished build or add in the index,
            or an index whose vectors live in Milvus.
        IndexLockedError: another process is writing to the index.

    Examples:
        >>> import tempfile
        >>> from reasonir.index import Index
        >>> root = tempfile.mkdtemp()
        >>> Index.build({"d1": "ice floats", "d2": "salt water"}, root, "hash", bm25=False).close()
        >>> derive_index(root, bm25=True).operation
        'derive'
    """
    if not bm25 and ann is None:
        raise ConfigError("nothing to derive; give --bm25 and/or --ann KIND")
    if ann is not None and ann not in ANN_KINDS[1:]:
        raise ConfigError(f"unknown ANN kind {ann!r}; choose one of {', '.join(ANN_KINDS[1:])}")
    root = Path(index_dir)
    read_config(root)                           # not an index: refused before anything is created
    report = WriteReport(str(root), "derive")
    with WriteLock(root, "index derive", create=False):
        pending = read_pending(root)
        if pending is not None:
            raise ConfigError(f"{root} has an unfinished `{pending.get('op')}`; finish it first by running "
                              f"`{pending.get('command', 'the same command')}` again, then derive")
        committed = read_config(root)
        if committed.get("milvus"):
            raise ConfigError(f"{root} keeps its vectors and BM25 weights in Milvus; derive works on local "
                              "indexes only (rebuild with --store milvus and --bm25 instead)")
        cfg = dict(committed, generation=committed["generation"] + 1)
        opts = IndexOptions.from_dict(committed["options"])
        total = cfg["counts"]["rows"]
        store = DocStore(root / STORE)
        try:
            if bm25:
                t = time.perf_counter()
                opts.bm25, opts.k1, opts.b = True, opts.k1 if k1 is None else k1, opts.b if b is None else b
                cfg["bm25"] = build_bm25_generation(root, cfg["generation"], store, total,
                                                    load_tombstones(root, committed), opts.k1, opts.b)
                report.seconds["bm25"] = time.perf_counter() - t
            if ann is not None:
                t = time.perf_counter()
                params = ann_params or (opts.ann_params if opts.ann == ann else AnnParams())
                params.kind = opts.ann = ann
                if refine is not None:
                    params.refine = refine
                opts.ann_params = params
                cfg["ann"] = build_ann_generation(root, cfg["generation"], params, cfg["vectors"]["shards"],
                                                  total, None)
                report.ann_recall_at_10 = cfg["ann"].get("recall_at_10")
                report.seconds["ann"] = time.perf_counter() - t
        except BaseException:
            collect_garbage(root, committed)    # the new generation's files go; the committed index stays
            raise
        finally:
            store.close()
        cfg["options"] = opts.to_dict()
        cfg["versions"] = package_versions()
        cfg["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        cfg["history"] = committed["history"] + [{"op": "derive", "bm25": bm25, "ann": ann,
                                                  "generation": cfg["generation"], "time": cfg["updated"]}]
        sync_before_commit(root, cfg)
        write_config(root, cfg)
        fsync_dir(root)
        collect_garbage(root, cfg)
        report.documents = cfg["counts"]["documents"]
    return report
