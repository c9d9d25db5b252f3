"""The work records that flow through the synthesizer's stages.

One record per unit of work: an HQ seed document, or one VL (task, example) slot. Records are plain
JSON-serialisable dicts, so the same stage code runs in-process and as Ray Data stages::

    {"kind": "hq" | "vl", "key": str, "example_id": str,        # stable identity and output order
     "doc_id", "positive", "edu_score",                           # HQ: the seed document
     "task", "query_words", "doc_words",                          # VL: the task and target lengths
     "items": [{"query", "pos", "negs": [{"text", "source", "id"}], "candidates": [...],
                "dropped": None | {"stage", "reason"}}, ...],
     "dropped": None | {"stage", "reason"},
     "trace": {stage: Usage dict}}                                # LLM usage, summed into stats.json

A stage drops a record or an item by marking it (never by removing it), so the statistics can count
every drop wherever the stage ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .llmstep import Usage

Record = dict[str, Any]


def new_hq_record(doc_id: str, text: str, rank: int, edu_score: float | None) -> Record:
    """A record for one HQ seed document (``rank`` = its position in the selected pool)."""
    return {"kind": "hq", "key": f"hq:{doc_id}", "example_id": f"hq-{rank:08d}", "doc_id": doc_id,
            "positive": text, "edu_score": edu_score, "items": [], "dropped": None, "trace": {}}


def new_vl_record(task: str, task_index: int, example_index: int, query_words: int, doc_words: int) -> Record:
    """A record for one VL example slot of task ``task_index``."""
    return {"kind": "vl", "key": f"vl:{task}#{example_index}", "example_id": f"vl-{task_index:05d}-{example_index:04d}",
            "task": task, "task_index": task_index, "query_words": query_words, "doc_words": doc_words,
            "items": [], "dropped": None, "trace": {}}


def new_item(query: str, pos: str) -> dict[str, Any]:
    return {"query": query, "pos": pos, "negs": [], "dropped": None}


def live_records(records: list[Record], kind: str | None = None) -> Iterator[Record]:
    """Records not dropped (of ``kind`` when given)."""
    for rec in records:
        if rec.get("dropped") is None and (kind is None or rec["kind"] == kind):
            yield rec


def live_items(records: list[Record], kind: str | None = None) -> Iterator[tuple[Record, dict[str, Any]]]:
    """``(record, item)`` for every item not dropped in a live record."""
    for rec in live_records(records, kind):
        for item in rec["items"]:
            if item.get("dropped") is None:
                yield rec, item


def drop(obj: dict[str, Any], stage: str, reason: str) -> None:
    """Mark a record or an item as dropped by ``stage`` for ``reason``."""
    if obj.get("dropped") is None:
        obj["dropped"] = {"stage": stage, "reason": reason}


def add_usage(rec: Record, stage: str, usage: Usage) -> None:
    """Add ``usage`` to the record's trace for ``stage``."""
    prev = rec["trace"].get(stage)
    rec["trace"][stage] = (Usage.from_dict(prev).merge(usage) if prev else Usage().merge(usage)).to_dict()
