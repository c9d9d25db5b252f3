"""Open a committed index and search it: dense (exact or ANN), BM25 (standard or query-side), hybrid.

Hybrid search takes the top ``candidates`` of dense and of BM25, scores the **union** with both
systems exactly (each candidate's dense score from its stored vector, its BM25 score from the full
BM25 weights) and fuses them: min-max-normalised interpolation (``w_dense·dense +
w_bm25·bm25``, ReasonIR's 0.5/0.5 by default) or reciprocal-rank fusion (see
:mod:`reasonir.retrieve.fusion`). Searching needs the encoder that built the index: its fingerprint
is checked against ``config.json`` and a different model is refused. Vectors and BM25 weights are
read through the index's :class:`~reasonir.index.backend.VectorBackend` (the local folder or Milvus).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..encode.base import Encoder
from ..errors import ConfigError, InputError
from ..retrieve.bm25 import MODES as BM25_MODES
from ..retrieve.bm25 import BM25Index
from ..retrieve.fusion import DEFAULT_RRF_K, FUSIONS, interpolate_arrays, rrf_arrays
from ..retrieve.topk import topk_1d
from ..types import Document, Hit, Run, as_queries, as_text_batch, check_query_texts
from . import encoding, filtered, writes
from .backend import LocalBackend, VectorBackend, open_backend
from .encoding import fingerprint_identity
from .layout import STORE, read_config, sha256_file
from .options import RunOptions
from .state import WriteReport
from .store import DocStore

logger = logging.getLogger(__name__)

MODES = ("dense", "bm25", "bm25q", "hybrid")
__all__ = ["MODES", "Hit", "Index"]


class Index:
    """The committed state of an index directory, searched in place (a context manager).

    Create one with :meth:`build` (from a corpus path or documents in memory) or :meth:`open`; grow
    or prune it with :meth:`add` / :meth:`delete`. Thread-safe for concurrent reads of documents;
    searches that encode queries should be serialised by the caller (the server runs them on one
    worker thread).

    Examples:
        >>> import tempfile
        >>> docs = [{"_id": "d1", "title": "Ice", "text": "Ice floats because it is less dense than water."},
        ...         {"_id": "d2", "title": "Rust", "text": "Iron rusts when it meets oxygen and water."}]
        >>> with Index.build(docs, tempfile.mkdtemp(), model="hash", bm25=True) as index:
        ...     hits = index.search("why does ice float", k=1, mode="dense")
        ...     report = index.add([Document("d3", "Salt lowers the freezing point of water.")])
        ...     print(index.num_documents, hits[0].docid, hits[0].title)
        3 d1 Ice
    """

    def __init__(self, root: Path, cfg: dict[str, Any], spec: encoding.EncoderSpec):
        self.root = root
        self._spec = spec
        self._encoder: Encoder | None = None
        self._query_encoder: Encoder | None = None     # a torch-free equivalent for queries, if any
        self._query_tried = False
        self._lock = threading.Lock()
        self._load(cfg)

    def _load(self, cfg: dict[str, Any]) -> None:
        """(Re)read the committed generation ``cfg`` describes."""
        root, self.config = self.root, cfg
        self.num_rows = int(cfg["counts"]["rows"])
        self.store = DocStore(root / STORE, readonly=True)
        # BM25 (and ANN) are opened now, so a later write that removes this generation's files cannot
        # pull them from under a long-lived reader (memory maps keep unlinked files readable)
        self._bm25: tuple[BM25Index, np.ndarray] | None = self._load_bm25() if self.has_bm25 else None
        self.backend: VectorBackend = open_backend(root, cfg, self._bm25)
        tomb = (cfg.get("tombstones") or {}).get("file")
        self.tombstones = np.load(root / tomb, allow_pickle=False) if tomb else np.zeros(0, dtype=np.int64)

    @property
    def shards(self) -> list[np.ndarray]:
        """The memory-mapped vector shards (local store only; a Milvus store holds none here)."""
        return self.backend.shards if isinstance(self.backend, LocalBackend) else []

    # ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, index_dir: str | os.PathLike[str], model: str | None = None, device: str = "auto",
             batch_size: int | None = None, verify: bool = False) -> Index:
        """Open the committed index in ``index_dir``.

        Args:
            index_dir: the index directory.
            model: override the encoder location (e.g. a local copy of the same model); it must have
                the same fingerprint as the one that built the index.
            device, batch_size: where and how to run the query encoder.
            verify: check every file's sha256 against ``config.json`` (reads everything once).

        Raises:
            IndexNotFoundError: no committed index (or only an unfinished build) in ``index_dir``.
            DataFormatError: a file is missing, truncated or (with ``verify``) corrupted.
        """
        root = Path(index_dir)
        cfg = read_config(root)
        enc = cfg["encoder"]["spec"]
        spec = encoding.EncoderSpec(model=model or enc["model"], dtype=enc.get("dtype", "auto"), device=device,
                                    max_length=enc.get("max_length"), batch_size=batch_size)
        index = cls(root, cfg, spec)
        index.check(verify)
        return index

    @classmethod
    def build(cls, documents: writes.Corpus, index_dir: str | os.PathLike[str], model: str | None = None, *,
              overwrite: bool = False, device: str = "auto", batch_size: int | None = None,
              run: RunOptions | None = None, **settings: Any) -> Index:
        """Build an index (see :func:`~reasonir.index.build_index`) and open it.

        Args:
            documents: a corpus path or spec, or documents in memory: a list or iterator of
                :class:`~reasonir.types.Document` or of records (``_id``, ``title``, ``text``), or a
                ``{doc_id: text}`` mapping. Ids are checked as in corpus files.
            index_dir: the index directory (created).
            model: the encoder (``minilm``, ``smollm2``, ``hash``, a folder or Hub id).
            overwrite, run: as for :func:`~reasonir.index.build_index`.
            device, batch_size: where and how to run the encoder (build and search).
            **settings: other :class:`~reasonir.index.IndexOptions` fields (``bm25``, ``dtype``, ``ann``...).

        Raises:
            ConfigError: an unknown setting (listing the valid ones), or as for ``build_index``.
            DataFormatError: a document without an id or text, an invalid or duplicate id (naming it).
        """
        return writes.build(cls, documents, index_dir, model, overwrite, device, batch_size, run, settings)

    def add(self, documents: writes.Corpus, replace: bool = False) -> WriteReport:
        """Add documents (a corpus path or documents in memory, as for :meth:`build`) and see them at once.

        Raises:
            DataFormatError: an id already in the index (without ``replace``) or repeated in ``documents``.
        """
        return writes.add(self, documents, replace)

    def delete(self, ids: str | Sequence[str], missing_ok: bool = False) -> WriteReport:
        """Delete documents by id (see :func:`~reasonir.index.delete_documents`) and stop returning them."""
        return writes.delete(self, [ids] if isinstance(ids, str) else list(ids), missing_ok)

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        ann = f", ann={self.config['ann']['kind']!r}" if self.has_ann else ""
        return (f"Index({str(self.root)!r}, model={self.config['encoder']['spec']['model']!r}, dim={self.dim}, "
                f"documents={self.num_documents}, modes={self.modes!r}{ann})")

    def check(self, verify: bool = False) -> None:
        """Check the stored vectors against the config (and every checksum when ``verify``)."""
        from ..errors import DataFormatError

        self.backend.check(verify)
        if verify:
            files = [(m["file"], m["sha256"]) for m in self.config["vectors"]["shards"]]
            for key in ("tombstones", "ann"):
                entry = self.config.get(key) or {}
                if entry.get("file"):
                    files.append((entry["file"], entry["sha256"]))
            files += list(((self.config.get("bm25") or {}).get("files") or {}).items())
            for rel, digest in files:
                if sha256_file(self.root / rel) != digest:
                    raise DataFormatError("checksum mismatch; the file is corrupted, rebuild the index",
                                          self.root / rel)
            for seg in self.config["store"]["segments"]:
                if self.store.checksum(seg["start"], seg["end"]) != seg["sha256"]:
                    raise DataFormatError(f"rows {seg['start']}..{seg['end']} changed since they were indexed",
                                          self.root / STORE)

    # ---------------------------------------------------------------------------------------------
    @property
    def num_documents(self) -> int:
        return int(self.config["counts"]["documents"])

    @property
    def dim(self) -> int:
        return int(self.config["vectors"]["dim"])

    @property
    def has_bm25(self) -> bool:
        return bool(self.config.get("bm25") and self.config["bm25"].get("dir"))

    @property
    def has_ann(self) -> bool:
        return bool(self.config.get("ann") and self.config["ann"].get("file"))

    @property
    def modes(self) -> list[str]:
        return ["dense"] + (["bm25", "bm25q", "hybrid"] if self.has_bm25 else [])

    @property
    def encoder(self) -> Encoder:
        """The query encoder (loaded on first use; refused if its fingerprint differs from the index's)."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    enc = encoding.load(self._spec)
                    want = fingerprint_identity(self.config["encoder"]["fingerprint"])
                    got = fingerprint_identity(enc.fingerprint())
                    if got != want:
                        raise ConfigError(f"the encoder {self._spec.model!r} ({got}) is not the one this index was "
                                          f"built with ({want}); search with the same model, or rebuild the index")
                    self._encoder = enc
        return self._encoder

    @property
    def query_encoder(self) -> Encoder:
        """The encoder for queries: :attr:`encoder` once loaded; before that, a torch-free encoder with the
        same fingerprint (same vectors) when the index's model has one
        (:func:`~reasonir.index.encoding.load_for_queries`), else :attr:`encoder`."""
        if self._encoder is None and not self._query_tried:
            with self._lock:
                if not self._query_tried:
                    self._query_encoder = encoding.load_for_queries(self._spec, self.config["encoder"]["fingerprint"])
                    self._query_tried = True
        if self._encoder is not None or self._query_encoder is None:
            return self.encoder
        return self._query_encoder

    def encode_queries(self, texts: str | Sequence[str], instruction: str | None = None) -> np.ndarray:
        """Query vectors ``[n, d]``, or ``[d]`` for a single string (``instruction`` defaults to the index's)."""
        batch, single = as_text_batch(texts, "texts")
        instr = instruction if instruction is not None else self.config["instructions"].get("query")
        out = np.asarray(self.query_encoder.encode_query(batch, instruction=instr), dtype=np.float32)     # [n, d]
        return out[0] if single else out

    def encode_documents(self, texts: str | Sequence[str]) -> np.ndarray:
        """Document vectors ``[n, d]`` (``[d]`` for a single string) with the index's document instruction."""
        batch, single = as_text_batch(texts, "texts")
        instr = self.config["instructions"].get("document")
        out = np.asarray(self.encoder.encode_document(batch, instruction=instr), dtype=np.float32)  # [n, d]
        return out[0] if single else out

    # ---------------------------------------------------------------------------------------------
    def _load_bm25(self) -> tuple[BM25Index, np.ndarray]:
        """The BM25 index and ``rows`` (BM25 position -> store row)."""
        d = self.root / self.config["bm25"]["dir"]
        return BM25Index.load(d, mmap=True), np.load(d / "rows.npy", allow_pickle=False)

    def _bm25_parts(self) -> tuple[BM25Index, np.ndarray]:
        if self._bm25 is None:
            raise ConfigError(f"{self.root} has no BM25 index, so its search modes are {', '.join(self.modes)}; "
                              f"add BM25 without re-encoding: reasonir index derive {self.root} --bm25")
        return self._bm25

    def _ann_index(self):
        return getattr(self.backend, "ann", None)

    def dense(self, q: np.ndarray, k: int, exact: bool = False, ef_search: int | None = None,
              nprobe: int | None = None, where: filtered.RowFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ``(rows, scores)`` by inner product; ANN when the index has one and not ``exact``;
        only rows ``where`` accepts (see :mod:`reasonir.index.filtered`)."""
        if where is not None:
            return filtered.dense(self.backend, q, k, where, exact, ef_search, nprobe)
        return self.backend.dense(q, k, exact, ef_search, nprobe)

    def row_filter(self, text: str) -> filtered.RowFilter:
        """A metadata filter expression parsed and bound to the committed generation (see :mod:`.filters`)."""
        cache: filtered.ColumnCache | None = getattr(self, "_columns", None)
        if cache is None or cache.store is not self.store:      # first filter, or reopened after a write
            cache = filtered.ColumnCache(self.store)
            self._columns = cache
        return filtered.RowFilter.build(text, cache, self.num_rows, self.tombstones)

    def _check_bm25(self, text: str, mode: str) -> None:
        if not isinstance(text, str):
            raise InputError(f"text must be one query string, got {type(text).__name__}")
        if mode not in BM25_MODES:
            raise ConfigError(f"unknown BM25 mode {mode!r}; choose one of {', '.join(BM25_MODES)}")
        self._bm25_parts()

    def bm25_top(self, text: str, k: int, mode: str = "bm25",
                 where: filtered.RowFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, scores)`` of the BM25 top ``k`` (only documents matching a query term, and ``where``
        accepts), from the store."""
        self._check_bm25(text, mode)
        if where is not None:
            return filtered.bm25_top(self.backend, text, k, mode, where)
        return self.backend.bm25_top(text, k, mode)

    def bm25(self, text: str, k: int, mode: str = "bm25") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, scores)`` of the BM25 top ``k`` and the full per-row score lookup ``[num_rows]``.

        The full lookup is computed from the BM25 postings in the index folder (either store).
        """
        self._check_bm25(text, mode)
        bm, rows = self._bm25_parts()
        scores = bm.score(text, mode)
        idx, vals = topk_1d(scores, k, min_score=0.0)
        full = np.zeros(self.num_rows, dtype=np.float64)
        full[rows] = scores
        return rows[idx], vals, full

    # ---------------------------------------------------------------------------------------------
    def search(self, queries: str | Sequence[str], k: int = 10, mode: str = "hybrid",
               instruction: str | None = None, fusion: str = "interpolate",
               weights: Sequence[float] = (0.5, 0.5), rrf_k: float = DEFAULT_RRF_K, candidates: int = 100,
               bm25_mode: str = "bm25", exact: bool = False, fetch_documents: bool = True,
               filter: str | None = None) -> Any:
        """Search a batch of query texts, or one query.

        Args:
            queries: a list of query texts, or a single query string.
            k: results per query.
            mode: ``dense``, ``bm25``, ``bm25q`` or ``hybrid``.
            instruction: query instruction for the encoder (default: the index's).
            fusion: hybrid fusion, ``interpolate`` (min-max over the union) or ``rrf``.
            weights: ``(dense, bm25)`` fusion weights.
            rrf_k: RRF constant.
            candidates: per-system candidates fused in hybrid mode (at least ``k``).
            bm25_mode: BM25 scoring used inside hybrid (``bm25`` or ``bm25q``).
            exact: exact dense search even when the index has an ANN index.
            fetch_documents: fill each hit's ``title``, ``text`` and ``metadata`` (one store query
                for the whole batch); ``False`` reads the ids only.
            filter: a metadata filter such as ``'source == "pubmed" and year >= 2020'`` (see
                :mod:`reasonir.index.filters`), applied before the top-k in every mode.

        Returns:
            Per query, up to ``k`` :class:`~reasonir.types.Hit` (id, score, title, text), best first
            (``list[list[Hit]]``); for a single string, its hit list (``list[Hit]``).

        Raises:
            InputError: ``queries`` is not a string or a list of strings.
            EmptyQueryError: a query is empty or whitespace only (named by its position).
            ConfigError: an unknown mode or fusion, or ``k <= 0``; a filter that does not parse
                (:class:`~reasonir.index.filters.FilterError`, naming the column).
        """
        texts, single = as_text_batch(queries, "queries")
        check_query_texts(texts, "queries")
        where = self.row_filter(filter) if filter is not None else None
        hits = self._search(texts, k, mode, instruction, fusion, weights, rrf_k, candidates, bm25_mode, exact,
                            where)
        self._attach(hits, fetch_documents)
        return hits[0] if single else hits

    def _search(self, texts: list[str], k: int, mode: str, instruction: str | None, fusion: str,
                weights: Sequence[float], rrf_k: float, candidates: int, bm25_mode: str,
                exact: bool, where: filtered.RowFilter | None = None) -> list[list[Hit]]:
        if mode not in MODES:
            raise ConfigError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
        if fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {fusion!r}; choose one of {', '.join(FUSIONS)}")
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        if not texts:
            return []
        if mode in ("bm25", "bm25q"):
            out = []
            for text in texts:
                rows, vals = self.bm25_top(text, k, mode, where)
                out.append([Hit("", float(v), int(r), bm25=float(v)) for r, v in zip(rows, vals)])
            return out
        q = self.encode_queries(texts, instruction)
        if mode == "dense":
            rows, vals = self.dense(q, k, exact, where=where)
            out = [[Hit("", float(v), int(r), dense=float(v)) for r, v in zip(rr, vv) if r >= 0]
                   for rr, vv in zip(rows, vals)]
            return out
        c = max(candidates, k)
        drows, _dvals = self.dense(q, c, exact, where=where)
        out = []
        for i, text in enumerate(texts):
            brows, _ = self.bm25_top(text, c, bm25_mode, where)
            dr = drows[i][drows[i] >= 0]
            union = np.unique(np.concatenate([dr, brows]))
            dense_scores = self.backend.vectors(union) @ q[i]               # [u, d] x [d] -> [u]
            bm25_scores = self.backend.bm25_scores(text, union, bm25_mode)
            if fusion == "interpolate":
                fused = interpolate_arrays([dense_scores, bm25_scores], weights)
            else:
                dpos = {int(r): n + 1 for n, r in enumerate(dr)}
                bpos = {int(r): n + 1 for n, r in enumerate(brows)}
                fused = rrf_arrays([np.asarray([dpos.get(int(r), 0) for r in union]),
                                    np.asarray([bpos.get(int(r), 0) for r in union])], weights, rrf_k)
            top, _ = topk_1d(fused, k)        # ties: lower row first (union is sorted)
            out.append([Hit("", float(fused[j]), int(union[j]), dense=float(dense_scores[j]),
                            bm25=float(bm25_scores[j])) for j in top])
        return out

    def _attach(self, hits: list[list[Hit]], documents: bool) -> None:
        """Fill the hits' ids (and documents) from the store: one query for every row of the batch."""
        rows = sorted({h.row for hs in hits for h in hs})
        if not documents:
            ids = dict(zip(rows, self.store.ids_of_rows(rows))) if rows else {}
            for hs in hits:
                for h in hs:
                    h.id = ids[h.row]
            return
        docs = dict(zip(rows, self.store.get_rows(rows))) if rows else {}
        for hs in hits:
            for h in hs:
                d = docs[h.row]
                h.id, h.title, h.text, h.metadata = d.id, d.title, d.text, d.metadata

    def search_run(self, queries: Mapping[str, str], k: int = 100, batch_size: int = 64, **kwargs: Any) -> Run:
        """Search ``{query_id: text}`` and return a run ``{query_id: {doc_id: score}}``.

        Raises:
            InputError: ``queries`` is not a mapping of strings.
            EmptyQueryError: a query text is empty or whitespace only (named by its id), before any search.
        """
        queries = as_queries(queries)
        qids = list(queries)
        run: Run = {}
        for lo in range(0, len(qids), batch_size):
            part = qids[lo:lo + batch_size]
            found = self.search([queries[q] for q in part], k=k, fetch_documents=False, **kwargs)
            for qid, hits in zip(part, found):
                run[qid] = {h.id: h.score for h in hits}
        return run

    # ---------------------------------------------------------------------------------------------
    def documents(self, rows: Sequence[int]) -> list[Document]:
        """Documents at the given store rows."""
        return self.store.get_rows(rows)

    def get(self, doc_id: str) -> Document | None:
        """The live document with this id, or ``None``."""
        found = self.store.rows_of_ids([doc_id], below=self.num_rows).get(doc_id, [])
        dead = set(self.tombstones.tolist())
        live = [r for r in found if r not in dead]
        return self.store.get_rows([live[-1]])[0] if live else None

    def info(self) -> dict[str, Any]:
        """A summary for ``index info`` and the server's ``/health``."""
        cfg = self.config
        return {"documents": self.num_documents, "rows": self.num_rows, "deleted": int(self.tombstones.size),
                "generation": cfg["generation"], "model": cfg["encoder"]["spec"]["model"], "dim": self.dim,
                "vector_dtype": cfg["vectors"]["dtype"], "shards": len(cfg["vectors"]["shards"]),
                **self.backend.info(),
                "bm25": self.has_bm25, "ann": cfg["ann"]["kind"] if self.has_ann else None,
                "ann_recall_at_10": (cfg.get("ann") or {}).get("recall_at_10"), "modes": self.modes,
                "query_instruction": cfg["instructions"].get("query")}

    def close(self) -> None:
        self.store.close()
        self.backend.close()
