"""Datasets: BEIR folders and BRIGHT (from the Hugging Face Hub or from local files).

A :class:`Dataset` bundles a corpus, queries, qrels and, for BRIGHT, each query's ``excluded_ids``
(documents that must never be retrieved for that query, e.g. the problem a LeetCode query was taken
from). ``parse_dataset_spec`` turns the CLI's ``beir:PATH`` / ``bright:TASK`` / ``bright:TASK@DIR``
strings into a loaded dataset.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bright_files import BRIGHT_HUB_ID as BRIGHT_HUB_ID
from .bright_files import bright_variant_file as bright_variant_file
from .bright_files import find_config_file as _find
from .bright_files import read_bright_rows as read_bright_rows
from .errors import ConfigError, DataFormatError, require
from .hf_spec import hub_unreachable
from .ids import check_doc_id, check_query_id, check_unique_ids
from .io import document_from_record, read_corpus, read_qrels, read_queries
from .query_variants import apply_query_variant
from .types import Document, ExcludedIds, Qrels, Queries

logger = logging.getLogger(__name__)

BRIGHT_TASKS: tuple[str, ...] = (
    "biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
    "sustainable_living", "leetcode", "pony", "aops", "theoremqa_questions", "theoremqa_theorems",
)
#: Tasks that have a long-document setting (``long_documents`` config, ``gold_ids_long``).
BRIGHT_LONG_TASKS: tuple[str, ...] = BRIGHT_TASKS[:7] + ("pony",)
#: Pinned dataset revision (the one MTEB's BRIGHT tasks pin); override with ``revision=``.
BRIGHT_REVISION = "3066d29c9651a576c8aba4832d249807b181ecae"


@dataclass
class Dataset:
    """A retrieval test collection.

    Attributes:
        name: a short name, e.g. ``"scifact"`` or ``"bright/biology"``.
        queries: ``{query_id: text}``.
        qrels: ``{query_id: {doc_id: grade}}``.
        corpus: the documents, or ``None`` when they were not available (see :meth:`require_corpus`).
        excluded_ids: ``{query_id: {doc_id, ...}}`` that are removed from runs before scoring.
        task: the BRIGHT task id, if any (selects instructions and prompts).
        long_documents: whether this is BRIGHT's long-document setting.
        metadata: free-form provenance (source, revision, files).
    """

    name: str
    queries: Queries
    qrels: Qrels
    corpus: list[Document] | None = None
    excluded_ids: ExcludedIds = field(default_factory=dict)
    task: str | None = None
    long_documents: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    missing_corpus_hint: str = ""

    def require_corpus(self) -> list[Document]:
        """The corpus, or a :class:`ConfigError` saying where documents were expected."""
        if self.corpus is None:
            raise ConfigError(f"dataset {self.name} has no documents loaded. {self.missing_corpus_hint}")
        return self.corpus


# --------------------------------------------------------------------------------------------------
# BEIR
# --------------------------------------------------------------------------------------------------
def load_beir(path: str | os.PathLike, split: str = "test") -> Dataset:
    """Load a BEIR folder: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

    Only the queries judged in ``split`` are kept. Qrels naming documents absent from the corpus are
    reported with a warning (they can never be retrieved, so they only lower recall).

    Raises:
        FileNotFoundError: naming the missing file.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a BEIR folder (expected corpus.jsonl, queries.jsonl, qrels/)")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.exists():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise FileNotFoundError(f"{qrels_path}: no qrels for split {split!r}; available splits: {have or 'none'}")
    queries_path = next((root / n for n in ("queries.jsonl", "queries.jsonl.gz", "queries.tsv")
                         if (root / n).exists()), None)
    if queries_path is None:
        raise FileNotFoundError(f"{root}: missing queries.jsonl")
    corpus = read_corpus(root)
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(queries_path)
    missing_q = [q for q in qrels if q not in all_queries]
    if missing_q:
        raise DataFormatError(
            f"{len(missing_q)} judged queries are not in {queries_path.name} (e.g. {missing_q[:3]})", qrels_path)
    check_qrels_against_corpus(qrels, {d.id for d in corpus}, qrels_path)
    queries = {qid: all_queries[qid] for qid in qrels}
    return Dataset(name=root.name, queries=queries, qrels=qrels, corpus=corpus,
                   metadata={"source": "beir", "path": str(root), "split": split})


