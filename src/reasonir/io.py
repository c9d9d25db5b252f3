"""Readers and writers for the on-disk formats: JSONL corpora, BEIR folders, parquet, queries,
TREC qrels and runs. Every writer is atomic (temp file + rename); every reader reports bad input with
the file and line number and says how to fix it.

Real files are messy: BRIGHT doc ids contain spaces (``Memory Management_2_0.txt``), qrels come TAB-
or space-separated, runs are space-separated. The TREC parsers split the fixed leading and trailing
columns off and keep whatever is in between, spaces included, as the doc id.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import DataFormatError, require
from .fileio import (
    _UMASK,  # noqa: F401  (reasonir.io._UMASK predates the split into fileio)
    atomic_write,
    is_tsv_corpus,
    iter_jsonl,
    iter_lines,
    iter_tsv_corpus,
    parse_json,
    read_json_file,
    read_json_object,
    write_json,
    write_jsonl,
)
from .hf_spec import hf_records, is_hf_spec, parse_hf_spec
from .ids import check_doc_id, check_query_id, check_unique_ids, id_problem
from .types import Document, Qrels, Queries, Run, top_k

__all__ = ["ID_KEYS", "QUERY_ID_KEYS", "QUERY_TEXT_KEYS", "TEXT_KEYS", "atomic_write", "document_from_record",
           "iter_jsonl", "iter_lines", "parse_json", "read_corpus", "read_json_file", "read_json_object",
           "read_qrels", "read_queries", "read_run", "write_corpus", "write_json", "write_jsonl", "write_qrels",
           "write_queries", "write_run"]

logger = logging.getLogger(__name__)

ID_KEYS = ("_id", "id", "docid", "doc_id")
TEXT_KEYS = ("text", "contents", "content")
QUERY_ID_KEYS = ("_id", "id", "query_id", "qid")
QUERY_TEXT_KEYS = ("text", "query", "contents")


def _pick(obj: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        if key in obj and obj[key] is not None:
            return key, obj[key]
    return None, None


# --------------------------------------------------------------------------------------------------
# corpora
# --------------------------------------------------------------------------------------------------
def document_from_record(obj: Mapping[str, Any], path: str | os.PathLike | None = None,
                         line: int | None = None) -> Document:
    """Build a :class:`Document` from a record with ``_id|id|docid|doc_id`` and ``text|contents|content``.

    The id must follow the rules of :mod:`reasonir.ids` (no TAB, newline or control characters...).

    Raises:
        DataFormatError: naming the missing field and the accepted names, or the invalid id.
    """
    if not isinstance(obj, Mapping):
        raise DataFormatError(f"expected a record (object), got {type(obj).__name__}", path, line)
    id_key, doc_id = _pick(obj, ID_KEYS)
    if id_key is None:
        raise DataFormatError(
            f"record has no document id; expected one of the fields {', '.join(ID_KEYS)} "
            f"(found fields: {', '.join(sorted(map(str, obj))) or 'none'})", path, line)
    doc_id = check_doc_id(doc_id, path, line)
    _, text = _pick(obj, TEXT_KEYS)
    title = obj.get("title") or ""
    if text is None:
        if not title:
            raise DataFormatError(
                f"document {doc_id!r} has no text; expected one of the fields {', '.join(TEXT_KEYS)} "
                f"(found fields: {', '.join(sorted(map(str, obj)))})", path, line)
        text = ""
    if not isinstance(text, str) or not isinstance(title, str):
        raise DataFormatError(f"document {doc_id!r}: text and title must be strings", path, line)
    meta = {k: v for k, v in obj.items() if k not in ID_KEYS and k not in TEXT_KEYS and k != "title"}
    return Document(id=doc_id, text=text, title=title, metadata=meta)


def read_corpus(path: str | os.PathLike) -> list[Document]:
    """Read a corpus from JSONL (``.jsonl[.gz]``), TSV (``id<TAB>text``, ``.tsv[.gz]``), a BEIR folder or parquet.

    Raises:
        DataFormatError: malformed lines, missing fields, duplicate ids.
        FileNotFoundError: when nothing is found at ``path``.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "corpus.jsonl"
        >>> _ = path.write_text('{"_id": "d1", "title": "Ice", "text": "Ice floats."}\\n')
        >>> read_corpus(path)
        [Document(id='d1', text='Ice floats.', title='Ice', metadata={})]
    """
    path = Path(path)
    if path.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz", "corpus.parquet"):
            if (path / name).exists():
                return read_corpus(path / name)
        raise FileNotFoundError(f"{path}: a corpus folder must contain corpus.jsonl[.gz] or corpus.parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such corpus file")
    if path.suffix == ".parquet":
        return _read_parquet_corpus(path)
    docs: list[Document] = []
    lines: list[int] = []
    records = ((n, Document(i, t)) for n, i, t in iter_tsv_corpus(path)) if is_tsv_corpus(path) else (
        (n, document_from_record(obj, path, n)) for n, obj in iter_jsonl(path))
    for lineno, doc in records:
        docs.append(doc)
        lines.append(lineno)
    check_unique_ids((d.id for d in docs), path, lines)
    empty = sum(1 for d in docs if not d.text.strip() and not d.title.strip())
    if empty:
        logger.warning("%s: %d documents have empty text", path, empty)
    return docs


def _read_parquet_corpus(path: Path) -> list[Document]:
    docs = [document_from_record(row, path, i) for i, row in enumerate(read_parquet_rows(path), start=1)]
    check_unique_ids((d.id for d in docs), path)
    return docs


def read_parquet_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a parquet file as dicts.

    Raises:
        DataFormatError: when the file is not a readable parquet file.
        DependencyError: when pyarrow is not installed.
    """
    pq = require("pyarrow.parquet", "parquet", package="pyarrow")
    pa = require("pyarrow", "parquet")
    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(f"cannot read this parquet file ({exc})", path) from None


