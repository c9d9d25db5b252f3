"""The ``Retriever`` protocol and the BM25 retriever.

A retriever turns queries into a :data:`~reasonir.types.Run`. Sibling stages (rerank, fusion,
evaluation) meet it only through that run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from ..analysis import Analyzer
from ..types import Document, ExcludedIds, Run
from .bm25 import MODES, BM25Index

logger = logging.getLogger(__name__)


@runtime_checkable
class Retriever(Protocol):
    """Anything that can search a fixed corpus."""

    def search(self, queries: Mapping[str, str], k: int = 1000,
               excluded_ids: ExcludedIds | None = None) -> Run:
        """Top ``k`` documents per query, ``{query_id: {doc_id: score}}``.

        Implementations refuse a ``queries`` that is not a mapping of strings (``InputError``) and an
        empty or whitespace-only query (``EmptyQueryError`` naming its id); see
        :func:`reasonir.types.as_queries`.
        """
        ...


class BM25Retriever:
    """BM25 (``mode="bm25"``) or BRIGHT's query-side BM25 (``mode="bm25q"``) over a corpus.

    Documents are indexed as ``title + " " + text`` (BEIR convention; BRIGHT documents have no title).

    Examples:
        >>> docs = [Document("d1", "Ice floats because it is less dense than water."),
        ...         Document("d2", "Iron rusts when it meets oxygen and water.")]
        >>> bm25 = BM25Retriever.from_corpus(docs)
        >>> bm25
        BM25Retriever(mode='bm25', documents=2)
        >>> run = bm25.search({"q1": "why does ice float"}, k=1)
        >>> list(run["q1"])
        ['d1']
    """

    def __init__(self, index: BM25Index, mode: str = "bm25"):
        if mode not in MODES:
            from ..errors import ConfigError
            raise ConfigError(f"unknown BM25 mode {mode!r}; choose one of {', '.join(MODES)}")
        self.index = index
        self.mode = mode

    @classmethod
    def from_corpus(cls, corpus: Sequence[Document], mode: str = "bm25", k1: float = 0.9, b: float = 0.4,
                    analyzer: Analyzer | None = None) -> BM25Retriever:
        t0 = time.perf_counter()
        index = BM25Index.build([d.full_text for d in corpus], [d.id for d in corpus], k1=k1, b=b,
                                analyzer=analyzer)
        logger.info("BM25 index over %d documents, %d terms, built in %.1fs",
                    index.num_docs, len(index.vocab), time.perf_counter() - t0)
        return cls(index, mode)

    def __repr__(self) -> str:
        return f"BM25Retriever(mode={self.mode!r}, documents={self.index.num_docs})"

    def search(self, queries: Mapping[str, str], k: int = 1000,
               excluded_ids: ExcludedIds | None = None) -> Run:
        """Top ``k`` documents per query (see :meth:`BM25Index.search`); empty queries are refused."""
        return self.index.search(queries, k=k, mode=self.mode, excluded_ids=excluded_ids)
