"""Retrieval metrics, computed by the reference trec_eval implementation (pytrec-eval-terrier).

Metrics are named as values, e.g. ``ndcg@10``, ``map@100``, ``recall@100``, ``p@10``, ``mrr``,
``mrr@10``, ``success@1`` and BRIGHT's ``oracle_ndcg@10`` (nDCG@10 of a perfect reranker of the run's
top 100). The ir_measures spellings are accepted too: ``nDCG@10``, ``R@100``, ``RR@10``, ``P@5``,
``Success@1``, ``AP@100``. Scores are fractions (0-1) everywhere: in results, JSON and tables.

Policy, stated once:

* a query judged in the qrels but absent from the run scores 0 on every metric and is listed in
  :attr:`EvalResult.missing_queries`;
* run entries for queries without judgements are ignored (counted in ``unjudged_queries``);
* ``excluded_ids`` (BRIGHT) are removed from the run and the qrels before scoring;
* ties are broken as trec_eval breaks them (score descending, then doc id descending);
* a run and qrels that share no query, or qrels without a single positive grade, are an error (every
  metric would be a meaningless 0); a partial overlap is logged as a warning with the counts;
* a metric deeper than the run cannot be measured: when the caller knows the depth the run was cut at
  (``search -k``, ``retrieve/rerank --top-k``), such metrics are dropped with a warning and listed in
  :attr:`EvalResult.skipped_metrics` (:func:`metrics_for_depth`); when it does not (a run file), a run
  shallower than a metric's cutoff is only warned about.

This module never imports a model.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytrec_eval

from .errors import ConfigError, DataFormatError, InputError
from .io import read_qrels, read_run
from .types import ExcludedIds, Qrels, Run, top_k

logger = logging.getLogger(__name__)

CUTOFFS = (1, 5, 10, 25, 50, 100)
DEFAULT_METRICS: tuple[str, ...] = tuple(
    f"{m}@{k}" for m in ("ndcg", "map", "recall", "p") for k in CUTOFFS) + ("mrr",)
ORACLE_DEPTH = 100
#: the metrics every command reports by default (``retrieve``, ``search --qrels``, ``evaluate``, ``rerank``)
REPORT_METRICS = "ndcg@10,recall@10,recall@100,map@100,mrr@10"

_METRIC_RE = re.compile(r"^(ndcg|map|recall|p|mrr|success|oracle_ndcg)(?:@(\d+))?$")
_TREC = {"ndcg": ("ndcg_cut", "ndcg"), "map": ("map_cut", "map"), "recall": ("recall", None),
         "p": ("P", None), "mrr": (None, "recip_rank"), "success": ("success", None)}
#: ir_measures names (lower-cased) -> ours
_IR_MEASURES = {"r": "recall", "rr": "mrr", "ap": "map"}


def normalize_metric(name: str) -> str:
    """Canonical lower-case metric name (``"nDCG@10"`` -> ``"ndcg@10"``, ``"R@100"`` -> ``"recall@100"``).

    Raises:
        ConfigError: for an unknown metric, listing the accepted forms.
    """
    key = name.strip().lower().replace("precision", "p").replace("recip_rank", "mrr")
    base, at, cut = key.partition("@")
    key = _IR_MEASURES.get(base, base) + at + cut
    m = _METRIC_RE.match(key)
    if not m or (m.group(1) in ("recall", "p", "success", "oracle_ndcg") and m.group(2) is None):
        raise ConfigError(
            f"unknown metric {name!r}; use ndcg@K, map@K, recall@K, p@K, mrr, mrr@K, success@K, oracle_ndcg@K, "
            "ndcg or map (or the ir_measures names nDCG@K, AP@K, R@K, P@K, RR@K, Success@K)")
    if m.group(2) is not None and int(m.group(2)) <= 0:
        raise ConfigError(f"metric {name!r}: the cutoff must be a positive integer")
    return key


def parse_metrics(spec: str | Iterable[str] | None) -> list[str]:
    """Parse ``"ndcg@10,recall@100"`` (or a list) into canonical, de-duplicated metric names."""
    if spec is None:
        return list(DEFAULT_METRICS)
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for n in names:
        if n.strip() and normalize_metric(n) not in out:
            out.append(normalize_metric(n))
    if not out:
        raise ConfigError("no metrics given")
    return out


@dataclass
class EvalResult:
    """Metrics of one run against one set of qrels.

    Attributes:
        mean: ``{metric: mean over judged queries}``.
        per_query: ``{query_id: {metric: value}}`` for every judged query (missing ones are 0).
        missing_queries: judged queries that had no entry in the run.
        unjudged_queries: number of run queries without judgements (ignored).
        skipped_metrics: requested metrics deeper than the run's cut-off depth (not computed).

    Examples:
        >>> result = evaluate({"q1": {"d1": 1}}, {"q1": {"d2": 0.9, "d1": 0.5}}, "mrr,p@1")
        >>> result.mean, result.num_queries
        ({'mrr': 0.5, 'p@1': 0.0}, 1)
        >>> result.to_dict(per_query=True)["per_query"]
        {'q1': {'mrr': 0.5, 'p@1': 0.0}}
    """

    metrics: list[str]
    mean: dict[str, float]
    per_query: dict[str, dict[str, float]]
    missing_queries: list[str] = field(default_factory=list)
    unjudged_queries: int = 0
    skipped_metrics: list[str] = field(default_factory=list)

    @property
    def num_queries(self) -> int:
        return len(self.per_query)

    def to_dict(self, per_query: bool = False) -> dict:
        out = {"metrics": dict(self.mean), "num_queries": self.num_queries,
               "missing_queries": list(self.missing_queries), "unjudged_queries": self.unjudged_queries}
        if self.skipped_metrics:
            out["skipped_metrics"] = list(self.skipped_metrics)
        if per_query:
            out["per_query"] = self.per_query
        return out


def _trec_measures(metrics: Sequence[str]) -> tuple[set[str], dict[str, str]]:
    """pytrec_eval measure names to request, and ``{our metric: pytrec result key}``."""
    measures: set[str] = set()
    keys: dict[str, str] = {}
    for metric in metrics:
        base, _, cut = metric.partition("@")
        if base in ("oracle_ndcg",) or (base == "mrr" and cut):
            continue
        cut_name, full_name = _TREC[base]
        measure, key = (f"{cut_name}.{cut}", f"{cut_name}_{cut}") if cut else (full_name, full_name)
        if measure is None or key is None:
            raise ConfigError(f"metric {metric!r} needs a cutoff, e.g. {base}@10")
        measures.add(measure)
        keys[metric] = key
    return measures, keys


def _apply_exclusions(qrels: Qrels, run: Run, excluded_ids: ExcludedIds | None) -> tuple[Qrels, Run]:
    if not excluded_ids:
        return qrels, run
    run = {q: {d: s for d, s in docs.items() if d not in excluded_ids.get(q, ())} for q, docs in run.items()}
    qrels = {q: {d: r for d, r in docs.items() if d not in excluded_ids.get(q, ())} for q, docs in qrels.items()}
    return qrels, run


def oracle_run(qrels: Qrels, run: Run, depth: int = ORACLE_DEPTH) -> Run:
    """A perfect reranking of each query's top ``depth``: judged grade as score, 0 for the rest."""
    return {q: {d: float(qrels.get(q, {}).get(d, 0)) for d, _ in top_k(docs, depth)} for q, docs in run.items()}


