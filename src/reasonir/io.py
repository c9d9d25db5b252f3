"""Readers and writers for the on-disk formats: JSONL corpora, BEIR folders, parquet, queries,
TREC qrels and runs. Every writer is atomic (temp file + rename); every reader reports bad input with
the file and line number and says how to fix it.

Real files are messy: BRIGHT doc ids contain spaces (``Memory Management_2_0.txt``), qrels come TAB-
or space-separated, runs are space-separated. The TREC parsers split the fixed leading and trailing
columns off and keep whatever is in between, spaces included, as the doc id.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .errors import DataFormatError, require
from .types import Document, Qrels, Queries, Run, top_k

logger = logging.getLogger(__name__)

ID_KEYS = ("_id", "id", "docid", "doc_id")
TEXT_KEYS = ("text", "contents", "content")
QUERY_ID_KEYS = ("_id", "id", "query_id", "qid")
QUERY_TEXT_KEYS = ("text", "query", "contents")


# --------------------------------------------------------------------------------------------------
# atomic writes and raw line reading
# --------------------------------------------------------------------------------------------------
def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()   # read once at import: os.umask is process-global and not thread-safe


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    A crash or exception leaves ``path`` untouched (old content or absent), never half-written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)   # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Atomically write ``obj`` as JSON (UTF-8, keys in insertion order)."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")


def _open_binary(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 text file (``.gz`` transparently).

    Raises:
        DataFormatError: on bytes that are not UTF-8, naming the line and byte offset.
        FileNotFoundError: when the file does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataFormatError(
                    f"bytes {raw[max(0, exc.start - 10):exc.end + 10]!r} at byte {exc.start} of the line are not "
                    "valid UTF-8; re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                    path, lineno,
                ) from None
            if lineno == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield lineno, text.rstrip("\r\n")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file.

    Raises:
        DataFormatError: on a line that is not a JSON object.
    """
    for lineno, text in iter_lines(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"invalid JSON ({exc.msg} at column {exc.colno}); each line must be one JSON object",
                path, lineno,
            ) from None
        if not isinstance(obj, dict):
            raise DataFormatError(
                f"expected a JSON object per line, got {type(obj).__name__}", path, lineno
            )
        yield lineno, obj


def write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> int:
    """Atomically write rows as JSONL; returns the number of rows written."""
    n = 0
    with atomic_write(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False))
            fh.write("\n")
            n += 1
    return n


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

    Raises:
        DataFormatError: naming the missing field and the accepted names.
    """
    id_key, doc_id = _pick(obj, ID_KEYS)
    if id_key is None:
        raise DataFormatError(
            f"record has no document id; expected one of the fields {', '.join(ID_KEYS)} "
            f"(found fields: {', '.join(sorted(obj)) or 'none'})", path, line)
    _, text = _pick(obj, TEXT_KEYS)
    title = obj.get("title") or ""
    if text is None:
        if not title:
            raise DataFormatError(
                f"document {doc_id!r} has no text; expected one of the fields {', '.join(TEXT_KEYS)} "
                f"(found fields: {', '.join(sorted(obj))})", path, line)
        text = ""
    if not isinstance(text, str) or not isinstance(title, str):
        raise DataFormatError(f"document {doc_id!r}: text and title must be strings", path, line)
    meta = {k: v for k, v in obj.items() if k not in ID_KEYS and k not in TEXT_KEYS and k != "title"}
    return Document(id=str(doc_id), text=text, title=title, metadata=meta)


def _check_unique(docs: list[Document], origin: list[int] | None, path: Path) -> None:
    seen: dict[str, int] = {}
    for i, doc in enumerate(docs):
        if doc.id in seen:
            first = origin[seen[doc.id]] if origin else seen[doc.id] + 1
            here = origin[i] if origin else i + 1
            raise DataFormatError(
                f"duplicate document id {doc.id!r} (first seen at line/row {first}); document ids must "
                "be unique, remove or rename the duplicate", path, here)
        seen[doc.id] = i


def read_corpus(path: str | os.PathLike) -> list[Document]:
    """Read a corpus from a JSONL file (``.jsonl``/``.jsonl.gz``), a BEIR folder or a parquet file.

    Raises:
        DataFormatError: malformed lines, missing fields, duplicate ids.
        FileNotFoundError: when nothing is found at ``path``.
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
    for lineno, obj in iter_jsonl(path):
        docs.append(document_from_record(obj, path, lineno))
        lines.append(lineno)
    _check_unique(docs, lines, path)
    empty = sum(1 for d in docs if not d.text.strip() and not d.title.strip())
    if empty:
        logger.warning("%s: %d documents have empty text", path, empty)
    return docs


def _read_parquet_corpus(path: Path) -> list[Document]:
    pq = require("pyarrow.parquet", "parquet", package="pyarrow")
    table = pq.read_table(path)
    docs = [document_from_record(row, path, i + 1) for i, row in enumerate(table.to_pylist())]
    _check_unique(docs, None, path)
    return docs


def write_corpus(path: str | os.PathLike, docs: Iterable[Document]) -> int:
    """Atomically write documents as BEIR-style JSONL (``_id``, ``title``, ``text``, metadata)."""
    def rows():
        for d in docs:
            row = {"_id": d.id, "title": d.title, "text": d.text}
            row.update(d.metadata)
            yield row
    return write_jsonl(path, rows())


