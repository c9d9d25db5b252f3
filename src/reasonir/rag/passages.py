"""Where retrieved passages come from: one small protocol and its implementations.

The answering step needs, per question, the top-k passages with their text. :class:`PassageSource`
is that contract: ``search({qid: query}, k) -> {qid: [Passage(doc_id, score, text), ...]}`` (best
first). Implementations:

* :class:`RunPassageSource` — a precomputed run (TREC file) keyed by question id, plus a text
  lookup (a corpus file or an index's document store); the query text is not used;
* :class:`RetrieverPassageSource` — any :class:`~reasonir.retrieve.Retriever` over a corpus held in
  memory (e.g. BM25 built on the fly);
* :class:`~reasonir.rag.index_source.IndexPassageSource` — a persistent ``reasonir index``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from ..errors import DataFormatError
from ..types import Document, Run, top_k

logger = logging.getLogger(__name__)


class Passage(NamedTuple):
    """One retrieved passage."""

    doc_id: str
    score: float
    text: str


Passages = dict[str, list[Passage]]


@runtime_checkable
class PassageSource(Protocol):
    """Anything that returns ranked passages for questions."""

    name: str

    def search(self, queries: Mapping[str, str], k: int) -> Passages:
        """Top ``k`` passages per query id, best first (missing ids map to ``[]``)."""
        ...


def passage_text(doc: Document) -> str:
    """The text shown to the reader for a document: ``title`` on its own line, then the text."""
    return f"{doc.title}\n{doc.text}" if doc.title else doc.text


def corpus_texts(corpus: Sequence[Document]) -> dict[str, str]:
    """``{doc_id: passage text}`` for a corpus."""
    return {d.id: passage_text(d) for d in corpus}


def passages_from_run(run: Run, texts: Mapping[str, str], k: int, origin: str = "run") -> Passages:
    """Attach texts to the top ``k`` documents of each query of ``run``.

    Raises:
        DataFormatError: a ranked document has no text (the run and the corpus do not match).
    """
    out: Passages = {}
    for qid, docs in run.items():
        ranked = top_k(docs, k)
        missing = [d for d, _ in ranked if d not in texts]
        if missing:
            raise DataFormatError(
                f"query {qid}: {len(missing)} ranked document(s) not in the corpus (first: {missing[0]!r}); "
                "pass the corpus or index the run was made from", origin)
        out[qid] = [Passage(d, float(s), texts[d]) for d, s in ranked]
    return out


class RunPassageSource:
    """Passages from a precomputed run, looked up by question id.

    Args:
        run: ``{qid: {doc_id: score}}``; its query ids must be the benchmark's question ids.
        texts: ``{doc_id: text}`` for every ranked document.
        name: label recorded in reports.
    """

    def __init__(self, run: Run, texts: Mapping[str, str], name: str = "run"):
        self.run, self.texts, self.name = run, texts, name

    @classmethod
    def from_files(cls, run_path: str | os.PathLike, texts: Mapping[str, str]) -> RunPassageSource:
        """Read a TREC run file."""
        from ..io import read_run

        return cls(read_run(run_path), texts, name=f"run:{os.fspath(run_path)}")

    def search(self, queries: Mapping[str, str], k: int) -> Passages:
        wanted = {q: self.run[q] for q in queries if q in self.run}
        missing = len(queries) - len(wanted)
        if missing:
            logger.warning("%d of %d questions have no line in the run (answered without passages)",
                           missing, len(queries))
        found = passages_from_run(wanted, self.texts, k, origin=self.name)
        return {q: found.get(q, []) for q in queries}


class RetrieverPassageSource:
    """Passages from a retriever that searches a corpus held in memory.

    Args:
        retriever: anything with ``search(queries, k) -> Run``.
        texts: ``{doc_id: text}`` of the retriever's corpus.
        name: label recorded in reports.
    """

    def __init__(self, retriever, texts: Mapping[str, str], name: str = "retriever"):
        self.retriever, self.texts, self.name = retriever, texts, name

    @classmethod
    def bm25(cls, corpus: Sequence[Document], mode: str = "bm25", name: str = "bm25") -> RetrieverPassageSource:
        """BM25 (or query-side BM25, ``mode="bm25q"``) built over ``corpus`` in memory."""
        from ..retrieve import BM25Retriever

        return cls(BM25Retriever.from_corpus(corpus, mode=mode), corpus_texts(corpus), name=name)

    def search(self, queries: Mapping[str, str], k: int) -> Passages:
        run = self.retriever.search(dict(queries), k=k)
        found = passages_from_run(run, self.texts, k, origin=self.name)
        return {q: found.get(q, []) for q in queries}
