"""The ingest phase of ``build`` and ``add``: stream a corpus into the document store in committed batches.

An interrupted ingest resumes after the last committed batch; ids are checked as they arrive (unique
within the corpus, and not already live in the index unless the write replaces them).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataFormatError
from ..types import Document
from .corpus import CorpusSource, iter_documents
from .layout import STORE
from .store import DocStore

INGEST_BATCH = 2000


def ingest(store: DocStore, source: CorpusSource, base: int, tombstones: np.ndarray, replace: bool) -> int:
    """Stream the corpus into rows ``base..``; resume after rows already stored. Returns the new row count."""
    done = store.max_row() - base
    if done < 0:
        raise DataFormatError(f"document store holds fewer rows than committed ({store.max_row()} < {base})", STORE)
    dead = set(tombstones.tolist())
    batch: list[Document] = []
    where: list[str] = []
    row = base + done
    seen = 0

    def flush() -> None:
        nonlocal row
        ids = [d.id for d in batch]
        local: dict[str, int] = {}
        for i, doc_id in enumerate(ids):
            if doc_id in local:
                raise DataFormatError(f"duplicate document id {doc_id!r} (first at {where[local[doc_id]]}); "
                                      "document ids must be unique", where[i])
            local[doc_id] = i
        for doc_id, rows in store.rows_of_ids(ids, below=row).items():
            pending = [r for r in rows if r >= base]
            live_old = [r for r in rows if r < base and r not in dead]
            if pending:
                raise DataFormatError(f"duplicate document id {doc_id!r} (already read earlier in this corpus); "
                                      "document ids must be unique", where[local[doc_id]])
            if live_old and not replace:
                raise DataFormatError(f"document id {doc_id!r} is already in the index (row {live_old[0]}); "
                                      "delete it first or add with --replace", where[local[doc_id]])
        store.append(row, batch)
        row += len(batch)
        batch.clear()
        where.clear()

    for doc, loc in iter_documents(source):
        seen += 1
        if seen <= done:
            continue
        batch.append(doc)
        where.append(loc)
        if len(batch) >= INGEST_BATCH:
            flush()
    if batch:
        flush()
    if seen < done:
        raise DataFormatError(f"the corpus has {seen} documents but an earlier run of this command stored {done}; "
                              "it changed since; run the command again to start over", source.spec)
    return row
