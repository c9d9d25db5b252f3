"""Datastore construction: merge the passages retrieved for several query sets into one deduplicated
corpus.

The RAG datastore of a benchmark is built by retrieving a large pool per question (possibly with
several retrievers or several query formulations), merging all pools and dropping passages whose
text is an exact duplicate of one already kept. The result is an ordinary corpus (sequential string
ids ``"0"``, ``"1"``, ...; ``metadata`` keeps the original doc id and the pool it came from) that
``reasonir index build`` can index.

Order is deterministic: pools in the order given, questions in each pool's order, passages best
first; the first occurrence of a text wins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..types import Document, Run
from .passages import Passages, passages_from_run

logger = logging.getLogger(__name__)


@dataclass
class DatastoreStats:
    """Counts of a merge: passages seen, kept, and dropped as exact duplicates, per pool."""

    seen: int = 0
    kept: int = 0
    duplicates: int = 0
    per_pool: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"seen": self.seen, "kept": self.kept, "duplicates": self.duplicates, "per_pool": self.per_pool}


def merge_pools(pools: Iterable[tuple[str, Passages]], k: int | None = None,
                normalize: bool = False) -> tuple[list[Document], DatastoreStats]:
    """Merge named passage pools into one corpus without exact-duplicate texts.

    Args:
        pools: ``(pool name, {qid: [Passage, ...]})`` pairs, each qid's passages best first.
        k: keep at most this many passages per question and pool (``None``: all).
        normalize: compare texts after collapsing whitespace (still "exact" up to spacing); the
            default compares the raw strings.

    Returns:
        The corpus (ids ``"0"``.. in first-seen order; ``metadata`` = ``{"source", "orig_id"}``) and
        the merge statistics.
    """
    seen_texts: set[str] = set()
    docs: list[Document] = []
    stats = DatastoreStats()
    for name, passages in pools:
        counts = {"seen": 0, "kept": 0, "duplicates": 0}
        for _qid, ranked in passages.items():
            for p in ranked[:k] if k else ranked:
                counts["seen"] += 1
                key = " ".join(p.text.split()) if normalize else p.text
                if key in seen_texts:
                    counts["duplicates"] += 1
                    continue
                seen_texts.add(key)
                counts["kept"] += 1
                docs.append(Document(id=str(len(docs)), text=p.text,
                                     metadata={"source": name, "orig_id": p.doc_id}))
        stats.per_pool[name] = counts
        stats.seen += counts["seen"]
        stats.kept += counts["kept"]
        stats.duplicates += counts["duplicates"]
    logger.info("datastore: %d passages seen, %d kept, %d exact duplicates dropped",
                stats.seen, stats.kept, stats.duplicates)
    return docs, stats


def merge_runs(runs: Iterable[tuple[str, Run]], texts: Mapping[str, str], k: int | None = None,
               normalize: bool = False) -> tuple[list[Document], DatastoreStats]:
    """:func:`merge_pools` for runs: attach texts from ``texts`` (``{doc_id: text}``) first.

    Raises:
        DataFormatError: a ranked document has no text.
    """
    def pools():
        for name, run in runs:
            yield name, passages_from_run(run, texts, k or 0, origin=name)

    return merge_pools(pools(), k=k, normalize=normalize)
