"""Approximate nearest-neighbour search with FAISS (extra ``ann``): HNSW, IVF-PQ and scalar-quantised codes.

The FAISS index holds every store row in row order (FAISS id ``i`` = row ``i``, tombstoned rows
included), so adding documents appends vectors and deleting them needs no FAISS change: tombstones
are filtered inside the search with an ``IDSelector``. Candidates are re-scored exactly from the
stored vectors by the caller, so scores match exact search; ``refine`` asks IVF-PQ for more
candidates than ``k`` to make up for its compressed distances.

* ``hnsw``: ``IndexHNSWFlat`` (inner product), ``M`` links per node, ``efConstruction`` at build
  and ``efSearch`` at query time;
* ``ivfpq``: ``IndexIVFPQ`` with ``nlist`` inverted lists (default ``4·sqrt(n)``) trained on a
  sample, ``pq_m`` sub-quantizers of ``nbits`` bits, ``nprobe`` lists visited per query;
* ``sq8`` / ``sq4``: every vector as 8- or 4-bit codes with per-dimension ranges, scanned in full
  (see :mod:`reasonir.index.codecs`).

IVF-PQ and the scalar codes return ``refine · k`` candidates for the exact re-scoring.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, require
from .codecs import SQ_TRAIN_SAMPLE, build_sq, default_pq_m, default_refine, is_sq

logger = logging.getLogger(__name__)

ANN_KINDS = ("none", "hnsw", "ivfpq", "sq8", "sq4")


@dataclass
class AnnParams:
    """FAISS index parameters (build-time and default search-time)."""

    kind: str = "hnsw"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int | None = None
    pq_m: int | None = None
    nbits: int | None = None
    nprobe: int = 32
    refine: int | None = None       # None: the codec's default (codecs.default_refine)

    @property
    def effective_refine(self) -> int:
        """Candidates re-scored per result: ``refine``, else the codec's default."""
        return self.refine if self.refine is not None else default_refine(self.kind)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AnnParams:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _faiss():
    return require("faiss", "ann", package="faiss-cpu")


def _iter_fp32(shards: Sequence[np.ndarray], start: int = 0, block: int = 65536):
    """Yield fp32 blocks ``[b, d]`` of the concatenated shards from global row ``start``."""
    base = 0
    for shard in shards:
        n = shard.shape[0]
        if base + n <= start:
            base += n
            continue
        for lo in range(max(0, start - base), n, block):
            yield np.ascontiguousarray(shard[lo:lo + block], dtype=np.float32)
        base += n


def _sample(shards: Sequence[np.ndarray], n: int, size: int, seed: int = 0) -> np.ndarray:
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(size, n), replace=False))
    return gather_rows(shards, rows)


