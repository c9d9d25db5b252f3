"""Metadata-filtered search: the filter is applied before the top-k, in every mode and on both stores.

A filtered search returns only documents the filter accepts and, when at least ``k`` of them qualify,
exactly ``k`` (for BM25: documents matching a query term, as unfiltered BM25).

* Local store, exact search: documents the filter rejects are masked out of the scan like tombstones;
  when it keeps at most 1/8 of the rows, only their vectors are gathered and scored.
* Local store with an ANN index: a selective filter (at most 1/10 of the rows) falls back to exact
  search over the matching subset (cheap, and exact); otherwise the ANN candidate pool is widened
  (``k·rows/matching·2``, then ×4 per round) until every query has ``k`` matching candidates, which are
  re-scored exactly; past the whole collection it falls back to exact search too.
* BM25 (``bm25``/``bm25q``): non-matching documents' scores are zeroed before the top-k.
* Milvus: the filter is translated (:func:`reasonir.index.filters.to_milvus`) and joined to the row
  filter of the vector and BM25 searches, so Milvus selects among matching entities only (its own
  strategy for filtered ANN); candidates are re-scored here as usual.

Hybrid search fuses the filtered dense and filtered BM25 candidates, so its union is filtered too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..retrieve.dense import dense_search
from ..retrieve.topk import topk_1d
from .ann import AnnParams, ann_search, gather_rows, rescore
from .backend import LocalBackend, VectorBackend
from .filters import Column, Expr, evaluate, fields_of, parse_filter, to_milvus
from .store import DocStore, live_mask

#: exact search over the gathered subset when the filter keeps at most this share of the rows
GATHER_SHARE = 1 / 8
#: with an ANN index, exact search over the subset when the filter keeps at most this share
ANN_EXACT_SHARE = 1 / 10


@dataclass
class ColumnCache:
    """Filter columns of one index read from its store, reused while the committed row count is the same."""

    store: DocStore
    num_rows: int = -1
    columns: dict[str, Column] = field(default_factory=dict)

    def column(self, name: str, num_rows: int) -> Column:
        if num_rows != self.num_rows:
            self.columns, self.num_rows = {}, num_rows
        if name not in self.columns:
            self.columns[name] = Column.build(num_rows, self.store.field_values(name, num_rows))
        return self.columns[name]


@dataclass
class RowFilter:
    """A parsed filter bound to one committed generation: its row mask (lazy) and its Milvus expression."""

    text: str
    expr: Expr
    num_rows: int
    tombstones: np.ndarray
    column: Callable[[str], Column]
    _mask: np.ndarray | None = None

    @classmethod
    def build(cls, text: str, cache: ColumnCache, num_rows: int, tombstones: np.ndarray) -> RowFilter:
        """Parse ``text`` (raising :class:`~reasonir.index.filters.FilterError` with the column of a problem)."""
        expr = parse_filter(text)
        return cls(text, expr, num_rows, tombstones, lambda name: cache.column(name, num_rows))

    @property
    def fields(self) -> list[str]:
        return fields_of(self.expr)

    def mask(self) -> np.ndarray:
        """``[num_rows]`` bool: live rows the filter accepts."""
        if self._mask is None:
            self._mask = evaluate(self.expr, self.column) & live_mask(self.num_rows, self.tombstones)
        return self._mask

    def milvus(self) -> str:
        return to_milvus(self.expr)


def _pad(rows: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    nq, have = rows.shape
    if have >= k:
        return rows[:, :k], vals[:, :k]
    return (np.concatenate([rows, np.full((nq, k - have), -1, dtype=np.int64)], 1),
            np.concatenate([vals, np.full((nq, k - have), -np.inf, dtype=np.float32)], 1))


def _exact_subset(backend: LocalBackend, q: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` among the allowed rows (gathered when few, masked in the full scan otherwise)."""
    subset = np.flatnonzero(allowed)
    if subset.size == 0:
        return _pad(np.zeros((q.shape[0], 0), dtype=np.int64), np.zeros((q.shape[0], 0), dtype=np.float32), k)
    if subset.size <= GATHER_SHARE * allowed.size:
        vecs = gather_rows(backend.exact_shards(), subset)                         # [m, d] fp32
        idx, val = dense_search(q, vecs, min(k, subset.size))                      # [nq, min(k, m)]
        return _pad(np.where(idx >= 0, subset[np.maximum(idx, 0)], -1), val, k)
    return dense_search(q, backend.exact_shards(), k, deleted=~allowed)


def dense(backend: VectorBackend, q: np.ndarray, k: int, where: RowFilter, exact: bool = False,
          ef_search: int | None = None, nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` ``(rows, scores)`` by inner product among the rows ``where`` accepts (see the module notes)."""
    if not isinstance(backend, LocalBackend):
        return backend.dense(q, k, exact, ef_search, nprobe, where=where.milvus())  # type: ignore[call-arg]
    allowed = where.mask()
    m, n = int(allowed.sum()), allowed.size
    if backend.ann is None or exact or m <= ANN_EXACT_SHARE * n:
        return _exact_subset(backend, q, k, allowed)
    params = AnnParams.from_dict(backend.config["ann"]["params"])
    want = min(k, m)
    pool = min(n, k * math.ceil(n / m) * 2)
    while pool < n:
        cand = ann_search(backend.ann, params, q, pool, backend.tombstones, ef_search, nprobe)   # [nq, pool]
        cand = np.where((cand >= 0) & allowed[np.maximum(cand, 0)], cand, -1)
        if ((cand >= 0).sum(axis=1) >= want).all():
            return rescore(backend.shards, q, cand, k)
        pool *= 4
    return _exact_subset(backend, q, k, allowed)


def bm25_top(backend: VectorBackend, text: str, k: int, mode: str, where: RowFilter) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` ``(rows, scores)`` by BM25 among the rows ``where`` accepts (documents matching a query term)."""
    if not isinstance(backend, LocalBackend):
        return backend.bm25_top(text, k, mode, where=where.milvus())  # type: ignore[call-arg]
    scores, rows, _ = backend.bm25_full(text, mode)
    scores = np.where(where.mask()[rows], scores, 0.0)
    idx, vals = topk_1d(scores, k, min_score=0.0)
    return rows[idx], vals
