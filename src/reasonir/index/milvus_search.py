"""Searching an index whose vectors and BM25 weights live in Milvus (see :mod:`.milvus_store`).

Milvus finds candidates; the scores are ours. Each search asks Milvus for ``k + margin`` candidates
among the committed, live rows, then re-scores them here from their stored vectors (dense: inner
product in float32, as the local store; BM25: the sparse dot product of our query weights with the
stored document weights, in float64) and keeps the top ``k`` with ties broken by row, as the local
store does. The query side of BM25 (standard term counts, or BRIGHT's query-side Lucene weights) is
computed from the generation's vocabulary and idf kept in the index folder.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataFormatError
from ..retrieve.bm25 import BM25Index
from .exact import exact_search
from .milvus_store import (
    META_FIELD,
    QUERY_ROWS,
    MilvusParams,
    connect,
    in_filter,
    release,
    row_filter,
    store_info,
    target_of,
)

MAX_LIMIT = 16384      # Milvus's largest top-k


def _order(rows: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the best ``k`` by score, ties by lower row."""
    return np.lexsort((rows, -scores))[:k]


class MilvusBackend:
    """The :class:`~reasonir.index.backend.VectorBackend` of an index stored in Milvus.

    Args:
        root: the index directory (tombstones are read from it).
        cfg: the committed config (its ``milvus`` entry names the collections).
        bm25: the generation's BM25 model (vocabulary, idf, analyzer) for the query side, if built.
    """

    kind = "milvus"

    def __init__(self, root: Path, cfg: dict[str, Any], bm25: tuple[BM25Index, np.ndarray] | None):
        self.config, self.record = cfg, cfg["milvus"]
        self.params = MilvusParams.from_dict(self.record.get("params"))
        self.name = self.record["collection"]
        self.bm25_name = (self.record.get("bm25") or {}).get("collection")
        self.num_rows = int(cfg["counts"]["rows"])
        tomb = (cfg.get("tombstones") or {}).get("file")
        self.tombstones = np.load(root / tomb, allow_pickle=False) if tomb else np.zeros(0, dtype=np.int64)
        self._bm25 = bm25
        self.target = target_of(self.record)
        self.client = connect(self.target)
        self._closed = False
        # this thread's vectors and BM25 weights of the last search's candidates (hybrid re-scores them)
        self._seen = threading.local()
        self.client.load_collection(self.name)
        if self.bm25_name:
            self.client.load_collection(self.bm25_name)

    # ---------------------------------------------------------------------------------------------
    def _filter(self, name: str, where: str | None) -> str:
        """The committed-live-rows expression, joined with a translated metadata filter ``where``."""
        base = row_filter(self.num_rows, self.tombstones)
        if where is None:
            return base
        fields = {f["name"] for f in self.client.describe_collection(name)["fields"]}
        if META_FIELD not in fields:
            raise ConfigError(f"the Milvus collection {name} was built without document metadata, so it cannot "
                              "be filtered; rebuild the index (reasonir index build ... --overwrite)")
        return f"{base} and {where}"

    def dense(self, q: np.ndarray, k: int, exact: bool = False, ef_search: int | None = None,
              nprobe: int | None = None, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        if exact and self.params.index_type != "FLAT":
            raise ConfigError(f"exact dense search needs the Milvus index type FLAT; this index uses "
                              f"{self.params.index_type} (its candidates are re-scored exactly)")
        q = np.ascontiguousarray(q, dtype=np.float32)                       # [nq, d]
        limit = min(MAX_LIMIT, k + self.params.margin)
        found = self.client.search(self.name, data=q.tolist(), limit=limit, anns_field="vector",
                                   filter=self._filter(self.name, where), output_fields=["vector"],
                                   search_params={"metric_type": "IP",
                                                  "params": self.params.search_params(ef_search, nprobe, limit)})
        # re-score every query's candidates with the local store's exact search over the union of the
        # candidates in row order (same kernel, same tie-break by row), each query limited to its own
        cand = [np.asarray([h["row"] if "row" in h else h["id"] for h in hits], dtype=np.int64) for hits in found]
        vec_of = {int(r): h["entity"]["vector"] for rows, hits in zip(cand, found) for r, h in zip(rows, hits)}
        self._seen.vectors = vec_of
        uniq = np.asarray(sorted(vec_of), dtype=np.int64)
        if uniq.size == 0:
            return (np.full((q.shape[0], k), -1, dtype=np.int64), np.full((q.shape[0], k), -np.inf, dtype=np.float32))
        vecs = np.asarray([vec_of[int(r)] for r in uniq], dtype=np.float32)               # [u, d]
        everything = np.arange(uniq.size)
        excluded = [np.setdiff1d(everything, np.searchsorted(uniq, rows)).tolist() for rows in cand]
        idx, val = exact_search(q, [vecs], k, excluded=excluded)                          # [nq, k]
        return np.where(idx >= 0, uniq[np.maximum(idx, 0)], -1), val

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        seen = getattr(self._seen, "vectors", {})
        found: dict[int, list[float]] = {int(r): seen[int(r)] for r in np.unique(rows) if int(r) in seen}
        uniq = np.asarray([r for r in np.unique(rows).tolist() if r not in found], dtype=np.int64)
        for lo in range(0, uniq.size, QUERY_ROWS):
            part = uniq[lo:lo + QUERY_ROWS]
            for rec in self.client.query(self.name, filter=in_filter(part), output_fields=["row", "vector"]):
                found[int(rec["row"])] = rec["vector"]
        missing = [int(r) for r in np.unique(rows) if int(r) not in found]
        if missing:
            raise DataFormatError(f"rows {missing[:5]} are missing from the Milvus collection {self.name}; "
                                  "the index is damaged, rebuild it")
        dim = int(self.config["vectors"]["dim"])
        return np.asarray([found[int(r)] for r in rows], dtype=np.float32).reshape(rows.size, dim)

    # ---------------------------------------------------------------------------------------------
    def _query(self, text: str, mode: str) -> dict[int, float]:
        if self._bm25 is None or not self.bm25_name:
            raise ConfigError("this index has no BM25 index; rebuild it with --bm25 to use bm25/bm25q/hybrid")
        term_ids, weights = self._bm25[0].query_weights(text, mode)
        return dict(zip(term_ids.tolist(), weights.tolist()))

    @staticmethod
    def _dot(query: dict[int, float], doc: dict[int, float]) -> float:
        """Σ_t w_q(t)·w_d(t) in float64, over the query's terms in ascending order (as the local scorer)."""
        return float(sum(w * float(doc[t]) for t, w in query.items() if t in doc))

    def bm25_top(self, text: str, k: int, mode: str, where: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        query = self._query(text, mode)
        if not query:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        limit = min(MAX_LIMIT, k + self.params.margin)
        hits = self.client.search(self.bm25_name, data=[query], limit=limit, anns_field="sparse",
                                  output_fields=["sparse"],
                                  **({"filter": self._filter(str(self.bm25_name), where)} if where is not None else {}),
                                  search_params={"metric_type": "IP", "params": {"drop_ratio_search": 0.0}})[0]
        rows = np.asarray([h["row"] if "row" in h else h["id"] for h in hits], dtype=np.int64)
        scores = np.asarray([self._dot(query, h["entity"]["sparse"]) for h in hits], dtype=np.float64)
        self._seen.sparse = {int(r): h["entity"]["sparse"] for r, h in zip(rows, hits)}
        keep = scores > 0
        rows, scores = rows[keep], scores[keep]
        top = _order(rows, scores, k)
        return rows[top], scores[top]

    def bm25_scores(self, text: str, rows: np.ndarray, mode: str) -> np.ndarray:
        query = self._query(text, mode)
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(rows.size, dtype=np.float64)
        if not query or rows.size == 0:
            return out
        seen = getattr(self._seen, "sparse", {})
        docs: dict[int, dict[int, float]] = {r: seen[r] for r in np.unique(rows).tolist() if r in seen}
        # weights of rows the last BM25 search returned are at hand; the others are fetched
        uniq = np.asarray([r for r in np.unique(rows).tolist() if r not in docs], dtype=np.int64)
        for lo in range(0, uniq.size, QUERY_ROWS):
            for rec in self.client.query(self.bm25_name, filter=in_filter(uniq[lo:lo + QUERY_ROWS]),
                                         output_fields=["row", "sparse"]):
                docs[int(rec["row"])] = rec["sparse"]
        for i, r in enumerate(rows.tolist()):
            if r in docs:                       # a row without BM25 weights has no terms: it scores 0
                out[i] = self._dot(query, docs[r])
        return out

    # ---------------------------------------------------------------------------------------------
    def count(self) -> int:
        """Entities of the vector collection below the committed row count (tombstoned ones included)."""
        res = self.client.query(self.name, filter=f"row < {self.num_rows}", output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def check(self, verify: bool = False) -> None:
        if not self.client.has_collection(self.name):
            raise DataFormatError(f"the Milvus collection {self.name} is missing from {self.target['uri']}; "
                                  "rebuild the index")
        if verify:
            live = self.num_rows - int(self.tombstones.size)
            have = self.count()
            if have < live:
                raise DataFormatError(f"the Milvus collection {self.name} holds {have} of the index's {live} "
                                      "documents; the index is damaged, rebuild it")

    def info(self) -> dict[str, Any]:
        return store_info(self.config)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            release(self.target)
