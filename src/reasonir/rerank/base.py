"""The ``Reranker`` protocol and the score it gives one (query, document) pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class PairScore:
    """A reranker's judgement of one pair.

    Attributes:
        score: the reranker score used for ranking (LLM: grade / 5 in [0, 1]; cross-encoder: its
            output); ``None`` when the reranker produced no usable judgement.
        grade: the LLM's 0-5 grade (``None`` for cross-encoders and failures).
        method: how the grade was obtained (``marker``, ``bare``, ..., ``expected``, ``failed``,
            ``cross-encoder``).
        text: the raw LLM answer, when there is one.
        extra: anything else (digit probability mass of expected grades, ...).
    """

    score: float | None
    grade: float | None = None
    method: str = ""
    text: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Reranker(Protocol):
    """Scores (query, document) pairs; higher is more relevant."""

    name: str

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[PairScore]:
        """One :class:`PairScore` per pair, in order."""
        ...