def write_corpus(path: str | os.PathLike, docs: Iterable[Document]) -> int:
    """Atomically write documents as BEIR-style JSONL (``_id``, ``title``, ``text``, metadata).

    Raises:
        DataFormatError: for a document id that the readers would refuse (nothing is written).
    """
    def rows():
        for i, d in enumerate(docs, start=1):
            check_doc_id(d.id, what=f"document id (document {i} to write)")
            row = {"_id": d.id, "title": d.title, "text": d.text}
            row.update(d.metadata)
            yield row
    return write_jsonl(path, rows())


# --------------------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------------------
def read_queries(path: str | os.PathLike) -> Queries:
    """Read queries from JSONL (``_id|id|query_id|qid`` + ``text|query``), TSV (``qid<TAB>text``) or a
    Hugging Face dataset (``hf:NAME[:CONFIG][@SPLIT][?text=F&id=F]``, :mod:`reasonir.hf_spec`).

    Query ids follow the rules of :mod:`reasonir.ids` (no whitespace, no control characters).

    Raises:
        DataFormatError: malformed lines, missing fields, invalid or duplicate ids.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "queries.tsv"
        >>> _ = path.write_text("q1\\tDoes ice float?\\n")
        >>> read_queries(path)
        {'q1': 'Does ice float?'}
    """
    if is_hf_spec(path):
        spec = str(path)
        records: Iterable[tuple[int, Any]] = hf_records(parse_hf_spec(spec), text_field="text")
        return _queries_from_records(records, spec, "row")
    path = Path(path)
    if not (path.suffix in (".tsv", ".txt") or path.name.endswith((".tsv.gz", ".txt.gz"))):
        return _queries_from_records(iter_jsonl(path), path, "line")
    queries: Queries = {}
    first_line: dict[str, int] = {}
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2:
            raise DataFormatError("expected `query_id<TAB>text`", path, lineno)
        _add_query(queries, first_line, check_query_id(parts[0].strip(), path, lineno), parts[1], path, lineno)
    return queries


def _add_query(queries: Queries, first: dict[str, int], qid: str, text: str, origin: str | Path, at: int,
               unit: str = "line") -> None:
    if qid in queries:
        raise DataFormatError(f"duplicate query id {qid!r} (first at {unit} {first[qid]})", origin, at)
    queries[qid] = text
    first[qid] = at


def _queries_from_records(records: Iterable[tuple[int, Any]], origin: str | Path, unit: str) -> Queries:
    """Queries from ``(line or row, record)`` pairs (JSONL lines, dataset rows)."""
    queries: Queries = {}
    first: dict[str, int] = {}
    for lineno, obj in records:
        id_key, qid = _pick(obj, QUERY_ID_KEYS)
        if id_key is None:
            raise DataFormatError(
                f"query has no id; expected one of {', '.join(QUERY_ID_KEYS)}", origin, lineno)
        text_key, text = _pick(obj, QUERY_TEXT_KEYS)
        if text_key is None or not isinstance(text, str):
            raise DataFormatError(
                f"query {qid!r} has no text; expected one of {', '.join(QUERY_TEXT_KEYS)}", origin, lineno)
        _add_query(queries, first, check_query_id(qid, origin, lineno), text, origin, lineno, unit)
    return queries