# --------------------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------------------
def read_queries(path: str | os.PathLike) -> Queries:
    """Read queries from JSONL (``_id|id|query_id|qid`` + ``text|query``) or TSV (``qid<TAB>text``).

    Raises:
        DataFormatError: malformed lines, missing fields, duplicate ids.
    """
    path = Path(path)
    queries: Queries = {}
    first_line: dict[str, int] = {}
    is_tsv = path.suffix in (".tsv", ".txt") or path.name.endswith((".tsv.gz", ".txt.gz"))

    def add(qid: str, text: str, lineno: int) -> None:
        if qid in queries:
            raise DataFormatError(
                f"duplicate query id {qid!r} (first at line {first_line[qid]})", path, lineno)
        queries[qid] = text
        first_line[qid] = lineno

    if is_tsv:
        for lineno, line in iter_lines(path):
            if not line.strip():
                continue
            parts = line.split("\t", 1)
            if len(parts) != 2:
                raise DataFormatError("expected `query_id<TAB>text`", path, lineno)
            add(parts[0].strip(), parts[1], lineno)
        return queries
    for lineno, obj in iter_jsonl(path):
        id_key, qid = _pick(obj, QUERY_ID_KEYS)
        if id_key is None:
            raise DataFormatError(
                f"query has no id; expected one of {', '.join(QUERY_ID_KEYS)}", path, lineno)
        text_key, text = _pick(obj, QUERY_TEXT_KEYS)
        if text_key is None or not isinstance(text, str):
            raise DataFormatError(
                f"query {qid!r} has no text; expected one of {', '.join(QUERY_TEXT_KEYS)}", path, lineno)
        add(str(qid), text, lineno)
    return queries


def write_queries(path: str | os.PathLike, queries: Mapping[str, str]) -> int:
    """Atomically write queries as BEIR-style JSONL (``_id``, ``text``)."""
    return write_jsonl(path, ({"_id": qid, "text": text} for qid, text in queries.items()))


# --------------------------------------------------------------------------------------------------
# qrels
# --------------------------------------------------------------------------------------------------
def _parse_int(value: str, what: str, path: Path, lineno: int) -> int:
    try:
        return int(value)
    except ValueError:
        try:
            as_float = float(value)
        except ValueError:
            raise DataFormatError(f"{what} {value!r} is not a number", path, lineno) from None
        if as_float != int(as_float):
            raise DataFormatError(f"{what} {value!r} must be an integer grade", path, lineno)
        return int(as_float)


def read_qrels(path: str | os.PathLike) -> Qrels:
    """Read relevance judgements in TREC (``qid iter docid rel``) or BEIR TSV (``qid docid rel``) form.

    TAB-separated lines are split on TABs; space-separated TREC lines take the first two and the
    last column, and the doc id is everything in between (it may contain spaces). A BEIR header line
    (``query-id corpus-id score``) is skipped.

    Raises:
        DataFormatError: wrong column count or non-numeric relevance, naming the line.
    """
    path = Path(path)
    qrels: Qrels = {}
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
        grade = _parse_int(rel, "relevance", path, lineno)
        docs = qrels.setdefault(qid, {})
        if doc_id in docs and docs[doc_id] != grade:
            logger.warning("%s:%d: query %s doc %s judged twice (%d, then %d); keeping the last",
                           path, lineno, qid, doc_id, docs[doc_id], grade)
        docs[doc_id] = grade
    return qrels


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def write_qrels(path: str | os.PathLike, qrels: Qrels) -> None:
    """Atomically write qrels as TAB-separated TREC lines (``qid 0 docid rel``)."""
    with atomic_write(path) as fh:
        for qid, docs in qrels.items():
            for doc_id, rel in docs.items():
                fh.write(f"{qid}\t0\t{doc_id}\t{rel}\n")


# --------------------------------------------------------------------------------------------------
# runs
# --------------------------------------------------------------------------------------------------
def read_run(path: str | os.PathLike) -> Run:
    """Read a TREC run (``qid Q0 docid rank score tag``); the doc id may contain spaces.

    Raises:
        DataFormatError: wrong column count or a non-numeric score, naming the line.
    """
    path = Path(path)
    run: Run = {}
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        if "\t" in line and len(line.split("\t")) == 6:
            qid, _, doc_id, _rank, score, _tag = line.split("\t")
        else:
            head = line.split(None, 2)
            tail = head[2].rsplit(None, 3) if len(head) == 3 else []
            if len(tail) != 4:
                raise DataFormatError(
                    "expected 6 columns `qid Q0 docid rank score tag`", path, lineno)
            qid, doc_id, score = head[0], tail[0], tail[2]
        try:
            value = float(score)
        except ValueError:
            raise DataFormatError(f"score {score!r} is not a number", path, lineno) from None
        if not -float("inf") < value < float("inf"):
            raise DataFormatError(f"score {score!r} is not a finite number", path, lineno)
        docs = run.setdefault(qid, {})
        if doc_id in docs:
            logger.warning("%s:%d: query %s lists doc %s twice; keeping the higher score",
                           path, lineno, qid, doc_id)
            value = max(value, docs[doc_id])
        docs[doc_id] = value
    return run


def write_run(path: str | os.PathLike, run: Run, tag: str = "reasonir", k: int | None = None) -> None:
    """Atomically write a TREC run, each query's documents ranked by score (ties by doc id)."""
    if any(ch.isspace() for ch in tag) or not tag:
        raise ValueError(f"run tag {tag!r} must be a non-empty string without whitespace")
    with atomic_write(path) as fh:
        for qid, docs in run.items():
            for rank, (doc_id, score) in enumerate(top_k(docs, k or 0), start=1):
                fh.write(f"{qid} Q0 {doc_id} {rank} {score:.9g} {tag}\n")
