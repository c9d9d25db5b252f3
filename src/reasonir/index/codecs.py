"""Compressed vector codes for collections whose fp16 vectors do not fit in memory.

A compressed index keeps only small codes in memory and the fp16 (or fp32) shards on disk,
memory-mapped. A query scans the codes for a candidate pool of ``refine · k`` rows, then re-scores
those candidates exactly from the stored vectors (:func:`reasonir.index.ann.rescore`), so the scores
returned are the exact ones and only the candidates' rows of the shards are read from disk.

The codecs (FAISS, extra ``ann``), with their resident bytes per ``d``-dimensional vector:

* ``sq8``: scalar quantisation to 8 bits per dimension with a per-dimension range (min and scale
  trained on a sample), ``d`` bytes, half of fp16; the scan covers every code;
* ``sq4``: the same with 4 bits per dimension, ``d/2`` bytes, a quarter of fp16;
* ``ivfpq`` (see :mod:`reasonir.index.ann`): ``pq_m`` bytes of product-quantisation code plus an
  8-byte id per vector in ``nlist`` inverted lists, of which ``nprobe`` are scanned per query.

``refine`` sets the candidate pool: a larger pool costs more random reads of the shards and raises
recall against exact search. Its default depends on the codec (:func:`default_refine`): the scalar
codes keep each dimension and rank well with 10 candidates per result; product quantisation keeps
much less (1 byte per 8 dimensions) and needs 30 (measured on 1M clustered 384-d vectors: recall@10
0.697 with 10, 0.966 with 30; ``benchmarks/results/scale_vectors.md``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

#: scalar-quantisation codecs and FAISS's quantiser type name for each
SQ_KINDS = {"sq8": "QT_8bit", "sq4": "QT_4bit"}

#: candidates re-scored exactly per result (``refine · k`` candidates for ``k`` results), per codec
DEFAULT_REFINE = {"sq8": 10, "sq4": 10, "ivfpq": 30}

#: vectors sampled to train the per-dimension ranges of a scalar quantiser
SQ_TRAIN_SAMPLE = 65536


def is_sq(kind: str) -> bool:
    return kind in SQ_KINDS


def build_sq(faiss: Any, kind: str, dim: int, train: np.ndarray) -> Any:
    """An empty FAISS scalar-quantiser index (inner product) with per-dimension ranges trained on ``train``.

    Args:
        faiss: the FAISS module.
        kind: ``sq8`` or ``sq4``.
        dim: vector dimension.
        train: ``[n, dim]`` float32 sample of the stored vectors.
    """
    qtype = getattr(faiss.ScalarQuantizer, SQ_KINDS[kind])
    index = faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    return index


def code_bytes_per_vector(kind: str, dim: int, params: dict[str, Any] | None = None) -> float | None:
    """Resident bytes per vector of a codec (``None`` for HNSW, whose graph size varies).

    ``ivfpq`` counts its PQ code and the 8-byte id each inverted list keeps per vector.
    """
    params = params or {}
    if kind == "sq8":
        return float(dim)
    if kind == "sq4":
        return dim / 2
    if kind == "ivfpq":
        pq_m = params.get("pq_m") or default_pq_m(dim)
        nbits = params.get("nbits") or 8
        return pq_m * nbits / 8 + 8
    return None


def default_refine(kind: str) -> int:
    """Candidates re-scored per result when the index does not say (10 for ``hnsw`` and the scalar codes)."""
    return DEFAULT_REFINE.get(kind, 10)


def default_pq_m(dim: int) -> int:
    """IVF-PQ sub-quantizers by default: ``dim/8`` when it divides ``dim`` (1 byte per 8 dimensions)."""
    return next(m for m in (dim // 8, dim // 4, dim // 2, dim, 1) if m and dim % m == 0)


def codes_info(root: Path, ann: dict[str, Any] | None, dim: int, vector_dtype: str) -> dict[str, Any]:
    """What ``index info`` says about the in-memory codes: codec, bytes per vector, candidate pool.

    ``codes_fraction_of_vectors`` compares the resident codes with the stored vectors (fp16: ``2·d``
    bytes per vector), which stay on disk.
    """
    if not ann or not ann.get("file"):
        return {}
    params = ann.get("params") or {}
    per_vec = code_bytes_per_vector(ann["kind"], dim, params)
    stored = dim * (2 if vector_dtype == "fp16" else 4)
    path = root / ann["file"]
    out: dict[str, Any] = {
        "ann_file_bytes": os.path.getsize(path) if path.exists() else None,
        "ann_refine": (params.get("refine") or default_refine(ann["kind"])) if ann["kind"] != "hnsw" else None,
    }
    if per_vec is not None:
        out["codes_bytes_per_vector"] = per_vec
        out["codes_fraction_of_vectors"] = round(per_vec / stored, 4)
    return out
