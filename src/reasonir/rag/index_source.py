"""Passages from a persistent ``reasonir index`` (see :mod:`reasonir.index`).

:class:`IndexPassageSource` searches the index with the question queries (dense by default, or
``bm25`` / ``bm25q`` / ``hybrid`` when the index has BM25) and reads the texts from its document
store. :class:`IndexTexts` is a lazy ``{doc_id: text}`` view of the store, used to attach texts to a
precomputed run (``--run RUN --index DIR``) without loading the whole corpus.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ConfigError
from .passages import Passage, Passages, passage_text

logger = logging.getLogger(__name__)


def _open(index_dir: str | os.PathLike, **kwargs: Any):
    from ..index import Index

    return Index.open(index_dir, **kwargs)


class IndexPassageSource:
    """Top-k passages from an opened :class:`reasonir.index.Index`.

    Args:
        index: the opened index.
        mode: ``dense``, ``bm25``, ``bm25q`` or ``hybrid`` (must be one of ``index.modes``).
        name: label recorded in reports.
        batch_size: queries per search call.
        **search_kwargs: passed to ``Index.search`` (``fusion``, ``weights``, ``candidates``, ...).
    """

    def __init__(self, index, mode: str = "dense", name: str | None = None, batch_size: int = 64,
                 **search_kwargs: Any):
        if mode not in index.modes:
            raise ConfigError(f"search mode {mode!r} is not available in this index; it offers "
                              f"{', '.join(index.modes)} (build it with --bm25 for bm25/bm25q/hybrid)")
        self.index, self.mode, self.batch_size = index, mode, max(1, batch_size)
        self.search_kwargs = search_kwargs
        self.name = name or f"index:{index.root}:{mode}"

    @classmethod
    def open(cls, index_dir: str | os.PathLike, mode: str | None = None, **kwargs: Any) -> IndexPassageSource:
        """Open ``index_dir`` and search it in ``mode`` (default: dense, the index's own encoder)."""
        mode = mode or "dense"
        return cls(_open(index_dir), mode, name=f"index:{os.fspath(index_dir)}:{mode}", **kwargs)

    def search(self, queries: Mapping[str, str], k: int) -> Passages:
        qids = list(queries)
        out: Passages = {}
        for lo in range(0, len(qids), self.batch_size):
            part = qids[lo: lo + self.batch_size]
            hits = self.index.search([queries[q] for q in part], k=k, mode=self.mode, **self.search_kwargs)
            rows = [h.row for hs in hits for h in hs]
            docs = dict(zip(rows, self.index.documents(rows))) if rows else {}
            for qid, hs in zip(part, hits):
                out[qid] = [Passage(h.id, float(h.score), passage_text(docs[h.row])) for h in hs]
        return out


class IndexTexts(Mapping[str, str]):
    """A lazy, read-only ``{doc_id: passage text}`` over an index's document store (cached lookups)."""

    def __init__(self, index):
        self.index = index
        self._cache: dict[str, str | None] = {}

    def _lookup(self, doc_id: str) -> str | None:
        if doc_id not in self._cache:
            doc = self.index.get(doc_id)
            self._cache[doc_id] = passage_text(doc) if doc is not None else None
        return self._cache[doc_id]

    def __getitem__(self, doc_id: str) -> str:
        text = self._lookup(doc_id)
        if text is None:
            raise KeyError(doc_id)
        return text

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._lookup(doc_id) is not None

    def __iter__(self) -> Iterator[str]:
        raise TypeError("IndexTexts cannot be iterated; look documents up by id")

    def __len__(self) -> int:
        return int(self.index.num_documents)


def index_texts(index_dir: str | os.PathLike) -> IndexTexts:
    """Open ``index_dir`` read-only and return its lazy text lookup (no query encoder is loaded)."""
    return IndexTexts(_open(index_dir))
