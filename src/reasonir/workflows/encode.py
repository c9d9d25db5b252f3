"""``reasonir encode CORPUS OUT_DIR --model M``: embed a corpus into ``.npy`` shards + ``ids.json`` + ``config.json``.

Output folder::

    embeddings-00000.npy ...   float32 [rows, dim], L2-normalised, row-aligned with ids.json
    ids.json                   the document (or query) ids in order
    config.json                written last: the resolved config, encoder fingerprint, shard list,
                               counts, timing and library versions (its presence marks completion)
    progress.json              while running: what the finished shards belong to (for resuming)

Every file is written atomically. An interrupted run resumes: a shard is kept only when
``progress.json`` records that it was encoded from the very same texts (ids and texts, in order) by
the same encoder (model + revision, dtype, max length, pooling...) with the same instruction and
side; everything else is encoded. ``config.json`` records the fingerprint of those inputs
(``inputs_fingerprint``) and each shard's input key. ``--overwrite`` starts from an empty folder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import to_dict
from ..errors import ConfigError
from ..index.embedding_folder import inputs_state, load_encoded, plan_shards, reusable_shards, shard_matches
from ..index.encoding import fingerprint_identity, write_shard
from ..index.state import fsync_dir
from ..io import read_corpus, read_queries, write_json
from ..outputs import check_output_dir, writing
from ..versions import installed_versions

logger = logging.getLogger(__name__)

SIDES = ("document", "query")
#: the packages whose versions config.json records
VERSIONED_PACKAGES = ("reasonir", "numpy", "torch", "transformers", "sentence-transformers")
__all__ = ["SIDES", "EncodeConfig", "EncodeOutcome", "load_encoded", "run_encode"]


@dataclass
class EncodeConfig:
    """Options of ``reasonir encode``."""

    corpus: str = field(metadata={"positional": True, "help": "corpus JSONL/parquet/BEIR folder, a dataset "
                                  "spec (beir:PATH, bright:TASK@DIR), or a queries file with --side query"})
    out: str = field(metadata={"aliases": ("out_dir",), "help": "output folder for the shards"})
    model: str = field(default="minilm", metadata={"help": "minilm, smollm2, hash, a Hub id or a model folder"})
    dtype: str = field(default="auto", metadata={
        "help": "encoder compute dtype", "choices": ("auto", "bf16", "fp16", "fp32")})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, or a comma-separated list"})
    batch_size: int | None = field(default=None, metadata={"help": "encoding batch size (default: per model)"})
    max_length: int | None = field(default=None, metadata={"help": "max tokens per text (default: per model)"})
    instruction: str | None = field(default=None, metadata={"help": "instruction for every text (default: none)"})
    side: str = field(default="document", metadata={"help": "encode as documents or queries", "choices": SIDES})
    shard_size: int = field(default=50000, metadata={"help": "rows per .npy shard"})
    overwrite: bool = field(default=False, metadata={"help": "replace a finished output folder"})


@dataclass
class EncodeOutcome:
    out_dir: Path
    count: int
    dim: int
    seconds: float
    encoded: int
    config: dict[str, Any]


def _load_texts(cfg: EncodeConfig) -> tuple[list[str], list[str], str]:
    """(ids, texts, description of the source)."""
    scheme, sep, _ = cfg.corpus.partition(":")
    if cfg.side == "query":
        queries = read_queries(cfg.corpus)
        return list(queries), list(queries.values()), cfg.corpus
    if sep and scheme in ("beir", "bright"):
        from ..data import parse_dataset_spec

        docs = parse_dataset_spec(cfg.corpus).require_corpus()
    else:
        docs = read_corpus(cfg.corpus)
    return [d.id for d in docs], [d.full_text for d in docs], cfg.corpus


def run_encode(cfg: EncodeConfig, encoder: Any = None) -> EncodeOutcome:
    """Embed ``cfg.corpus`` into ``cfg.out`` (resumable; see the module docstring).

    Args:
        cfg: the command's options.
        encoder: an already loaded encoder (default: ``load_encoder(cfg.model, ...)``).

    Raises:
        ConfigError: bad options, or ``out`` holds a different finished/partial encoding.
    """
    if cfg.shard_size <= 0:
        raise ConfigError(f"shard_size must be positive, got {cfg.shard_size}")
    out = check_output_dir(cfg.out, "the encoding output (--out)")
    if (out / "config.json").exists() and not cfg.overwrite:
        raise ConfigError(f"{out} already holds a finished encoding; pass --overwrite true or choose another folder")
    ids, texts, source = _load_texts(cfg)
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: duplicate ids; every text needs a unique id")
    if encoder is None:
        from ..encode.loading import load_encoder

        encoder = load_encoder(cfg.model, dtype=cfg.dtype, device=cfg.device, max_length=cfg.max_length,
                               batch_size=cfg.batch_size)
    fingerprint = encoder.fingerprint()
    identity = fingerprint_identity(fingerprint)
    plan = plan_shards(cfg.shard_size, identity, cfg.instruction or "", cfg.side, ids, texts)
    state = inputs_state(identity, cfg.instruction or "", cfg.side, len(ids), cfg.shard_size, plan)
    out.mkdir(parents=True, exist_ok=True)
    progress_file = out / "progress.json"
    done = reusable_shards(out, state, cfg.overwrite)
    with writing("the encoding progress record", progress_file):
        write_json(progress_file, {**state, "done": done})

    encode = encoder.encode_query if cfg.side == "query" else encoder.encode_document
    shards, encoded, t0 = [], 0, time.perf_counter()
    for shard in plan:
        name, start, rows = shard["file"], shard["start"], shard["rows"]
        path = out / name
        entry = {"file": name, "rows": rows, "key": shard["key"]}
        if done.get(name) == shard["key"] and shard_matches(path, rows, encoder.dim):
            shards.append(entry)
            logger.info("%s: already encoded from these texts with this encoder, kept", name)
            continue
        vectors = encode(texts[start:start + rows], instruction=cfg.instruction, batch_size=cfg.batch_size)
        with writing(f"embedding shard {name}", path):
            write_shard(path, np.asarray(vectors, dtype=np.float32))
            done[name] = shard["key"]
            write_json(progress_file, {**state, "done": done})
        shards.append(entry)
        encoded += rows
    seconds = time.perf_counter() - t0
    config = {"command": "EncodeConfig", "config": to_dict(cfg), "source": source, "encoder": fingerprint,
              "instruction": cfg.instruction or "", "side": cfg.side, "dim": encoder.dim, "count": len(ids),
              "dtype": "float32", "normalized": True, "shards": shards, "ids": "ids.json",
              "inputs_fingerprint": state["fingerprint"],
              "seconds": round(seconds, 3), "texts_per_second": round(encoded / seconds, 2) if seconds else None,
              "versions": installed_versions(VERSIONED_PACKAGES)}
    with writing("the encoding's ids.json and config.json", out):
        write_json(out / "ids.json", ids, indent=None)
        write_json(out / "config.json", config)      # the commit point: written last
        fsync_dir(out)
    progress_file.unlink(missing_ok=True)
    logger.info("encoded %d of %d texts in %.1fs into %s", encoded, len(ids), seconds, out)
    return EncodeOutcome(out_dir=out, count=len(ids), dim=encoder.dim, seconds=seconds, encoded=encoded,
                         config=config)
