"""Files derived from the store and the shards for one generation: tombstones, BM25, ANN.

Each is written under a generation-numbered name that no committed config names yet, so a crash
while writing leaves the committed index untouched; the next writer removes the leftovers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write, write_json
from ..retrieve.bm25 import BM25Index
from .ann import AnnParams, ann_search, build_ann, extend_ann, gather_rows, load_ann, recall_at_k, rescore, save_ann
from .exact import exact_search
from .layout import ANN_DIR, BM25_DIR, TOMBSTONES, sha256_file, sha256_files
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
