"""The ``Reranker`` protocol and the score it gives one (query, document) pair.

``score`` takes a list of ``(query, document)`` pairs, or one pair (then it returns one
:class:`PairScore`), as the texts rule of :mod:`reasonir.types` says; :func:`as_pair_batch` checks it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import InputError


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
        """One :class:`PairScore` per pair, in order (a single pair: its :class:`PairScore`)."""
        ...


def _is_pair(item: Any) -> bool:
    return isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)


def as_pair_batch(pairs: Any, name: str = "pairs") -> tuple[list[tuple[str, str]], bool]:
    """Normalise a pairs argument: a list of ``(query, document)`` string pairs, or one such pair.

    Returns:
        ``(pairs as a list of tuples, single)``; ``single`` says one pair was given.

    Raises:
        InputError: naming ``name`` (or the offending item) for a string, bytes, ``None``, a mapping,
            or an item that is not a pair of strings.
    """
    if _is_pair(pairs):
        return [(pairs[0], pairs[1])], True
    if isinstance(pairs, (str, bytes, bytearray, Mapping, set, frozenset)) or not isinstance(pairs, Iterable):
        raise InputError(f"{name} must be a (query, document) pair of strings or a list of such pairs, "
                         f"got {type(pairs).__name__}")
    out = list(pairs)
    for i, item in enumerate(out):
        if not _is_pair(item):
            raise InputError(f"{name}[{i}] must be a (query, document) pair of strings, got {type(item).__name__}"
                             + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else ""))
    return [(q, d) for q, d in out], False