def metric_depth(metric: str) -> int | None:
    """How many ranks a metric looks at: its cutoff (``recall@100`` -> 100), ``None`` for ``mrr``/``map``/``ndcg``."""
    _, _, cut = normalize_metric(metric).partition("@")
    return int(cut) if cut else None


def metrics_for_depth(metrics: str | Iterable[str] | None, depth: int | None) -> tuple[list[str], list[str]]:
    """Split metrics into those a run cut at ``depth`` documents per query can measure, and the deeper rest.

    The one rule of this package for metrics deeper than a run: they are not computed (a 10-deep run
    has no recall@100). Callers that know the depth (``search -k``, ``retrieve/rerank --top-k``) call
    this before doing any work, so that a request nothing can answer fails at once.

    Args:
        metrics: names or a comma-separated string (``None``: the defaults).
        depth: documents per query the run was cut at; ``None`` keeps every metric.

    Returns:
        ``(kept, skipped)`` canonical names, each in the requested order.

    Raises:
        ConfigError: for a depth below 1, or when every metric is deeper than ``depth`` (naming the
            metrics, the depth and both ways out).
    """
    names = parse_metrics(metrics)
    if depth is None:
        return names, []
    if depth < 1:
        raise ConfigError(f"the run depth (documents per query) must be at least 1, got {depth}")
    kept = [m for m in names if (metric_depth(m) or 0) <= depth]
    skipped = [m for m in names if m not in kept]
    if not kept:
        deepest = max(metric_depth(m) or 0 for m in skipped)
        raise ConfigError(
            f"every requested metric ({', '.join(skipped)}) looks deeper than the {depth} documents per query "
            f"the run holds; retrieve {deepest} per query (search -k, retrieve/rerank --top-k) or ask for "
            f"metrics within the run, e.g. --metrics ndcg@{depth},recall@{depth},mrr")
    return kept, skipped


