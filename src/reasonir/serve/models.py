"""Request limits, the request models, and the checks of request fields that plain pydantic constraints cannot say.

The request models are built per app (:func:`search_request_model`, :func:`embedding_request_model`)
because their bounds come from the limits and the default mode from the index. Every field is checked
before any work starts: a bad value gets a 422 whose body names the field. Numbers must be finite
(``NaN``/``Infinity``, which Python's JSON parser accepts, are refused) and a query must hold more
than whitespace; a metadata filter that does not parse gets a 422 naming its column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

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


def parses_as_filter(value: str | None) -> str | None:
    """Pydantic validator: a metadata filter must parse (the error names the column of the problem)."""
    if value is not None:
        from ..index.filters import FilterError, parse_filter

        try:
            parse_filter(value)
        except FilterError as exc:
            raise ValueError(str(exc)) from None
    return value


def search_request_model(limits: ServeLimits, default_mode: Mode) -> Any:
    """The ``POST /search`` body model, bounded by ``limits``."""
    from pydantic import BaseModel, ConfigDict, Field, field_validator

    qmax = limits.max_query_chars

    class SearchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid", allow_inf_nan=False)   # NaN/Infinity parse as JSON: refuse them
        query: str = Field(min_length=1, max_length=qmax, description="the question, any length up to the limit")
        k: int = Field(10, ge=1, le=limits.max_k, description="how many results")
        mode: Mode = Field(default_mode, description="retrieval method")
        instruction: str | None = Field(None, max_length=qmax, description="retrieval instruction for the encoder")
        fusion: Literal["interpolate", "rrf"] = Field("interpolate", description="how hybrid mode fuses")
        weights: tuple[float, float] = Field((0.5, 0.5), description="dense and BM25 weights (hybrid)")
        rrf_k: float = Field(60.0, ge=0, description="RRF constant")
        candidates: int = Field(100, ge=1, le=limits.max_candidates, description="candidates per system (hybrid)")
        bm25_mode: Literal["bm25", "bm25q"] = Field("bm25", description="BM25 variant inside hybrid")
        exact: bool = Field(False, description="exact search even when an ANN index exists")
        filter: str | None = Field(None, max_length=qmax, description=(
            "metadata filter applied before the top-k, e.g. source == \"pubmed\" and year >= 2020 "
            "(==, !=, <, <=, >, >=, in [...], not in [...], and, or, not, parentheses)"))
        snippet_chars: int = Field(240, ge=0, le=10000, description="snippet length (0: none)")
        include_text: bool = Field(False, description="return each document's full text")

        _query = field_validator("query")(has_words)
        _weights = field_validator("weights")(usable_weights)
        _filter = field_validator("filter")(parses_as_filter)

    return SearchRequest


def embedding_request_model(limits: ServeLimits) -> Any:
    """The ``POST /v1/embeddings`` body model (OpenAI's fields plus ``input_type`` and ``instruction``)."""
    from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

    TokenId = Annotated[StrictInt, Field(ge=0)]

    class EmbeddingRequest(BaseModel):
        model_config = ConfigDict(extra="ignore", allow_inf_nan=False)     # OpenAI clients send extra fields
        input: str | list[str] | list[TokenId] | list[list[TokenId]] = Field(
            description="a text, a list of texts, or tiktoken token arrays (one list of ids, or a list of them)")
        model: str | None = Field(None, description="'<id>#query' embeds queries; '<id>' or '<id>#document' "
                                                    "embeds documents (see GET /v1/models)")
        encoding_format: Literal["float", "base64"] = "float"
        dimensions: int | None = Field(None, ge=1)
        input_type: Literal["query", "document"] | None = Field(
            None, description="encode as queries or documents (default: the model suffix, else document)")
        instruction: str | None = Field(None, max_length=limits.max_query_chars,
                                        description="query instruction (input_type query)")

        _input = field_validator("input")(texts_have_words)

    return EmbeddingRequest
