"""The Lucene BM25 document-weight matrix, built exactly as bm25s builds it (``method="lucene"``).

:class:`TermCounts` accumulates per-document term counts chunk by chunk; :func:`weight_matrix` and
:meth:`reasonir.retrieve.bm25.BM25Index.build` turn them into the term-major (CSC) weight arrays
bm25s stores, so ``bm25s.BM25.load`` opens our index too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np


def lucene_idf(df: np.ndarray, num_docs: int) -> np.ndarray:
    """``ln(N+1) - ln(df+0.5)`` in float64 (Lucene's BM25 idf, always positive)."""
    return np.log(num_docs + 1.0) - np.log(np.asarray(df, dtype=np.float64) + 0.5)


def _bm25s_idf32(df: np.ndarray, num_docs: int) -> np.ndarray:
    """bm25s's ``lucene`` idf, bit for bit: ``log(1 + (N-df+0.5)/(df+0.5))`` in Python floats, as float32."""
    values, inverse = np.unique(df, return_inverse=True)
    per_value = [math.log(1 + (num_docs - d + 0.5) / (d + 0.5)) for d in values.tolist()]
    return np.asarray(per_value, dtype=np.float32)[inverse.reshape(-1)]


class TermCounts:
    """Accumulates per-document term counts, chunk by chunk, as one CSR matrix ``[N, V]``."""

    def __init__(self) -> None:
        self.row_nnz: list[np.ndarray] = []
        self.terms: list[np.ndarray] = []
        self.tf: list[np.ndarray] = []
        self.lengths: list[np.ndarray] = []

    def add(self, ids: np.ndarray, lengths: np.ndarray) -> None:
        """Add documents given as concatenated term ids ``[total]`` and their lengths ``[n]``."""
        import scipy.sparse as sp

        lengths = np.asarray(lengths, dtype=np.int64)
        indptr = np.zeros(lengths.size + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        ids = np.array(ids, dtype=np.int32)                       # own copy: sorted in place below
        width = int(ids.max()) + 1 if ids.size else 1
        counts = sp.csr_matrix((np.ones(ids.size, dtype=np.int32), ids, indptr), shape=(lengths.size, width))
        counts.sum_duplicates()                                   # sorts terms per row, sums repeats
        self.row_nnz.append(np.diff(counts.indptr).astype(np.int64))
        self.terms.append(counts.indices.astype(np.int32, copy=False))
        self.tf.append(counts.data.astype(np.int32, copy=False))
        self.lengths.append(lengths)

    def weights(self, vocab_size: int, k1: float, b: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Lucene BM25 weights as a term-major matrix: ``(data f32, doc indices i32, indptr i64 [V+1], lengths)``.

        Same values as bm25s: ``float32(float64(idf32) · tf/(k1·((1-b) + b·|d|/avgdl) + tf))``.
        """
        import scipy.sparse as sp

        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, dtype=np.int64)
        n_docs = lengths.size
        df = np.zeros(vocab_size, dtype=np.int64)
        for terms in self.terms:
            df += np.bincount(terms, minlength=vocab_size)
        avgdl = float(lengths.sum()) / n_docs
        idf32 = _bm25s_idf32(df, n_docs)
        denom = k1 * ((1 - b) + b * lengths.astype(np.float64) / avgdl)   # [N]
        pieces, first = [], 0
        while self.terms:                                           # free the count pieces as we go
            nnz, terms, tf = self.row_nnz.pop(0), self.terms.pop(0), self.tf.pop(0)
            tf64 = tf.astype(np.float64)
            doc_denom = np.repeat(denom[first:first + nnz.size], nnz)                    # [nnz]
            weights = (idf32[terms].astype(np.float64) * (tf64 / (doc_denom + tf64))).astype(np.float32)
            pieces.append((weights, terms, nnz))
            first += nnz.size
        self.lengths = []
        indptr = np.zeros(n_docs + 1, dtype=np.int64)
        if pieces:
            np.cumsum(np.concatenate([p[2] for p in pieces]), out=indptr[1:])
        by_doc = sp.csr_matrix((np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.float32),
                                np.concatenate([p[1] for p in pieces]) if pieces else np.zeros(0, np.int32),
                                indptr), shape=(n_docs, vocab_size))
        del pieces
        by_term = by_doc.tocsc()                                    # doc indices ascending within a term
        del by_doc
        return (by_term.data.astype(np.float32, copy=False), by_term.indices.astype(np.int32, copy=False),
                by_term.indptr.astype(np.int64, copy=False), lengths)


def weight_matrix(corpus_ids: Iterable[Sequence[int]], vocab_size: int, k1: float = 0.9,
                  b: float = 0.4) -> dict[str, np.ndarray]:
    """The Lucene BM25 document-weight matrix of pre-tokenised documents (term ids ``0..V-1``).

    Returns ``{"data", "indices", "indptr"}`` equal to bm25s's
    ``BM25(k1, b, method="lucene").build_index_from_ids(range(V), corpus_ids)`` (its CSC layout:
    term ``t``'s postings are ``data/indices[indptr[t]:indptr[t+1]]``, documents ascending).
    """
    docs = [np.asarray(d, dtype=np.int32) for d in corpus_ids]
    counts = TermCounts()
    counts.add(np.concatenate(docs) if docs else np.zeros(0, dtype=np.int32), np.array([len(d) for d in docs]))
    data, indices, indptr, _ = counts.weights(vocab_size, k1, b)
    return {"data": data, "indices": indices, "indptr": indptr}
