"""Paired significance tests between runs scored on the same queries (``reasonir evaluate``).

Two tests, as ranx and ``trec_eval -q`` users run them on per-query scores:

* ``t-test``: Student's paired t-test (``scipy.stats.ttest_rel``), two-sided;
* ``randomization``: Fisher's paired randomization (permutation) test, two-sided: each query's pair
  of scores is swapped at random ``permutations`` times; the p-value is the share of permuted mean
  differences at least as large in magnitude as the observed one (with the observed one counted, so
  it is never 0).

Both compare every run with one baseline (the first run unless told), metric by metric, on the
queries both were scored on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ConfigError

TESTS = ("t-test", "randomization")


@dataclass
class Comparison:
    """One run against the baseline on one metric.

    Attributes:
        run: the compared run's name.
        baseline: the baseline run's name.
        metric: the metric compared.
        mean: the run's mean over the shared queries.
        baseline_mean: the baseline's mean over the same queries.
        delta: ``mean - baseline_mean``.
        p_value: the two-sided p-value of ``test``.
        test: ``t-test`` or ``randomization``.
        queries: how many queries were paired.
        significant: ``p_value < alpha``.
    """

    run: str
    baseline: str
    metric: str
    mean: float
    baseline_mean: float
    delta: float
    p_value: float
    test: str
    queries: int
    significant: bool

    def to_dict(self) -> dict:
        return asdict(self)


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Student's paired t-test of ``a`` against ``b`` (1.0 when they are equal).

    Examples:
        >>> round(paired_t_test([0.9, 0.8, 0.7, 0.9], [0.5, 0.4, 0.6, 0.3]), 4)
        0.0358
        >>> paired_t_test([0.5, 0.5], [0.5, 0.5])
        1.0
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    diff = x - y
    if len(diff) < 2 or np.allclose(diff, diff[0], rtol=0.0, atol=1e-12):   # no variance: equal, or a shift
        return 1.0 if len(diff) == 0 or abs(diff[0]) <= 1e-12 else 0.0
    return float(stats.ttest_rel(x, y).pvalue)


def randomization_test(a: Sequence[float], b: Sequence[float], permutations: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of the paired randomization test of ``a`` against ``b``.

    Args:
        a: per-query scores of one run.
        b: the other run's scores for the same queries, in the same order.
        permutations: random sign flips of the per-query differences.
        seed: seed of the flips (the p-value is reproducible).

    Examples:
        >>> randomization_test([0.9, 0.8, 0.7, 0.9, 1.0, 0.8], [0.5, 0.4, 0.6, 0.3, 0.2, 0.4]) < 0.05
        True
        >>> randomization_test([0.5, 0.5], [0.5, 0.5])
        1.0
    """
    if permutations < 1:
        raise ConfigError(f"permutations must be at least 1, got {permutations}")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if len(diff) == 0 or not np.any(diff):
        return 1.0
    observed = abs(diff.mean())
    rng = np.random.default_rng(seed)
    hits, done, chunk = 0, 0, max(1, min(permutations, 2 ** 22 // max(1, len(diff))))
    while done < permutations:
        n = min(chunk, permutations - done)
        signs = rng.integers(0, 2, size=(n, len(diff)), dtype=np.int8) * 2 - 1   # (n, queries)
        means = np.abs(signs @ diff) / len(diff)                                   # (n,)
        hits += int(np.count_nonzero(means >= observed - 1e-12))
        done += n
    return (hits + 1) / (permutations + 1)


def compare_runs(per_query: Mapping[str, Mapping[str, Mapping[str, float]]], metrics: Sequence[str],
                 baseline: str | None = None, test: str = "t-test", alpha: float = 0.05,
                 permutations: int = 10000, seed: int = 0) -> list[Comparison]:
    """Compare every run with ``baseline`` on each metric, on the queries both were scored on.

    Args:
        per_query: ``{run: {query_id: {metric: value}}}`` (e.g. ``EvalResult.per_query`` of each run).
        metrics: the metrics to compare.
        baseline: the baseline run (default: the first).
        test: ``t-test`` or ``randomization``.
        alpha: significance level of :attr:`Comparison.significant`.
        permutations: resamples of the randomization test.
        seed: its seed.

    Returns:
        One :class:`Comparison` per (other run, metric), runs in the given order.

    Raises:
        ConfigError: an unknown test or baseline, fewer than two runs, or two runs without a common query.
    """
    if test not in TESTS:
        raise ConfigError(f"unknown significance test {test!r}; choose from {', '.join(TESTS)}")
    if len(per_query) < 2:
        raise ConfigError("a significance test needs at least two runs")
    names = list(per_query)
    baseline = names[0] if baseline is None else baseline
    if baseline not in per_query:
        raise ConfigError(f"baseline {baseline!r} is not one of the runs: {', '.join(names)}")
    base = per_query[baseline]
    out: list[Comparison] = []
    for name in names:
        if name == baseline:
            continue
        shared = sorted(set(base) & set(per_query[name]))
        if not shared:
            raise ConfigError(f"runs {baseline!r} and {name!r} share no scored query, so they cannot be paired")
        for metric in metrics:
            a = [per_query[name][q].get(metric, 0.0) for q in shared]
            b = [base[q].get(metric, 0.0) for q in shared]
            p = paired_t_test(a, b) if test == "t-test" else randomization_test(a, b, permutations, seed)
            mean, base_mean = float(np.mean(a)), float(np.mean(b))
            out.append(Comparison(run=name, baseline=baseline, metric=metric, mean=mean, baseline_mean=base_mean,
                                  delta=mean - base_mean, p_value=p, test=test, queries=len(shared),
                                  significant=bool(not math.isnan(p) and p < alpha)))
    return out
