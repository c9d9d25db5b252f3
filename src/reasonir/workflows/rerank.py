"""``reasonir rerank``: rerank a run's top-k with an LLM (pointwise 0-5 grades) or a cross-encoder.

Outputs next to ``--out RUN``:

* ``RUN`` — the final run (``--combine``: ReasonIR's tie-breaking interpolation by default);
* ``RUN.metrics.json`` — metrics of the first-stage top-k, the reranker alone and every combination,
  on the same queries, plus the per-query metrics of the final run (metrics deeper than ``--top-k``
  are listed under ``skipped_metrics`` instead);
* ``RUN.judgements.jsonl`` — one row per pair (grade, how it was read, the LLM's answer);
* ``RUN.config.json`` — the resolved configuration, grade counters (parse failures) and LLM counters.

LLM answers go through the response cache, so an interrupted rerank resumes for free.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import save_config
from ..data import Dataset, parse_dataset_spec
from ..errors import ConfigError, DataFormatError
from ..evaluate import evaluate, metrics_for_depth, warn_skipped
from ..io import read_run, write_json, write_jsonl, write_run
from ..outputs import check_output_file
from ..prompts.rerank import FAMILIES, family_for
from ..rerank import COMBINE_MODES, GRADE_MODES, CrossEncoderReranker, LLMReranker, combine_scores, rerank_run
from ..types import Run
from ._llm import llm_report, open_llm, sample_queries
from .retrieve import DEFAULT_REPORT_METRICS

logger = logging.getLogger(__name__)


@dataclass
class RerankConfig:
    """Options of ``reasonir rerank``."""

    run: str = field(metadata={"help": "first-stage TREC run to rerank"})
    dataset: str = field(metadata={"help": "beir:PATH, bright:TASK (Hub) or bright:TASK@DIR (local, with documents)"})
    reranker: str = field(default="smollm2", metadata={
        "help": "an LLM spec (smollm2, openai:MODEL, http://HOST:PORT/v1#MODEL, vllm:PATH, ...; 'llm:' prefix "
                "optional) or cross-encoder:MODEL"})
    out: str | None = field(default=None, metadata={"help": "write the reranked run here (TREC)"})
    top_k: int = field(default=100, metadata={"help": "documents reranked per query"})
    split: str = field(default="test", metadata={"help": "BEIR qrels split"})
    long_documents: bool = field(default=False, metadata={"help": "BRIGHT long-document setting"})
    query_variant: str | None = field(default=None, metadata={
        "help": "queries the reranker sees: a rewritten-query file (JSONL id/query, or JSON original->rewritten)"})
    prompt: str = field(default="auto", metadata={
        "help": "LLM prompt family (auto: from the BRIGHT task / dataset)", "choices": ("auto",) + FAMILIES})
    combine: str = field(default="interpolate", metadata={
        "help": "final score: interpolate = w*grade/5 + (1-w)*retriever (ReasonIR tie-breaking); "
                "bm25 = 100*grade/5 + score; reranker = grade only", "choices": COMBINE_MODES})
    weight: float = field(default=0.5, metadata={"help": "w of --combine interpolate"})
    combine_run: str | None = field(default=None, metadata={
        "help": "take the scores to combine with from this run (e.g. a deep BM25 run) instead of --run"})
    failure_score: float = field(default=0.0, metadata={"help": "reranker score of a pair whose grade is unreadable"})
    grade_mode: str = field(default="parse", metadata={
        "help": "parse the grade from the text, or take the expected grade from logprobs", "choices": GRADE_MODES})
    max_tokens: int = field(default=32, metadata={"help": "LLM answer budget per pair"})
    temperature: float = field(default=0.0, metadata={"help": "LLM sampling temperature (ReasonIR: 0.6)"})
    top_p: float = field(default=1.0, metadata={"help": "LLM nucleus sampling mass (ReasonIR: 0.9)"})
    seed: int | None = field(default=None, metadata={"help": "LLM sampling seed"})
    logprobs: int = field(default=10, metadata={"help": "top alternatives per token in expected mode"})
    max_doc_words: int = field(default=1500, metadata={"help": "truncate documents to N words (0 = never)"})
    max_query_words: int = field(default=0, metadata={"help": "truncate queries to N words (0 = never)"})
    raw_prompt: bool = field(default=False, metadata={"help": "send a raw completion prompt instead of a chat"})
    sample_queries: int = field(default=0, metadata={"help": "rerank a fixed random sample of N queries (0 = all)"})
    sample_seed: int = field(default=0, metadata={"help": "seed of --sample-queries"})
    pairs_per_call: int = field(default=256, metadata={"help": "pairs handed to the reranker at once"})
    metrics: str = field(default=DEFAULT_REPORT_METRICS, metadata={
        "help": "comma-separated metrics; those deeper than --top-k are not reported (a warning)"})
    ce_max_length: int = field(default=512, metadata={"help": "cross-encoder: tokens per pair"})
    llm_cache: str | None = field(default=None, metadata={
        "help": "LLM response cache: a SQLite path, or 'off' (default: $REASONIR_LLM_CACHE or the user cache)"})
    concurrency: int | None = field(default=None, metadata={"help": "HTTP backends: requests in flight"})
    timeout: float | None = field(default=None, metadata={"help": "HTTP backends: seconds per request"})
    max_retries: int | None = field(default=None, metadata={"help": "HTTP backends: retries per request"})
    batch_size: int | None = field(default=None, metadata={"help": "local LLM / cross-encoder: batch size"})
    device: str | None = field(default=None, metadata={"help": "local backends: cpu, cuda, ..."})
    dtype: str | None = field(default=None, metadata={
        "help": "local LLM compute dtype (transformers, vLLM; auto: fp32 on CPU, bf16 on GPU)",
        "choices": ("auto", "fp32", "bf16", "fp16")})


@dataclass
class RerankOutcome:
    run: Run
    metrics: dict[str, dict[str, float]]
    grades: dict[str, Any]
    llm: dict[str, Any] | None
    dataset: Dataset
    queries: int
    pairs: int
    seconds: float
    skipped_metrics: list[str] = field(default_factory=list)


def build_reranker(cfg: RerankConfig, dataset: Dataset) -> tuple[Any, Any]:
    """The reranker ``cfg.reranker`` names, and the LLM behind it (``None`` for cross-encoders)."""
    spec = cfg.reranker.strip()
    if spec.startswith("cross-encoder:"):
        model = spec.split(":", 1)[1]
        if not model:
            raise ConfigError("cross-encoder:MODEL needs a model id or folder")
        return CrossEncoderReranker(model, max_length=cfg.ce_max_length, batch_size=cfg.batch_size or 32,
                                    device=cfg.device), None
    llm = open_llm(cfg, spec.removeprefix("llm:"))
    family = family_for(dataset.task or dataset.name) if cfg.prompt == "auto" else cfg.prompt
    reranker = LLMReranker(llm, family=family, grade_mode=cfg.grade_mode, max_tokens=cfg.max_tokens,
                           temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed, logprobs=cfg.logprobs,
                           max_doc_words=cfg.max_doc_words, max_query_words=cfg.max_query_words,
                           chat=not cfg.raw_prompt)
    logger.info("LLM reranker %s (prompt family %s)", llm.name, family)
    return reranker, llm


def run_rerank(cfg: RerankConfig, reranker: Any = None) -> RerankOutcome:
    """Rerank, combine, evaluate every variant, and write the outputs.

    Args:
        cfg: the options.
        reranker: an already built reranker (tests, notebooks); default: built from ``cfg``.

    Raises:
        ConfigError: ``--top-k`` below 1, or no metric within the reranked depth (before any work).
        DataFormatError: a run that shares no query with the dataset.
    """
    if cfg.top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {cfg.top_k}")
    if cfg.out:
        check_output_file(cfg.out, "the reranked run (--out)")
    metrics, skipped = metrics_for_depth(cfg.metrics, cfg.top_k)  # the reranked runs are top_k deep
    dataset = parse_dataset_spec(cfg.dataset, split=cfg.split, long_documents=cfg.long_documents)
    if cfg.query_variant:
        from ..query_variants import apply_query_variant

        dataset = apply_query_variant(dataset, cfg.query_variant)
    corpus = dataset.require_corpus()
    documents = {d.id: d.full_text for d in corpus}
    queries = sample_queries(dataset.queries, cfg.sample_queries, cfg.sample_seed)
    first_stage = read_run(cfg.run)
    unknown = [q for q in first_stage if q not in dataset.queries]
    if unknown:
        logger.warning("%s: %d run queries are not in %s and are skipped (e.g. %s)", cfg.run, len(unknown),
                       dataset.name, unknown[:3])
    first_stage = {q: first_stage[q] for q in queries if q in first_stage}
    if not first_stage:
        raise DataFormatError(f"no query of the run is a query of {dataset.name} (run queries e.g. "
                              f"{', '.join(unknown[:3]) or 'none'}); check the run and --dataset", cfg.run)
    own = reranker is None
    if own:
        reranker, llm = build_reranker(cfg, dataset)
    else:
        llm = getattr(reranker, "llm", None)
    t0 = time.perf_counter()
    report: dict[str, Any] | None
    try:
        result = rerank_run(reranker, queries, first_stage, documents, top_k=cfg.top_k,
                            excluded_ids=dataset.excluded_ids or None, pairs_per_call=cfg.pairs_per_call)
    finally:
        if own and llm is not None:
            report = llm_report(llm)
            llm.close()
        else:
            report = llm_report(llm) if llm is not None and hasattr(llm, "summary") else None
    seconds = time.perf_counter() - t0
    scores = result.reranker_scores()
    base = read_run(cfg.combine_run) if cfg.combine_run else result.candidates
    variants: dict[str, Run] = {"retriever": result.candidates,
                                "reranker": combine_scores(scores, base, "reranker", failure_score=cfg.failure_score),
                                "interpolate": combine_scores(scores, base, "interpolate", cfg.weight,
                                                              cfg.failure_score)}
    if cfg.combine_run or cfg.combine == "bm25":
        variants["bm25"] = combine_scores(scores, base, "bm25", failure_score=cfg.failure_score)
    final = variants[cfg.combine]
    qrels = {q: r for q, r in dataset.qrels.items() if q in result.candidates}
    excluded = dataset.excluded_ids or None
    warn_skipped(skipped, cfg.top_k)
    evals = {name: evaluate(qrels, run, metrics, excluded_ids=excluded, depth=cfg.top_k)
             for name, run in variants.items()}
    means = {name: ev.mean for name, ev in evals.items()}
    grades = reranker.counters.to_dict() if isinstance(reranker, LLMReranker) else {"pairs": sum(
        len(d) for d in result.judgements.values())}
    grades["missing_documents"] = result.missing_documents
    pairs = sum(len(d) for d in result.judgements.values())
    if cfg.out:
        _write_outputs(cfg, final, evals, means, result, grades, report, seconds, reranker.name)
    logger.info("reranked %d pairs of %d queries in %.1fs; %s", pairs, len(result.candidates), seconds,
                {k: round(v.get("ndcg@10", 0.0), 4) for k, v in means.items()})
    return RerankOutcome(run=final, metrics=means, grades=grades, llm=report, dataset=dataset,
                         queries=len(result.candidates), pairs=pairs, seconds=seconds, skipped_metrics=skipped)


def _write_outputs(cfg: RerankConfig, final: Run, evals: dict[str, Any], metrics: dict[str, Any], result: Any,
                   grades: dict[str, Any], report: dict[str, Any] | None, seconds: float, name: str) -> None:
    out = Path(cfg.out)  # type: ignore[arg-type]
    write_run(out, final, tag=f"reasonir-rerank-{cfg.combine}")
    write_json(out.with_name(out.name + ".metrics.json"),
               {"variants": metrics, "final": cfg.combine, "per_query": evals[cfg.combine].per_query,
                "skipped_metrics": metrics_for_depth(cfg.metrics, cfg.top_k)[1]})
    rows = ({"qid": q, "doc_id": d, "retriever_score": result.candidates[q][d], "score": s.score,
             "grade": s.grade, "method": s.method, "text": (s.text or "")[:500], **s.extra}
            for q, d, s in result.pairs())
    write_jsonl(out.with_name(out.name + ".judgements.jsonl"), rows)
    save_config(cfg, out.with_name(out.name + ".config.json"),
                extra={"reranker": name, "grades": grades, "llm_stats": report, "seconds": round(seconds, 3)})
