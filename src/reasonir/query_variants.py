"""Swap a dataset's queries for a variant (rewritten / reasoning-expanded queries) read from a file.

Accepted files:

* JSONL (or TSV) keyed by query id: rows ``{"id", "query"}`` as ``reasonir rewrite`` writes them
  (any of ``_id|id|query_id|qid`` and ``text|query``);
* a JSON list of such objects (ReasonIR's cached-reasoning files);
* a JSON object keyed by query id ``{qid: text}``;
* a JSON object keyed by the original query text ``{original text: variant}``, like
  ``bright/reasoned_queries/tongsearch-qr-7b.json`` (matched exactly, then after collapsing
  whitespace).

Which kind a JSON object is follows from its keys (dataset query ids vs. query texts). Queries the
file does not cover keep their original text and are reported (a warning with examples and counts in
``dataset.metadata["query_variant"]``); ``strict=True`` makes that an error instead.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from .data import Dataset
from .errors import ConfigError, DataFormatError
from .ids import check_query_id
from .io import QUERY_ID_KEYS, QUERY_TEXT_KEYS, parse_json, read_queries
from .rewrite import combine_query

logger = logging.getLogger(__name__)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _rows_to_ids(rows: list[Any], path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise DataFormatError(f"item {i} is {type(row).__name__}; expected an object with id and query", path)
        qid = next((row[k] for k in QUERY_ID_KEYS if row.get(k) is not None), None)
        text = next((row[k] for k in ("query",) + QUERY_TEXT_KEYS if isinstance(row.get(k), str)), None)
        if qid is None or text is None:
            raise DataFormatError(f"item {i} needs an id ({'/'.join(QUERY_ID_KEYS)}) and a query text "
                                  f"({'/'.join(('query',) + QUERY_TEXT_KEYS)})", path)
        qid = check_query_id(qid, path, what=f"item {i}: query id")
        if qid in out:
            raise DataFormatError(f"item {i}: duplicate query id {qid!r}; each query may appear once", path)
        out[qid] = text
    return out


def load_query_variant(path: str | os.PathLike, dataset: Dataset) -> tuple[str, dict[str, str]]:
    """Read a variant file; returns ``(kind, mapping)`` with kind ``by_id`` or ``by_text``.

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: a file of none of the accepted shapes.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such query-variant file")
    if p.is_dir():
        raise DataFormatError("is a folder; expected a query-variant file (.json, .jsonl or .tsv)", p)
    if p.suffix != ".json":
        return "by_id", read_queries(p)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"byte {exc.start} is not valid UTF-8; re-encode the file as UTF-8", p) from None
    obj = parse_json(text, p)
    if isinstance(obj, list):
        return "by_id", _rows_to_ids(obj, p)
    if not isinstance(obj, dict) or not all(isinstance(v, str) for v in obj.values()):
        raise DataFormatError("expected a JSON object of strings ({original text or query id: variant text}) "
                              "or a list of {id, query} objects", p)
    ids = sum(1 for k in obj if k in dataset.queries)
    return ("by_id" if ids * 2 > len(obj) else "by_text"), dict(obj)


def apply_query_variant(dataset: Dataset, path: str | os.PathLike, *, strict: bool = False, mode: str = "replace",
                        separator: str = "\n\n") -> Dataset:
    """A copy of ``dataset`` whose queries are replaced by (or extended with) the variant's texts.

    Args:
        dataset: the dataset whose queries are swapped.
        path: the variant file (see the module docstring).
        strict: raise when a dataset query has no variant instead of keeping its original text.
        mode: ``replace`` the query, or ``append`` the variant after the original.
        separator: between original and variant in ``append`` mode.

    Raises:
        DataFormatError: unreadable file; with ``strict``, uncovered queries (listing some).
        ConfigError: when the file matches none of the dataset's queries.
    """
    kind, mapping = load_query_variant(path, dataset)
    by_norm = {_norm(k): v for k, v in mapping.items()} if kind == "by_text" else {}
    queries: dict[str, str] = {}
    unmatched: list[str] = []
    for qid, text in dataset.queries.items():
        if kind == "by_id":
            variant = mapping.get(qid)
        else:
            variant = mapping.get(text)
            if variant is None:
                variant = by_norm.get(_norm(text))
        if variant is None:
            unmatched.append(qid)
            queries[qid] = text
            continue
        queries[qid] = combine_query(text, variant, mode, separator)
    matched = len(dataset.queries) - len(unmatched)
    report = {"path": str(path), "kind": kind, "mode": mode, "matched": matched, "unmatched": len(unmatched),
              "unmatched_ids": unmatched[:50], "file_entries": len(mapping)}
    if matched == 0:
        raise ConfigError(f"{path}: none of the {len(dataset.queries)} queries of {dataset.name} is in this "
                          f"query-variant file ({kind.replace('_', ' ')}); is it for another dataset?")
    if unmatched:
        msg = (f"{path}: {len(unmatched)} of {len(dataset.queries)} queries of {dataset.name} have no variant "
               f"(e.g. ids {unmatched[:5]})")
        if strict:
            raise DataFormatError(msg + "; add them to the file or run without strict")
        logger.warning("%s; they keep their original text", msg)
    logger.info("query variant %s: %d/%d queries of %s replaced (%s)", path, matched, len(dataset.queries),
                dataset.name, kind)
    meta = {**dataset.metadata, "query_variant": report}
    return dataclasses.replace(dataset, queries=queries, metadata=meta)
