"""Swap a dataset's queries for a variant: a BRIGHT reasoning-query config or a file of rewritten queries.

A variant is named by a string (the CLI's ``--queries``):

* ``original`` — the dataset's own queries (no change);
* a BRIGHT reasoning-query config (:data:`BRIGHT_REASONING_VARIANTS`, any ``<model>_reason``; the
  short form ``gpt4`` means ``gpt4_reason``): read from the Hub at the dataset's pinned revision, or,
  for a local dataset (``bright:TASK@DIR``), from ``DIR/<task>/<variant>.jsonl[.gz]`` (or
  ``.parquet``), rows ``{id, query}`` exactly as the Hub config. Every query must be covered; a missing
  file or query is an error naming what is needed — never a silent fall-back to the original queries;
* a file of rewritten queries (anything with a path separator or a file suffix, or an existing file),
  or a Hugging Face dataset of them keyed by query id (``hf:NAME[...]``, :mod:`reasonir.hf_spec`).

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
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bright_files import BRIGHT_HUB_ID, bright_variant_file, read_bright_rows
from .errors import ConfigError, DataFormatError, require
from .hf_spec import is_hf_spec
from .ids import check_query_id
from .io import QUERY_ID_KEYS, QUERY_TEXT_KEYS, parse_json, read_queries

if TYPE_CHECKING:                     # annotations only: data imports this module to apply variants
    from .data import Dataset

#: how a rewritten text stands in for the original query
REWRITE_MODES = ("replace", "append")


def combine_query(original: str, reasoning: str, mode: str, separator: str = "\n\n") -> str:
    """The retrieval text for ``mode``: the reasoning alone, or the original followed by it."""
    if mode == "replace":
        return reasoning
    if mode == "append":
        return f"{original}{separator}{reasoning}"
    raise ConfigError(f"unknown rewrite mode {mode!r}; choose one of {', '.join(REWRITE_MODES)}")


logger = logging.getLogger(__name__)

#: BRIGHT's reasoning-query configs on the Hub: the ``query`` field is an LLM's reasoning about the query
BRIGHT_REASONING_VARIANTS: tuple[str, ...] = (
    "gpt4_reason", "llama3-70b_reason", "claude-3-opus_reason", "grit_reason", "Gemini-1.0_reason")
ORIGINAL = "original"
_FILE_SUFFIXES = (".json", ".jsonl", ".gz", ".tsv", ".parquet", ".txt")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def is_variant_file(variant: str | os.PathLike) -> bool:
    """Whether ``variant`` names a file (a path object, a separator, a file suffix, or an existing file)
    or a Hugging Face dataset (``hf:...``), rather than a named variant."""
    if not isinstance(variant, str):
        return True
    return (is_hf_spec(variant) or "/" in variant or os.sep in variant or variant.endswith(_FILE_SUFFIXES)
            or Path(variant).is_file())


def variant_config(variant: str | None) -> str | None:
    """The BRIGHT config of a named variant: ``None`` for the original queries, ``"gpt4"`` -> ``"gpt4_reason"``.

    Raises:
        ConfigError: a name that is neither ``original`` nor a plausible ``<model>_reason`` config.
    """
    name = (variant or "").strip()
    if name in ("", ORIGINAL, "examples"):
        return None
    if not set(name) <= _NAME_CHARS:
        raise ConfigError(f"query variant {variant!r} is no file and not a variant name; choose {ORIGINAL}, one of "
                          f"{', '.join(BRIGHT_REASONING_VARIANTS)}, or the path of a rewritten-query file")
    return name if name.endswith("_reason") else f"{name}_reason"


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
    if is_hf_spec(path):   # a Hugging Face dataset of rewritten queries, by query id
        return "by_id", read_queries(path)
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


def apply_query_variant(dataset: Dataset, path: str | os.PathLike | None, *, strict: bool = False,
                        mode: str = "replace", separator: str = "\n\n") -> Dataset:
    """A copy of ``dataset`` whose queries are replaced by (or extended with) the variant's texts.

    Args:
        dataset: the dataset whose queries are swapped.
        path: the variant: ``original`` / ``None`` (no change), a BRIGHT reasoning-query config name
            (always strict), or a variant file (see the module docstring).
        strict: raise when a dataset query has no variant instead of keeping its original text.
        mode: ``replace`` the query, or ``append`` the variant after the original.
        separator: between original and variant in ``append`` mode.

    Raises:
        DataFormatError: unreadable file; with ``strict``, uncovered queries (listing some).
        ConfigError: when the file matches none of the dataset's queries; a named variant that does not
            exist for this dataset (naming the file or Hub config it needs).
    """
    if path is None or not is_variant_file(path):
        config = variant_config(path)  # type: ignore[arg-type]
        if config is None:
            return dataset
        return _apply_named(dataset, config, mode, separator)
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
    report = {"path": str(path), "sha256": file_sha256(path), "kind": kind, "mode": mode, "matched": matched,
              "unmatched": len(unmatched),
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


def _named_rows(dataset: Dataset, config: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of BRIGHT config ``config`` for ``dataset``'s task, and where they came from."""
    meta = dataset.metadata
    source = meta.get("source")
    if dataset.task is None or source not in ("bright-local", "bright-hub"):
        raise ConfigError(f"query variant {config!r} is a BRIGHT config, but {dataset.name} is not a BRIGHT dataset; "
                          f"pass a file of rewritten queries instead")
    if source == "bright-local":
        task_dir = Path(meta["examples"]).parent
        found = bright_variant_file(task_dir, config)
        if found is None:
            raise ConfigError(
                f"query variant {config!r} of BRIGHT task {dataset.task} not found: expected "
                f"{task_dir / (config + '.jsonl')} (or .jsonl.gz / .parquet) with rows {{id, query}} as in the Hub's "
                f"{BRIGHT_HUB_ID} '{config}' config, split {dataset.task}. Download it there, load from the Hub "
                f"(bright:{dataset.task}), or pass a rewritten-query file (--queries FILE)")
        return read_bright_rows(found), {"name": config, "source": "local", "path": str(found),
                                         "sha256": file_sha256(found)}
    datasets = require("datasets", "hf")
    revision = meta.get("revision")
    rows = list(datasets.load_dataset(BRIGHT_HUB_ID, config, split=dataset.task, revision=revision))
    return rows, {"name": config, "source": "hub", "hub_id": BRIGHT_HUB_ID, "config": config, "revision": revision}


