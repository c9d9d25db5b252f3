"""Exact dense search over L2-normalised vectors in bounded memory: the one kernel every caller uses.

Document vectors may be memory-mapped ``.npy`` shards (fp16 or fp32) of any size; the index, the dense
retriever and hard-negative mining all search through :func:`dense_search`:

* the rows are cut into blocks of ``chunk_size`` that are scored by ``threads`` worker threads (a
  pool kept for the process), each with its own scratch buffer and running top-k (numpy and BLAS
  release the GIL); a search over fewer than :data:`PARALLEL_MIN_VALUES` stored values runs in the
  calling thread, where starting workers would cost more than the scan (5,000 x 384 fp16 rows:
  about 9 ms per query with two workers, under 3 ms without); BLAS runs one thread per worker;
* an fp16 block is converted to fp32 once into a reused buffer (with torch's vectorised conversion
  once torch is loaded or the process has converted enough values to pay for importing it, see
  :data:`TORCH_AFTER_VALUES`; numpy otherwise; an fp32 block is used in place), then scored with one
  single-threaded sgemm ``[nq, d] x [d, block]``;
* after the first block, only scores above a query's current k-th best can enter its top-k, so the
  per-block selection touches a handful of candidates instead of partitioning every row.

Ties are broken by document index, so rankings do not depend on the block size, the thread count or
how the corpus is sharded (beyond the last-bit rounding differences BLAS may make between matmul
shapes). Memory: ``threads · chunk_size · (d + nq) · 4`` bytes of scratch plus ``O(nq·k)``, whatever
the corpus size; the shards are read through the page cache.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..errors import ConfigError
from .topk import merge_topk, topk_rows

#: stored values (rows x dimension) below which a search runs in the calling thread
PARALLEL_MIN_VALUES = 1 << 23

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The process's search workers (created on first use, reused by every search)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(min(os.cpu_count() or 1, 8), thread_name_prefix="reasonir-search")
        return _POOL


def check_search_inputs(query_emb: np.ndarray, doc_emb: np.ndarray | Sequence[np.ndarray],
                        k: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Validate a dense search's inputs.

    Returns:
        ``(queries [nq, d] float32 C-contiguous, document shards as a list)``.

    Raises:
        ConfigError: on a non-positive ``k``, queries that are not 2-D, or shards of another width.
    """
    if k <= 0:
        raise ConfigError(f"k must be positive, got {k}")
    q = np.ascontiguousarray(query_emb, dtype=np.float32)                          # [nq, d]
    if q.ndim != 2:
        raise ConfigError(f"query embeddings must be 2-D [nq, d], got shape {q.shape}")
    shards = [doc_emb] if isinstance(doc_emb, np.ndarray) else list(doc_emb)
    for shard in shards:
        if shard.ndim != 2 or shard.shape[1] != q.shape[1]:
            raise ConfigError(f"document shard of shape {shard.shape} does not match query dim {q.shape[1]}")
    return q, shards


#: fp16 values this process converts with numpy before it imports torch for the conversion. Measured on a
#: 2-core AVX2 EPYC, idle: 100k x 384 fp16 -> fp32 takes 76 ms in numpy and 8 ms in torch, importing
#: torch 2.4 s, so the import pays for itself after ~1.4e9 values. Converting that many first and only
#: then importing (the rent-or-buy rule) costs at most twice the better choice made in hindsight: a
#: one-off search of a small index never loads torch, a process searching a large one soon does.
TORCH_AFTER_VALUES = 1_500_000_000
_converted = [0]


def _get_torch(values: int = 0) -> Any:
    """torch for the fp16 -> fp32 conversion: when this process has imported it already, or once it has
    converted :data:`TORCH_AFTER_VALUES` values with numpy (and torch is installed); else None."""
    torch = sys.modules.get("torch")
    if torch is not None or not values:
        return torch
    _converted[0] += values
    if _converted[0] < TORCH_AFTER_VALUES:
        return None
    try:
        import torch
    except ImportError:
        _converted[0] = -(1 << 62)   # not installed: stop trying
        return None
    return torch


