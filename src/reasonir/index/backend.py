"""Where an index keeps its vectors and BM25 weights: one interface, two stores.

An :class:`~reasonir.index.Index` reads its documents from its SQLite store and asks a
:class:`VectorBackend` for everything scored: the top rows by dense inner product, the stored vectors
of given rows, the top rows by BM25 and the BM25 scores of given rows. Two backends implement it:

* :class:`LocalBackend` (``store="local"``, the default): fp16/fp32 shards memory-mapped from the index
  folder, exact search in bounded memory or a FAISS ANN index, BM25 postings on disk;
* :class:`~reasonir.index.milvus_search.MilvusBackend` (``store="milvus:PATH.db"`` for Milvus Lite,
  ``"milvus://HOST:PORT[/DB]"`` for a server or cluster): the same vectors and the same BM25 document
  weights held in Milvus collections.

Both return the same scores (the query side of BM25 and the fusion are always computed here), so
search, the server and RAG never know which one they have. ``open_backend`` picks the one a committed
``config.json`` names.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, DataFormatError
from ..retrieve.bm25 import BM25Index
from ..retrieve.topk import topk_1d
from .ann import AnnParams, ann_search, gather_rows, load_ann, rescore
from .codecs import codes_info
from .derive import load_shards
from .exact import exact_search
from .store import live_mask

LOCAL = "local"

#: fp16 vectors of at most this many values (128 MiB as fp32) are kept converted to fp32 in memory after
#: the first exact search: converting them is most of a small index's search time (5,183 x 384 fp16
#: rows: ~4 ms per query in numpy), and the conversion of the first search is the same work
FP32_CACHE_VALUES = 32 << 20


@runtime_checkable
class VectorBackend(Protocol):
    """What an index needs from the place its vectors and BM25 weights live.

    Rows are store rows (``0 .. num_rows-1``); a backend never returns a tombstoned row or a row past
    the committed count.
    """

    kind: str

    def dense(self, q: np.ndarray, k: int, exact: bool = False, ef_search: int | None = None,
              nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(rows [nq, k] int64, scores [nq, k] float32)`` by inner product, ``-1``/``-inf`` padded."""
        ...

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Stored vectors ``[len(rows), d]`` float32 of the given rows (any order)."""
        ...

    def bm25_top(self, text: str, k: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(rows, scores float64)`` by BM25 (only rows matching a query term), best first."""
        ...

    def bm25_scores(self, text: str, rows: np.ndarray, mode: str) -> np.ndarray:
        """BM25 scores ``[len(rows)]`` float64 of the given rows (0 where no query term matches)."""
        ...

    def check(self, verify: bool = False) -> None:
        """Raise :class:`DataFormatError` when the stored vectors do not match ``config.json``."""
        ...

    def info(self) -> dict[str, Any]:
        """What ``index info`` reports about the store."""
        ...

    def close(self) -> None:
        ...


def store_kind(cfg: dict[str, Any]) -> str:
    """``local`` or ``milvus``: the store a committed config names."""
    return "milvus" if cfg.get("milvus") else LOCAL


def open_backend(root: Path, cfg: dict[str, Any], bm25: tuple[BM25Index, np.ndarray] | None) -> VectorBackend:
    """The backend holding the vectors of the committed generation ``cfg`` of the index at ``root``."""
    if store_kind(cfg) == "milvus":
        from .milvus_search import MilvusBackend

        return MilvusBackend(root, cfg, bm25)
    return LocalBackend(root, cfg, bm25)


class LocalBackend:
    """Vectors in memory-mapped shard files, BM25 postings and an optional FAISS index in the index folder.

    Args:
        root: the index directory.
        cfg: its committed config.
        bm25: the generation's BM25 index and ``rows`` (BM25 position -> store row), if built.
    """

    kind = LOCAL

    def __init__(self, root: Path, cfg: dict[str, Any], bm25: tuple[BM25Index, np.ndarray] | None):
        self.root, self.config = root, cfg
        self.num_rows = int(cfg["counts"]["rows"])
        self.shards = load_shards(root, cfg["vectors"]["shards"])
        tomb = (cfg.get("tombstones") or {}).get("file")
        self.tombstones = np.load(root / tomb, allow_pickle=False) if tomb else np.zeros(0, dtype=np.int64)
        self.deleted = None if self.tombstones.size == 0 else ~live_mask(self.num_rows, self.tombstones)
        self._bm25 = bm25
        self._last = threading.local()      # this thread's last BM25 query and its scores
        # opened now, so a later write that removes this generation's file cannot pull it from under a reader
        self.ann = load_ann(root / cfg["ann"]["file"]) if (cfg.get("ann") or {}).get("file") else None
        self._fp32: list[np.ndarray] | None = None

    def exact_shards(self) -> list[np.ndarray]:
        """The shards exact search scans: an fp32 copy for small fp16 indexes (made once), else the maps."""
        if self._fp32 is None:
            values = sum(int(s.shape[0]) * int(s.shape[1]) for s in self.shards)
            small = values <= FP32_CACHE_VALUES and any(s.dtype == np.float16 for s in self.shards)
            self._fp32 = [np.asarray(s, dtype=np.float32) for s in self.shards] if small else list(self.shards)
        return self._fp32

    def dense(self, q: np.ndarray, k: int, exact: bool = False, ef_search: int | None = None,
              nprobe: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self.ann is not None and not exact:
            params = AnnParams.from_dict(self.config["ann"]["params"])
            cand = ann_search(self.ann, params, q, k, self.tombstones, ef_search, nprobe)
            return rescore(self.shards, q, cand, k)
        return exact_search(q, self.exact_shards(), k, deleted=self.deleted)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        return gather_rows(self.shards, rows)

    def bm25_full(self, text: str, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(BM25 scores [documents], rows [documents], per-row scores [num_rows])`` of one query."""
        if self._bm25 is None:
            raise ConfigError("this index has no BM25 index; rebuild it with --bm25 to use bm25/bm25q/hybrid")
        last = getattr(self._last, "value", None)
        if last is not None and last[0] == (text, mode):
            return last[1]                  # hybrid asks for the top rows, then for the union's scores
        bm, rows = self._bm25
        scores = bm.score(text, mode)
        full = np.zeros(self.num_rows, dtype=np.float64)
        full[rows] = scores
        self._last.value = ((text, mode), (scores, rows, full))
        return scores, rows, full

    def bm25_top(self, text: str, k: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
        scores, rows, _ = self.bm25_full(text, mode)
        idx, vals = topk_1d(scores, k, min_score=0.0)
        return rows[idx], vals

    def bm25_scores(self, text: str, rows: np.ndarray, mode: str) -> np.ndarray:
        return self.bm25_full(text, mode)[2][np.asarray(rows, dtype=np.int64)]

    def check(self, verify: bool = False) -> None:
        dim = self.config["vectors"]["dim"]
        for meta, arr in zip(self.config["vectors"]["shards"], self.shards):
            if arr.shape != (meta["rows"], dim):
                raise DataFormatError(f"shard has shape {arr.shape}, config says {(meta['rows'], dim)}; the index "
                                      "is damaged, rebuild it", self.root / meta["file"])
        if sum(m["rows"] for m in self.config["vectors"]["shards"]) != self.num_rows:
            raise DataFormatError("vector shards do not cover every row; the index is damaged",
                                  self.root / "config.json")

    def info(self) -> dict[str, Any]:
        return {"store": LOCAL, "shards": len(self.config["vectors"]["shards"]),
                **codes_info(self.root, self.config.get("ann"), self.config["vectors"]["dim"],
                             self.config["vectors"]["dtype"])}

    def close(self) -> None:
        return None