def check_qrels_against_corpus(qrels: Qrels, doc_ids: set[str], where: str | os.PathLike) -> int:
    """Warn (once, with examples) about judged documents that are not in the corpus; return the count."""
    unknown = [(q, d) for q, docs in qrels.items() for d in docs if d not in doc_ids]
    if unknown:
        logger.warning("%s: %d judged documents are not in the corpus (e.g. %s); they cannot be retrieved",
                       where, len(unknown), unknown[:3])
    return len(unknown)


# --------------------------------------------------------------------------------------------------
# BRIGHT
# --------------------------------------------------------------------------------------------------
def check_bright_task(task: str) -> str:
    """Return ``task`` if it is a BRIGHT task id, else raise :class:`ConfigError` listing them."""
    if task not in BRIGHT_TASKS:
        raise ConfigError(f"unknown BRIGHT task {task!r}; choose one of: {', '.join(BRIGHT_TASKS)}")
    return task


def _clean_ids(ids: Any, field: str, origin: str, row: int) -> list[str]:
    """The doc ids of a BRIGHT id-list field (``None`` = none; the literal ``"N/A"`` means none)."""
    if ids is None:
        return []
    if not isinstance(ids, (list, tuple)):
        raise DataFormatError(f"BRIGHT field {field!r} must be a list of document ids, got {type(ids).__name__}",
                              origin, row)
    return [check_doc_id(i, origin, row, what=f"{field} entry") for i in ids if i != "N/A"]


def bright_from_examples(task: str, examples: list[dict[str, Any]], corpus: list[Document] | None,
                         long_documents: bool = False, origin: str = "") -> Dataset:
    """Build a BRIGHT :class:`Dataset` from rows of the ``examples`` config (and optional documents)."""
    check_bright_task(task)
    if long_documents and task not in BRIGHT_LONG_TASKS:
        raise ConfigError(f"BRIGHT task {task!r} has no long-document setting; "
                          f"long documents exist for: {', '.join(BRIGHT_LONG_TASKS)}")
    gold_key = "gold_ids_long" if long_documents else "gold_ids"
    queries: Queries = {}
    qrels: Qrels = {}
    excluded: ExcludedIds = {}
    where = origin or task
    for i, ex in enumerate(examples, start=1):
        if not isinstance(ex, dict):
            raise DataFormatError(f"a BRIGHT example must be an object, got {type(ex).__name__}", where, i)
        for key in ("id", "query", gold_key):
            if key not in ex:
                raise DataFormatError(f"BRIGHT example has no {key!r} field", where, i)
        qid = check_query_id(ex["id"], where, i)
        if qid in queries:
            raise DataFormatError(f"duplicate BRIGHT query id {qid!r}", where, i)
        if not isinstance(ex["query"], str):
            raise DataFormatError(f"BRIGHT field 'query' must be a string, got {type(ex['query']).__name__}",
                                  where, i)
        queries[qid] = ex["query"]
        qrels[qid] = {d: 1 for d in _clean_ids(ex[gold_key], gold_key, where, i)}
        ex_ids = set(_clean_ids(ex.get("excluded_ids"), "excluded_ids", where, i))
        overlap = ex_ids & set(qrels[qid])
        if overlap:
            raise DataFormatError(f"query {qid}: excluded ids are also gold: {sorted(overlap)[:3]}", where, i)
        if ex_ids:
            excluded[qid] = ex_ids
    if corpus is not None:
        check_qrels_against_corpus(qrels, {d.id for d in corpus}, origin or task)
    name = f"bright/{task}" + ("-long" if long_documents else "")
    return Dataset(name=name, queries=queries, qrels=qrels, corpus=corpus, excluded_ids=excluded,
                   task=task, long_documents=long_documents)


