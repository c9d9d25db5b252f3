"""The embeddings folder ``reasonir encode`` writes: shard plan, input keys, resuming, reading it back.

Output folder::

    embeddings-00000.npy ...   float32 [rows, dim], L2-normalised, row-aligned with ids.json
    ids.json                   the document (or query) ids in order
    config.json                written last (its presence marks completion)
    progress.json              while running: what the finished shards belong to (for resuming)

A shard is reused only when ``progress.json`` says it was encoded from the very same inputs (see
:func:`shard_key`); everything else is encoded again. The command itself is
:func:`reasonir.workflows.encode.run_encode`; this module owns the format, beside the index's own shards.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import read_json_object


def shard_key(identity: dict[str, Any], instruction: str, side: str, ids: list[str], texts: list[str]) -> str:
    """sha256 over everything that determines a shard's vectors: encoder, instruction, side, ids and texts in order."""
    h = hashlib.sha256(json.dumps([identity, instruction, side], sort_keys=True, default=str).encode("utf-8"))
    for doc_id, text in zip(ids, texts):
        for s in (doc_id, text):
            b = s.encode("utf-8", "surrogatepass")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
    return h.hexdigest()


def plan_shards(shard_size: int, identity: dict[str, Any], instruction: str, side: str, ids: list[str],
                texts: list[str]) -> list[dict[str, Any]]:
    """One entry per shard: file name, first row, rows and the key of its inputs."""
    plan = []
    for s, start in enumerate(range(0, len(ids), shard_size)):
        end = min(len(ids), start + shard_size)
        plan.append({"file": f"embeddings-{s:05d}.npy", "start": start, "rows": end - start,
                     "key": shard_key(identity, instruction, side, ids[start:end], texts[start:end])})
    return plan


def inputs_state(identity: dict[str, Any], instruction: str, side: str, count: int, shard_size: int,
                 plan: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``progress.json`` records of the inputs, with ``fingerprint``: sha256 of them and every shard key."""
    inputs = {"encoder": identity, "instruction": instruction, "side": side, "count": count,
              "shard_size": shard_size, "shards": [p["key"] for p in plan]}
    return {"fingerprint": hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode("utf-8")).hexdigest(),
            "encoder": identity, "instruction": instruction, "side": side, "count": count, "shard_size": shard_size}


def clear_encoding(out: Path) -> None:
    """Remove every file an encoding writes in ``out`` (nothing else)."""
    for name in ("config.json", "progress.json", "ids.json"):
        (out / name).unlink(missing_ok=True)
    for pattern in ("embeddings-*.npy", ".embeddings-*.tmp", ".config.json.*.tmp", ".progress.json.*.tmp",
                    ".ids.json.*.tmp"):
        for old in out.glob(pattern):
            old.unlink()


def reusable_shards(out: Path, state: dict[str, Any], overwrite: bool) -> dict[str, str]:
    """``{shard file: input key}`` of shards an interrupted run of these very inputs finished (see module doc).

    Raises:
        ConfigError: ``out`` holds a finished encoding (without ``overwrite``) or a partial one of other inputs.
    """
    if overwrite:
        clear_encoding(out)                    # --overwrite starts from an empty output: nothing is reused
        return {}
    if (out / "config.json").exists():
        raise ConfigError(f"{out} already holds a finished encoding; pass --overwrite true or choose another folder")
    progress_file = out / "progress.json"
    if not progress_file.exists():
        clear_encoding(out)                    # shards with no record of their inputs are never trusted
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


def shard_matches(path: Path, rows: int, dim: int) -> bool:
    """Whether ``path`` holds a readable ``[rows, dim]`` array."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return False
    return arr.shape == (rows, dim)


def load_encoded(out_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a finished ``reasonir encode`` folder: ``(ids, vectors [n, d])`` (shards memory-mapped, stacked)."""
    out = Path(out_dir)
    cfg_file = out / "config.json"
    if not cfg_file.exists():
        raise ConfigError(f"{out}: no config.json; the encoding is unfinished or this is not an encode folder")
    cfg = read_json_object(cfg_file, "an encoding config")
    ids = json.loads((out / cfg.get("ids", "ids.json")).read_text(encoding="utf-8"))
    parts = [np.load(out / s["file"], mmap_mode="r", allow_pickle=False) for s in cfg["shards"]]
    vectors = np.concatenate(parts) if parts else np.zeros((0, cfg["dim"]), dtype=np.float32)
    if vectors.shape[0] != len(ids):
        raise ConfigError(f"{out}: {vectors.shape[0]} vectors for {len(ids)} ids")
    return ids, vectors
