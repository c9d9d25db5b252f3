"""The data every stage exchanges: documents, queries, qrels, runs and training examples.

IDs are strings everywhere. Queries, qrels and runs are plain dicts so that any tool can produce or
consume them:

* ``Queries``: ``{query_id: text}``
* ``Qrels``:   ``{query_id: {doc_id: relevance}}``
* ``Run``:     ``{query_id: {doc_id: score}}`` (higher is better)

Texts passed to a library call follow one rule (as in sentence-transformers): a function that takes
texts accepts a list (or tuple, or any ordered iterable) of strings, or a single string, and for a
single string returns the single-item shape (one vector, one hit list, one generation). Anything else
is refused with :class:`~reasonir.errors.InputError` naming the argument; :func:`as_text_batch`
implements the rule. Functions that take ``{query_id: text}`` use :func:`as_queries`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import EmptyQueryError, InputError

Queries = dict[str, str]
Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]
ExcludedIds = dict[str, set[str]]


@dataclass(frozen=True, slots=True)
class Document:
    """One retrievable unit of text.

    Examples:
        >>> doc = Document("d1", "Ice is less dense than liquid water.", title="Why ice floats")
        >>> doc.full_text
        'Why ice floats Ice is less dense than liquid water.'
    """

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def full_text(self) -> str:
        """Title and text joined the way BEIR-style retrievers index them."""
        return f"{self.title} {self.text}" if self.title else self.text


@dataclass(slots=True)
class Hit:
    """One search result, in the shape pyserini's searchers return (``docid``, ``score``, ``raw``).

    Attributes:
        id: the document id (also readable as ``docid``, pyserini's name).
        score: the (fused) score; higher is better.
        row: the document's row in the index store.
        dense: its dense score (dense and hybrid search).
        bm25: its BM25 score (BM25 and hybrid search).
        title: the document's title, ``None`` when the search did not fetch documents.
        text: the document's text, ``None`` when the search did not fetch documents.
        metadata: the document's other fields.

    Examples:
        >>> hit = Hit("d1", 0.8, title="Why ice floats", text="Ice is less dense than water.")
        >>> hit.docid, hit.score, hit.contents
        ('d1', 0.8, 'Why ice floats Ice is less dense than water.')
        >>> hit.raw
        '{"_id": "d1", "title": "Why ice floats", "text": "Ice is less dense than water."}'
        >>> hit
        Hit(id='d1', score=0.8, title='Why ice floats', text='Ice is less dense than water.')
    """

    id: str
    score: float
    row: int = -1
    dense: float | None = None
    bm25: float | None = None
    title: str | None = None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def docid(self) -> str:
        """The document id (pyserini's name for :attr:`id`)."""
        return self.id

    @property
    def contents(self) -> str | None:
        """Title and text as they were indexed (``None`` without the document)."""
        return None if self.text is None else Document(self.id, self.text, self.title or "").full_text

    @property
    def raw(self) -> str | None:
        """The stored document as a BEIR JSON record (``None`` without the document)."""
        if self.text is None:
            return None
        return json.dumps({"_id": self.id, "title": self.title or "", "text": self.text, **self.metadata},
                          ensure_ascii=False)

    @property
    def document(self) -> Document | None:
        """The hit's :class:`Document` (``None`` when the search did not fetch documents)."""
        return None if self.text is None else Document(self.id, self.text, self.title or "", dict(self.metadata))

    def __repr__(self) -> str:
        parts = [f"id={self.id!r}", f"score={self.score:.4g}"]
        if self.title:
            parts.append(f"title={_clip(self.title)!r}")
        if self.text is not None:
            parts.append(f"text={_clip(self.text)!r}")
        return f"Hit({', '.join(parts)})"


def _clip(text: str, chars: int = 60) -> str:
    return text if len(text) <= chars else text[:chars - 3] + "..."


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


def as_text_batch(texts: str | Iterable[str], name: str = "texts") -> tuple[list[str], bool]:
    """Normalise a texts argument: one string, or an ordered collection of strings.

    Args:
        texts: a ``str`` (one text) or a list/tuple/iterable of ``str``.
        name: the argument's name, used in error messages.

    Returns:
        ``(texts as a list, single)`` where ``single`` says a bare string was given, so the caller
        returns the single-item shape.

    Raises:
        InputError: for bytes, ``None``, a mapping, a set, or an item that is not a string.
    """
    if isinstance(texts, str):
        return [texts], True
    accepted = "a string or a list of strings"
    if isinstance(texts, (bytes, bytearray, memoryview)):
        raise InputError(f"{name} must be {accepted}, got {type(texts).__name__} (decode it first)")
    if isinstance(texts, (Mapping, set, frozenset)) or not isinstance(texts, Iterable):
        raise InputError(f"{name} must be {accepted}, got {type(texts).__name__}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise InputError(f"{name}[{i}] is {type(t).__name__}, expected str")
    return out, False


def check_query_texts(texts: Sequence[str], name: str = "queries", ids: Sequence[str] | None = None) -> None:
    """Refuse a query that is empty or whitespace only (it would match documents arbitrarily).

    Raises:
        EmptyQueryError: naming the query id (``ids``) or the position in ``name``.
    """
    for i, text in enumerate(texts):
        if not text.strip():
            where = f"query {ids[i]!r}" if ids is not None else (f"{name}[{i}]" if len(texts) > 1 else "the query")
            raise EmptyQueryError(f"{where} is empty or whitespace only; give the words to search for")


def as_queries(queries: Mapping[str, str], name: str = "queries", allow_empty: bool = False) -> Queries:
    """Validate a ``{query_id: text}`` argument.

    Args:
        queries: the mapping.
        name: the argument's name, used in error messages.
        allow_empty: accept empty / whitespace-only texts (only for calls that do not search).

    Returns:
        The queries as a new ``dict``, in the given order.

    Raises:
        InputError: ``queries`` is not a mapping, or a text is not a string.
        EmptyQueryError: a text is empty or whitespace only (unless ``allow_empty``), naming its id.
    """
    if not isinstance(queries, Mapping):
        raise InputError(f"{name} must be a mapping {{query_id: text}}, got {type(queries).__name__}")
    out = dict(queries)
    for qid, text in out.items():
        if not isinstance(text, str):
            raise InputError(f"{name}[{qid!r}] is {type(text).__name__}, expected str")
    if not allow_empty:
        check_query_texts(list(out.values()), name, ids=list(out))
    return out
