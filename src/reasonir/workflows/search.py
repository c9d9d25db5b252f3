"""``reasonir search INDEX_DIR "query"`` and batch search ``--queries FILE [--out run.trec]``.

A batch search without ``--out`` or ``--qrels`` hands its run back for the CLI to print on stdout.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

from ..config import save_config
from ..errors import ConfigError
from ..evaluate import REPORT_METRICS, EvalResult, evaluate, metrics_for_depth
from ..index import MODES, Index, make_snippet
from ..io import read_qrels, read_queries, write_json, write_run
from ..outputs import check_output_file
from ..retrieve.fusion import DEFAULT_RRF_K, FUSIONS, parse_weights
from ..types import Run

logger = logging.getLogger(__name__)


@dataclass
class SearchConfig:
    """Options of ``reasonir search``."""

    PRESET_SECTION: ClassVar[str] = "search"

    index_dir: str = field(metadata={"positional": True, "help": "an index built by `reasonir index build`"})
    query: str | None = field(default=None, metadata={"positional": True, "help": "one query (or use --queries)"})
    queries: str | None = field(default=None, metadata={
        "help": "queries for batch search: JSONL (_id/text), TSV (id<TAB>text) or "
                "hf:NAME[:CONFIG][@SPLIT][?text=FIELD&id=FIELD]"})
    out: str | None = field(default=None, metadata={
        "help": "write the batch run here (TREC format); without --out or --qrels it goes to stdout"})
    top_k: int = field(default=10, metadata={"short": "-k", "aliases": ("k",), "help": "results per query"})
    retriever: str = field(default="hybrid", metadata={"aliases": ("mode",), "help": "retrieval method",
                                                       "choices": MODES})
    instruction: str | None = field(default=None, metadata={"help": "query instruction (default: the index's)"})
    fusion: str = field(default="interpolate", metadata={
        "help": "hybrid fusion: min-max score interpolation or reciprocal rank", "choices": FUSIONS})
    weights: str = field(default="0.5,0.5", metadata={"help": "hybrid weights: dense,bm25"})
    rrf_k: float = field(default=DEFAULT_RRF_K, metadata={"help": "RRF constant"})
    candidates: int = field(default=100, metadata={"help": "per-system candidates fused in hybrid mode"})
    bm25_mode: str = field(default="bm25", metadata={
        "help": "BM25 scoring inside hybrid: bm25q = BRIGHT's query-side BM25 (the paper preset's); the default "
                "bm25 measured better on SciFact and LLM-reasoned queries (benchmarks/RESULTS.md)",
        "choices": ("bm25", "bm25q")})
    exact: bool = field(default=False, metadata={"help": "exact dense search even if the index has ANN"})
    filter: str | None = field(default=None, metadata={
        "help": "metadata filter applied before the top-k, e.g. 'source == \"pubmed\" and year >= 2020' "
                "(==, !=, <, <=, >, >=, in [...], not in [...], and, or, not, parentheses)"})
    model: str | None = field(default=None, metadata={"help": "encoder location override (must be the same model)"})
    device: str = field(default="auto", metadata={"help": "encoder device"})
    batch_size: int | None = field(default=None, metadata={"help": "query encoding batch size"})
    qrels: str | None = field(default=None, metadata={
        "help": "with --queries: search only the judged queries and evaluate the run"})
    metrics: str = field(default=REPORT_METRICS, metadata={
        "help": "metrics reported with --qrels; those deeper than -k are not reported (a warning)"})
    snippet_chars: int = field(default=240, metadata={"help": "snippet length in the printed results"})
    preset: str | None = field(default=None, metadata={
        "help": "settings profile: paper = ReasonIR's published settings; or a folder of <command>.yaml files"})


@dataclass
class SearchOutcome:
    """Results of one search command: ``results`` for a single query, ``run`` (+ ``evaluation``) for a batch."""

    results: list[dict[str, Any]] | None = None
    run: Run | None = None
    evaluation: EvalResult | None = None
    seconds: float = 0.0
    num_queries: int = 0


def hybrid_weights(spec: str | None) -> tuple[float, float]:
    """The ``dense,bm25`` weights of ``--weights`` (default ``0.5,0.5``), finite and non-negative.

    Raises:
        ConfigError: not two numbers, a NaN or infinite weight, a negative weight, or all zero.
    """
    try:
        values = [float(x) for x in spec.split(",")] if spec else []
    except ValueError:
        values = []  # not numbers: parse_weights words that error
    if not all(math.isfinite(w) for w in values):
        raise ConfigError(f"--weights {spec!r}: each weight must be a finite number, e.g. 0.5,0.5 (dense,bm25)")
    weights = parse_weights(spec) or [0.5, 0.5]
    return weights[0], weights[1]


def search_kwargs(cfg: SearchConfig) -> dict[str, Any]:
    """Keyword arguments of :meth:`Index.search` from ``cfg``, validated.

    Raises:
        ConfigError: a bad ``--top-k``, ``--candidates`` or ``--weights``.
    """
    for name, value in (("-k/--top-k", cfg.top_k), ("--candidates", cfg.candidates)):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    return {"mode": cfg.retriever, "instruction": cfg.instruction, "fusion": cfg.fusion,
            "weights": hybrid_weights(cfg.weights), "rrf_k": cfg.rrf_k,
            "candidates": cfg.candidates, "bm25_mode": cfg.bm25_mode, "exact": cfg.exact, "filter": cfg.filter}


def run_search(cfg: SearchConfig) -> SearchOutcome:
    """Search one query (results with snippets) or a queries file (a TREC run, optionally evaluated)."""
    if (cfg.query is None) == (cfg.queries is None):
        raise ConfigError("give exactly one of a QUERY argument or --queries FILE")
    if cfg.out and not cfg.queries:
        raise ConfigError("--out writes a batch run; use it with --queries")
    if cfg.qrels and not cfg.queries:
        raise ConfigError("--qrels evaluates a batch run; use it with --queries")
    if cfg.out:
        check_output_file(cfg.out, "the run (--out)")
    kwargs = search_kwargs(cfg)
    if cfg.qrels:
        metrics_for_depth(cfg.metrics, cfg.top_k)  # nothing measurable in a k-deep run: fail before searching
    index = Index.open(cfg.index_dir, model=cfg.model, device=cfg.device, batch_size=cfg.batch_size)
    try:
        if cfg.query is not None:
            t0 = time.perf_counter()
            hits = index.search([cfg.query], k=cfg.top_k, **kwargs)[0]
            docs = index.documents([h.row for h in hits])
            results = [{"rank": i + 1, "id": h.id, "score": h.score, "dense": h.dense, "bm25": h.bm25,
                        "title": d.title, "snippet": make_snippet(d.text, cfg.query, cfg.snippet_chars)}
                       for i, (h, d) in enumerate(zip(hits, docs))]
            return SearchOutcome(results=results, seconds=time.perf_counter() - t0, num_queries=1)
        queries = read_queries(cast(str, cfg.queries))  # checked above: exactly one of query / queries
        qrels = read_qrels(cfg.qrels) if cfg.qrels else None
        if qrels is not None:
            queries = {q: t for q, t in queries.items() if q in qrels}
            if not queries:
                raise ConfigError(f"no query of {cfg.queries} is judged in {cfg.qrels}")
        t0 = time.perf_counter()
        run = index.search_run(queries, k=cfg.top_k, **kwargs)
        seconds = time.perf_counter() - t0
        logger.info("searched %d queries in %.2fs (%.1f queries/s)", len(queries), seconds,
                    len(queries) / seconds if seconds else 0.0)
        result = evaluate(qrels, run, cfg.metrics, depth=cfg.top_k) if qrels is not None else None
        if cfg.out:
            out = Path(cfg.out)
            write_run(out, run, tag=f"reasonir-{cfg.retriever}", k=cfg.top_k)
            save_config(cfg, out.with_name(out.name + ".config.json"),
                        extra={"index": index.info(), "seconds": round(seconds, 3)})
            if result is not None:
                write_json(out.with_name(out.name + ".metrics.json"), result.to_dict(per_query=True))
        return SearchOutcome(run=run, evaluation=result, seconds=seconds, num_queries=len(queries))
    finally:
        index.close()
