"""Reranking a first-stage run: take each query's top-k, score the pairs, keep the judgements.

Pairs of several queries are sent together (``pairs_per_call``) so that concurrent backends stay
busy; the LLM response cache makes an interrupted rerank resume where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .._logging import progress
from ..errors import ConfigError
from ..types import ExcludedIds, Queries, Run, as_queries, top_k
from .base import PairScore, Reranker

logger = logging.getLogger(__name__)


@dataclass
class RerankResult:
    """What a rerank produced.

    Attributes:
        judgements: ``{qid: {doc_id: PairScore}}`` for every reranked pair.
        candidates: the first-stage scores of the reranked pairs (each query's top-k).
        missing_documents: candidate ids absent from the corpus (scored ``None``).
        seconds: wall time of the scoring.
    """

    judgements: dict[str, dict[str, PairScore]]
    candidates: Run
    missing_documents: int
    seconds: float

    def reranker_scores(self) -> dict[str, dict[str, float | None]]:
        """``{qid: {doc_id: reranker score or None}}``."""
        return {q: {d: s.score for d, s in docs.items()} for q, docs in self.judgements.items()}

    def pairs(self) -> Iterable[tuple[str, str, PairScore]]:
        for qid, docs in self.judgements.items():
            for doc_id, s in docs.items():
                yield qid, doc_id, s


def select_candidates(run: Run, queries: Queries, k: int, excluded_ids: ExcludedIds | None = None) -> Run:
    """Each query's top-``k`` of ``run`` after dropping excluded documents; queries not in ``queries``
    are skipped (with a warning)."""
    if k <= 0:
        raise ConfigError(f"top_k must be positive, got {k}")
    unknown = [q for q in run if q not in queries]
    if unknown:
        logger.warning("%d run queries are not in the dataset and are skipped (e.g. %s)", len(unknown), unknown[:3])
    excluded_ids = excluded_ids or {}
    out: Run = {}
    for qid in queries:
        if qid not in run:
            continue
        ex = excluded_ids.get(qid, set())
        out[qid] = dict(top_k({d: s for d, s in run[qid].items() if d not in ex}, k))
    if not out:
        raise ConfigError("the run shares no query id with the dataset; check that they belong together")
    return out


def rerank_run(reranker: Reranker, queries: Queries, run: Run, documents: Mapping[str, str], top_k: int = 100,
               excluded_ids: ExcludedIds | None = None, pairs_per_call: int = 256) -> RerankResult:
    """Score each query's top-``k`` documents of ``run`` with ``reranker``.

    Args:
        reranker: any :class:`~reasonir.rerank.base.Reranker`.
        queries: the query texts the reranker sees (e.g. rewritten ones).
        run: first-stage scores.
        documents: ``{doc_id: text}``.
        top_k: documents reranked per query.
        excluded_ids: documents never to rerank (BRIGHT).
        pairs_per_call: pairs handed to the reranker at once.

    Raises:
        ConfigError: when the run shares no query with ``queries`` or none of its documents exist.
        InputError: ``queries`` is not a mapping ``{query_id: text}`` of strings.
    """
    queries = as_queries(queries, allow_empty=True)
    candidates = select_candidates(run, queries, top_k, excluded_ids)
    judgements: dict[str, dict[str, PairScore]] = {q: {} for q in candidates}
    pending: list[tuple[str, str]] = []
    missing = 0
    t0 = time.perf_counter()

    def flush() -> None:
        if not pending:
            return
        scores = reranker.score([(queries[q], documents[d]) for q, d in pending])
        for (q, d), s in zip(pending, scores):
            judgements[q][d] = s
        pending.clear()

    for qid in progress(list(candidates), desc="rerank", unit="query"):
        for doc_id in candidates[qid]:
            if doc_id not in documents:
                missing += 1
                judgements[qid][doc_id] = PairScore(score=None, method="missing-document")
                continue
            pending.append((qid, doc_id))
        if len(pending) >= pairs_per_call:
            flush()
    flush()
    total = sum(len(d) for d in candidates.values())
    if missing == total:
        raise ConfigError("none of the run's documents are in the corpus; check the run and the dataset")
    if missing:
        logger.warning("%d of %d candidate documents are not in the corpus; they score as failures", missing, total)
    # keep each query's judgements in candidate order
    ordered = {q: {d: judgements[q][d] for d in candidates[q]} for q in candidates}
    return RerankResult(ordered, candidates, missing, time.perf_counter() - t0)