def warn_skipped(skipped: Sequence[str], depth: int | None) -> None:
    """Log, once per evaluation, the metrics :func:`metrics_for_depth` left out and how to get them."""
    if skipped:
        logger.warning("not reporting %s: the run was cut at %s documents per query, so these would count "
                       "the missing ranks as misses; retrieve deeper (search -k, retrieve/rerank --top-k) "
                       "to measure them", ", ".join(skipped), depth)


def _sample(ids: Iterable[str], n: int = 3) -> str:
    return ", ".join(sorted(ids)[:n]) or "none"


def _check_judgements(qrels: Qrels, run: Run, judged_run: Run) -> None:
    """Refuse an evaluation whose every metric would be 0 for want of overlap; warn about a partial one."""
    relevant = {q for q, docs in qrels.items() if any(g > 0 for g in docs.values())}
    if not relevant:
        count = sum(map(len, qrels.values()))
        held = f"{count} judgement(s), none with a grade above 0" if count else "the qrels are empty"
        raise DataFormatError(f"the qrels hold no positive judgement ({held}), so every metric would be 0; "
                              "check the qrels file (or split)")
    if not relevant & judged_run.keys():
        raise DataFormatError(
            f"the run and the qrels share no query with a relevant document, so every metric would be 0: run "
            f"queries ({len(run)}) e.g. {_sample(run)}; judged queries ({len(relevant)}) e.g. {_sample(relevant)}; "
            "check that both use the same query ids")
    missing = [q for q in qrels if q not in judged_run]
    if missing:
        logger.warning("%d of %d judged queries have no results in the run and score 0 (e.g. %s)",
                       len(missing), len(qrels), _sample(missing))
    unjudged = [q for q in run if q not in qrels]
    if unjudged:
        logger.warning("%d of %d run queries have no judgements and are ignored (e.g. %s)",
                       len(unjudged), len(run), _sample(unjudged))


def _as_qrels(qrels: Any) -> Qrels:
    """``qrels`` as a dict: a path is read; integer grades are required (a float hints at swapped arguments)."""
    if isinstance(qrels, (str, os.PathLike)):
        return read_qrels(qrels)
    if not isinstance(qrels, Mapping):
        raise InputError(f"qrels must be {{query_id: {{doc_id: grade}}}} or a qrels file, got {type(qrels).__name__}")
    for q, docs in qrels.items():
        if not isinstance(docs, Mapping):
            raise InputError(f"qrels[{q!r}] must be {{doc_id: grade}}, got {type(docs).__name__}")
        for d, grade in docs.items():
            if not isinstance(grade, numbers.Real) or not float(grade).is_integer():
                raise DataFormatError(f"qrels[{q!r}][{d!r}] = {grade!r} is not an integer grade; evaluate takes "
                                      "(qrels, run) in that order, as pytrec_eval and ranx do")
    return dict(qrels)


def _as_run(run: Any) -> Run:
    """``run`` as a dict: a path is read; a query's value may be its hit list (``index.search`` results)."""
    if isinstance(run, (str, os.PathLike)):
        return read_run(run)
    if not isinstance(run, Mapping):
        raise InputError(f"run must be {{query_id: {{doc_id: score}}}} or a run file, got {type(run).__name__}")
    out: Run = {}
    for q, docs in run.items():
        if isinstance(docs, Mapping):
            out[q] = dict(docs)
        elif isinstance(docs, Iterable) and not isinstance(docs, str):
            hits = list(docs)
            if not all(hasattr(h, "id") and hasattr(h, "score") for h in hits):
                raise InputError(f"run[{q!r}] must be {{doc_id: score}} or a list of hits with id and score")
            out[q] = {}
            for h in hits:                        # a document listed twice keeps its best score
                out[q][h.id] = max(float(h.score), out[q].get(h.id, -math.inf))
        else:
            raise InputError(f"run[{q!r}] must be {{doc_id: score}} or a list of hits, got {type(docs).__name__}")
    return out