def _to_fp32(src: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``src`` ([r, d], fp16/fp32, maybe a memmap view) as fp32: itself if it is already, else copied to ``out[:r]``."""
    if src.dtype == np.float32 and src.flags.c_contiguous:
        return src
    dst = out[:src.shape[0]]
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

    def _merge_block(self, scores: np.ndarray, base: int) -> None:
        ci, cv = topk_rows(scores, min(self.k, scores.shape[1]))
        ci = np.where(ci >= 0, ci + base, -1)
        self.idx, self.val = merge_topk(self.idx, self.val, ci, cv, self.k)

    def push(self, scores: np.ndarray, base: int) -> None:
        """Add a block of scores ``[nq, c]`` for rows ``base .. base+c-1``."""
        nq = scores.shape[0]
        if self.idx.shape[1] < self.k:   # not full yet: full per-block selection
            self._merge_block(scores, base)
            return
        # earlier rows win ties, so a later row must beat the current k-th score strictly
        thr = self.val[:, -1:]                                    # [nq, 1]
        rows, cols = np.nonzero(scores > thr)
        if rows.size == 0:
            return
        counts = np.bincount(rows, minlength=nq)
        width = int(counts.max())
        if width > 4 * self.k:   # many candidates (unlucky order): partition the block instead
            self._merge_block(scores, base)
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


def _default_block(shards: Sequence[np.ndarray], nq: int, total: int, threads: int) -> int:
    """Rows per block: fp16 blocks small enough that the fp32 copy stays in cache (4096 for up to 8
    queries, 16384 for batches); fp32 blocks are used in place, so one large block per thread."""
    if all(s.dtype == np.float32 for s in shards):
        return min(65536, max(4096, -(-total // max(1, threads))))
    return 4096 if nq <= 8 else 16384


def dense_search(query_emb: np.ndarray, doc_emb: np.ndarray | Sequence[np.ndarray], k: int = 1000,
                 excluded: Sequence[Sequence[int]] | None = None, chunk_size: int | None = None,
                 deleted: np.ndarray | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner-product (= cosine for unit vectors) search.

    Args:
        query_emb: ``[nq, d]`` query vectors.
        doc_emb: ``[n, d]`` document vectors, or a list of shards ``[n_i, d]`` concatenated in order
            (numpy arrays or ``np.load(..., mmap_mode="r")`` memory maps, fp16 or fp32).
        k: results per query.
        excluded: per query, global document indices never to return.
        chunk_size: document rows scored per step and thread (default: for fp16, 4096 for up to 8
            queries, so the converted block stays in cache for the matrix-vector products, 16384 for
            batches; for fp32, an equal share of the rows per thread, at most 65536).
        deleted: optional boolean mask ``[n]`` of documents never to return (tombstones, or documents
            a metadata filter rejects).
        threads: worker threads (default: the CPU count, at most 8).

    Returns:
        ``(indices [nq, k] int64, scores [nq, k] float32)``, best first, ties by lower index;
        padded with ``-1``/``-inf`` when fewer than ``k`` documents qualify.

    Raises:
        ConfigError: on non-positive ``k``/``chunk_size`` or mismatched shapes.
    """
    if chunk_size is not None and chunk_size <= 0:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
    q, shards = check_search_inputs(query_emb, doc_emb, k)
    nq, dim = q.shape
    total = sum(int(s.shape[0]) for s in shards)
    if deleted is not None:
        deleted = np.asarray(deleted, dtype=bool)
        if deleted.shape != (total,):
            raise ConfigError(f"deleted mask has shape {deleted.shape}, expected ({total},) for {total} documents")
    excl = None
    if excluded is not None:
        if len(excluded) != nq:
            raise ConfigError(f"excluded has {len(excluded)} entries for {nq} queries")
        excl = [np.unique(np.asarray(e, dtype=np.int64)) for e in excluded]
    if threads is None:
        threads = min(os.cpu_count() or 1, 8) if total * dim >= PARALLEL_MIN_VALUES else 1
    block_rows = chunk_size or _default_block(shards, nq, total, threads)
    blocks = _blocks(shards, block_rows)
    threads = max(1, min(threads, len(blocks) or 1))
    if any(sh.dtype == np.float16 for sh in shards):
        _get_torch(total * dim)   # counts the values this search converts; may import torch (see above)

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
                    sel = ex[np.searchsorted(ex, base):np.searchsorted(ex, base + hi - lo)] - base
                    if sel.size:
                        scores[r, sel] = -np.inf
            top.push(scores, base)
        return top

    # contiguous ranges per thread keep each thread's rows in increasing order
    parts = [[blocks[i] for i in p] for p in np.array_split(np.arange(len(blocks)), threads) if len(p)]
    # one BLAS/torch thread per worker: nested thread pools spinning on the same cores are far slower (and
    # a small search in one thread gains nothing from waking BLAS's threads, which then spin beside the
    # caller's next step, e.g. a server's query encoder)
    with _single_threaded():
        tops = [work(parts[0] if parts else [])] if len(parts) <= 1 else list(_pool().map(work, parts))
    idx, val = tops[0].idx, tops[0].val
    for t in tops[1:]:
        idx, val = merge_topk(idx, val, t.idx, t.val, k)
    if idx.shape[1] < k:
        pad = k - idx.shape[1]
        idx = np.concatenate([idx, np.full((nq, pad), -1, dtype=np.int64)], 1)
        val = np.concatenate([val, np.full((nq, pad), -np.inf, dtype=np.float32)], 1)
    idx = np.where(np.isfinite(val), idx, -1)
    return idx, val.astype(np.float32)


@contextlib.contextmanager
def _single_threaded() -> Iterator[None]:
    """Limit BLAS (and torch, when loaded) to one thread each while our own threads split the work."""
    from ..encode.runtime import blas_threads

    torch = _get_torch()
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with blas_threads(1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)
