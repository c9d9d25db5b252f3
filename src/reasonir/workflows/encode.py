"""``reasonir encode CORPUS OUT_DIR --model M``: embed a corpus into ``.npy`` shards + ``ids.json`` + ``config.json``.

Output folder::

    embeddings-00000.npy ...   float32 [rows, dim], L2-normalised, row-aligned with ids.json
    ids.json                   the document (or query) ids in order
    config.json                written last: the resolved config, encoder fingerprint, shard list,
                               counts, timing and library versions (its presence marks completion)
    progress.json              while running: what the finished shards belong to (for resuming)

Every file is written atomically. An interrupted run resumes: shards already written for the same
encoder fingerprint, instruction and id list are kept, the rest are encoded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import to_dict
from ..errors import ConfigError
from ..io import atomic_write, read_corpus, read_queries, write_json

logger = logging.getLogger(__name__)

SIDES = ("document", "query")


@dataclass
class EncodeConfig:
    """Options of ``reasonir encode``."""

    corpus: str = field(metadata={"positional": True, "help": "corpus JSONL/parquet/BEIR folder, a dataset "
                                  "spec (beir:PATH, bright:TASK@DIR), or a queries file with --side query"})
    out_dir: str = field(metadata={"positional": True, "help": "output folder for the shards"})
    model: str = field(default="minilm", metadata={"help": "minilm, smollm2, hash, a Hub id or a model folder"})
    dtype: str = field(default="auto", metadata={"help": "encoder dtype", "choices": ("auto", "bf16", "fp16", "fp32")})
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


def _ids_digest(ids: list[str]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for i in ids:
        h.update(i.encode("utf-8") + b"\0")
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("reasonir", "numpy", "torch", "transformers", "sentence-transformers"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def run_encode(cfg: EncodeConfig, encoder: Any = None) -> EncodeOutcome:
    """Embed ``cfg.corpus`` into ``cfg.out_dir`` (resumable; see the module docstring).

    Args:
        cfg: the command's options.
        encoder: an already loaded encoder (default: ``load_encoder(cfg.model, ...)``).

    Raises:
        ConfigError: bad options, or ``out_dir`` holds a different finished/partial encoding.
    """
    if cfg.shard_size <= 0:
        raise ConfigError(f"shard_size must be positive, got {cfg.shard_size}")
    out = Path(cfg.out_dir)
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
    state = {"fingerprint": fingerprint, "instruction": cfg.instruction or "", "side": cfg.side,
             "ids": _ids_digest(ids), "count": len(ids), "shard_size": cfg.shard_size}
    out.mkdir(parents=True, exist_ok=True)
    progress_file = out / "progress.json"
    if progress_file.exists():
        previous = json.loads(progress_file.read_text(encoding="utf-8"))
        if previous != state:
            if not cfg.overwrite:
                raise ConfigError(f"{out} holds a partial encoding with another model, instruction or corpus; "
                                  f"pass --overwrite true or choose another folder")
            for old in out.glob("embeddings-*.npy"):
                old.unlink()
    if cfg.overwrite and (out / "config.json").exists():
        (out / "config.json").unlink()
    write_json(progress_file, state)

    encode = encoder.encode_query if cfg.side == "query" else encoder.encode_document
    shards, encoded, t0 = [], 0, time.perf_counter()
    for s, start in enumerate(range(0, len(ids), cfg.shard_size)):
        name = f"embeddings-{s:05d}.npy"
        rows = min(cfg.shard_size, len(ids) - start)
        path = out / name
        if path.exists():
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
                if arr.shape == (rows, encoder.dim):
                    shards.append({"file": name, "rows": rows})
                    logger.info("%s: already encoded, kept", name)
                    continue
            except (OSError, ValueError):
                pass
        vectors = encode(texts[start:start + rows], instruction=cfg.instruction, batch_size=cfg.batch_size)
        with atomic_write(path, "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        shards.append({"file": name, "rows": rows})
        encoded += rows
    seconds = time.perf_counter() - t0
    write_json(out / "ids.json", ids, indent=None)
    config = {"command": "EncodeConfig", "config": to_dict(cfg), "source": source, "encoder": fingerprint,
              "instruction": cfg.instruction or "", "side": cfg.side, "dim": encoder.dim, "count": len(ids),
              "dtype": "float32", "normalized": True, "shards": shards, "ids": "ids.json",
              "seconds": round(seconds, 3), "texts_per_second": round(encoded / seconds, 2) if seconds else None,
              "versions": _versions()}
    write_json(out / "config.json", config)
    progress_file.unlink(missing_ok=True)
    logger.info("encoded %d of %d texts in %.1fs into %s", encoded, len(ids), seconds, out)
    return EncodeOutcome(out_dir=out, count=len(ids), dim=encoder.dim, seconds=seconds, encoded=encoded,
                         config=config)


def load_encoded(out_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a finished ``reasonir encode`` folder: ``(ids, vectors [n, d])`` (shards memory-mapped, stacked)."""
    out = Path(out_dir)
    cfg_file = out / "config.json"
    if not cfg_file.exists():
        raise ConfigError(f"{out}: no config.json; the encoding is unfinished or this is not an encode folder")
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    ids = json.loads((out / cfg.get("ids", "ids.json")).read_text(encoding="utf-8"))
    parts = [np.load(out / s["file"], mmap_mode="r", allow_pickle=False) for s in cfg["shards"]]
    vectors = np.concatenate(parts) if parts else np.zeros((0, cfg["dim"]), dtype=np.float32)
    if vectors.shape[0] != len(ids):
        raise ConfigError(f"{out}: {vectors.shape[0]} vectors for {len(ids)} ids")
    return ids, vectors
