"""The ``Encoder`` protocol every dense model implements, and helpers shared by all encoders.

An encoder maps texts to L2-normalised ``float32`` vectors ``[n, d]``; queries and documents may be
encoded differently (instructions, prefixes), so the two sides have their own methods, named as in
sentence-transformers. ``fingerprint()`` describes everything that changes the vectors (model id and
revision, dtype, max length, pooling, ...) and keys caches and index configs.

Every encoder takes either a list of texts (-> ``[n, d]``) or a single string (-> one vector
``[d]``), as sentence-transformers does (:func:`reasonir.types.as_text_batch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..types import as_text_batch


@runtime_checkable
class Encoder(Protocol):
    """A bi-encoder: ``encode_query`` / ``encode_document`` return L2-normalised ``[n, d]`` float32.

    Given a single string instead of a list, they return one vector ``[d]``.
    """

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        ...

    def encode_query(self, texts: str | Sequence[str], instruction: str | None = None,
                     batch_size: int | None = None) -> np.ndarray:
        ...

    def encode_document(self, texts: str | Sequence[str], instruction: str | None = None,
                        batch_size: int | None = None) -> np.ndarray:
        ...

    def fingerprint(self) -> dict[str, Any]:
        """JSON-serialisable description of everything that changes the output vectors."""
        ...


def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of L2-normalised vectors: ``[n, d] x [m, d] -> [n, m]``."""
    return np.asarray(a, dtype=np.float32) @ np.asarray(b, dtype=np.float32).T   # [n, d] x [d, m]


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in float32 (zero rows stay zero)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)                                  # [n, 1]
    return x / np.maximum(norms, eps)


def check_texts(texts: str | Sequence[str]) -> list[str]:
    """``texts`` as a list of ``str`` (a single string is one text); anything else raises ``InputError``."""
    return as_text_batch(texts, "texts")[0]


def encode_batch(fn: Callable[[list[str]], np.ndarray], texts: str | Sequence[str]) -> np.ndarray:
    """Apply ``fn`` (a list of texts -> ``[n, d]``) under the texts rule: a single string gives ``[d]``.

    Raises:
        InputError: when ``texts`` is neither a string nor a collection of strings.
    """
    batch, single = as_text_batch(texts, "texts")
    out = fn(batch)
    return out[0] if single else out
