"""BM25 in two scoring variants, with a bm25s-compatible index.

* ``bm25`` — standard Lucene BM25 (Lucene >= 8, no ``k1+1`` factor): each query token adds the
  document's weight ``w_d(t) = idf(t)·tf/(tf + k1·(1 - b + b·|d|/avgdl))`` (a token repeated in the
  query counts once per repetition, as Anserini's bag-of-words query boosts it);
* ``bm25q`` — **query-side BM25 exactly as BRIGHT/ReasonIR score it** (gensim ``LuceneBM25Model``
  + ``SparseMatrixSimilarity``): the query is weighted with the same formula using its own length
  ``|q|`` (in-vocabulary tokens), and the score is ``Σ_t w_q(t)·w_d(t)``. Long queries make the two
  differ (repeated query terms saturate); BRIGHT's published BM25 row is this variant.

``idf(t) = ln(N+1) - ln(df_t+0.5)`` and ``avgdl`` = corpus tokens / N in both. The document-weight
matrix is built by :func:`weight_matrix`, a vectorised builder that produces exactly the arrays of
bm25s's ``build_index_from_ids`` (``method="lucene"``), and is saved in bm25s's file layout, so
``bm25s.BM25.load(index_dir)`` opens our index too.

Queries are scored in batches: the postings of all (query, term) pairs of a batch are gathered at
once and summed into a dense ``[batch, N]`` block with one ``np.bincount``; the top-k of each row
is then selected among its matching documents (ties broken by document index). Documents matching no query term are
not returned. Memory stays bounded: blocks hold at most ``_BLOCK_CELLS`` scores and
``_BLOCK_POSTINGS`` gathered postings.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..analysis import Analyzer, TermIdEncoder
from ..errors import ConfigError, DataFormatError
from ..io import atomic_write, read_json_object, write_json
from ..types import ExcludedIds, Run, as_queries, as_text_batch
from .bm25_weights import TermCounts, lucene_idf, weight_matrix
from .topk import topk_1d

__all__ = ["FORMAT_VERSION", "MODES", "BM25Index", "lucene_idf", "weight_matrix"]

logger = logging.getLogger(__name__)

MODES = ("bm25", "bm25q")
FORMAT_VERSION = 1
_BUILD_CHUNK = 65536          # documents analysed per step while indexing
_BLOCK_CELLS = 1 << 22        # dense scores per query block (32 MiB of float64)
_BLOCK_POSTINGS = 1 << 21     # postings gathered per step (~90 MiB of temporaries)


class BM25Index:
    """An in-memory BM25 index over a fixed list of documents.

    Build with :meth:`build`, query with :meth:`search` (``mode="bm25"`` or ``"bm25q"``), persist with
    :meth:`save` / :meth:`load`.
    """

    def __init__(self, *, doc_ids: list[str], vocab: dict[str, int], data: np.ndarray, indices: np.ndarray,
                 indptr: np.ndarray, idf: np.ndarray, avgdl: float, k1: float, b: float, analyzer: Analyzer):
        self.doc_ids = doc_ids
        self.vocab = vocab
        self.data = data          # [nnz] document weights w_d(t), grouped by term
        self.indices = indices    # [nnz] document index of each weight
        self.indptr = indptr      # [V+1] term t's postings are data[indptr[t]:indptr[t+1]]
        self.idf = np.asarray(idf, dtype=np.float64)   # [V]
        self.avgdl = float(avgdl)
        self.k1, self.b = float(k1), float(b)
        self.analyzer = analyzer
        self._query_encoder: TermIdEncoder | None = None
        self._doc_id_array: np.ndarray | None = None

    @property
    def num_docs(self) -> int:
        return len(self.doc_ids)

    # ------------------------------------------------------------------------------------------
    # building
    # ------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Sequence[str], doc_ids: Sequence[str], k1: float = 0.9, b: float = 0.4,
              analyzer: Analyzer | None = None, show_progress: bool = True) -> BM25Index:
        """Analyse and index ``texts`` (row-aligned with ``doc_ids``).

        Args:
            texts: document texts (title and body already joined if wanted).
            doc_ids: unique string ids.
            k1, b: BM25 parameters (defaults 0.9 / 0.4, as Anserini and BRIGHT use).
            analyzer: text analysis (default: Lucene-English, see :mod:`reasonir.analysis`).
            show_progress: show a progress bar while analysing (when progress bars are enabled).

        Raises:
            DataFormatError: on duplicate doc ids, a length mismatch or an empty corpus.
            ConfigError: on ``k1 < 0`` or ``b`` outside ``[0, 1]``.
        """
        from .._logging import progress

        if len(texts) != len(doc_ids):
            raise DataFormatError(f"{len(texts)} texts but {len(doc_ids)} doc ids")
        if len(set(doc_ids)) != len(doc_ids):
            seen: set[str] = set()
            dup = next(d for d in doc_ids if d in seen or seen.add(d))  # type: ignore[func-returns-value]
            raise DataFormatError(f"duplicate document id {dup!r}; BM25 needs unique ids")
        if not texts:
            raise DataFormatError("cannot build a BM25 index over an empty corpus")
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"BM25 parameters out of range: k1={k1} (>= 0), b={b} (0..1)")
        analyzer = analyzer or Analyzer()
        vocab: dict[str, int] = {}
        encoder = TermIdEncoder(analyzer, vocab, grow=True)
        counts = TermCounts()
        bar_options: dict[str, Any] = {} if show_progress else {"disable": True}
        with progress(total=len(texts), desc="BM25 index", unit="doc", **bar_options) as bar:
            for start in range(0, len(texts), _BUILD_CHUNK):
                chunk = texts[start:start + _BUILD_CHUNK]
                counts.add(*encoder(chunk))
                bar.update(len(chunk))
        if not vocab:
            raise DataFormatError("no indexable terms in the corpus (every document is empty or stop words)")
        data, indices, indptr, lengths = counts.weights(len(vocab), k1, b)
        return cls(doc_ids=list(doc_ids), vocab=vocab, data=data, indices=indices, indptr=indptr,
                   idf=lucene_idf(np.diff(indptr), len(texts)), avgdl=float(lengths.sum()) / len(texts),
                   k1=k1, b=b, analyzer=analyzer)

    # ------------------------------------------------------------------------------------------
    # query weighting
    # ------------------------------------------------------------------------------------------
    def query_terms(self, texts: Sequence[str], mode: str = "bm25") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The weighted distinct in-vocabulary terms of each query.

        ``bm25``: weight = count of the term in the query. ``bm25q``: the Lucene BM25 weight of the
        term in the query, ``idf·tf/(tf + k1·(1 - b + b·|q|/avgdl))`` with ``|q|`` = number of
        in-vocabulary query tokens (gensim's ``doc2bow`` drops the others).

        Returns:
            ``(qptr [nq+1], term_ids [m], weights [m] float64)``: query ``i``'s terms are
            ``term_ids[qptr[i]:qptr[i+1]]``, ascending.
        """
        if mode not in MODES:
            raise ConfigError(f"unknown BM25 mode {mode!r}; choose one of {', '.join(MODES)}")
        texts = as_text_batch(texts, "texts")[0]
        if self._query_encoder is None:
            self._query_encoder = TermIdEncoder(self.analyzer, self.vocab, grow=False)
        ids, lengths = self._query_encoder(texts)
        nq, vocab_size = len(texts), max(len(self.vocab), 1)
        owner = np.repeat(np.arange(nq, dtype=np.int64), lengths)                      # [tokens]
        keys, tf = np.unique(owner * vocab_size + ids, return_counts=True)              # sorted (query, term)
        query, term_ids = np.divmod(keys, vocab_size)
        qptr = np.searchsorted(query, np.arange(nq + 1))
        tf = tf.astype(np.float64)
        if mode == "bm25":
            return qptr, term_ids, tf
        qlen = lengths[query].astype(np.float64)
        weights = self.idf[term_ids] * (tf / (tf + self.k1 * (1 - self.b + self.b * qlen / self.avgdl)))
        return qptr, term_ids, weights

    def query_weights(self, text: str, mode: str = "bm25") -> tuple[np.ndarray, np.ndarray]:
        """Term ids and weights of one query (see :meth:`query_terms`)."""
        _, term_ids, weights = self.query_terms([text], mode)
        return term_ids, weights

    # ------------------------------------------------------------------------------------------
    # scoring
    # ------------------------------------------------------------------------------------------
    def _score_block(self, qptr: np.ndarray, term_ids: np.ndarray, weights: np.ndarray, q0: int,
                     q1: int) -> np.ndarray:
        """Dense scores ``[q1-q0, N]`` float64 of queries ``q0..q1-1``."""
        n = self.num_docs
        p0, p1 = int(qptr[q0]), int(qptr[q1])
        starts = self.indptr[term_ids[p0:p1]]
        lens = self.indptr[term_ids[p0:p1] + 1] - starts                               # [pairs] postings
        rows = np.repeat(np.arange(q1 - q0, dtype=np.int64), np.diff(qptr[q0:q1 + 1]))  # [pairs] block row
        cum = np.cumsum(lens)
        total = int(cum[-1]) if cum.size else 0
        cuts = np.searchsorted(cum, np.arange(_BLOCK_POSTINGS, total, _BLOCK_POSTINGS)) + 1
        bounds = np.r_[0, cuts, lens.size]                                   # sorted (cuts: searchsorted + 1)
        edges = bounds[np.r_[True, bounds[1:] != bounds[:-1]]]              # distinct; np.unique imports numpy.ma
        out = None
        for a, z in zip(edges[:-1].tolist(), edges[1:].tolist()):
            ln = lens[a:z]
            # positions of every posting of pairs a..z-1: start_p + 0..len_p-1
            pos = np.repeat(starts[a:z] - (np.cumsum(ln) - ln), ln) + np.arange(int(ln.sum()))
            cells = np.repeat(rows[a:z] * n, ln) + self.indices[pos]                   # [postings] flat cell
            vals = self.data[pos] * np.repeat(weights[p0 + a:p0 + z], ln)              # [postings] float64
            part = np.bincount(cells, weights=vals, minlength=(q1 - q0) * n)
            out = part if out is None else np.add(out, part, out=out)
        if out is None:
            out = np.zeros((q1 - q0) * n, dtype=np.float64)
        return out.reshape(q1 - q0, n)                                                # [nq_block, N]

    def _blocks(self, qptr: np.ndarray, term_ids: np.ndarray) -> list[tuple[int, int]]:
        """Split queries into blocks of at most ``_BLOCK_CELLS`` scores and about ``_BLOCK_POSTINGS`` postings."""
        nq = qptr.size - 1
        rows_per_block = max(1, _BLOCK_CELLS // max(self.num_docs, 1))
        cum = np.r_[0, np.cumsum(np.diff(self.indptr)[term_ids])]
        per_query = cum[qptr[1:]] - cum[qptr[:-1]]                                    # [nq] postings
        blocks, start, acc = [], 0, 0
        for q, p in enumerate(per_query.tolist()):
            if q > start and (q - start >= rows_per_block or acc + p > _BLOCK_POSTINGS):
                blocks.append((start, q))
                start, acc = q, 0
            acc += p
        if nq:
            blocks.append((start, nq))
        return blocks

    def score(self, text: str, mode: str = "bm25") -> np.ndarray:
        """Scores of every document for one query: ``[num_docs]`` float64 (0 = no term matched)."""
        qptr, term_ids, weights = self.query_terms([text], mode)
        return self._score_block(qptr, term_ids, weights, 0, 1)[0]

    def search_arrays(self, texts: str | Sequence[str], k: int = 1000, mode: str = "bm25",
                      excluded: Sequence[Any] | None = None) -> Any:
        """Top-``k`` ``(doc_indices int64, scores float64)`` per query text, best first; only matching documents.

        Args:
            texts: query texts, or one query string (then one ``(indices, scores)`` pair is returned
                and ``excluded`` is that query's list of indices).
            k: results per query.
            mode: ``"bm25"`` or ``"bm25q"``.
            excluded: per query, document *indices* never to return.

        An empty text matches no document. Raises ``InputError`` for a text that is not a string.
        """
        texts, single = as_text_batch(texts, "texts")
        if single:
            return self._search_arrays(texts, k, mode, None if excluded is None else [excluded])[0]
        return self._search_arrays(texts, k, mode, excluded)

    def _search_arrays(self, texts: list[str], k: int, mode: str,
                       excluded: Sequence[Sequence[int]] | None) -> list[tuple[np.ndarray, np.ndarray]]:
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        if excluded is not None and len(excluded) != len(texts):
            raise ConfigError(f"excluded has {len(excluded)} entries for {len(texts)} queries")
        qptr, term_ids, weights = self.query_terms(texts, mode)
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for q0, q1 in self._blocks(qptr, term_ids):
            scores = self._score_block(qptr, term_ids, weights, q0, q1)              # [nb, N]
            if excluded is not None:
                for r in range(q1 - q0):
                    if len(excluded[q0 + r]):
                        scores[r, np.asarray(excluded[q0 + r], dtype=np.int64)] = 0.0
            out.extend(topk_1d(row, k, min_score=0.0) for row in scores)             # unmatched (0) never returned
        return out

    def search(self, queries: Mapping[str, str], k: int = 1000, mode: str = "bm25",
               excluded_ids: ExcludedIds | None = None) -> Run:
        """Retrieve the top ``k`` documents for each query.

        Args:
            queries: ``{query_id: text}``.
            k: results per query.
            mode: ``"bm25"`` or ``"bm25q"``.
            excluded_ids: per-query doc ids never to return (BRIGHT).

        Returns:
            A run ``{query_id: {doc_id: score}}`` with only documents that match a query term.

        Raises:
            InputError / EmptyQueryError: ``queries`` is not a mapping of texts, or a text is empty (named by id).
        """
        queries = as_queries(queries)
        qids = list(queries)
        excluded = None
        if excluded_ids:
            position = {d: i for i, d in enumerate(self.doc_ids)}
            excluded = [[position[d] for d in excluded_ids.get(q, ()) if d in position] for q in qids]
        results = self._search_arrays([queries[q] for q in qids], k, mode, excluded)
        if self._doc_id_array is None:
            self._doc_id_array = np.array(self.doc_ids, dtype=object)
        ids = self._doc_id_array
        return {qid: dict(zip(ids[idx].tolist(), vals.tolist())) for qid, (idx, vals) in zip(qids, results)}

    def to_bm25s(self):
        """The same index as a ``bm25s.BM25`` object (shared arrays, no copy).

        Useful to run bm25s's own retrieval backends (e.g. its numba scorer) on our index; query
        tokens must be analysed with :attr:`analyzer` first (``bm25s_obj.retrieve([analyzer(q)])``).
        """
        import bm25s

        engine = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        engine.scores = {"data": self.data, "indices": self.indices, "indptr": self.indptr,
                         "num_docs": self.num_docs}
        engine.vocab_dict = dict(self.vocab)
        engine.nonoccurrence_array = None
        return engine

    # ------------------------------------------------------------------------------------------
    # persistence (bm25s-compatible layout + our metadata)
    # ------------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write the index to ``directory`` (bm25s file names; ``reasonir_bm25.json`` written last)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, arr in (("data.csc.index.npy", self.data), ("indices.csc.index.npy", self.indices),
                          ("indptr.csc.index.npy", self.indptr), ("idf.npy", self.idf)):
            with atomic_write(d / name, "wb", encoding=None) as fh:
                np.save(fh, np.asarray(arr), allow_pickle=False)
        write_json(d / "vocab.index.json", self.vocab, indent=None)
        write_json(d / "doc_ids.json", self.doc_ids, indent=None)
        write_json(d / "params.index.json", {
            "k1": self.k1, "b": self.b, "delta": 0.5, "method": "lucene", "idf_method": "lucene",
            "dtype": "float32", "int_dtype": "int32", "num_docs": self.num_docs, "backend": "numpy"})
        write_json(d / "reasonir_bm25.json", {
            "format_version": FORMAT_VERSION, "k1": self.k1, "b": self.b, "avgdl": self.avgdl,
            "num_docs": self.num_docs, "vocab_size": len(self.vocab), "analyzer": self.analyzer.config()})

    @classmethod
    def load(cls, directory: str | os.PathLike, mmap: bool = False) -> BM25Index:
        """Load an index written by :meth:`save` (``mmap=True`` memory-maps the postings).

        Raises:
            FileNotFoundError: when ``directory`` holds no complete index.
            DataFormatError: for an unknown format version or inconsistent files.
        """
        d = Path(directory)
        meta_path = d / "reasonir_bm25.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{d}: not a complete reasonir BM25 index (no reasonir_bm25.json)")
        meta = read_json_object(meta_path, "a BM25 index description")
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataFormatError(f"unsupported BM25 index format {meta.get('format_version')} "
                                  f"(this version reads {FORMAT_VERSION}); rebuild the index", meta_path)
        mode: Literal["r"] | None = "r" if mmap else None
        arr = {n: np.load(d / f, mmap_mode=mode, allow_pickle=False) for n, f in (
            ("data", "data.csc.index.npy"), ("indices", "indices.csc.index.npy"),
            ("indptr", "indptr.csc.index.npy"), ("idf", "idf.npy"))}
        doc_ids = json.loads((d / "doc_ids.json").read_text(encoding="utf-8"))
        vocab = json.loads((d / "vocab.index.json").read_text(encoding="utf-8"))
        if len(doc_ids) != meta["num_docs"] or arr["indptr"].shape[0] != len(vocab) + 1:
            raise DataFormatError(f"{len(doc_ids)} doc ids / {len(vocab)} terms do not match the postings "
                                  f"({meta['num_docs']} documents, {arr['indptr'].shape[0] - 1} terms); "
                                  "the index is corrupt, rebuild it", d)
        return cls(doc_ids=doc_ids, vocab=vocab, avgdl=meta["avgdl"], k1=meta["k1"], b=meta["b"],
                   analyzer=Analyzer.from_config(meta["analyzer"]), **arr)