def load_bright_local(task: str, directory: str | os.PathLike, long_documents: bool = False,
                      documents: str | os.PathLike | None = None, with_corpus: bool = True) -> Dataset:
    """Load a BRIGHT task from local files.

    ``directory`` holds ``<task>/examples.jsonl[.gz]`` (as in ``shared/data/bright``) or is itself
    the task folder. Documents come from ``documents`` when given, else from
    ``<task>/documents.jsonl[.gz]`` / ``.parquet`` (``long_documents.*`` in the long setting); when
    none exist the dataset loads without a corpus (enough to evaluate runs) and
    :meth:`Dataset.require_corpus` explains what is missing. ``with_corpus=False`` skips reading the
    documents (enough to score runs; ``metadata["documents"]`` still names the file that would be read).
    """
    check_bright_task(task)
    root = Path(directory)
    task_dir = root / task if (root / task).is_dir() else root
    examples_path = _find(task_dir, ("examples",))
    if examples_path is None:
        raise FileNotFoundError(f"{task_dir}: no examples.jsonl[.gz] for BRIGHT task {task!r}")
    examples = read_bright_rows(examples_path)
    doc_stem = "long_documents" if long_documents else "documents"
    doc_path = Path(documents) if documents else _find(task_dir, (doc_stem,))
    corpus = read_corpus(doc_path) if doc_path and with_corpus else None
    ds = bright_from_examples(task, examples, corpus, long_documents, origin=str(examples_path))
    ds.metadata = {"source": "bright-local", "examples": str(examples_path),
                   "documents": str(doc_path) if doc_path else None}
    ds.missing_corpus_hint = (
        f"Put the {doc_stem} of {task} at {task_dir / (doc_stem + '.jsonl')} (fields id, content; "
        f"the Hub's {BRIGHT_HUB_ID} '{doc_stem}' config, split {task}), pass documents=PATH, "
        f"or use the Hub spec bright:{task}.")
    return ds


def load_bright(task: str, long_documents: bool = False, *, directory: str | os.PathLike | None = None,
                documents: str | os.PathLike | None = None, query_variant: str | None = None,
                revision: str = BRIGHT_REVISION, cache_dir: str | None = None, with_corpus: bool = True) -> Dataset:
    """Load a BRIGHT task from local files (``directory``) or from the Hub (``xlangai/BRIGHT``).

    Args:
        task: one of :data:`BRIGHT_TASKS`.
        long_documents: use ``long_documents`` and ``gold_ids_long``.
        directory: local folder (see :func:`load_bright_local`); ``None`` loads from the Hub.
        documents: explicit corpus file, overriding the default location.
        query_variant: the queries to use (see :func:`reasonir.query_variants.apply_query_variant`):
            ``None``/``"original"``, a reasoning-query config (``"gpt4_reason"``, short ``"gpt4"``) read
            from the Hub or from ``<directory>/<task>/<config>.jsonl[.gz]``, or a rewritten-query file.
            A named variant that does not exist is an error, never a fall-back to the original queries.
        revision: the Hub dataset revision (pinned by default).
        cache_dir: ``datasets`` cache directory.
        with_corpus: ``False`` loads queries, qrels and excluded ids only (enough to score runs).
    """
    check_bright_task(task)
    if directory is not None:
        ds = load_bright_local(task, directory, long_documents, documents, with_corpus)
    else:
        ds = _load_bright_hub(task, long_documents, documents, revision, cache_dir, with_corpus)
    if query_variant:
        ds = apply_query_variant(ds, query_variant)
    return ds


def _from_hub(datasets: Any, task: str, config: str, kwargs: dict[str, Any]) -> Any:
    """``datasets.load_dataset`` of one BRIGHT config; offline/unreachable is one message naming local files."""
    try:
        return datasets.load_dataset(BRIGHT_HUB_ID, config, **kwargs)
    except (ConnectionError, OSError) as exc:
        raise hub_unreachable(exc, f"cannot fetch BRIGHT task {task!r} ({BRIGHT_HUB_ID}, config {config!r})",
                              f"bright:{task}@DIR (DIR/{task}/examples.jsonl and documents.jsonl; "
                              f"`reasonir bright --data DIR`)") from exc


