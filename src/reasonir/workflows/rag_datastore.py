"""``reasonir rag-datastore``: merge the documents ranked in TREC runs into one deduplicated corpus."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..io import read_run, write_corpus, write_json
from ..outputs import check_output_file
from ..rag.datastore import DatastoreStats, merge_runs
from .rag import corpus_text_lookup


@dataclass
class RagDatastoreConfig:
    """Options of ``reasonir rag-datastore``."""

    run: list[str] = field(metadata={"aliases": ("runs",), "help": "TREC run file(s) whose documents are merged"})
    out: str = field(metadata={"help": "output corpus (JSONL); counts go to OUT.stats.json"})
    corpus: str | None = field(default=None, metadata={
        "help": "corpus (JSONL or BEIR folder) holding the ranked documents"})
    index: str | None = field(default=None, metadata={"help": "or: a reasonir index holding them"})
    top_k: int | None = field(default=None, metadata={
        "short": "-k", "aliases": ("k",), "help": "documents per query and run (default: all)"})
    normalize_whitespace: bool = field(default=False, metadata={
        "help": "treat texts that differ only in whitespace as duplicates"})


def run_rag_datastore(cfg: RagDatastoreConfig) -> DatastoreStats:
    """Merge the top ``cfg.top_k`` documents of every query of every run into ``cfg.out``.

    Raises:
        ConfigError: when neither or both of ``corpus`` and ``index`` are given, or ``top_k`` < 1.
    """
    if bool(cfg.corpus) == bool(cfg.index):
        raise ConfigError("rag-datastore: pass exactly one of --corpus or --index for the document texts")
    if cfg.top_k is not None and cfg.top_k < 1:
        raise ConfigError(f"rag-datastore: --top-k must be at least 1, got {cfg.top_k}")
    check_output_file(cfg.out, "the merged corpus (--out)")
    texts = corpus_text_lookup(corpus=cfg.corpus, index=cfg.index)
    docs, stats = merge_runs(((r, read_run(r)) for r in cfg.run), texts, k=cfg.top_k,
                             normalize=cfg.normalize_whitespace)
    write_corpus(cfg.out, docs)
    write_json(Path(str(cfg.out) + ".stats.json"), stats.to_dict())
    return stats
