"""Deterministic top-k selection over score arrays, shared by BM25 and dense search.

Ties are broken by document index (ascending), so the same scores always give the same ranking,
whatever the chunking or batching. ``-inf`` marks entries that must never be returned; the
results are padded with index ``-1`` and value ``-inf`` when fewer than ``k`` entries qualify.
"""

from __future__ import annotations

import numpy as np


def _order_desc(idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Permutation sorting ``(idx, vals)`` by value descending, then index ascending (``idx`` ascending on entry).

    Sorts one packed ``uint64`` key (float32 image of the value, then the index) with numpy's SIMD
    sort, several times faster than an indirect stable argsort of float64; values that collide in
    float32 are detected afterwards and fall back to the exact stable argsort.
    """
    if idx.size < 64 or idx.size >= 1 << 32:
        return np.argsort(-vals, kind="stable")
    bits = vals.astype(np.float32).view(np.uint32)
    ascending = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31))      # order-preserving map
    key = (~ascending).astype(np.uint64) << np.uint64(32)                   # descending value ...
    key |= np.arange(idx.size, dtype=np.uint64)                             # ... then position (= index order)
    key.sort()
    order = (key & np.uint64(0xFFFFFFFF)).astype(np.int64)
    v = vals[order]
    if not ((v[:-1] > v[1:]) | ((v[:-1] == v[1:]) & (order[:-1] < order[1:]))).all():
        return np.argsort(-vals, kind="stable")
    return order


def topk_1d(scores: np.ndarray, k: int, min_score: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the ``k`` largest entries of a 1-D array, best first, ties by index.

    Args:
        scores: ``[n]`` scores; ``-inf`` entries are never returned.
        k: how many to return (fewer if fewer qualify).
        min_score: when given, only entries strictly greater than it are returned.
    """
    floor = -np.inf if min_score is None else min_score
    cand = np.flatnonzero(scores > floor)                  # ascending indices
    vals = scores[cand]
    if cand.size > k:
        kth = np.partition(vals, cand.size - k)[cand.size - k]
        keep = vals >= kth                                 # the top k plus anything tied with the k-th
        cand, vals = cand[keep], vals[keep]
    order = _order_desc(cand, vals)[:k]
    return cand[order], vals[order]


def merge_topk(idx_a: np.ndarray, val_a: np.ndarray, idx_b: np.ndarray, val_b: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge two per-query top-k lists (``[nq, ka]`` and ``[nq, kb]``) into the best ``k`` per row.

    Padding entries carry index ``-1`` and value ``-inf``; the same index must not appear in both.
    """
    idx = np.concatenate([idx_a, idx_b], axis=1)          # [nq, ka+kb]
    val = np.concatenate([val_a, val_b], axis=1)          # [nq, ka+kb]
    # sort by (-value, index); padding (-inf) sinks to the end
    sort_idx = np.where(idx < 0, np.iinfo(np.int64).max, idx)
    order = np.lexsort((sort_idx, -val.astype(np.float64)), axis=1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(val, order, axis=1)


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row top-k of a ``[nq, n]`` matrix, best first, ties by index; ``-inf`` entries are padding.

    Returns:
        ``(indices [nq, k] int64, values [nq, k])``; rows with fewer than ``k`` finite entries end
        with ``(-1, -inf)``.
    """
    nq, n = scores.shape
    kk = min(k, n)
    if kk == 0:
        return np.full((nq, k), -1, dtype=np.int64), np.full((nq, k), -np.inf, dtype=scores.dtype)
    if kk < n:
        part = np.argpartition(scores, n - kk, axis=1)[:, n - kk:]                    # [nq, kk]
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1)                   # [nq]
        # rows whose finite k-th value is shared by entries left out: take the lowest-index ties
        ties = np.isfinite(kth) & ((scores >= kth[:, None]).sum(axis=1) > kk)
        for r in np.flatnonzero(ties):
            above = np.flatnonzero(scores[r] > kth[r])
            part[r] = np.concatenate([above, np.flatnonzero(scores[r] == kth[r])[: kk - above.size]])
        part.sort(axis=1)                                                            # index order ...
    else:
        part = np.broadcast_to(np.arange(n), (nq, n))
    vals = np.take_along_axis(scores, part, axis=1)                                  # [nq, kk]
    order = np.argsort(-vals, axis=1, kind="stable")                                 # ... kept among ties
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    val = np.take_along_axis(vals, order, axis=1)
    idx[np.isneginf(val)] = -1
    if kk < k:
        pad_i = np.full((nq, k - kk), -1, dtype=np.int64)
        pad_v = np.full((nq, k - kk), -np.inf, dtype=scores.dtype)
        idx, val = np.concatenate([idx, pad_i], 1), np.concatenate([val, pad_v], 1)
    return idx, val
