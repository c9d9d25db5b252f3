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
from ..index.encoding import fingerprint_identity
from ..index.state import fsync_dir
from ..io import atomic_write, read_corpus, read_queries, write_json
from ..outputs import check_output_dir, writing

logger = logging.getLogger(__name__)

SIDES = ("document", "query")


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


def _shard_key(identity: dict[str, Any], instruction: str, side: str, ids: list[str], texts: list[str]) -> str:
    """sha256 over everything that determines a shard's vectors: encoder, instruction, side, ids and texts in order."""
    h = hashlib.sha256(json.dumps([identity, instruction, side], sort_keys=True, default=str).encode("utf-8"))
    for doc_id, text in zip(ids, texts):
        for s in (doc_id, text):
            b = s.encode("utf-8", "surrogatepass")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
    return h.hexdigest()


def _plan(cfg: EncodeConfig, identity: dict[str, Any], ids: list[str], texts: list[str]) -> list[dict[str, Any]]:
    """One entry per shard: file name, first row, rows and the key of its inputs."""
    plan = []
    for s, start in enumerate(range(0, len(ids), cfg.shard_size)):
        end = min(len(ids), start + cfg.shard_size)
        plan.append({"file": f"embeddings-{s:05d}.npy", "start": start, "rows": end - start,
                     "key": _shard_key(identity, cfg.instruction or "", cfg.side, ids[start:end], texts[start:end])})
    return plan


def _clear(out: Path) -> None:
    """Remove every file an encoding writes in ``out`` (nothing else)."""
    for name in ("config.json", "progress.json", "ids.json"):
        (out / name).unlink(missing_ok=True)
    for pattern in ("embeddings-*.npy", ".embeddings-*.tmp", ".config.json.*.tmp", ".progress.json.*.tmp",
                    ".ids.json.*.tmp"):
        for old in out.glob(pattern):
            old.unlink()


def _reusable(out: Path, state: dict[str, Any], overwrite: bool) -> dict[str, str]:
    """``{shard file: input key}`` of shards an interrupted run of these very inputs finished (see module doc).

    Raises:
        ConfigError: ``out`` holds a finished encoding (without ``overwrite``) or a partial one of other inputs.
    """
    if overwrite:
        _clear(out)                    # --overwrite starts from an empty output: nothing is reused
        return {}
    if (out / "config.json").exists():
        raise ConfigError(f"{out} already holds a finished encoding; pass --overwrite true or choose another folder")
    progress_file = out / "progress.json"
    if not progress_file.exists():
        _clear(out)                    # shards with no record of their inputs are never trusted
        return {}
    try:
        previous = json.loads(progress_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        previous = None
    if not isinstance(previous, dict) or previous.get("fingerprint") != state["fingerprint"]:
        raise ConfigError(f"{out} holds a partial encoding of other texts or with another model or instruction; "
                          "pass --overwrite true to discard it, or choose another folder")
    done = previous.get("done")
    return dict(done) if isinstance(done, dict) else {}


def _load_shard(path: Path, rows: int, dim: int) -> bool:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return arr.shape == (rows, dim)


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
    plan = _plan(cfg, identity, ids, texts)
    inputs = {"encoder": identity, "instruction": cfg.instruction or "", "side": cfg.side, "count": len(ids),
              "shard_size": cfg.shard_size, "shards": [p["key"] for p in plan]}
    state = {"fingerprint": hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode("utf-8")).hexdigest(),
             "encoder": identity, "instruction": cfg.instruction or "", "side": cfg.side, "count": len(ids),
             "shard_size": cfg.shard_size}
    out.mkdir(parents=True, exist_ok=True)
    progress_file = out / "progress.json"
    done = _reusable(out, state, cfg.overwrite)
    with writing("the encoding progress record", progress_file):
        write_json(progress_file, {**state, "done": done})

    encode = encoder.encode_query if cfg.side == "query" else encoder.encode_document
    shards, encoded, t0 = [], 0, time.perf_counter()
    for shard in plan:
        name, start, rows = shard["file"], shard["start"], shard["rows"]
        path = out / name
        entry = {"file": name, "rows": rows, "key": shard["key"]}
        if done.get(name) == shard["key"] and _load_shard(path, rows, encoder.dim):
            shards.append(entry)
            logger.info("%s: already encoded from these texts with this encoder, kept", name)
            continue
        vectors = encode(texts[start:start + rows], instruction=cfg.instruction, batch_size=cfg.batch_size)
        with writing(f"embedding shard {name}", path):
            with atomic_write(path, "wb") as fh:
                np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
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
              "versions": _versions()}
    with writing("the encoding's ids.json and config.json", out):
        write_json(out / "ids.json", ids, indent=None)
        write_json(out / "config.json", config)      # the commit point: written last
        fsync_dir(out)
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
