"""An on-disk embedding cache: ``.npy`` shards + JSON id lists, keyed by everything that changes a vector.

Layout under the cache root (default ``<cache dir>/embeddings``)::

    <key>/config.json            the key's inputs: encoder fingerprint, side, instruction
    <key>/shard-<uuid>.npy       float32 [n, d] vectors (memory-mapped on read)
    <key>/shard-<uuid>.ids.json  the n text hashes, row-aligned with the .npy

``key = hash(encoder.fingerprint(), side, instruction)``; the fingerprint carries the model id and
revision, dtype, max length, pooling, prompt format and instruction-data version, and each row is
found by the blake2b hash of its text. Shards are immutable and written atomically (vectors first,
ids last; a shard without its ids file is ignored), so concurrent writers never corrupt each other.
Nothing is pickled (``np.load(..., allow_pickle=False)``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write, write_json
from .base import encode_batch
from .fingerprint import stable_hash

logger = logging.getLogger(__name__)

SIDES = ("query", "document")


def text_hash(text: str) -> str:
    """Stable 128-bit hex digest of a text (UTF-8)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class EmbeddingCache:
    """Embedding store keyed by (encoder fingerprint, side, instruction, text).

    Args:
        root: cache folder (default: ``reasonir.embedded.cache_dir() / "embeddings"``).
    """

    def __init__(self, root: str | os.PathLike | None = None):
        if root is None:
            from ..embedded import cache_dir

            root = cache_dir() / "embeddings"
        self.root = Path(root)

    def key(self, fingerprint: dict[str, Any], side: str, instruction: str | None) -> str:
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        return stable_hash({"fingerprint": fingerprint, "side": side, "instruction": instruction or ""})

    def _load_index(self, folder: Path) -> tuple[dict[str, tuple[int, int]], list[np.ndarray]]:
        index: dict[str, tuple[int, int]] = {}
        arrays: list[np.ndarray] = []
        for ids_file in sorted(folder.glob("shard-*.ids.json")):
            npy = ids_file.with_name(ids_file.name.removesuffix(".ids.json") + ".npy")
            if not npy.exists():
                continue
            try:
                ids = json.loads(ids_file.read_text(encoding="utf-8"))
                arr = np.load(npy, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                logger.warning("%s: unreadable cache shard skipped (%s)", npy, exc)
                continue
            if arr.ndim != 2 or len(ids) != arr.shape[0]:
                logger.warning("%s: shard shape %s does not match %d ids; skipped", npy, arr.shape, len(ids))
                continue
            s = len(arrays)
            arrays.append(arr)
            for row, h in enumerate(ids):
                index[h] = (s, row)
        return index, arrays

    def _write_shard(self, folder: Path, hashes: list[str], vectors: np.ndarray) -> None:
        name = f"shard-{uuid.uuid4().hex}"
        with atomic_write(folder / f"{name}.npy", "wb") as fh:
            np.save(fh, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        write_json(folder / f"{name}.ids.json", hashes, indent=None)

    def encode(self, encoder: Any, texts: str | Sequence[str], side: str = "document",
               instruction: str | None = None, batch_size: int | None = None) -> np.ndarray:
        """Vectors for ``texts``: cached rows are read, the rest encoded, stored, and returned in order.

        Returns:
            ``float32 [len(texts), encoder.dim]`` (``[dim]`` for a single string).
        """
        return encode_batch(lambda batch: self._encode(encoder, batch, side, instruction, batch_size), texts)

    def _encode(self, encoder: Any, texts: list[str], side: str, instruction: str | None,
                batch_size: int | None) -> np.ndarray:
        fp = encoder.fingerprint()
        folder = self.root / self.key(fp, side, instruction)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "config.json").exists():
            write_json(folder / "config.json", {"fingerprint": fp, "side": side, "instruction": instruction or ""})
        index, arrays = self._load_index(folder)
        hashes = [text_hash(t) for t in texts]
        out = np.zeros((len(texts), encoder.dim), dtype=np.float32)                     # [n, d]
        missing: dict[str, list[int]] = {}
        for i, h in enumerate(hashes):
            hit = index.get(h)
            if hit is None:
                missing.setdefault(h, []).append(i)
            else:
                out[i] = arrays[hit[0]][hit[1]]
        logger.info("embedding cache %s: %d of %d %s texts cached", folder.name[:12], len(texts) - sum(
            len(v) for v in missing.values()), len(texts), side)
        if missing:
            todo = list(missing)
            first = [missing[h][0] for h in todo]
            encode = encoder.encode_query if side == "query" else encoder.encode_document
            new = encode([texts[i] for i in first], instruction=instruction, batch_size=batch_size)  # [m, d]
            for h, vec in zip(todo, new):
                out[missing[h]] = vec
            self._write_shard(folder, todo, new)
        return out


class CachedEncoder:
    """An :class:`~reasonir.encode.base.Encoder` that reads and fills an :class:`EmbeddingCache`."""

    def __init__(self, encoder: Any, cache: EmbeddingCache | None = None):
        self.encoder = encoder
        self.cache = cache or EmbeddingCache()

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def encode_query(self, texts: str | Sequence[str], instruction: str | None = None,
                     batch_size: int | None = None) -> np.ndarray:
        """Query vectors ``[n, d]`` (``[d]`` for a single string), from the cache where possible."""
        return self.cache.encode(self.encoder, texts, "query", instruction, batch_size)

    def encode_document(self, texts: str | Sequence[str], instruction: str | None = None,
                        batch_size: int | None = None) -> np.ndarray:
        """Document vectors ``[n, d]`` (``[d]`` for a single string), from the cache where possible."""
        return self.cache.encode(self.encoder, texts, "document", instruction, batch_size)

    def fingerprint(self) -> dict[str, Any]:
        return self.encoder.fingerprint()

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, cache={str(self.cache.root)!r})"

    def __getattr__(self, name: str) -> Any:          # similarity, settings, save, ... of the wrapped encoder
        if name == "encoder":
            raise AttributeError(name)
        return getattr(self.encoder, name)