def _apply_named(dataset: Dataset, config: str, mode: str, separator: str) -> Dataset:
    rows, origin = _named_rows(dataset, config)
    where = origin.get("path") or f"{BRIGHT_HUB_ID}/{config}"
    mapping = _rows_to_ids(rows, Path(where))
    missing = [q for q in dataset.queries if q not in mapping]
    if missing:
        raise DataFormatError(f"query variant {config!r} lacks {len(missing)} of the {len(dataset.queries)} queries "
                              f"of {dataset.name} (e.g. ids {missing[:5]}); a variant must cover every query", where)
    queries = {q: combine_query(text, mapping[q], mode, separator) for q, text in dataset.queries.items()}
    report = {**origin, "kind": "by_id", "mode": mode, "matched": len(queries), "unmatched": 0,
              "unmatched_ids": [], "file_entries": len(mapping)}
    logger.info("query variant %s: all %d queries of %s replaced (%s)", config, len(queries), dataset.name, where)
    return dataclasses.replace(dataset, queries=queries, metadata={**dataset.metadata, "query_variant": report})


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, or of the queries of an ``hf:`` dataset (for manifests)."""
    h = hashlib.sha256()
    if is_hf_spec(path):
        h.update(json.dumps(read_queries(path), ensure_ascii=False, sort_keys=True).encode("utf-8"))
        return h.hexdigest()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
