"""Fusion of several retrievers' results: reciprocal-rank fusion and normalised score interpolation.

* **RRF** (Cormack et al., 2009): ``score(d) = Σ_s w_s / (rrf_k + rank_s(d))`` with 1-based ranks in
  each system's list; a document absent from a list gets nothing from it. ``rrf_k = 60`` by default.
* **Interpolation** (ReasonIR's hybrid: ``0.5 · dense + 0.5 · BM25``): ``score(d) = Σ_s w_s · norm_s(d)``
  where ``norm_s`` is **min-max normalisation per query over the union of candidates**:
  ``(x - min) / (max - min)`` over the scores system ``s`` gives to every candidate any system
  returned (all zeros when ``max == min``). A candidate missing from system ``s``'s list takes the
  lowest score ``s`` returned for that query (so it normalises to 0) — unless the caller supplies
  the true score, as :class:`reasonir.index.Index` does by scoring the whole union with both systems.

Both work on :data:`~reasonir.types.Run` dicts and on dense arrays; ties in the fused ranking are
broken by document id (runs) or by position (arrays), so results are deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from ..types import Run, top_k

FUSIONS = ("interpolate", "rrf")
DEFAULT_RRF_K = 60.0


def _weights(weights: Sequence[float] | None, n: int) -> list[float]:
    if weights is None:
        return [1.0 / n] * n if n else []
    w = [float(x) for x in weights]
    if len(w) != n:
        raise ConfigError(f"got {len(w)} fusion weights for {n} result lists; give one weight per list")
    if any(x < 0 for x in w) or not any(w):
        raise ConfigError(f"fusion weights must be non-negative and not all zero, got {w}")
    return w


def minmax(scores: np.ndarray) -> np.ndarray:
    """Min-max normalise a 1-D array to ``[0, 1]`` (all zeros when constant; ``-inf`` entries -> 0)."""
    x = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    lo, hi = x[finite].min(), x[finite].max()
    out = np.zeros_like(x)
    if hi > lo:
        out[finite] = (x[finite] - lo) / (hi - lo)
    return out


def interpolate_arrays(score_lists: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """``Σ w_s · minmax(scores_s)`` over aligned 1-D score arrays of the same candidates."""
    w = _weights(weights, len(score_lists))
    total = np.zeros(len(score_lists[0]) if score_lists else 0, dtype=np.float64)
    for ws, s in zip(w, score_lists):
        if len(s) != len(total):
            raise ConfigError("interpolated score arrays must be aligned (same candidates, same order)")
        total += ws * minmax(s)
    return total


def rrf_arrays(rank_lists: Sequence[np.ndarray], weights: Sequence[float] | None = None,
               rrf_k: float = DEFAULT_RRF_K) -> np.ndarray:
    """``Σ w_s / (rrf_k + rank_s)`` over aligned 1-based rank arrays (``0`` or negative = not ranked)."""
    if rrf_k < 0:
        raise ConfigError(f"rrf_k must be >= 0, got {rrf_k}")
    w = _weights(weights, len(rank_lists))
    total = np.zeros(len(rank_lists[0]) if rank_lists else 0, dtype=np.float64)
    for ws, ranks in zip(w, rank_lists):
        r = np.asarray(ranks, dtype=np.float64)
        total += np.where(r > 0, ws / (rrf_k + np.where(r > 0, r, 1.0)), 0.0)
    return total


def reciprocal_rank_fusion(runs: Sequence[Run], weights: Sequence[float] | None = None,
                           rrf_k: float = DEFAULT_RRF_K, k: int | None = None) -> Run:
    """Fuse runs by reciprocal rank (ranks by score, ties by doc id); keeps the top ``k`` if given."""
    w = _weights(weights, len(runs))
    fused: Run = {}
    for qid in dict.fromkeys(q for run in runs for q in run):
        acc: dict[str, float] = {}
        for ws, run in zip(w, runs):
            for rank, (doc_id, _) in enumerate(top_k(run.get(qid, {}), 0), start=1):
                acc[doc_id] = acc.get(doc_id, 0.0) + ws / (rrf_k + rank)
        fused[qid] = dict(top_k(acc, k or 0))
    return fused


def interpolate(runs: Sequence[Run], weights: Sequence[float] | None = None, k: int | None = None) -> Run:
    """Fuse runs by min-max-normalised score interpolation over each query's union of candidates."""
    w = _weights(weights, len(runs))
    fused: Run = {}
    for qid in dict.fromkeys(q for run in runs for q in run):
        lists = [run.get(qid, {}) for run in runs]
        union = list(dict.fromkeys(d for docs in lists for d in docs))
        arrays = []
        for docs in lists:
            floor = min(docs.values()) if docs else 0.0
            arrays.append(np.asarray([docs.get(d, floor) for d in union], dtype=np.float64))
        scores = interpolate_arrays(arrays, w)
        fused[qid] = dict(top_k(dict(zip(union, scores.tolist())), k or 0))
    return fused


def fuse(runs: Sequence[Run], method: str = "interpolate", weights: Sequence[float] | None = None,
         rrf_k: float = DEFAULT_RRF_K, k: int | None = None) -> Run:
    """Fuse runs with ``method`` (``"interpolate"`` or ``"rrf"``)."""
    if method == "interpolate":
        return interpolate(runs, weights, k)
    if method == "rrf":
        return reciprocal_rank_fusion(runs, weights, rrf_k, k)
    raise ConfigError(f"unknown fusion {method!r}; choose one of {', '.join(FUSIONS)}")


def parse_weights(spec: str | Sequence[float] | None, n: int = 2) -> list[float] | None:
    """Parse ``"0.5,0.5"`` (or a sequence) into ``n`` weights."""
    if spec is None or spec == "":
        return None
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    try:
        w = [float(x) for x in parts]
    except ValueError:
        raise ConfigError(f"fusion weights {spec!r}: expected {n} comma-separated numbers, e.g. 0.5,0.5") from None
    return _weights(w, n)
