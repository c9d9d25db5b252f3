"""A dependency-free hashing encoder: signed feature hashing of analysed terms, L2-normalised.

It needs no model, no torch and no download, runs anywhere in microseconds per document, and is
deterministic across processes (blake2b, not Python's salted ``hash``). It is a lexical baseline
and the encoder the test suite uses to exercise index, server and pipelines without a neural model;
use ``minilm`` or an LLM encoder for real retrieval quality.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..analysis import Analyzer
from .base import encode_batch, l2_normalize


class HashingEncoder:
    """Signed feature hashing of (stemmed, stop-worded) terms and optional bigrams into ``dim`` buckets.

    Args:
        dim: output dimension.
        bigrams: also hash adjacent term pairs.
    """

    def __init__(self, dim: int = 256, bigrams: bool = True):
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        self._dim = dim
        self.bigrams = bigrams
        self._analyzer = Analyzer()
        self._bucket: dict[str, tuple[int, float]] = {}

    @property
    def dim(self) -> int:
        return self._dim

    def _slot(self, feature: str) -> tuple[int, float]:
        hit = self._bucket.get(feature)
        if hit is None:
            h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
            hit = (h % self._dim, 1.0 if (h >> 63) & 1 else -1.0)
            self._bucket[feature] = hit
        return hit

    def _encode(self, texts: Sequence[str], instruction: str | None) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)            # [n, dim]
        for row, text in enumerate(texts):
            terms = self._analyzer(text)
            feats = terms + ([f"{a} {b}" for a, b in itertools.pairwise(terms)] if self.bigrams else [])
            for f in feats:
                slot, sign = self._slot(f)
                out[row, slot] += sign
        return l2_normalize(out)

    def encode_query(self, texts: str | Sequence[str], instruction: str | None = None,
                     batch_size: int | None = None) -> np.ndarray:
        """Query vectors ``[n, dim]`` (one vector ``[dim]`` for a single string)."""
        return encode_batch(lambda batch: self._encode(batch, instruction), texts)

    def encode_document(self, texts: str | Sequence[str], instruction: str | None = None,
                        batch_size: int | None = None) -> np.ndarray:
        """Document vectors ``[n, dim]`` (one vector ``[dim]`` for a single string)."""
        return encode_batch(lambda batch: self._encode(batch, instruction), texts)

    def __repr__(self) -> str:
        return f"HashingEncoder(dim={self._dim}, bigrams={self.bigrams})"

    def fingerprint(self) -> dict[str, Any]:
        return {"model": "hash", "dim": self._dim, "bigrams": self.bigrams, "analyzer": self._analyzer.config()}