def evaluate(qrels: Qrels | str | os.PathLike, run: Run | Mapping[str, Any] | str | os.PathLike,
             metrics: str | Iterable[str] | None = None, excluded_ids: ExcludedIds | None = None,
             oracle_depth: int = ORACLE_DEPTH, depth: int | None = None) -> EvalResult:
    """Score ``run`` against ``qrels`` (in memory, or read from TREC files).

    Args:
        qrels: ``{query_id: {doc_id: grade}}``, or a qrels file.
        run: ``{query_id: {doc_id: score}}`` or ``{query_id: [hits]}`` (what ``Index.search`` returns
            for each query), or a TREC run file.
        metrics: names or a comma-separated string (default: nDCG/MAP/Recall/P at 1..100 and MRR).
        excluded_ids: per-query doc ids removed from run and qrels before scoring (BRIGHT).
        oracle_depth: depth of the ``oracle_ndcg@k`` reranking pool (BRIGHT: 100).
        depth: documents per query the run was cut at, when the caller knows it (``k``): metrics with a
            deeper cutoff are not computed (a warning; listed in ``skipped_metrics``). ``None``: a run
            shallower than some metric's cutoff is only warned about.

    Returns:
        An :class:`EvalResult` with per-query values and means over all judged queries.

    Raises:
        DataFormatError: qrels without a positive grade, a run sharing no judged query with them, or a
            NaN score.
        ConfigError: an unknown metric, or no metric within ``depth``.
        InputError: ``qrels`` or ``run`` is neither a mapping of the right shape nor a path.

    Examples:
        >>> qrels = {"q1": {"d1": 1}, "q2": {"d3": 2}}
        >>> run = {"q1": {"d1": 0.9, "d2": 0.5}, "q2": {"d1": 0.7, "d3": 0.4}}
        >>> result = evaluate(qrels, run, ["ndcg", "mrr"])
        >>> {m: round(v, 4) for m, v in result.mean.items()}
        {'ndcg': 0.8155, 'mrr': 0.75}
        >>> result.per_query["q2"]["mrr"]
        0.5
    """
    qrels, run = _as_qrels(qrels), _as_run(run)
    names, skipped = metrics_for_depth(metrics, depth)
    warn_skipped(skipped, depth)
    for q, docs in run.items():
        for d, score in docs.items():
            if math.isnan(score):
                raise DataFormatError(f"query {q!r}, document {d!r}: the score is NaN, so the run cannot be ranked")
    run_depth = max((len(docs) for docs in run.values()), default=0)
    qrels, run = _apply_exclusions(qrels, run, excluded_ids)
    qrels = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items() if docs}
    judged_run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels and docs}
    _check_judgements(qrels, run, judged_run)
    shallow = [m for m in names if (metric_depth(m) or 0) > run_depth]
    if depth is None and shallow:
        logger.warning("the run holds at most %d documents per query, fewer than the cutoff of %s: ranks "
                       "beyond it count as non-relevant", run_depth, ", ".join(shallow))
    per_query: dict[str, dict[str, float]] = {q: {m: 0.0 for m in names} for q in qrels}

    measures, keys = _trec_measures(names)
    if measures and judged_run:
        scored = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(judged_run)
        for q, vals in scored.items():
            for metric, key in keys.items():
                per_query[q][metric] = float(vals[key])
    for metric in names:
        base, _, cut = metric.partition("@")
        if base == "mrr" and cut:
            cut_run = {q: dict(top_k(docs, int(cut))) for q, docs in judged_run.items()}
            scored = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut_run)
            for q, vals in scored.items():
                per_query[q][metric] = float(vals["recip_rank"])
        elif base == "oracle_ndcg":
            orun = oracle_run(qrels, judged_run, oracle_depth)
            scored = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut.{cut}"}).evaluate(orun)
            for q, vals in scored.items():
                per_query[q][metric] = float(vals[f"ndcg_cut_{cut}"])

    n = len(per_query)
    mean = {m: (sum(v[m] for v in per_query.values()) / n if n else 0.0) for m in names}
    missing = sorted(q for q in qrels if q not in judged_run)
    unjudged = sum(1 for q in run if q not in qrels)
    return EvalResult(metrics=names, mean=mean, per_query=per_query,
                      missing_queries=missing, unjudged_queries=unjudged, skipped_metrics=skipped)


def macro_average(results: Mapping[str, EvalResult]) -> dict[str, float]:
    """Unweighted mean over tasks of each metric's per-task mean (BRIGHT's headline average)."""
    if not results:
        return {}
    metrics = next(iter(results.values())).metrics
    return {m: sum(r.mean.get(m, 0.0) for r in results.values()) / len(results) for m in metrics}


def markdown_table(results: Mapping[str, EvalResult], metrics: Sequence[str] | None = None,
                   scale: float = 1.0, average: bool = True, digits: int = 4) -> str:
    """A Markdown table with one row per task and one column per metric (fractions, as everywhere)."""
    if not results:
        return ""
    metrics = list(metrics or next(iter(results.values())).metrics)
    lines = ["| task | queries | " + " | ".join(metrics) + " |",
             "|---|---:|" + "---:|" * len(metrics)]
    for name, res in results.items():
        vals = " | ".join(f"{res.mean.get(m, 0.0) * scale:.{digits}f}" for m in metrics)
        lines.append(f"| {name} | {res.num_queries} | {vals} |")
    if average and len(results) > 1:
        avg = macro_average(results)
        vals = " | ".join(f"{avg.get(m, 0.0) * scale:.{digits}f}" for m in metrics)
        lines.append(f"| **average** | {sum(r.num_queries for r in results.values())} | {vals} |")
    return "\n".join(lines) + "\n"
