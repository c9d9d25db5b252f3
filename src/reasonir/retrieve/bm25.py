"""BM25 on bm25s, in two scoring variants.

* ``bm25`` — standard Lucene BM25 (Lucene >= 8, no ``k1+1`` factor): each query token adds the
  document's weight ``w_d(t) = idf(t)·tf/(tf + k1·(1 - b + b·|d|/avgdl))`` (a token repeated in the
  query counts once per repetition, as Anserini's bag-of-words query boosts it);
* ``bm25q`` — **query-side BM25 exactly as BRIGHT/ReasonIR score it** (gensim ``LuceneBM25Model``
  + ``SparseMatrixSimilarity``): the query is weighted with the same formula using its own length
  ``|q|`` (in-vocabulary tokens), and the score is ``Σ_t w_q(t)·w_d(t)``. Long queries make the two
  differ; BRIGHT's published BM25 row is this variant.

``idf(t) = ln(N+1) - ln(df_t+0.5)`` and ``avgdl`` = corpus tokens / N in both. The document-weight
matrix is built by bm25s (``method="lucene"``) and saved in bm25s's own file layout, so
``bm25s.BM25.load(index_dir)`` opens our index too. Scoring accumulates postings with
``np.bincount`` (several times faster than a per-term ``np.add.at``) and selects top-k with
deterministic tie-breaking; documents matching no query term are not returned.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataFormatError
from ..io import atomic_write, write_json
from ..types import ExcludedIds, Run
from ..analysis import TOKEN_RE, Analyzer
from .topk import topk_1d

logger = logging.getLogger(__name__)

MODES = ("bm25", "bm25q")
FORMAT_VERSION = 1


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
        self.idf = idf            # [V]
        self.avgdl = float(avgdl)
        self.k1, self.b = float(k1), float(b)
        self.analyzer = analyzer

    @property
    def num_docs(self) -> int:
        return len(self.doc_ids)

    # ------------------------------------------------------------------------------------------
    # building
    # ------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Sequence[str], doc_ids: Sequence[str], k1: float = 0.9, b: float = 0.4,
              analyzer: Analyzer | None = None, show_progress: bool = False) -> BM25Index:
        """Analyse and index ``texts`` (row-aligned with ``doc_ids``).

        Args:
            texts: document texts (title and body already joined if wanted).
            doc_ids: unique string ids.
            k1, b: BM25 parameters (defaults 0.9 / 0.4, as Anserini and BRIGHT use).
            analyzer: text analysis (default: Lucene-English approximation).
            show_progress: show bm25s's progress bars.

        Raises:
            DataFormatError: on duplicate doc ids or a length mismatch.
        """
        import bm25s

        if len(texts) != len(doc_ids):
            raise DataFormatError(f"{len(texts)} texts but {len(doc_ids)} doc ids")
        if len(set(doc_ids)) != len(doc_ids):
            seen: set[str] = set()
            dup = next(d for d in doc_ids if d in seen or seen.add(d))
            raise DataFormatError(f"duplicate document id {dup!r}; BM25 needs unique ids")
        if not texts:
            raise DataFormatError("cannot build a BM25 index over an empty corpus")
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"BM25 parameters out of range: k1={k1} (>= 0), b={b} (0..1)")
        analyzer = analyzer or Analyzer()
        vocab: dict[str, int] = {}
        surface: dict[str, int] = {}   # surface token -> term id (-1: dropped)
        corpus_ids: list[list[int]] = []
        for text in texts:
            ids = []
            for tok in TOKEN_RE.findall(text):
                tid = surface.get(tok)
                if tid is None:
                    term = analyzer.term(tok)
                    tid = vocab.setdefault(term, len(vocab)) if term else -1
                    surface[tok] = tid
                if tid >= 0:
                    ids.append(tid)
            corpus_ids.append(ids)
        if not vocab:
            raise DataFormatError("no indexable terms in the corpus (every document is empty or stop words)")
        engine = bm25s.BM25(k1=k1, b=b, method="lucene")
        scores = engine.build_index_from_ids(
            unique_token_ids=list(range(len(vocab))), corpus_token_ids=corpus_ids, show_progress=show_progress)
        lengths = np.fromiter((len(ids) for ids in corpus_ids), dtype=np.int64, count=len(corpus_ids))
        indptr = np.asarray(scores["indptr"], dtype=np.int64)
        df = np.diff(indptr).astype(np.float64)
        n = len(texts)
        idf = (np.log(n + 1.0) - np.log(df + 0.5)).astype(np.float32)
        return cls(doc_ids=list(doc_ids), vocab=vocab, data=np.asarray(scores["data"], dtype=np.float32),
                   indices=np.asarray(scores["indices"], dtype=np.int32), indptr=indptr, idf=idf,
                   avgdl=float(lengths.mean()), k1=k1, b=b, analyzer=analyzer)

    # ------------------------------------------------------------------------------------------
    # scoring
    # ------------------------------------------------------------------------------------------
    def query_weights(self, text: str, mode: str = "bm25") -> tuple[np.ndarray, np.ndarray]:
        """Term ids and per-term query weights for ``text`` under ``mode``.

        ``bm25``: weight = count of the term in the query. ``bm25q``: the Lucene BM25 weight of the
        term in the query, with ``|q|`` = number of in-vocabulary query tokens.
        """
        if mode not in MODES:
            raise ConfigError(f"unknown BM25 mode {mode!r}; choose one of {', '.join(MODES)}")
        tokens = self.analyzer(text)
        ids = [self.vocab[t] for t in tokens if t in self.vocab]
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        term_ids, tf = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        tf = tf.astype(np.float64)
        if mode == "bm25":
            return term_ids, tf
        qlen = float(len(ids))
        norm = self.k1 * (1.0 - self.b + self.b * qlen / self.avgdl)
        return term_ids, self.idf[term_ids].astype(np.float64) * tf / (tf + norm)

    def score(self, text: str, mode: str = "bm25") -> np.ndarray:
        """Scores of every document for one query: ``[num_docs]`` float64 (0 = no term matched)."""
        term_ids, weights = self.query_weights(text, mode)
        if term_ids.size == 0:
            return np.zeros(self.num_docs, dtype=np.float64)
        starts, ends = self.indptr[term_ids], self.indptr[term_ids + 1]
        lens = ends - starts
        # gather all postings of the query terms at once: positions = start_t + 0..len_t-1
        total = int(lens.sum())
        offsets = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(total)
        docs = self.indices[offsets]
        vals = self.data[offsets].astype(np.float64) * np.repeat(weights, lens)
        return np.bincount(docs, weights=vals, minlength=self.num_docs)

    def search_arrays(self, texts: Sequence[str], k: int = 1000, mode: str = "bm25",
                      excluded: Sequence[Sequence[int]] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top-``k`` ``(doc_indices, scores)`` per query text, best first; only matching documents.

        Args:
            texts: query texts.
            k: results per query.
            mode: ``"bm25"`` or ``"bm25q"``.
            excluded: per query, document *indices* never to return.
        """
        if k <= 0:
            raise ConfigError(f"k must be positive, got {k}")
        out = []
        for i, text in enumerate(texts):
            scores = self.score(text, mode)
            if excluded is not None and len(excluded[i]):
                scores[np.asarray(excluded[i], dtype=np.int64)] = 0.0
            out.append(topk_1d(scores, k, min_score=0.0))
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
        """
        qids = list(queries)
        excluded = None
        if excluded_ids:
            position = {d: i for i, d in enumerate(self.doc_ids)}
            excluded = [[position[d] for d in excluded_ids.get(q, ()) if d in position] for q in qids]
        results = self.search_arrays([queries[q] for q in qids], k, mode, excluded)
        ids = self.doc_ids
        return {qid: dict(zip(map(ids.__getitem__, idx.tolist()), vals.tolist()))
                for qid, (idx, vals) in zip(qids, results)}

    # ------------------------------------------------------------------------------------------
    # persistence (bm25s-compatible layout + our metadata)
    # ------------------------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> None:
        """Write the index to ``directory`` (bm25s file names; ``reasonir_bm25.json`` written last)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        for name, arr in (("data.csc.index.npy", self.data), ("indices.csc.index.npy", self.indices),
                          ("indptr.csc.index.npy", self.indptr), ("idf.npy", self.idf)):
            with atomic_write(d / name, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
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
        """Load an index written by :meth:`save`.

        Raises:
            FileNotFoundError: when ``directory`` holds no complete index.
        """
        d = Path(directory)
        meta_path = d / "reasonir_bm25.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{d}: not a complete reasonir BM25 index (no reasonir_bm25.json)")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataFormatError(f"unsupported BM25 index format {meta.get('format_version')}", meta_path)
        mode = "r" if mmap else None
        arr = {n: np.load(d / f, mmap_mode=mode, allow_pickle=False) for n, f in (
            ("data", "data.csc.index.npy"), ("indices", "indices.csc.index.npy"),
            ("indptr", "indptr.csc.index.npy"), ("idf", "idf.npy"))}
        return cls(doc_ids=json.loads((d / "doc_ids.json").read_text(encoding="utf-8")),
                   vocab=json.loads((d / "vocab.index.json").read_text(encoding="utf-8")),
                   avgdl=meta["avgdl"], k1=meta["k1"], b=meta["b"],
                   analyzer=Analyzer.from_config(meta["analyzer"]), **arr)
