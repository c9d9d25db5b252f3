"""Exact inner-product search over an index's memory-mapped fp16/fp32 shards.

The kernel is :func:`reasonir.retrieve.dense.dense_search` (blocked, threaded, bounded memory); this
module keeps the index's argument names (``shards``, ``block_rows``) and its default depth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..retrieve.dense import dense_search


def exact_search(query_emb: np.ndarray, shards: Sequence[np.ndarray] | np.ndarray, k: int = 10,
                 deleted: np.ndarray | None = None, excluded: Sequence[Sequence[int]] | None = None,
                 block_rows: int | None = None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` inner-product search over row-ordered shards (see :func:`~reasonir.retrieve.dense.dense_search`).

    Args:
        query_emb: ``[nq, d]`` query vectors.
        shards: ``[n_i, d]`` fp16/fp32 arrays (memmaps welcome), concatenated in order.
        k: results per query.
        deleted: boolean ``[n]`` mask of rows never to return (tombstones, filtered-out rows).
        excluded: per query, global rows never to return.
        block_rows: rows scored per step and thread (default: the kernel's).
        threads: worker threads (default: the CPU count, at most 8).

    Returns:
        ``(rows [nq, k] int64, scores [nq, k] float32)`` best first, padded with ``-1``/``-inf``.
    """
    return dense_search(query_emb, shards, k, excluded=excluded, chunk_size=block_rows, deleted=deleted,
                        threads=threads)