def write_queries(path: str | os.PathLike, queries: Mapping[str, str]) -> int:
    """Atomically write queries as BEIR-style JSONL (``_id``, ``text``).

    Raises:
        DataFormatError: for a query id that the readers would refuse (nothing is written).
    """
    for i, qid in enumerate(queries, start=1):
        check_query_id(qid, what=f"query id (entry {i} of the queries to write)")
    return write_jsonl(path, ({"_id": qid, "text": text} for qid, text in queries.items()))


# --------------------------------------------------------------------------------------------------
# qrels
# --------------------------------------------------------------------------------------------------
#: relevance grades are small integers; trec_eval stalls on huge ones, so larger values are refused
MAX_GRADE = 1_000_000
# a decimal number as trec_eval reads one (no "1_000", no non-ASCII digits, no hex)
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = ("nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity")


def _parse_number(value: str, what: str, path: Path, lineno: int) -> float:
    """A finite float from a TREC column, or a :class:`DataFormatError` naming the value."""
    try:   # fast path: what float() reads and the pattern allows (float() also takes "1_0", "١", "nan")
        number = float(value)
        if math.isfinite(number) and value.isascii() and "_" not in value:
            return number
    except ValueError:
        pass
    if value.lower() in _NON_FINITE:
        raise DataFormatError(f"{what} {value!r} is not a finite number", path, lineno)
    if not _NUMBER_RE.fullmatch(value):
        raise DataFormatError(f"{what} {value!r:.80} is not a number", path, lineno)
    number = float(value)
    if not math.isfinite(number):
        raise DataFormatError(f"{what} {value!r:.80} is not a finite number (too large)", path, lineno)
    return number


def _parse_grade(value: str, path: Path, lineno: int) -> int:
    number = _parse_number(value, "relevance", path, lineno)
    if number != int(number):
        raise DataFormatError(f"relevance {value!r} must be an integer grade", path, lineno)
    if abs(number) > MAX_GRADE:
        raise DataFormatError(f"relevance {value!r:.80} is outside -{MAX_GRADE}..{MAX_GRADE}; grades are small "
                              "integers (0 = not relevant, 1, 2, ... = more relevant)", path, lineno)
    return int(number)


def _check_ids(qid: str, doc_id: str, checked: tuple[set[str], set[str]], path: Path, lineno: int) -> None:
    """Validate the ids of one TREC line; ``checked`` remembers (query ids, doc ids) already found valid."""
    if qid not in checked[0]:
        checked[0].add(check_query_id(qid, path, lineno))
    if doc_id not in checked[1]:
        checked[1].add(check_doc_id(doc_id, path, lineno))


def read_qrels(path: str | os.PathLike) -> Qrels:
    """Read relevance judgements in TREC (``qid iter docid rel``) or BEIR TSV (``qid docid rel``) form.

    TAB-separated lines are split on TABs; space-separated TREC lines take the first two and the
    last column, and the doc id is everything in between (it may contain spaces). A BEIR header line
    (``query-id corpus-id score``) is skipped. Ids follow the rules of :mod:`reasonir.ids`.

    Raises:
        DataFormatError: wrong column count, a relevance that is not an integer grade, or an invalid
            id, naming the line.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "qrels.txt"
        >>> _ = path.write_text("q1 0 d1 1\\nq1 0 d2 0\\n")
        >>> read_qrels(path)
        {'q1': {'d1': 1, 'd2': 0}}
    """
    path = Path(path)
    qrels: Qrels = {}
    checked: tuple[set[str], set[str]] = (set(), set())
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        if "\t" in line:
            parts = line.split("\t")
            if len(parts) == 4:
                qid, _, doc_id, rel = parts
            elif len(parts) == 3:
                qid, doc_id, rel = parts
            else:
                raise DataFormatError(
                    f"expected 4 TAB-separated columns `qid iter docid rel` (TREC) or 3 `qid docid rel` "
                    f"(BEIR), got {len(parts)}", path, lineno)
        else:
            head = line.split(None, 2)
            if len(head) < 3:
                raise DataFormatError("expected `qid iter docid rel`", path, lineno)
            tail = head[2].rsplit(None, 1)
            if len(tail) != 2:
                raise DataFormatError("expected `qid iter docid rel`", path, lineno)
            qid, doc_id, rel = head[0], tail[0], tail[1]
        qid, doc_id, rel = qid.strip(), doc_id.strip(), rel.strip()
        if lineno == 1 and not _is_number(rel) and rel.lower() in ("score", "relevance", "rel", "label", "grade"):
            continue  # header, e.g. "query-id corpus-id score"
        grade = _parse_grade(rel, path, lineno)
        _check_ids(qid, doc_id, checked, path, lineno)
        docs = qrels.setdefault(qid, {})
        if doc_id in docs and docs[doc_id] != grade:
            logger.warning("%s:%d: query %s doc %s judged twice (%d, then %d); keeping the last",
                           path, lineno, qid, doc_id, docs[doc_id], grade)
        docs[doc_id] = grade
    return qrels


