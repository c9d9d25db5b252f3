"""Read the released ReasonIR training data (``reasonir/reasonir-data``, subsets ``hq`` and ``vl``).

Rows are in the GritLM format. In ``hq`` each positive is ``[instruction, BRIGHT document id]``: the
text must be looked up in BRIGHT's ``documents`` corpora (all tasks), from the Hub
(``xlangai/BRIGHT``) or from a local copy in the same schema (``{"id", "content"}`` JSONL, one file
or a folder of them, e.g. ``<task>/documents.jsonl``). ``vl`` rows already hold texts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..data import BRIGHT_HUB_ID, BRIGHT_REVISION
from ..errors import ConfigError, DataFormatError, require
from ..io import iter_jsonl
from ..trainio import example_from_record
from ..types import TrainExample

logger = logging.getLogger(__name__)
RELEASED_HUB_ID = "reasonir/reasonir-data"
SUBSETS = ("hq", "vl")


def iter_released_rows(subset: str, source: str | os.PathLike | None = None,
                       revision: str | None = None) -> Iterator[tuple[str, int, Mapping[str, Any]]]:
    """Yield ``(origin, row_number, row)`` of a released subset, from ``source`` or the Hub."""
    if subset not in SUBSETS:
        raise ConfigError(f"unknown released subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    if source is not None:
        p = Path(source)
        files = sorted(f for f in p.rglob("*") if f.suffix in (".jsonl", ".gz", ".parquet")) if p.is_dir() else [p]
        if not files:
            raise FileNotFoundError(f"{p}: no released-data files (*.jsonl, *.jsonl.gz, *.parquet)")
        for f in files:
            if f.suffix == ".parquet":
                pq = require("pyarrow.parquet", "parquet", package="pyarrow")
                for i, row in enumerate(pq.read_table(f).to_pylist(), start=1):
                    yield str(f), i, row
            else:
                for lineno, row in iter_jsonl(f):
                    yield str(f), lineno, row
        return
    datasets = require("datasets", "hf")
    ds = datasets.load_dataset(RELEASED_HUB_ID, subset, split="train", revision=revision)
    for i, row in enumerate(ds, start=1):
        yield f"{RELEASED_HUB_ID}/{subset}", i, row


def load_bright_documents(source: str | os.PathLike | None = None, revision: str = BRIGHT_REVISION) -> dict[str, str]:
    """``{doc_id: content}`` over all BRIGHT document corpora (local ``{id, content}`` JSONL or the Hub).

    Raises:
        DataFormatError: for rows without ``id``/``content``.
    """
    table: dict[str, str] = {}
    conflicts = 0

    def add(doc_id: Any, content: Any, origin: str, line: int) -> None:
        nonlocal conflicts
        if doc_id is None or not isinstance(content, str):
            raise DataFormatError("BRIGHT document rows need 'id' and a string 'content'", origin, line)
        key = str(doc_id)
        if key in table and table[key] != content:
            conflicts += 1
        table.setdefault(key, content)

    if source is not None:
        p = Path(source)
        files = sorted(f for f in p.rglob("*.jsonl*") if "long_documents" not in f.name) if p.is_dir() else [p]
        if not files:
            raise FileNotFoundError(f"{p}: no BRIGHT documents (*.jsonl with id, content)")
        for f in files:
            for lineno, row in iter_jsonl(f):
                add(row.get("id", row.get("_id")), row.get("content", row.get("text")), str(f), lineno)
    else:
        datasets = require("datasets", "hf")
        dsd = datasets.load_dataset(BRIGHT_HUB_ID, "documents", revision=revision)
        for task, split in dsd.items():
            for i, row in enumerate(split, start=1):
                add(row["id"], row["content"], f"{BRIGHT_HUB_ID}/documents/{task}", i)
    if conflicts:
        logger.warning("%d BRIGHT document ids occur in several tasks with different content; the first is used",
                       conflicts)
    return table


def resolve_released(subset: str, source: str | os.PathLike | None = None,
                     documents: Mapping[str, str] | None = None,
                     limit: int | None = None) -> tuple[list[TrainExample], dict[str, int]]:
    """Released rows as :class:`TrainExample` with ``hq`` document ids replaced by their text.

    Args:
        subset: ``hq`` or ``vl``.
        source: local copy of the subset (default: the Hub).
        documents: ``{doc_id: text}`` for ``hq`` (default: :func:`load_bright_documents` from the Hub).
        limit: convert at most this many rows.

    Returns:
        ``(examples, counts)``; rows whose positives cannot all be resolved are skipped and counted.
    """
    by_id: Mapping[str, str] = {}
    if subset == "hq":
        by_id = documents if documents is not None else load_bright_documents()
    examples: list[TrainExample] = []
    counts = {"rows": 0, "written": 0, "unresolved_rows": 0, "unresolved_ids": 0}
    for origin, line, row in iter_released_rows(subset, source):
        if limit is not None and counts["rows"] >= limit:
            break
        counts["rows"] += 1
        ex = example_from_record(row, origin, line)
        meta = {"source": RELEASED_HUB_ID, "subset": subset, "row": line}
        if subset == "hq":
            missing = [d for d in ex.pos if d not in by_id]
            if missing:
                counts["unresolved_rows"] += 1
                counts["unresolved_ids"] += len(missing)
                if counts["unresolved_rows"] <= 3:
                    logger.warning("%s:%d: BRIGHT document id(s) not found: %s", origin, line, missing[:3])
                continue
            meta["pos_ids"] = list(ex.pos)
            ex.pos = [by_id[d] for d in ex.pos]
        ex.metadata = {**meta, **ex.metadata}
        examples.append(ex)
        counts["written"] += 1
    return examples, counts


def convert_released(cfg: Any):
    """``reasonir synthesize --released hq|vl``: write the resolved subset like a synthesis run."""
    from ..io import write_json
    from ..trainio import write_sentence_transformers, write_train_examples
    from .pool import word_count
    from .stages import SynthesisResult
    from .stats import length_summary

    docs = load_bright_documents(cfg.bright_documents) if cfg.released == "hq" else None
    examples, counts = resolve_released(cfg.released, cfg.released_source, docs, cfg.released_limit)
    out = Path(cfg.out)
    paths = {"train": out / "train.jsonl", "stats": out / "stats.json"}
    write_train_examples(paths["train"], examples)
    stats: dict[str, Any] = {"released": {"subset": cfg.released, **counts}, "output": {
        "examples": len(examples),
        "lengths_words": {"query": length_summary([word_count(e.query) for e in examples]),
                          "positive": length_summary([word_count(p) for e in examples for p in e.pos]),
                          "negative": length_summary([word_count(n) for e in examples for n in e.neg])}}}
    if cfg.st_export:
        paths["sentence_transformers"] = out / "train.st.jsonl"
        stats["output"]["sentence_transformers"] = write_sentence_transformers(paths["sentence_transformers"], examples)
    write_json(paths["stats"], stats)
    return SynthesisResult(examples=examples, stats=stats, paths=paths)


__all__ = ["RELEASED_HUB_ID", "convert_released", "iter_released_rows", "load_bright_documents",
           "resolve_released"]
