"""Stream documents from a corpus source without holding it in memory, and fingerprint the source.

Sources: a JSONL file (``.jsonl``/``.jsonl.gz``), a TSV collection (``id<TAB>text``, ``.tsv[.gz]``), a
BEIR folder (its ``corpus.jsonl[.gz]`` or ``corpus.parquet``), a parquet file, or a Hugging Face dataset
given in the one ``hf:`` syntax of :mod:`reasonir.hf_spec` (``hf:NAME[:CONFIG][@SPLIT][?text=F&id=F...]``;
``NAME`` may also be a folder written by ``Dataset.save_to_disk``), or documents in memory: an
iterable of :class:`~reasonir.types.Document` or of records, or a ``{doc_id: text | record}`` mapping
(BEIR's in-memory corpus). Records use the same fields as :func:`reasonir.io.document_from_record`
(``_id|id|docid|doc_id``, ``title``, ``text|contents|content``), and in-memory ids pass the same checks
as ids read from files (:mod:`reasonir.ids`).

The fingerprint identifies the exact input a build saw (sha256 of the file bytes; the dataset
fingerprint for HF datasets), so an interrupted build only resumes on the same corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataFormatError, InputError, require
from ..fileio import is_tsv_corpus, iter_tsv_corpus
from ..hf_spec import HFSpec, hf_records, is_hf_spec, load_hf_dataset, parse_hf_spec
from ..ids import check_doc_id
from ..io import document_from_record, iter_jsonl
from ..types import Document
from .layout import sha256_file


@dataclass(frozen=True)
class CorpusSource:
    """A resolved corpus location.

    Attributes:
        spec: what the user gave (for documents in memory, a short description).
        kind: ``"jsonl"``, ``"tsv"``, ``"parquet"``, ``"hf"`` or ``"memory"``.
        path: the file (jsonl/tsv/parquet), or the dataset name or folder (hf).
        config: HF dataset config name, if any.
        split: HF split (default ``"train"``; BEIR-on-Hub corpora use ``"corpus"``).
        documents: the checked documents (``"memory"`` only).
        hf: the parsed ``hf:`` spec (``"hf"`` only).
    """

    spec: str
    kind: str
    path: str
    config: str | None = None
    split: str = "train"
    documents: tuple[Document, ...] = field(default=(), repr=False, compare=False)
    hf: HFSpec | None = field(default=None, repr=False, compare=False)


#: the name in-memory documents are given in error messages (``documents[3]: ...``)
MEMORY_NAME = "documents"
#: what index writes read: a corpus path or spec, or documents in memory
Corpus = str | os.PathLike | Iterable[Any] | Mapping[str, Any]


def resolve_corpus(spec: Corpus | CorpusSource) -> CorpusSource:
    """Resolve a corpus spec (file, BEIR folder, parquet, ``hf:NAME[:CONFIG][@SPLIT][?...]``) or documents in memory.

    Raises:
        FileNotFoundError: when a local path does not exist or a folder holds no corpus file.
        ConfigError: on an unsupported file type.
        InputError: documents in memory that are neither an iterable nor a mapping.
        DataFormatError: an in-memory document without an id or text, or with an invalid id.
    """
    if isinstance(spec, CorpusSource):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        return memory_source(spec)
    text = str(spec)
    if is_hf_spec(text):
        hf = parse_hf_spec(text)
        return CorpusSource(text, "hf", hf.name, hf.config, hf.split, hf=hf)
    path = Path(text)
    if path.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz", "corpus.parquet"):
            if (path / name).exists():
                return resolve_corpus(path / name)
        raise FileNotFoundError(f"{path}: a corpus folder must contain corpus.jsonl[.gz] or corpus.parquet")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such corpus file")
    if path.suffix == ".parquet":
        return CorpusSource(text, "parquet", str(path))
    if path.name.endswith((".jsonl", ".jsonl.gz", ".json", ".ndjson")):
        return CorpusSource(text, "jsonl", str(path))
    if is_tsv_corpus(path):
        return CorpusSource(text, "tsv", str(path))
    raise ConfigError(f"{path}: unsupported corpus file type; use JSONL (.jsonl[.gz]), TSV (id<TAB>text, "
                      ".tsv[.gz]), parquet, a BEIR folder or hf:NAME")


def memory_source(items: Iterable[Any] | Mapping[str, Any]) -> CorpusSource:
    """Check documents given in memory (read once, so a generator works) and wrap them as a source.

    Args:
        items: :class:`Document` objects or records (dicts with an id and a text field), or a mapping
            ``{doc_id: text}`` / ``{doc_id: {"title": ..., "text": ...}}``.

    Raises:
        InputError: ``items`` is bytes, a set, or not iterable.
        DataFormatError: an item without an id or text, an invalid id, non-string text or title,
            or metadata that cannot be stored as JSON, naming the item (``documents[i]``).
    """
    if isinstance(items, (bytes, bytearray, set, frozenset)) or not isinstance(items, Iterable):
        raise InputError(f"documents must be a corpus path, a list of Document objects or records, or a "
                         f"{{doc_id: text}} mapping; got {type(items).__name__}")
    if isinstance(items, Mapping):
        docs = tuple(_from_mapping_item(key, value) for key, value in items.items())
    else:
        docs = tuple(_from_item(obj, f"{MEMORY_NAME}[{i}]") for i, obj in enumerate(items))
    return CorpusSource(f"<{len(docs)} documents in memory>", "memory", "", documents=docs)


def _from_mapping_item(key: Any, value: Any) -> Document:
    where = f"{MEMORY_NAME}[{key!r}]"
    doc_id = check_doc_id(key, where)
    if isinstance(value, str):
        return Document(doc_id, value)
    if isinstance(value, Mapping):
        return document_from_record({**value, "_id": doc_id}, where)
    raise DataFormatError(f"expected the document's text or a record with a text field, got {type(value).__name__}",
                          where)


def _from_item(obj: Any, where: str) -> Document:
    if isinstance(obj, Mapping):
        return document_from_record(obj, where)
    if not isinstance(obj, Document):
        hint = "; give each document an id" if isinstance(obj, str) else ""
        raise DataFormatError(f"expected a Document or a record with an id and a text field, got "
                              f"{type(obj).__name__}{hint}", where)
    doc_id = check_doc_id(obj.id, where)
    if not isinstance(obj.text, str) or not isinstance(obj.title, str):
        raise DataFormatError(f"document {doc_id!r}: text and title must be strings", where)
    try:
        json.dumps(obj.metadata, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"document {doc_id!r}: metadata cannot be stored as JSON ({exc})", where) from None
    return obj if doc_id == obj.id else Document(doc_id, obj.text, obj.title, obj.metadata)


def fingerprint(source: CorpusSource) -> str:
    """A string that changes whenever the corpus content changes."""
    if source.kind in ("jsonl", "tsv", "parquet"):
        return "sha256:" + sha256_file(source.path)
    if source.kind == "memory":
        h = hashlib.sha256()
        for d in source.documents:
            h.update(json.dumps([d.id, d.title, d.text, d.metadata], ensure_ascii=False, sort_keys=True).encode())
            h.update(b"\n")
        return "sha256:" + h.hexdigest()
    ds = load_hf_dataset(_hf(source))
    fp = getattr(ds, "_fingerprint", None)
    hf = _hf(source)
    mapping = f":text={hf.text}:id={hf.id}:title={hf.title}" if (hf.text or hf.id or hf.title) else ""
    return (f"hf:{fp}{mapping}" if fp else
            f"hf:{source.path}:{source.config}:{source.split}:{len(ds)}{mapping}")


def iter_documents(source: CorpusSource) -> Iterator[tuple[Document, str]]:
    """Yield ``(document, location)`` in corpus order; location is ``"file:line"`` or ``"name row N"``.

    Every record goes through :func:`reasonir.io.document_from_record`, so ids follow the rules of
    :mod:`reasonir.ids` whatever the source; duplicates are refused by the index builder.

    Raises:
        DataFormatError: on a malformed record or an invalid id, naming file and line (or row), or on
            a parquet file that cannot be read.
    """
    if source.kind == "jsonl":
        for lineno, obj in iter_jsonl(source.path):
            yield document_from_record(obj, source.path, lineno), f"{source.path}:{lineno}"
    elif source.kind == "tsv":
        for lineno, doc_id, text in iter_tsv_corpus(source.path):
            yield Document(doc_id, text), f"{source.path}:{lineno}"
    elif source.kind == "memory":
        for i, doc in enumerate(source.documents):
            yield doc, f"{MEMORY_NAME}[{i}]"
    elif source.kind == "parquet":
        for row, rec in enumerate(_parquet_records(source.path), start=1):
            yield document_from_record(rec, source.path, row), f"{source.path} row {row}"
    else:
        for row, rec in hf_records(_hf(source), text_field="text"):
            yield document_from_record(rec, source.spec, row), f"{source.spec} row {row}"


def _parquet_records(path: str) -> Iterator[dict]:
    """The rows of a parquet file, streamed in batches; unreadable files raise DataFormatError."""
    pq = require("pyarrow.parquet", "parquet", package="pyarrow")
    pa = require("pyarrow", "parquet")
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise DataFormatError(f"cannot read this parquet file ({exc})", path) from None


def _hf(source: CorpusSource) -> HFSpec:
    """The parsed spec of an ``hf`` source (also for a source made by hand without one)."""
    return source.hf or HFSpec(source.spec, source.path, source.config, source.split)
