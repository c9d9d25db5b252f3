"""The data every stage exchanges: documents, queries, qrels, runs and training examples.

IDs are strings everywhere. Queries, qrels and runs are plain dicts so that any tool can produce or
consume them:

* ``Queries``: ``{query_id: text}``
* ``Qrels``:   ``{query_id: {doc_id: relevance}}``
* ``Run``:     ``{query_id: {doc_id: score}}`` (higher is better)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Queries = dict[str, str]
Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]
ExcludedIds = dict[str, set[str]]


@dataclass(frozen=True, slots=True)
class Document:
    """One retrievable unit of text."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def full_text(self) -> str:
        """Title and text joined the way BEIR-style retrievers index them."""
        return f"{self.title} {self.text}" if self.title else self.text


@dataclass(slots=True)
class TrainExample:
    """One contrastive training example: a query, its positives and its hard negatives.

    Each text is paired with the instruction the encoder sees with it (``""`` for none), as in the
    GritLM / ReasonIR JSONL format ``{"query": [instr, text], "pos": [[instr, text]], "neg": [...]}``.
    """

    query: str
    pos: list[str]
    neg: list[str] = field(default_factory=list)
    query_instruction: str = ""
    doc_instruction: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def top_k(scores: dict[str, float], k: int) -> list[tuple[str, float]]:
    """The ``k`` best ``(doc_id, score)`` pairs, ties broken by doc id (ascending) for determinism."""
    items = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return items[:k] if k > 0 else items
