"""Exact dense search over L2-normalised vectors in bounded memory.

Document vectors may be memory-mapped ``.npy`` shards (fp16 or fp32) of any size: they are scored in
chunks of ``chunk_size`` rows (converted to fp32 once per chunk, then one ``[nq_block, d] x [d, chunk]``
matmul per block of queries), and a running top-k per query is merged after each chunk. Memory is
``O(nq·k + chunk·d + _BLOCK_CELLS)`` whatever the corpus size. Ties are broken by document index, so
rankings do not depend on the chunk size, the query blocking or how the corpus is sharded (beyond
the last-bit rounding differences BLAS may make between matmul shapes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError
from .topk import merge_topk, topk_rows

_BLOCK_CELLS = 1 << 23   # scores per query-block x chunk matmul (32 MiB of float32)


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


def dense_search(query_emb: np.ndarray, doc_emb: np.ndarray | Sequence[np.ndarray], k: int = 1000,
                 excluded: Sequence[Sequence[int]] | None = None, chunk_size: int = 65536,
                 deleted: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner-product (= cosine for unit vectors) search.

    Args:
        query_emb: ``[nq, d]`` query vectors.
        doc_emb: ``[n, d]`` document vectors, or a list of shards ``[n_i, d]`` concatenated in order
            (numpy arrays or ``np.load(..., mmap_mode="r")`` memory maps, fp16 or fp32).
        k: results per query.
        excluded: per query, global document indices never to return.
        chunk_size: document rows scored per step (bounds memory).
        deleted: optional boolean mask ``[n]`` of documents never to return (tombstones).

    Returns:
        ``(indices [nq, k] int64, scores [nq, k] float32)``, best first, ties by lower index;
        padded with ``-1``/``-inf`` when fewer than ``k`` documents qualify.

    Raises:
        ConfigError: on non-positive ``k``/``chunk_size`` or mismatched shapes.
    """
    if chunk_size <= 0:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
    q, shards = check_search_inputs(query_emb, doc_emb, k)
    nq = q.shape[0]
    total = sum(int(s.shape[0]) for s in shards)
    if deleted is not None:
        deleted = np.asarray(deleted, dtype=bool)
        if deleted.shape != (total,):
            raise ConfigError(f"deleted mask has shape {deleted.shape}, expected ({total},) for {total} documents")
    excl_rows = None
    if excluded is not None:
        if len(excluded) != nq:
            raise ConfigError(f"excluded has {len(excluded)} entries for {nq} queries")
        excl_rows = [np.unique(np.asarray(e, dtype=np.int64)) for e in excluded]
    best_i = np.full((nq, k), -1, dtype=np.int64)
    best_v = np.full((nq, k), -np.inf, dtype=np.float32)
    rows_per_block = max(1, _BLOCK_CELLS // min(chunk_size, max(total, 1)))
    base = 0
    for shard in shards:
        for start in range(0, shard.shape[0], chunk_size):
            chunk = np.asarray(shard[start:start + chunk_size], dtype=np.float32)   # [c, d]
            lo, hi = base + start, base + start + chunk.shape[0]
            dead = np.flatnonzero(deleted[lo:hi]) if deleted is not None else None
            for q0 in range(0, nq, rows_per_block):
                q1 = min(nq, q0 + rows_per_block)
                scores = q[q0:q1] @ chunk.T                                         # [b, d] x [d, c] -> [b, c]
                if dead is not None and dead.size:
                    scores[:, dead] = -np.inf
                if excl_rows is not None:
                    for r in range(q0, q1):
                        ex = excl_rows[r]
                        sel = ex[np.searchsorted(ex, lo):np.searchsorted(ex, hi)] - lo
                        if sel.size:
                            scores[r - q0, sel] = -np.inf
                ci, cv = topk_rows(scores, min(k, chunk.shape[0]))                  # [b, kc] chunk-local
                ci = np.where(ci >= 0, ci + lo, -1)
                best_i[q0:q1], best_v[q0:q1] = merge_topk(best_i[q0:q1], best_v[q0:q1], ci, cv, k)
        base += shard.shape[0]
    best_i = np.where(np.isfinite(best_v), best_i, -1)
    return best_i, best_v.astype(np.float32)
