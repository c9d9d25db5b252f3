"""Request limits and the checks of request fields that plain pydantic constraints cannot say.

The request models themselves are built in :func:`reasonir.serve.app.create_app` (their bounds
come from the limits). Every field is checked before any work starts: a bad value gets a 422 whose
body names the field. Numbers must be finite (``NaN``/``Infinity``, which Python's JSON parser
accepts, are refused) and a query must hold more than whitespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["dense", "bm25", "bm25q", "hybrid"]


@dataclass
class ServeLimits:
    """Request limits (each rejected with a 4xx that names the limit)."""

    max_body_bytes: int = 1 << 20
    max_query_chars: int = 32768
    max_k: int = 1000
    max_candidates: int = 10000
    max_embedding_inputs: int = 256
    max_batch: int = 32
    batch_wait_ms: float = 2.0


def has_words(value: str) -> str:
    """Pydantic validator: refuse an empty or whitespace-only query."""
    if not value.strip():
        raise ValueError("the query is empty or only whitespace: send the question to search for")
    return value


def usable_weights(value: tuple[float, float]) -> tuple[float, float]:
    """Pydantic validator: two non-negative weights, not both zero (finiteness is checked before)."""
    if value[0] < 0 or value[1] < 0 or value[0] + value[1] == 0:
        raise ValueError("weights must be two non-negative numbers, not both zero")
    return value


EmbeddingInput = str | list[str] | list[int] | list[list[int]]


def texts_have_words(value: EmbeddingInput) -> EmbeddingInput:
    """Pydantic validator: every text of an embedding request holds more than whitespace.

    Token arrays (lists of ints) are checked after decoding, by the endpoint.
    """
    texts = [value] if isinstance(value, str) else value
    for i, text in enumerate(texts):
        if isinstance(text, str) and not text.strip():
            where = "" if isinstance(value, str) else f"input[{i}] "
            raise ValueError(f"{where}is empty or only whitespace: every text needs words to embed")
    return value
