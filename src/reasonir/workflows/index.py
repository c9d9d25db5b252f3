"""``reasonir index build|add|delete|info``: write and inspect a persistent index."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..index import (
    ANN_KINDS,
    AnnParams,
    Index,
    IndexOptions,
    RunOptions,
    WriteReport,
    add_documents,
    build_index,
    delete_documents,
    derive_index,
    read_config,
)
from ..index.codecs import codes_info
from ..index.milvus_store import CONSISTENCY_LEVELS, store_info
from ..index.milvus_store import INDEX_TYPES as MILVUS_INDEX_TYPES
from ..outputs import check_input_file

_DEVICE_HELP = "encoder device: auto, cpu, cuda, cuda:1"
_REFINE_HELP = ("ivfpq/sq8/sq4: candidates per result re-scored exactly from the stored vectors "
                "(refine*k candidates; default 10, ivfpq 30)")


@dataclass
class _RunFields:
    device: str = field(default="auto", metadata={"help": _DEVICE_HELP})
    batch_size: int | None = field(default=None, metadata={"help": "encoding batch size (default: per model)"})
    workers: int = field(default=1, metadata={"help": "local encoder processes (CPU cores are split between them)"})
    devices: list[str] = field(default_factory=list, metadata={
        "help": "one encoder process per device, e.g. --devices cuda:0 cuda:1"})
    ray: bool = field(default=False, metadata={"help": "encode on Ray (Ray Data map_batches); needs reasonir[ray]"})
    ray_address: str | None = field(default=None, metadata={"help": "Ray address (default: a local instance)"})
    ray_workers: int = field(default=2, metadata={"help": "Ray encoder actors"})
    ray_gpus_per_worker: float = field(default=0.0, metadata={"help": "GPUs per Ray actor"})
    reuse_vectors: list[str] = field(default_factory=list, metadata={
        "help": "index folders whose encoded shards are reused where they hold the same vectors (same encoder, "
                "instruction, vector dtype, shard size, documents), e.g. a local index moved to --store milvus"})

    def run_options(self) -> RunOptions:
        return RunOptions(device=self.device, batch_size=self.batch_size, workers=self.workers,
                          devices=list(self.devices), ray=self.ray, ray_address=self.ray_address,
                          ray_workers=self.ray_workers, ray_gpus_per_worker=self.ray_gpus_per_worker,
                          reuse_vectors=list(self.reuse_vectors))


@dataclass(kw_only=True)
class _BuildFields:

    corpus: str = field(metadata={
        "positional": True,
        "help": "JSONL file, TSV file (id<TAB>text), BEIR folder, parquet file or "
                "hf:NAME[:CONFIG][@SPLIT][?text=FIELD&id=FIELD&title=FIELD]"})
    index_dir: str = field(metadata={"positional": True, "help": "index directory to create"})
    model: str = field(default="minilm", metadata={"help": "encoder: minilm, smollm2, hash, a Hub id or a folder"})
    dtype: str = field(default="auto", metadata={
        "aliases": ("encoder_dtype",), "help": "encoder compute dtype (the stored vectors: --vector-dtype)",
        "choices": ("auto", "bf16", "fp16", "fp32")})
    max_length: int | None = field(default=None, metadata={"help": "max tokens per document (default: per model)"})
    vector_dtype: str = field(default="fp16", metadata={"help": "stored vector dtype", "choices": ("fp16", "fp32")})
    shard_size: int = field(default=8192, metadata={"help": "rows per vector shard (the unit of resumption)"})
    bm25: bool = field(default=True, metadata={
        "help": "also build BM25, needed by bm25, bm25q and the default hybrid search (--no-bm25: dense only)"})
    k1: float = field(default=0.9, metadata={"help": "BM25 k1"})
    b: float = field(default=0.4, metadata={"help": "BM25 b"})
    ann: str = field(default="none", metadata={"help": "FAISS ANN index (needs reasonir[ann])", "choices": ANN_KINDS})
    hnsw_m: int = field(default=32, metadata={"help": "HNSW links per node"})
    ef_construction: int = field(default=200, metadata={"help": "HNSW efConstruction"})
    ef_search: int = field(default=128, metadata={"help": "HNSW efSearch (default at search time)"})
    nlist: int | None = field(default=None, metadata={"help": "IVF lists (default 4*sqrt(n))"})
    pq_m: int | None = field(default=None, metadata={"help": "PQ sub-quantizers (default dim/8)"})
    nprobe: int = field(default=32, metadata={"help": "IVF lists probed per query (default at search time)"})
    refine: int | None = field(default=None, metadata={"help": _REFINE_HELP})
    instruction: str | None = field(default=None, metadata={"help": "default query instruction for searches"})
    document_instruction: str | None = field(default=None, metadata={"help": "instruction documents are encoded with"})
    overwrite: bool = field(default=False, metadata={
        "help": "discard an existing or unfinished index with other settings"})
    store: str = field(default="local", metadata={
        "help": "where vectors and BM25 weights live: local (this folder), milvus (Milvus Lite in this folder), "
                "milvus:PATH.db (Milvus Lite) or milvus://HOST:PORT[/DB] (a Milvus server; credentials from "
                "MILVUS_TOKEN or MILVUS_USER/MILVUS_PASSWORD); needs reasonir[milvus] unless local"})
    milvus_collection: str | None = field(default=None, metadata={
        "help": "Milvus collection name (default: reasonir_<folder>_<hash of its path>)"})
    milvus_index_type: str = field(default="FLAT", metadata={
        "help": "Milvus vector index (exact FLAT, or approximate for large collections; candidates are re-scored "
                "exactly); uses --hnsw-m/--ef-construction/--ef-search or --nlist/--nprobe/--pq-m",
        "choices": MILVUS_INDEX_TYPES})
    milvus_consistency: str = field(default="Strong", metadata={
        "help": "Milvus consistency level (Strong: a write is seen by the next search)",
        "choices": CONSISTENCY_LEVELS})
    milvus_shards: int = field(default=1, metadata={"help": "Milvus shards of the collection"})

    def milvus_params(self) -> dict[str, Any] | None:
        if self.store == "local":
            return None
        extra = {"nlist": self.nlist} if self.nlist else {}
        return {"collection": self.milvus_collection, "index_type": self.milvus_index_type,
                "consistency": self.milvus_consistency, "shards": self.milvus_shards, "hnsw_m": self.hnsw_m,
                "ef_construction": self.ef_construction, "ef_search": self.ef_search, "nprobe": self.nprobe,
                "pq_m": self.pq_m, **extra}

    def index_options(self) -> IndexOptions:
        params = AnnParams(kind=self.ann if self.ann != "none" else "hnsw", hnsw_m=self.hnsw_m,
                           ef_construction=self.ef_construction, ef_search=self.ef_search, nlist=self.nlist,
                           pq_m=self.pq_m, nprobe=self.nprobe, refine=self.refine)
        return IndexOptions(model=self.model, encoder_dtype=self.dtype, max_length=self.max_length,
                            dtype=self.vector_dtype, shard_size=self.shard_size, bm25=self.bm25, k1=self.k1, b=self.b,
                            ann=self.ann, ann_params=params, query_instruction=self.instruction,
                            document_instruction=self.document_instruction, store=self.store,
                            milvus=self.milvus_params())


@dataclass(kw_only=True)
class IndexBuildConfig(_RunFields, _BuildFields):
    """Options of ``reasonir index build CORPUS INDEX_DIR`` (what to build, then how to run it)."""


@dataclass(kw_only=True)
class _AddFields:
    index_dir: str = field(metadata={"positional": True, "help": "an existing index"})
    corpus: str = field(metadata={"positional": True, "help": "documents to add (any corpus format)"})
    replace: bool = field(default=False, metadata={"help": "replace documents whose id is already in the index"})


@dataclass(kw_only=True)
class IndexAddConfig(_RunFields, _AddFields):
    """Options of ``reasonir index add INDEX_DIR CORPUS``."""


@dataclass
class IndexDeleteConfig:
    """Options of ``reasonir index delete INDEX_DIR IDS...``."""

    index_dir: str = field(metadata={"positional": True, "help": "an existing index"})
    ids: list[str] = field(default_factory=list, metadata={"positional": True, "help": "document ids to delete"})
    ids_file: str | None = field(default=None, metadata={"help": "file with one document id per line"})
    missing_ok: bool = field(default=False, metadata={"help": "skip ids that are not in the index"})


@dataclass
class IndexDeriveConfig:
    """Options of ``reasonir index derive INDEX_DIR --bm25 [--ann KIND]`` (no re-encoding)."""

    index_dir: str = field(metadata={"positional": True, "help": "an existing index"})
    bm25: bool = field(default=False, metadata={"help": "add or rebuild BM25 from the stored texts"})
    k1: float | None = field(default=None, metadata={"help": "BM25 k1 (default: the index's own)"})
    b: float | None = field(default=None, metadata={"help": "BM25 b (default: the index's own)"})
    ann: str | None = field(default=None, metadata={
        "help": "add or rebuild a FAISS ANN index of this kind from the stored vectors, with the index's own "
                "parameters for its kind, else the defaults (needs reasonir[ann])",
        "choices": ANN_KINDS[1:]})
    refine: int | None = field(default=None, metadata={"help": _REFINE_HELP.replace(
        "default 10, ivfpq 30", "default: the index's own, else 10 (ivfpq 30)")})


@dataclass
class IndexInfoConfig:
    """Options of ``reasonir index info INDEX_DIR``."""

    index_dir: str = field(metadata={"positional": True, "help": "an existing index"})
    verify: bool = field(default=False, metadata={"help": "check every file's sha256 against config.json"})


def _need(value: str, what: str) -> str:
    if not value:
        raise ConfigError(f"missing {what}")
    return value


def run_index_build(cfg: IndexBuildConfig) -> WriteReport:
    """Build (or resume building) an index."""
    return build_index(_need(cfg.corpus, "CORPUS"), _need(cfg.index_dir, "INDEX_DIR"), cfg.index_options(),
                       cfg.run_options(), overwrite=cfg.overwrite)


def run_index_add(cfg: IndexAddConfig) -> WriteReport:
    """Add documents to an index (resumable)."""
    return add_documents(_need(cfg.index_dir, "INDEX_DIR"), _need(cfg.corpus, "CORPUS"), replace=cfg.replace,
                         run=cfg.run_options())


def run_index_delete(cfg: IndexDeleteConfig) -> WriteReport:
    """Delete documents by id."""
    ids = list(cfg.ids)
    if cfg.ids_file:
        check_input_file(cfg.ids_file, "the ids file (--ids-file)")
        ids += [line.strip() for line in Path(cfg.ids_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise ConfigError("give the ids to delete (arguments or --ids-file)")
    return delete_documents(_need(cfg.index_dir, "INDEX_DIR"), ids, missing_ok=cfg.missing_ok)


def run_index_derive(cfg: IndexDeriveConfig) -> WriteReport:
    """Add or rebuild BM25/ANN of an index from its stored texts and vectors (nothing is re-encoded)."""
    root = _need(cfg.index_dir, "INDEX_DIR")
    return derive_index(root, bm25=cfg.bm25, k1=cfg.k1, b=cfg.b, ann=cfg.ann, refine=cfg.refine)


def run_index_info(cfg: IndexInfoConfig) -> dict[str, Any]:
    """Summary of an index (``verify``: check every checksum first)."""
    root = _need(cfg.index_dir, "INDEX_DIR")
    if cfg.verify:
        index = Index.open(root, verify=True)
        info = index.info()
        index.close()
        info["verified"] = True
    else:
        conf = read_config(root)
        info = {"documents": conf["counts"]["documents"], "rows": conf["counts"]["rows"],
                "deleted": conf["counts"]["deleted"], "generation": conf["generation"],
                "model": conf["encoder"]["spec"]["model"], "dim": conf["vectors"]["dim"],
                "vector_dtype": conf["vectors"]["dtype"], "shards": len(conf["vectors"]["shards"]),
                "bm25": bool(conf.get("bm25") and conf["bm25"].get("dir")),
                "ann": (conf.get("ann") or {}).get("kind"),
                "ann_recall_at_10": (conf.get("ann") or {}).get("recall_at_10"), **store_info(conf),
                **codes_info(Path(root), conf.get("ann"), conf["vectors"]["dim"], conf["vectors"]["dtype"])}
    info["bytes_on_disk"] = sum(p.stat().st_size for p in Path(root).rglob("*") if p.is_file())
    info["bytes_per_document"] = round(info["bytes_on_disk"] / max(1, info["rows"]), 1)
    return info
