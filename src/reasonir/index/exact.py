"""Fast exact inner-product search over memory-mapped fp16/fp32 shards, in bounded memory.

Same contract and results as :func:`reasonir.retrieve.dense_search` (top-k by score, ties by row,
tombstones and per-query exclusions, ``-1``/``-inf`` padding) but built for large corpora:

* the rows are cut into blocks of ``block_rows`` that are scored by ``threads`` worker threads, each
  with its own scratch buffers and running top-k (numpy and BLAS release the GIL);
* an fp16 block is converted to fp32 once into a reused buffer (with torch's vectorised conversion
  when torch is installed, numpy otherwise), then scored with one single-threaded sgemm
  ``[nq, d] x [d, block]``;
* after the first block, only scores above a query's current k-th best can enter its top-k, so the
  per-block selection touches a handful of candidates instead of partitioning every row.

Memory: ``threads · block_rows · (d + nq) · 4`` bytes of scratch plus ``O(nq·k)``, whatever the
corpus size; the shards are read through the page cache.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..retrieve.dense import check_search_inputs
from ..retrieve.topk import merge_topk, topk_rows

_torch: Any = None      # the torch module; False when it is not installed; None until first looked up


def _get_torch():
    """torch if installed (its fp16 -> fp32 conversion is ~3x faster than numpy's on AVX2), else None."""
    global _torch
    if _torch is None:
        if importlib.util.find_spec("torch") is None:
            _torch = False
        else:
            import torch

            _torch = torch
    return _torch or None


def _to_fp32(src: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Copy ``src`` ([r, d], fp16/fp32, maybe a memmap view) into ``out[:r]`` as fp32."""
    r = src.shape[0]
    dst = out[:r]
    torch = _get_torch() if src.dtype == np.float16 else None
    if torch is not None and src.flags.writeable and src.flags.c_contiguous:
        torch.from_numpy(dst).copy_(torch.from_numpy(src))   # writeable: memmaps opened copy-on-write
    else:
        np.copyto(dst, src, casting="unsafe")
    return dst


class _TopK:
    """A running per-query top-k over rows seen in increasing order."""

    def __init__(self, nq: int, k: int):
        self.k = k
        self.idx = np.full((nq, 0), -1, dtype=np.int64)
        self.val = np.full((nq, 0), -np.inf, dtype=np.float32)

    def push(self, scores: np.ndarray, base: int) -> None:
        """Add a block of scores ``[nq, c]`` for rows ``base .. base+c-1``."""
        nq, c = scores.shape
        if self.idx.shape[1] < self.k:   # not full yet: full per-block selection
            ci, cv = topk_rows(scores, min(self.k, c))
            ci = np.where(ci >= 0, ci + base, -1)
            self.idx, self.val = merge_topk(self.idx, self.val, ci, cv, self.k)
            return
        # earlier rows win ties, so a later row must beat the current k-th score strictly
        thr = self.val[:, -1:]                                    # [nq, 1]
        rows, cols = np.nonzero(scores > thr)
        if rows.size == 0:
            return
        counts = np.bincount(rows, minlength=nq)
        width = int(counts.max())
        if width > 4 * self.k:   # many candidates (unlucky order): partition the block instead
            ci, cv = topk_rows(scores, min(self.k, c))
            ci = np.where(ci >= 0, ci + base, -1)
            self.idx, self.val = merge_topk(self.idx, self.val, ci, cv, self.k)
            return
        # scatter the candidates into a padded [nq, width] block (np.nonzero is row-major ordered)
        pos = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
        cand_i = np.full((nq, width), -1, dtype=np.int64)
        cand_v = np.full((nq, width), -np.inf, dtype=np.float32)
        cand_i[rows, pos] = cols + base
        cand_v[rows, pos] = scores[rows, cols]
        self.idx, self.val = merge_topk(self.idx, self.val, cand_i, cand_v, self.k)


def _blocks(shards: Sequence[np.ndarray], block_rows: int) -> list[tuple[int, int, int, int]]:
    """``(shard, lo, hi, global_base)`` for every block, in row order."""
    out, base = [], 0
    for s, shard in enumerate(shards):
        n = shard.shape[0]
        for lo in range(0, n, block_rows):
            out.append((s, lo, min(n, lo + block_rows), base + lo))
        base += n
    return out


def exact_search(query_emb: np.ndarray, shards: Sequence[np.ndarray] | np.ndarray, k: int = 10,
                 deleted: np.ndarray | None = None, excluded: Sequence[Sequence[int]] | None = None,
                 block_rows: int | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner-product search over row-ordered shards.

    Args:
        query_emb: ``[nq, d]`` query vectors.
        shards: ``[n_i, d]`` fp16/fp32 arrays (memmaps welcome), concatenated in order.
        k: results per query.
        deleted: boolean ``[n]`` mask of rows never to return (tombstones).
        excluded: per query, global rows never to return.
        block_rows: rows scored per step and thread (default: 4096 for up to 8 queries, so the
            converted block stays in cache for the matrix-vector products; 16384 for batches).
        threads: worker threads (default: the CPU count, at most 8).

    Returns:
        ``(rows [nq, k] int64, scores [nq, k] float32)`` best first, padded with ``-1``/``-inf``.
    """
    q, shards = check_search_inputs(query_emb, shards, k)
    nq, dim = q.shape
    excl = None
    if excluded is not None:
        if len(excluded) != nq:
            raise ConfigError(f"excluded has {len(excluded)} entries for {nq} queries")
        excl = [np.asarray(sorted(e), dtype=np.int64) for e in excluded]
    block_rows = block_rows or (4096 if nq <= 8 else 16384)
    blocks = _blocks(shards, block_rows)
    threads = max(1, min(threads or min(os.cpu_count() or 1, 8), len(blocks) or 1))
    def work(part: list[tuple[int, int, int, int]]) -> _TopK:
        top = _TopK(nq, k)
        buf = np.empty((block_rows, dim), dtype=np.float32)
        for s, lo, hi, base in part:
            block = _to_fp32(shards[s][lo:hi], buf)                 # [c, d]
            scores = q @ block.T                                    # [nq, d] x [d, c] -> [nq, c]
            if deleted is not None:
                dead = np.flatnonzero(deleted[base:base + hi - lo])
                if dead.size:
                    scores[:, dead] = -np.inf
            if excl is not None:
                for r, ex in enumerate(excl):
                    if ex.size:
                        sel = ex[(ex >= base) & (ex < base + hi - lo)] - base
                        scores[r, sel] = -np.inf
            top.push(scores, base)
        return top

    # contiguous ranges per thread keep each thread's rows in increasing order
    parts = [list(p) for p in np.array_split(np.arange(len(blocks)), threads)]
    parts = [[blocks[i] for i in p] for p in parts if len(p)]
    # one BLAS/torch thread per worker: nested thread pools spinning on the same cores are far slower
    with _BlasSingleThread():
        if len(parts) == 1:
            tops = [work(parts[0])]
        else:
            with ThreadPoolExecutor(len(parts)) as pool:
                tops = list(pool.map(work, parts))
    idx, val = tops[0].idx, tops[0].val
    for t in tops[1:]:
        idx, val = merge_topk(idx, val, t.idx, t.val, k)
    if idx.shape[1] < k:
        pad = k - idx.shape[1]
        idx = np.concatenate([idx, np.full((nq, pad), -1, dtype=np.int64)], 1)
        val = np.concatenate([val, np.full((nq, pad), -np.inf, dtype=np.float32)], 1)
    idx = np.where(np.isfinite(val), idx, -1)
    return idx, val.astype(np.float32)


class _BlasSingleThread:
    """Limit BLAS (and torch) to one thread each while our own threads split the work."""

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(1)
        except ImportError:   # pragma: no cover
            self._limits = None
        self._torch = _get_torch()
        self._torch_threads = None
        if self._torch is not None:
            self._torch_threads = self._torch.get_num_threads()
            self._torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self._limits is not None:
            self._limits.unregister()
        if self._torch_threads is not None:
            self._torch.set_num_threads(self._torch_threads)
