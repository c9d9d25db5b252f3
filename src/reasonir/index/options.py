"""Options of index writes: what changes the index (``IndexOptions``) and how work runs (``RunOptions``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .ann import ANN_KINDS, AnnParams
from .encoding import STORAGE_DTYPES, EncoderSpec
from .milvus_store import MilvusParams, parse_store


@dataclass
class IndexOptions:
    """Everything that changes the content of an index (recorded in ``config.json``).

    Attributes:
        model: encoder (``minilm``, ``smollm2``, ``hash``, Hub id, folder).
        encoder_dtype: encoder compute dtype.
        max_length: encoder max tokens (``None``: model default).
        dtype: vector storage dtype, ``fp16`` or ``fp32``.
        shard_size: rows per vector shard (the unit of resumption).
        bm25: also build a BM25 index (standard and query-side scoring; on by default, so the default
            ``hybrid`` search works on a default index).
        k1, b: BM25 parameters.
        ann: FAISS index kind: ``none``, ``hnsw`` or ``ivfpq``.
        ann_params: FAISS parameters.
        query_instruction: default instruction for queries at search time.
        document_instruction: instruction documents are encoded with.
        store: where vectors and BM25 weights live: ``local`` (the index folder), ``milvus`` (Milvus Lite in
            the index folder), ``milvus:PATH.db`` or ``milvus://HOST:PORT[/DB]`` (see :mod:`.milvus_store`).
        milvus: Milvus layout (:class:`~reasonir.index.milvus_store.MilvusParams` fields) for a Milvus store.
    """

    model: str = "minilm"
    encoder_dtype: str = "auto"
    max_length: int | None = None
    dtype: str = "fp16"
    shard_size: int = 8192
    bm25: bool = True
    k1: float = 0.9
    b: float = 0.4
    ann: str = "none"
    ann_params: AnnParams = field(default_factory=AnnParams)
    query_instruction: str | None = None
    document_instruction: str | None = None
    store: str = "local"
    milvus: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in STORAGE_DTYPES:
            raise ConfigError(f"unknown vector dtype {self.dtype!r}; choose fp16 or fp32")
        self.dtype = "fp16" if STORAGE_DTYPES[self.dtype] is np.float16 else "fp32"
        if self.ann not in ANN_KINDS:
            raise ConfigError(f"unknown ANN kind {self.ann!r}; choose one of {', '.join(ANN_KINDS)}")
        if self.shard_size < 1:
            raise ConfigError(f"shard_size must be >= 1, got {self.shard_size}")
        if isinstance(self.ann_params, dict):
            self.ann_params = AnnParams.from_dict(self.ann_params)
        self.ann_params.kind = self.ann
        if parse_store(self.store, ".") is None:
            self.store, self.milvus = "local", None
        else:
            if self.ann != "none":
                raise ConfigError(f"--ann {self.ann} builds a FAISS index of the local store; on a Milvus store "
                                  "choose the Milvus index type instead (--milvus-index-type HNSW, IVF_PQ, ...)")
            self.milvus = MilvusParams.from_dict(self.milvus).to_dict()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ann_params"] = self.ann_params.to_dict() if self.ann != "none" else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexOptions:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if d.get("ann_params") is None:
            d.pop("ann_params", None)
        return cls(**d)


@dataclass
class RunOptions:
    """How a write runs; none of these change the result.

    Attributes:
        device: encoder device for in-process encoding.
        batch_size: encoder batch size.
        workers: local encoder processes (> 1: multi-process encoding).
        devices: one local process per device, e.g. ``["cuda:0", "cuda:1"]``.
        ray: encode on Ray (Ray Data ``map_batches``).
        ray_address: Ray cluster address (``None``: local instance).
        ray_workers: Ray encoder actors.
        ray_gpus_per_worker: GPUs per Ray actor.
        reuse_vectors: other index folders whose encoded shards are reused where they hold exactly the
            vectors a shard needs (same encoder, instruction, dtype, rows, ids and texts), e.g. to move a
            local index into Milvus without encoding again.
    """

    device: str = "auto"
    batch_size: int | None = None
    workers: int = 1
    devices: list[str] = field(default_factory=list)
    ray: bool = False
    ray_address: str | None = None
    ray_workers: int = 2
    ray_gpus_per_worker: float = 0.0
    reuse_vectors: list[str] = field(default_factory=list)

    def encoder_spec(self, opts: IndexOptions) -> EncoderSpec:
        return EncoderSpec(model=opts.model, dtype=opts.encoder_dtype, device=self.device,
                           max_length=opts.max_length, batch_size=self.batch_size)
