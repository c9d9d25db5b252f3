"""``reasonir rewrite``: rewrite a dataset's queries with an LLM (test-time reasoning expansion).

Writes one JSONL row per query (``id``, ``query`` = the text to retrieve with, ``original``,
``reasoning``, provenance) that ``reasonir retrieve --queries FILE`` reads, plus
``FILE.config.json`` with the resolved configuration and the LLM counters (calls, cache hits, tokens,
cost). Answers go through the response cache: re-running the same command makes no LLM calls.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..config import save_config
from ..data import parse_dataset_spec
from ..io import write_jsonl
from ..outputs import check_output_file
from ..rewrite import REWRITE_MODES, QueryRewriter, RewrittenQuery, rewrite_prompts
from ._llm import LLMBackendFields, llm_report, open_llm, sample_queries

logger = logging.getLogger(__name__)


@dataclass
class _RewriteFields:
    """The options of ``reasonir rewrite`` listed before the LLM backend options."""

    dataset: str = field(metadata={"help": "beir:PATH, bright:TASK (Hub) or bright:TASK@DIR (local)"})
    out: str = field(metadata={"help": "output JSONL of rewritten queries"})
    llm: str = field(default="smollm2", metadata={
        "help": "LLM spec: smollm2, transformers:PATH, openai:MODEL, openai-batch:MODEL, "
                "http://HOST:PORT/v1#MODEL, vllm:PATH"})
    max_tokens: int = field(default=512, metadata={"help": "output token budget per rewrite (ReasonIR: up to 2048)"})
    mode: str = field(default="replace", metadata={
        "help": "replace the query with the reasoning, or append the reasoning to it", "choices": REWRITE_MODES})
    length_clause: bool = field(default=True, metadata={"help": "announce the token budget in the prompt"})
    separator: str = field(default="\n\n", metadata={"help": "between query and reasoning in append mode"})
    temperature: float = field(default=0.0, metadata={"help": "sampling temperature (0 = greedy)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    seed: int | None = field(default=None, metadata={"help": "sampling seed"})
    split: str = field(default="test", metadata={"help": "BEIR qrels split"})
    query_variant: str | None = field(default=None, metadata={
        "flag": "--queries", "aliases": ("query_variant",),
        "help": "queries to rewrite: original, a BRIGHT reasoning config (gpt4_reason, ...) "
                "or a rewritten-query FILE (see `reasonir retrieve --help`)"})
    sample_queries: int = field(default=0, metadata={"help": "rewrite a fixed random sample of N queries (0 = all)"})
    sample_seed: int = field(default=0, metadata={"help": "seed of --sample-queries"})


@dataclass
class RewriteConfig(LLMBackendFields, _RewriteFields):
    """Options of ``reasonir rewrite`` (``--preset paper``: ReasonIR's sampling and token budget,
    ``reasonir/prompts/presets/paper/rewrite.yaml``)."""

    PRESET_SECTION: ClassVar[str] = "rewrite"

    prompt_template: list[str] = field(default_factory=list, metadata={
        "help": "replace prompt templates: FILE (the user message) or NAME=FILE, NAME one of system, user, "
                "length_clause; placeholders in reasonir.prompts.rewrite"})
    prompts: dict[str, str] = field(default_factory=dict, metadata={
        "cli": False, "help": "replace prompt templates: {NAME: FILE} (config files)"})
    preset: str | None = field(default=None, metadata={
        "help": "settings profile: paper = ReasonIR's published settings; or a folder of <command>.yaml files"})


@dataclass
class RewriteOutcome:
    rewrites: dict[str, RewrittenQuery]
    llm: dict[str, Any]
    lengths: dict[str, float]
    seconds: float


def _length_stats(rewrites: dict[str, RewrittenQuery]) -> dict[str, float]:
    words = [len(r.query.split()) for r in rewrites.values()] or [0]
    orig = [len(r.original.split()) for r in rewrites.values()] or [0]
    toks = [r.completion_tokens for r in rewrites.values()] or [0]
    return {"queries": len(rewrites), "mean_words_original": round(statistics.mean(orig), 1),
            "mean_words_rewritten": round(statistics.mean(words), 1),
            "mean_completion_tokens": round(statistics.mean(toks), 1),
            "hit_budget": sum(1 for r in rewrites.values() if r.finish_reason == "length"),
            "fallbacks": sum(1 for r in rewrites.values() if r.fallback)}


def run_rewrite(cfg: RewriteConfig, llm: Any = None) -> RewriteOutcome:
    """Rewrite the dataset's (sampled) queries and write the JSONL file and its config.

    Args:
        cfg: the options.
        llm: an already built LLM (tests, notebooks); default: opened from ``cfg``.
    """
    check_output_file(cfg.out, "the rewritten queries (--out)")
    prompts = rewrite_prompts(cfg.prompts, cfg.prompt_template)     # a bad template fails before any work
    dataset = parse_dataset_spec(cfg.dataset, split=cfg.split, queries=cfg.query_variant)
    queries = sample_queries(dataset.queries, cfg.sample_queries, cfg.sample_seed)
    own = llm is None
    llm = open_llm(cfg) if own else llm
    try:
        rewriter = QueryRewriter(llm, max_tokens=cfg.max_tokens, mode=cfg.mode, temperature=cfg.temperature,
                                 top_p=cfg.top_p, seed=cfg.seed, length_clause=cfg.length_clause,
                                 separator=cfg.separator, prompts=prompts)
        t0 = time.perf_counter()
        rewrites = rewriter.rewrite(queries)
        seconds = time.perf_counter() - t0
        prov = {**rewriter.provenance(), "dataset": dataset.name}
        out = Path(cfg.out)
        write_jsonl(out, (r.to_row(**prov) for r in rewrites.values()))
        report = llm_report(llm) if hasattr(llm, "summary") else {"llm": llm.name}
        lengths = _length_stats(rewrites)
        save_config(cfg, out.with_name(out.name + ".config.json"),
                    extra={"llm_stats": report, "lengths": lengths, "seconds": round(seconds, 3), **prov,
                           "prompt_templates": prompts.manifest()})
        logger.info("rewrote %d queries in %.1fs (%s)", len(rewrites), seconds, report)
    finally:
        if own:
            llm.close()
    return RewriteOutcome(rewrites=rewrites, llm=report, lengths=lengths, seconds=seconds)