def _load_bright_hub(task: str, long_documents: bool, documents: str | os.PathLike | None, revision: str,
                     cache_dir: str | None, with_corpus: bool = True) -> Dataset:
    datasets = require("datasets", "hf")
    kwargs = {"split": task, "revision": revision, "cache_dir": cache_dir}
    examples = list(_from_hub(datasets, task, "examples", kwargs))
    doc_config = "long_documents" if long_documents else "documents"
    corpus: list[Document] | None = None
    if documents and with_corpus:
        corpus = read_corpus(documents)
    elif with_corpus:
        rows = _from_hub(datasets, task, doc_config, kwargs)
        origin = f"{BRIGHT_HUB_ID}/{doc_config}"
        corpus = [document_from_record(r, origin, i + 1) for i, r in enumerate(rows)]
        check_unique_ids((d.id for d in corpus), origin)
    ds = bright_from_examples(task, examples, corpus, long_documents, origin=f"{BRIGHT_HUB_ID}/examples")
    ds.metadata = {"source": "bright-hub", "revision": revision, "config": "examples",
                   "documents": str(documents) if documents else f"{BRIGHT_HUB_ID}/{doc_config}"}
    return ds


# --------------------------------------------------------------------------------------------------
# dataset specs (CLI)
# --------------------------------------------------------------------------------------------------
def parse_dataset_spec(spec: str, split: str = "test", long_documents: bool = False,
                       queries: str | None = None) -> Dataset:
    """Load a dataset from a CLI spec.

    * ``beir:PATH`` — a BEIR folder;
    * ``bright:TASK`` — BRIGHT from the Hub;
    * ``bright:TASK@DIR`` — BRIGHT examples (and documents, when present) from ``DIR``.

    ``queries`` picks the query variant (``original``, a BRIGHT reasoning config such as
    ``gpt4_reason``, or a rewritten-query file; see :mod:`reasonir.query_variants`).

    Raises:
        ConfigError: on an unknown scheme or task, listing the valid choices; a named query variant that
            does not exist for the dataset.
    """
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ConfigError(f"dataset spec {spec!r} must look like beir:PATH, bright:TASK or bright:TASK@DIR")
    if scheme == "beir":
        ds = load_beir(rest, split=split)
        if queries:
            ds = apply_query_variant(ds, queries)
        return ds
    if scheme == "bright":
        task, at, directory = rest.partition("@")
        check_bright_task(task)
        return load_bright(task, long_documents, directory=directory if at else None, query_variant=queries)
    raise ConfigError(f"unknown dataset scheme {scheme!r} in {spec!r}; use beir:PATH, bright:TASK or bright:TASK@DIR")


def load_dataset(spec: str | os.PathLike, split: str = "test", long_documents: bool = False,
                 queries: str | None = None) -> Dataset:
    """Load a test collection: ``beir:PATH`` (or just the BEIR folder), ``bright:TASK``, ``bright:TASK@DIR``.

    The public name of :func:`parse_dataset_spec` (the same specs as the CLI's ``--dataset``); a
    path to an existing folder is read as a BEIR folder.

    Examples:
        >>> import json, pathlib, tempfile
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (root / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "Ice floats."}) + "\\n")
        >>> _ = (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "Does ice float?"}) + "\\n")
        >>> (root / "qrels").mkdir()
        >>> _ = (root / "qrels" / "test.tsv").write_text("query-id\\tcorpus-id\\tscore\\nq1\\td1\\t1\\n")
        >>> ds = load_dataset(root)
        >>> ds.queries, ds.qrels, [d.id for d in ds.require_corpus()]
        ({'q1': 'Does ice float?'}, {'q1': {'d1': 1}}, ['d1'])
    """
    if isinstance(spec, os.PathLike) or Path(spec).is_dir():
        spec = f"beir:{os.fspath(spec)}"
    return parse_dataset_spec(spec, split=split, long_documents=long_documents, queries=queries)
