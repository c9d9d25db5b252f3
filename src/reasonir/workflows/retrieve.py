"""``reasonir retrieve``: run a retriever over a dataset, write the run, evaluate it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import save_config
from ..data import Dataset, parse_dataset_spec
from ..errors import ConfigError
from ..evaluate import REPORT_METRICS, EvalResult, evaluate, metrics_for_depth
from ..io import write_json, write_run
from ..outputs import check_output_file, writing
from ..retrieve.retriever import BM25Retriever, Retriever
from ..types import Run

logger = logging.getLogger(__name__)

RETRIEVERS = ("bm25", "bm25q", "dense")
QUERIES_HELP = ("query variant: original, a BRIGHT reasoning config (gpt4_reason, llama3-70b_reason, "
                "claude-3-opus_reason, grit_reason, Gemini-1.0_reason; Hub, or DIR/<task>/<name>.jsonl[.gz]), "
                "or a rewritten-query FILE (JSONL id/query, or a JSON map original->rewritten)")
DEFAULT_REPORT_METRICS = REPORT_METRICS          # the same default in every command


@dataclass
class RetrieveConfig:
    """Options of ``reasonir retrieve``."""

    dataset: str = field(metadata={"help": "beir:PATH, bright:TASK (Hub) or bright:TASK@DIR (local)"})
    retriever: str = field(default="bm25", metadata={
        "help": "bm25 = Lucene BM25; bm25q = BRIGHT's query-side BM25", "choices": RETRIEVERS})
    split: str = field(default="test", metadata={"help": "BEIR qrels split"})
    top_k: int = field(default=1000, metadata={"short": "-k", "help": "documents retrieved per query"})
    out: str | None = field(default=None, metadata={"help": "write the run here (TREC format)"})
    metrics: str = field(default=DEFAULT_REPORT_METRICS, metadata={"help": "comma-separated metrics"})
    long_documents: bool = field(default=False, metadata={"help": "BRIGHT long-document setting"})
    k1: float = field(default=0.9, metadata={"help": "BM25 k1"})
    b: float = field(default=0.4, metadata={"help": "BM25 b"})
    model: str = field(default="minilm", metadata={
        "help": "dense encoder: minilm, smollm2, a Hub id or a local model folder"})
    dtype: str = field(default="auto", metadata={
        "help": "encoder compute dtype", "choices": ("auto", "bf16", "fp16", "fp32")})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, or a comma-separated list"})
    batch_size: int | None = field(default=None, metadata={"help": "encoding batch size (default: per model)"})
    max_length: int | None = field(default=None, metadata={"help": "max tokens per text (default: per model)"})
    instruction: str | None = field(default=None, metadata={
        "help": "query instruction (default: the task's BRIGHT instruction, none for BEIR)"})
    query_variant: str | None = field(default=None, metadata={
        "flag": "--queries", "aliases": ("query_variant",), "help": QUERIES_HELP})


@dataclass
class RetrieveOutcome:
    run: Run
    result: EvalResult
    dataset: Dataset
    seconds: float


def build_retriever(cfg: RetrieveConfig, dataset: Dataset) -> Retriever:
    """The retriever named by ``cfg.retriever`` over ``dataset``'s corpus."""
    if cfg.retriever in ("bm25", "bm25q"):
        return BM25Retriever.from_corpus(dataset.require_corpus(), mode=cfg.retriever, k1=cfg.k1, b=cfg.b)
    if cfg.retriever == "dense":
        from ..retrieve.dense_retriever import DenseRetriever

        return DenseRetriever.from_config(cfg, dataset)
    raise ConfigError(f"unknown retriever {cfg.retriever!r}; choose one of {', '.join(RETRIEVERS)}")


def run_retrieve(cfg: RetrieveConfig) -> RetrieveOutcome:
    """Load the dataset, retrieve, optionally write the run (+ config and metrics), and evaluate."""
    metrics_for_depth(cfg.metrics, cfg.top_k)  # no metric within --top-k: fail before any work
    if cfg.out:
        check_output_file(cfg.out, "the run (--out)")
    dataset = parse_dataset_spec(cfg.dataset, split=cfg.split, long_documents=cfg.long_documents,
                                 queries=cfg.query_variant)
    retriever = build_retriever(cfg, dataset)
    t0 = time.perf_counter()
    run = retriever.search(dataset.queries, k=cfg.top_k, excluded_ids=dataset.excluded_ids or None)
    seconds = time.perf_counter() - t0
    logger.info("retrieved %d queries in %.2fs (%.1f queries/s)", len(run), seconds,
                len(run) / seconds if seconds else float("inf"))
    result = evaluate(dataset.qrels, run, cfg.metrics, excluded_ids=dataset.excluded_ids or None, depth=cfg.top_k)
    if cfg.out:
        out = Path(cfg.out)
        with writing("the run, its config and metrics", out):
            write_run(out, run, tag=f"reasonir-{cfg.retriever}", k=cfg.top_k)
            save_config(cfg, out.with_name(out.name + ".config.json"))
            write_json(out.with_name(out.name + ".metrics.json"), result.to_dict(per_query=True))
    return RetrieveOutcome(run=run, result=result, dataset=dataset, seconds=seconds)