def gather_rows(shards: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """fp32 vectors ``[len(rows), d]`` of the given global rows (any order) from row-ordered shards."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = np.cumsum([0] + [s.shape[0] for s in shards])
    out = np.empty((rows.size, shards[0].shape[1]), dtype=np.float32)
    which = np.searchsorted(starts, rows, side="right") - 1
    for s in np.unique(which):
        sel = np.flatnonzero(which == s)
        local = rows[sel] - starts[s]
        order = np.argsort(local)
        out[sel[order]] = shards[s][local[order]]          # memmap fancy read in ascending order
    return out


def build_ann(params: AnnParams, shards: Sequence[np.ndarray], num_rows: int) -> Any:
    """Build a FAISS index over rows ``[0, num_rows)`` of ``shards``."""
    faiss = _faiss()
    if params.kind not in ANN_KINDS[1:]:
        raise ConfigError(f"unknown ANN kind {params.kind!r}; choose one of {', '.join(ANN_KINDS)}")
    if params.effective_refine < 1:
        raise ConfigError(f"refine must be >= 1 (candidates re-scored per result), got {params.refine}")
    dim = shards[0].shape[1]
    if is_sq(params.kind):
        train = _sample(shards, num_rows, SQ_TRAIN_SAMPLE)
        logger.info("training %s per-dimension ranges on %d vectors", params.kind, len(train))
        index = build_sq(faiss, params.kind, dim, train)
    elif params.kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, params.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params.ef_construction
    else:
        nlist = params.nlist or max(1, min(int(4 * math.sqrt(num_rows)), num_rows // 39))
        pq_m = params.pq_m or default_pq_m(dim)
        if dim % pq_m:
            raise ConfigError(f"pq_m={pq_m} must divide the vector dimension {dim}")
        nbits = params.nbits or (8 if num_rows >= 39 * 256 else max(1, min(8, int(math.log2(max(2, num_rows // 39))))))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, nbits, faiss.METRIC_INNER_PRODUCT)
        train = _sample(shards, num_rows, max(64 * nlist, 39 * 2 ** nbits, 20000))
        logger.info("training IVF-PQ (nlist=%d, m=%d, nbits=%d) on %d vectors", nlist, pq_m, nbits, len(train))
        index.train(train)
    extend_ann(index, shards, 0)
    return index


def extend_ann(index: Any, shards: Sequence[np.ndarray], start: int) -> None:
    """Append rows ``start ..`` of ``shards`` (FAISS ids continue from ``index.ntotal`` = ``start``)."""
    if index.ntotal != start:
        raise ConfigError(f"ANN index holds {index.ntotal} vectors but rows start at {start}; rebuild it")
    for block in _iter_fp32(shards, start):
        index.add(block)


def save_ann(index: Any, path: str | os.PathLike) -> None:
    """Write the FAISS index atomically (temp file + rename)."""
    faiss = _faiss()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_ann(path: str | os.PathLike) -> Any:
    return _faiss().read_index(str(path))


def ann_search(index: Any, params: AnnParams, query_emb: np.ndarray, k: int,
               tombstones: np.ndarray | None = None, ef_search: int | None = None,
               nprobe: int | None = None) -> np.ndarray:
    """Candidate rows ``[nq, k']`` (``-1`` padded) for each query; tombstoned rows never appear."""
    faiss = _faiss()
    q = np.ascontiguousarray(query_emb, dtype=np.float32)
    keep: list[Any] = []
    sel = None
    if tombstones is not None and tombstones.size:
        inner = faiss.IDSelectorBatch(np.ascontiguousarray(tombstones, dtype=np.int64))
        sel = faiss.IDSelectorNot(inner)
        keep += [inner, sel]
    if params.kind == "hnsw":
        sp = faiss.SearchParametersHNSW()
        sp.efSearch = max(ef_search or params.ef_search, k)
        kk = k
    elif is_sq(params.kind):
        sp = faiss.SearchParameters()
        kk = k * max(1, params.effective_refine)
    else:
        sp = faiss.SearchParametersIVF()
        sp.nprobe = nprobe or params.nprobe
        kk = k * max(1, params.effective_refine)
    if sel is not None:
        sp.sel = sel
    _, rows = index.search(q, kk, params=sp)
    return rows


def recall_at_k(approx: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each exact top-``k`` list found in the approximate top-``k``."""
    hits = [len(set(a[:k][a[:k] >= 0].tolist()) & set(e[:k][e[:k] >= 0].tolist())) / max(1, int((e[:k] >= 0).sum()))
            for a, e in zip(approx, exact)]
    return float(np.mean(hits)) if hits else 0.0


def rescore(shards: Sequence[np.ndarray], query_emb: np.ndarray, candidates: np.ndarray, k: int,
            group: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores for each query's candidate rows; returns the top ``k`` ``(rows, scores)``, ``-1`` padded.

    Args:
        shards: row-ordered vector shards.
        query_emb: ``[nq, d]``.
        candidates: ``[nq, c]`` candidate rows (``-1`` = none).
        k: results per query.
        group: queries scored together (bounds the ``[group, unique candidates]`` score matrix).
    """
    from ..retrieve.topk import topk_rows

    q = np.ascontiguousarray(query_emb, dtype=np.float32)
    nq = q.shape[0]
    out_i = np.full((nq, k), -1, dtype=np.int64)
    out_v = np.full((nq, k), -np.inf, dtype=np.float32)
    for lo in range(0, nq, group):
        cand = candidates[lo:lo + group]
        uniq = np.unique(cand[cand >= 0])
        if uniq.size == 0:
            continue
        vecs = gather_rows(shards, uniq)                                    # [u, d]
        scores = q[lo:lo + group] @ vecs.T                                  # [g, d] x [d, u] -> [g, u]
        allowed = np.zeros_like(scores, dtype=bool)
        r, c = np.nonzero(cand >= 0)
        allowed[r, np.searchsorted(uniq, cand[r, c])] = True
        scores[~allowed] = -np.inf
        idx, val = topk_rows(scores, k)                                     # ties: lower row first (uniq is sorted)
        rows = np.where(idx >= 0, uniq[np.maximum(idx, 0)], -1)
        rows = np.where(np.isfinite(val), rows, -1)
        out_i[lo:lo + group], out_v[lo:lo + group] = rows, val
    return out_i, out_v
