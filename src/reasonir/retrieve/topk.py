"""Deterministic top-k selection over score arrays, shared by BM25 and dense search.

Ties are broken by document index (ascending), so the same scores always give the same ranking,
whatever the chunking or batching.
"""

from __future__ import annotations

import numpy as np


def topk_1d(scores: np.ndarray, k: int, min_score: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries of a 1-D array, best first.

    Args:
        scores: ``[n]`` scores; ``-inf`` entries are never returned.
        k: how many to return (fewer if fewer qualify).
        min_score: when given, only entries strictly greater than it are returned.
    """
    floor = -np.inf if min_score is None else min_score
    cand = np.flatnonzero(scores > floor)
    if cand.size > k:
        vals = scores[cand]
        part = np.argpartition(-vals, k - 1)[:k]
        kth = vals[part].min()
        # keep every candidate tied with the k-th value so the tie-break below is exact
        cand = cand[vals >= kth]
    order = np.lexsort((cand, -scores[cand].astype(np.float64)))[:k]
    idx = cand[order]
    return idx, scores[idx]


def merge_topk(idx_a: np.ndarray, val_a: np.ndarray, idx_b: np.ndarray, val_b: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge two per-query top-k lists (``[nq, ka]`` and ``[nq, kb]``) into the best ``k`` per row.

    Padding entries carry index ``-1`` and value ``-inf``.
    """
    idx = np.concatenate([idx_a, idx_b], axis=1)          # [nq, ka+kb]
    val = np.concatenate([val_a, val_b], axis=1)          # [nq, ka+kb]
    # sort by (-value, index); padding (-inf) sinks to the end
    sort_idx = np.where(idx < 0, np.iinfo(np.int64).max, idx)
    order = np.lexsort((sort_idx, -val.astype(np.float64)), axis=1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(val, order, axis=1)


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row top-k of a ``[nq, n]`` matrix with deterministic ties; pads with (-1, -inf)."""
    nq, n = scores.shape
    kk = min(k, n)
    if kk == 0:
        return np.full((nq, k), -1, dtype=np.int64), np.full((nq, k), -np.inf, dtype=scores.dtype)
    if kk < n:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]     # [nq, kk]
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)  # [nq, 1]
        has_ties = (scores >= kth).sum(axis=1) > kk
    else:
        part = np.broadcast_to(np.arange(n), (nq, n)).copy()
        has_ties = np.zeros(nq, dtype=bool)
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals.astype(np.float64)), axis=1)
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    val = np.take_along_axis(vals, order, axis=1)
    for r in np.flatnonzero(has_ties):  # rare: ties straddle the k-th place, resolve exactly
        i, v = topk_1d(scores[r], kk, min_score=-np.inf)
        idx[r, : len(i)], val[r, : len(i)] = i, v
    if kk < k:
        pad_i = np.full((nq, k - kk), -1, dtype=np.int64)
        pad_v = np.full((nq, k - kk), -np.inf, dtype=scores.dtype)
        idx, val = np.concatenate([idx, pad_i], 1), np.concatenate([val, pad_v], 1)
    return idx, val
