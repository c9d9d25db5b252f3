"""Per-stage statistics of a synthesis run, computed from the records (so they are the same whether
the stages ran in-process or on Ray): kept/dropped counts, parse-failure rates, LLM calls and token
cost, and length histograms of what was written."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..types import TrainExample
from .llmstep import Usage
from .pool import word_count
from .records import Record

#: word-count histogram edges (the last bin is open-ended)
LENGTH_BINS = (0, 25, 50, 100, 200, 300, 500, 1000, 2000)
STAGE_ORDER = ("edu", "vl_tasks", "hq_reason", "hq", "vl_pair", "llm_negative", "mine", "judge", "expand")


def length_summary(lengths: Sequence[int]) -> dict[str, Any]:
    """Count, mean, median, min, max and a histogram (``"lo-hi"`` word bins) of ``lengths``."""
    if not lengths:
        return {"count": 0}
    arr = np.asarray(lengths)
    edges = list(LENGTH_BINS) + [np.inf]
    hist = {}
    for lo, hi in itertools.pairwise(edges):
        n = int(((arr >= lo) & (arr < hi)).sum())
        hist[f"{lo}-{'' if hi == np.inf else int(hi) - 1}"] = n
    return {"count": len(arr), "mean": round(float(arr.mean()), 1), "median": float(np.median(arr)),
            "min": int(arr.min()), "max": int(arr.max()), "histogram": hist}


def _rates(u: Usage) -> dict[str, Any]:
    d = u.to_dict()
    failed_attempts = sum(u.parse_failures.values())
    d["parse_failure_rate"] = round(failed_attempts / u.prompts, 4) if u.prompts else 0.0
    return d


def stage_usage(records: Iterable[Record]) -> dict[str, Usage]:
    """LLM usage per stage, summed over records."""
    out: dict[str, Usage] = {}
    for rec in records:
        for stage, d in rec.get("trace", {}).items():
            out.setdefault(stage, Usage()).merge(d)
    return out


def drop_counts(records: Iterable[Record]) -> dict[str, dict[str, int]]:
    """``{stage: {reason: n}}`` of dropped records and items."""
    out: dict[str, Counter] = {}
    for rec in records:
        objs = [rec] + ([] if rec.get("dropped") else list(rec.get("items", [])))
        for o in objs:
            if o.get("dropped"):
                out.setdefault(o["dropped"]["stage"], Counter())[o["dropped"]["reason"]] += 1
    return {k: dict(v) for k, v in out.items()}


def summarize(records: Sequence[Record], examples: Sequence[TrainExample], pool_counts: dict[str, Any] | None = None,
              extra_usage: dict[str, Usage] | None = None, seconds: dict[str, float] | None = None,
              extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``stats.json`` document of a run.

    Args:
        records: every record of the run, dropped ones included.
        examples: the examples written.
        pool_counts: document-pool filter counts.
        extra_usage: usage of work outside the records (edu judge, VL brainstorming).
        seconds: wall time per stage.
        extra: anything else to report (rejected queries, negatives by source...).
    """
    usage = stage_usage(records)
    for stage, u in (extra_usage or {}).items():
        usage.setdefault(stage, Usage()).merge(u)
    drops = drop_counts(records)
    kinds = Counter(r["kind"] for r in records)
    live = Counter(r["kind"] for r in records if not r.get("dropped"))
    stages: dict[str, Any] = {}
    for stage in sorted(set(usage) | set(drops), key=lambda s: (STAGE_ORDER.index(s) if s in STAGE_ORDER else 99, s)):
        entry: dict[str, Any] = {}
        if stage in usage:
            entry["llm"] = _rates(usage[stage])
        if stage in drops:
            entry["dropped"] = drops[stage]
        if seconds and stage in seconds:
            entry["seconds"] = round(seconds[stage], 3)
        stages[stage] = entry
    total = Usage()
    for u in usage.values():
        total.merge(u)
    neg_sources: Counter = Counter()
    for ex in examples:
        for src in ex.metadata.get("neg_sources", []):
            neg_sources[src] += 1
    by_kind = Counter(ex.metadata.get("kind", "?") for ex in examples)
    out = {
        "records": {"by_kind": dict(kinds), "live_by_kind": dict(live)},
        "pool": pool_counts or {},
        "stages": stages,
        "llm_total": _rates(total),
        "output": {
            "examples": len(examples), "by_kind": dict(by_kind), "negatives_by_source": dict(neg_sources),
            "lengths_words": {
                "query": length_summary([word_count(e.query) for e in examples]),
                "positive": length_summary([word_count(p) for e in examples for p in e.pos]),
                "negative": length_summary([word_count(n) for e in examples for n in e.neg]),
            },
        },
    }
    if seconds:
        out["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    if extra:
        out.update(extra)
    return out
