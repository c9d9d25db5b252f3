"""Stream documents from a corpus source without holding it in memory, and fingerprint the source.

Sources: a JSONL file (``.jsonl``/``.jsonl.gz``), a BEIR folder (its ``corpus.jsonl[.gz]`` or
``corpus.parquet``), a parquet file, or a Hugging Face dataset given as ``hf:NAME[:CONFIG][@SPLIT]``
(``NAME`` may also be a folder written by ``Dataset.save_to_disk``). Records use the same fields as
:func:`reasonir.io.document_from_record` (``_id|id|docid|doc_id``, ``title``, ``text|contents|content``).

The fingerprint identifies the exact input a build saw (sha256 of the file bytes; the dataset
fingerprint for HF datasets), so an interrupted build only resumes on the same corpus.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataFormatError, require
from ..io import document_from_record, iter_jsonl
from ..types import Document
from .layout import sha256_file


@dataclass(frozen=True)
class CorpusSource:
    """A resolved corpus location.

    Attributes:
        spec: what the user gave.
        kind: ``"jsonl"``, ``"parquet"`` or ``"hf"``.
        path: the file (jsonl/parquet), or the dataset name or folder (hf).
        config: HF dataset config name, if any.
        split: HF split (default ``"train"``; BEIR-on-Hub corpora use ``"corpus"``).
    """

    spec: str
    kind: str
    path: str
    config: str | None = None
    split: str = "train"


def resolve_corpus(spec: str | os.PathLike) -> CorpusSource:
    """Resolve a corpus spec (file, BEIR folder, parquet, ``hf:NAME[:CONFIG][@SPLIT]``).

    Raises:
        FileNotFoundError: when a local path does not exist or a folder holds no corpus file.
        ConfigError: on an unsupported file type.
    """
    text = str(spec)
    if text.startswith("hf:"):
        name = text[3:]
        split = "train"
        if "@" in name:
            name, split = name.rsplit("@", 1)
        config = None
        if ":" in name and not Path(name).exists():
            name, config = name.split(":", 1)
        if not name:
            raise ConfigError(f"corpus {text!r}: expected hf:NAME[:CONFIG][@SPLIT], e.g. hf:BeIR/scifact:corpus@corpus")
        return CorpusSource(text, "hf", name, config, split)
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
    raise ConfigError(f"{path}: unsupported corpus file type; use JSONL (.jsonl[.gz]), parquet, a BEIR folder "
                      "or hf:NAME")


def fingerprint(source: CorpusSource) -> str:
    """A string that changes whenever the corpus content changes."""
    if source.kind in ("jsonl", "parquet"):
        return "sha256:" + sha256_file(source.path)
    ds = _load_hf(source)
    fp = getattr(ds, "_fingerprint", None)
    return f"hf:{fp}" if fp else f"hf:{source.path}:{source.config}:{source.split}:{len(ds)}"


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
    elif source.kind == "parquet":
        for row, rec in enumerate(_parquet_records(source.path), start=1):
            yield document_from_record(rec, source.path, row), f"{source.path} row {row}"
    else:
        ds = _load_hf(source)
        for row, rec in enumerate(ds, start=1):
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


def _load_hf(source: CorpusSource):
    datasets = require("datasets", "hf")
    if Path(source.path).is_dir():
        ds = datasets.load_from_disk(source.path)
        if isinstance(ds, datasets.DatasetDict):
            if source.split not in ds:
                raise ConfigError(f"{source.spec}: split {source.split!r} not found; splits: {', '.join(ds)}")
            ds = ds[source.split]
        return ds
    return datasets.load_dataset(source.path, source.config, split=source.split)