def _is_number(value: str) -> bool:
    return bool(_NUMBER_RE.fullmatch(value)) or value.lower() in _NON_FINITE


def write_qrels(path: str | os.PathLike, qrels: Qrels) -> None:
    """Atomically write qrels as TAB-separated TREC lines (``qid 0 docid rel``).

    Raises:
        DataFormatError: for an id or grade that :func:`read_qrels` would refuse (nothing is written).
    """
    with atomic_write(path) as fh:
        for qid, docs in qrels.items():
            check_query_id(qid, what="qrels: query id")
            for doc_id, rel in docs.items():
                check_doc_id(doc_id, what=f"qrels of query {qid}: document id")
                if isinstance(rel, bool) or not isinstance(rel, int) or abs(rel) > MAX_GRADE:
                    raise DataFormatError(f"qrels of query {qid}, document {doc_id!r}: relevance {rel!r:.40} "
                                          f"must be an integer in -{MAX_GRADE}..{MAX_GRADE}")
                fh.write(f"{qid}\t0\t{doc_id}\t{rel}\n")


# --------------------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------------------
def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``); the doc id may contain spaces.

    Lines are TAB-separated (exactly 6 columns) or whitespace-separated, where the doc id is
    everything between the second column and the last three. Ids follow the rules of :mod:`reasonir.ids`.

    Raises:
        DataFormatError: wrong column count, a score that is not a finite number, or an invalid id,
            naming the line.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.trec"
        >>> _ = path.write_text("q1 Q0 d1 1 0.9 bm25\\nq1 Q0 d2 2 0.5 bm25\\n")
        >>> read_run(path)
        {'q1': {'d1': 0.9, 'd2': 0.5}}
    """
    path = Path(path)
    run: Run = {}
    checked: tuple[set[str], set[str]] = (set(), set())
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        if "\t" in line and len(line.split("\t")) == 6:
            qid, _, doc_id, _rank, score, _tag = (part.strip() for part in line.split("\t"))
        else:
            head = line.split(None, 2)
            tail = head[2].rsplit(None, 3) if len(head) == 3 else []
            if len(tail) != 4:
                raise DataFormatError(
                    "expected 6 columns `qid Q0 docid rank score tag`", path, lineno)
            qid, doc_id, score = head[0], tail[0], tail[2]
        value = _parse_number(score, "score", path, lineno)
        _check_ids(qid, doc_id, checked, path, lineno)
        docs = run.setdefault(qid, {})
        if doc_id in docs:
            logger.warning("%s:%d: query %s lists doc %s twice; keeping the higher score",
                           path, lineno, qid, doc_id)
            value = max(value, docs[doc_id])
        docs[doc_id] = value
    return run


def write_run(path: str | os.PathLike, run: Run, tag: str = "reasonir", k: int | None = None) -> None:
    """Atomically write a TREC run, each query's documents ranked by score (ties by doc id).

    Raises:
        DataFormatError: for an id or a score (NaN, infinite) that :func:`read_run` would refuse;
            nothing is written.
        ValueError: for a tag that is empty or contains whitespace.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.trec"
        >>> write_run(path, {"q1": {"d2": 0.5, "d1": 0.9}}, tag="bm25")
        >>> print(path.read_text(), end="")
        q1 Q0 d1 1 0.9 bm25
        q1 Q0 d2 2 0.5 bm25
    """
    if not isinstance(tag, str) or id_problem(tag, allow_spaces=False):
        raise ValueError(f"run tag {tag!r} must be a non-empty string without whitespace or control characters")
    with atomic_write(path) as fh:
        for qid, docs in run.items():
            check_query_id(qid, what="run: query id")
            for doc_id, score in docs.items():
                check_doc_id(doc_id, what=f"run of query {qid}: document id")
                if not math.isfinite(score):
                    raise DataFormatError(f"run of query {qid}, document {doc_id!r}: score {score} is not a "
                                          "finite number; a run holds finite scores only")
            for rank, (doc_id, score) in enumerate(top_k(docs, k or 0), start=1):
                fh.write(f"{qid} Q0 {doc_id} {rank} {score:.9g} {tag}\n")
