"""Accuracy summaries and the paired bootstrap, computed only from per-question result rows.

A result row (one JSON line per question, see :mod:`reasonir.rag.pipeline`) holds the gold letter
and, per condition (``closed``, ``rag``), the parsed letter (``pred``, ``null`` when unparseable) and
the seeded ``fallback`` letter. Everything reported — strict accuracy (unparseable = wrong),
accuracy with the random fallback, parse-failure rates, per-group and per-subject accuracy, and the
bootstrap interval on the closed-book -> retrieval difference — is recomputed here from those fields,
so a saved ``results.jsonl`` reproduces its report exactly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

CONDITIONS = ("closed", "rag")
_BOOT_CHUNK = 250


def correctness(rows: Sequence[Mapping[str, Any]], condition: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-question ``(strict, with_fallback)`` correctness (bool arrays, row order)."""
    strict = np.array([r[condition]["pred"] == r["gold"] for r in rows], dtype=bool)
    loose = np.array([(r[condition]["pred"] or r[condition]["fallback"]) == r["gold"] for r in rows], dtype=bool)
    return strict, loose


def paired_bootstrap(before: np.ndarray, after: np.ndarray, samples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> dict[str, Any]:
    """Percentile bootstrap interval of ``mean(after - before)`` resampling questions in pairs.

    Args:
        before, after: per-question scores (0/1) of the two systems, aligned.
        samples: bootstrap resamples.
        seed: resampling seed.
        confidence: interval mass (0.95 -> 2.5th..97.5th percentiles).

    Returns:
        ``delta`` (observed mean difference), ``ci_low``, ``ci_high``, ``fraction_le_zero`` (share of
        resamples whose difference is <= 0, a one-sided p-value for "after is better"),
        ``samples``, ``seed``, ``confidence``.
    """
    d = np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)   # (n,)
    n = d.shape[0]
    out = {"delta": float(d.mean()) if n else 0.0, "samples": int(samples), "seed": int(seed),
           "confidence": float(confidence)}
    if n == 0 or samples < 1:
        return {**out, "ci_low": None, "ci_high": None, "fraction_le_zero": None}
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, samples, _BOOT_CHUNK):
        m = min(_BOOT_CHUNK, samples - start)
        idx = rng.integers(0, n, size=(m, n))            # (m, n) resampled question indices
        means.append(d[idx].mean(axis=1))                # (m, n) -> (m,)
    dist = np.concatenate(means)                         # (samples,)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
    return {**out, "ci_low": float(lo), "ci_high": float(hi), "fraction_le_zero": float((dist <= 0).mean())}


def _condition_summary(rows: Sequence[Mapping[str, Any]], condition: str) -> dict[str, Any]:
    strict, loose = correctness(rows, condition)
    n = len(rows)
    failures = sum(1 for r in rows if r[condition]["pred"] is None)
    methods = Counter(str(r[condition].get("method")) for r in rows)
    return {"n": n, "correct": int(strict.sum()),
            "accuracy": float(strict.mean()) if n else 0.0,
            "accuracy_with_fallback": float(loose.mean()) if n else 0.0,
            "parse_failures": failures, "parse_failure_rate": failures / n if n else 0.0,
            "methods": dict(sorted(methods.items())),
            "hit_max_tokens": sum(1 for r in rows if r[condition].get("finish_reason") == "length")}


def _breakdown(rows: Sequence[Mapping[str, Any]], key: str, conditions: Sequence[str]) -> dict[str, Any]:
    buckets: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        buckets[r[key]].append(r)
    out = {}
    for name in sorted(buckets):
        part = buckets[name]
        entry: dict[str, Any] = {"n": len(part)}
        for c in conditions:
            s = _condition_summary(part, c)
            entry[c] = {k: s[k] for k in ("accuracy", "accuracy_with_fallback", "parse_failure_rate")}
        if "closed" in conditions and "rag" in conditions:
            entry["delta"] = entry["rag"]["accuracy"] - entry["closed"]["accuracy"]
        out[name] = entry
    return out


def summarize(rows: Sequence[Mapping[str, Any]], conditions: Sequence[str] = CONDITIONS,
              bootstrap_samples: int = 1000, seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """Every number of the report, from result rows alone.

    Args:
        rows: per-question result rows.
        conditions: the conditions present in the rows (``closed`` and/or ``rag``).
        bootstrap_samples, seed, confidence: paired-bootstrap settings.

    Returns:
        ``{"n", "conditions": {c: summary}, "difference": {...} (both conditions only),
        "groups": {...}, "subjects": {...}}``.
    """
    rows = list(rows)
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown condition(s) {unknown}; choose from {CONDITIONS}")
    out: dict[str, Any] = {"n": len(rows), "conditions": {c: _condition_summary(rows, c) for c in conditions}}
    if "closed" in conditions and "rag" in conditions:
        cs, cl = correctness(rows, "closed")
        rs, rl = correctness(rows, "rag")
        diff = {}
        for name, before, after in (("strict", cs, rs), ("with_fallback", cl, rl)):
            boot = paired_bootstrap(before, after, bootstrap_samples, seed, confidence)
            base = float(before.mean()) if len(before) else 0.0
            boot["relative"] = boot["delta"] / base if base else None
            diff[name] = boot
        out["difference"] = diff
    out["groups"] = _breakdown(rows, "group", conditions)
    out["subjects"] = _breakdown(rows, "subject", conditions)
    return out
