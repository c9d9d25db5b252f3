"""Combining reranker scores with first-stage scores (ReasonIR's tie-breaking).

An LLM grade has six values, so ranking by it alone leaves long runs of ties (the "naive LLM
reranker"). ReasonIR breaks them by adding the retriever score:

* ``interpolate`` (ReasonIR-Rerank): ``w * rerank + (1 - w) * retriever`` with ``w = 0.5``;
* ``bm25``: ``100 * rerank + bm25`` (ReasonIR's variant with BM25 scores: the grade decides, BM25
  orders within a grade);
* ``reranker``: the reranker score alone.

Pairs without a reranker score (parse failures) count as ``failure_score`` (default 0).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from ..errors import ConfigError
from ..types import Run

logger = logging.getLogger(__name__)

COMBINE_MODES = ("reranker", "interpolate", "bm25")


def combine_scores(rerank: Mapping[str, Mapping[str, float | None]], retriever: Run, mode: str = "interpolate",
                   weight: float = 0.5, failure_score: float = 0.0) -> Run:
    """Final scores for the reranked documents.

    Args:
        rerank: ``{qid: {doc_id: reranker score or None}}`` (LLM: grade / 5).
        retriever: first-stage scores ``{qid: {doc_id: score}}``; documents it lacks get that query's
            lowest retriever score (counted in a warning).
        mode: one of :data:`COMBINE_MODES`.
        weight: ``w`` of ``interpolate``.
        failure_score: the reranker score of a pair without one.

    Returns:
        ``{qid: {doc_id: final score}}`` over the reranked documents.
    """
    if mode not in COMBINE_MODES:
        raise ConfigError(f"unknown combine mode {mode!r}; choose one of {', '.join(COMBINE_MODES)}")
    if mode == "interpolate" and not 0.0 <= weight <= 1.0:
        raise ConfigError(f"interpolation weight must be in [0, 1], got {weight}")
    out: Run = {}
    missing = 0
    for qid, docs in rerank.items():
        first = retriever.get(qid, {})
        floor = min(first.values()) if first else 0.0
        scores: dict[str, float] = {}
        for doc_id, r in docs.items():
            r = failure_score if r is None else float(r)
            if mode == "reranker":
                scores[doc_id] = r
                continue
            if doc_id in first:
                s = first[doc_id]
            else:
                missing += 1
                s = floor
            scores[doc_id] = weight * r + (1.0 - weight) * s if mode == "interpolate" else 100.0 * r + s
        out[qid] = scores
    if missing:
        logger.warning("%d reranked documents have no first-stage score to combine with; they got their "
                       "query's lowest score (for mode bm25, rerun BM25 with a deeper --top-k)", missing)
    return out
