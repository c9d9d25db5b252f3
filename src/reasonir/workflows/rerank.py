"""``reasonir rerank``: rerank a run's top-k with an LLM (pointwise 0-5 grades) or a cross-encoder.

Outputs next to ``--out RUN``:

* ``RUN`` — the final run (``--combine``: ReasonIR's tie-breaking interpolation by default);
* ``RUN.metrics.json`` — metrics of the first-stage top-k, the reranker alone and every combination,
  on the same queries, plus the per-query metrics of the final run (metrics deeper than ``--top-k``
  are listed under ``skipped_metrics`` instead);
* ``RUN.judgements.jsonl`` — one row per pair (grade, how it was read, the LLM's answer);
* ``RUN.config.json`` — the resolved configuration (with the preset and its sha256), the query variant,
  the prompt family and the sha256 of its template, the context length used, grade counters (parse
  failures, pairs cut by ``--max-doc-words`` and to fit the context) and LLM counters.

``--preset paper`` (``reasonir/prompts/presets/paper/rerank.yaml``) selects ReasonIR's reranker settings:
a raw completion prompt, temperature 0.6 / top_p 0.9, whole documents cut only at the LLM's context,
the query variant the first-stage run was retrieved with (``--queries from-run``), the top 100, the
0.5/0.5 interpolation, the reference's strict grade parse (failures score -1), and the general prompt for
BRIGHT's StackExchange tasks. Prompt wording stays ours; ``--prompt-template`` replaces it (see
:mod:`reasonir.prompts.rerank`).

LLM answers go through the response cache, so an interrupted rerank resumes for free.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..config import save_config
from ..data import Dataset, parse_dataset_spec
from ..errors import ConfigError, DataFormatError
from ..evaluate import evaluate, metrics_for_depth, warn_skipped
from ..io import read_run, write_json, write_jsonl, write_run
from ..outputs import check_output_file
from ..prompts.rerank import FAMILIES, STACKEXCHANGE_FAMILIES, RerankPrompts, family_for
from ..prompts.template_files import split_overrides
from ..rerank import (
    COMBINE_MODES,
    GRADE_MODES,
    PARSE_RULES,
    CrossEncoderReranker,
    LLMReranker,
    combine_scores,
    context_length,
    rerank_run,
)
from ..types import Run
from ._llm import LLMBackendFields, llm_report, open_llm, sample_queries
from .retrieve import DEFAULT_REPORT_METRICS

logger = logging.getLogger(__name__)

#: ``--queries`` value: the query variant recorded next to the first-stage run
FROM_RUN = "from-run"
_MISSING = object()


@dataclass
class _RerankFields:
    """The options of ``reasonir rerank`` listed before the LLM backend options."""

    run: str = field(metadata={"help": "first-stage TREC run to rerank"})
    dataset: str = field(metadata={"help": "beir:PATH, bright:TASK (Hub) or bright:TASK@DIR (local, with documents)"})
    reranker: str = field(default="smollm2", metadata={
        "help": "an LLM spec (smollm2, openai:MODEL, http://HOST:PORT/v1#MODEL, vllm:PATH, ...; 'llm:' prefix "
                "optional) or cross-encoder:MODEL"})
    out: str | None = field(default=None, metadata={"help": "write the reranked run here (TREC)"})
    top_k: int = field(default=100, metadata={"short": "-k", "help": "documents reranked per query"})
    split: str = field(default="test", metadata={"help": "BEIR qrels split"})
    long_documents: bool = field(default=False, metadata={"help": "BRIGHT long-document setting"})
    query_variant: str | None = field(default=None, metadata={
        "flag": "--queries", "aliases": ("query_variant",),
        "help": f"queries the reranker sees: {FROM_RUN} (the variant recorded in RUN.config.json, i.e. the one "
                "retrieval used), original, a BRIGHT reasoning config (gpt4_reason, ...), or a rewritten-query "
                "FILE (JSONL id/query, or a JSON map original->rewritten)"})
    prompt: str = field(default="auto", metadata={
        "help": "LLM prompt family (auto: from the BRIGHT task / dataset)", "choices": ("auto",) + FAMILIES})
    stackexchange_prompt: str = field(default="stackexchange", metadata={
        "help": "with --prompt auto: the prompt family of BRIGHT's seven StackExchange tasks (ReasonIR: general)",
        "choices": STACKEXCHANGE_FAMILIES})
    prompt_template: list[str] = field(default_factory=list, metadata={
        "help": "replace the LLM prompt: FILE (the selected family's prompt) or FAMILY=FILE; placeholders "
                "{query} and {document} (see reasonir.prompts.rerank)"})
    prompts: dict[str, str] = field(default_factory=dict, metadata={
        "cli": False, "help": "replace prompt templates: {FAMILY: FILE} (config files)"})
    combine: str = field(default="interpolate", metadata={
        "help": "final score: interpolate = w*grade/5 + (1-w)*retriever (ReasonIR tie-breaking); "
                "bm25 = 100*grade/5 + score; reranker = grade only", "choices": COMBINE_MODES})
    weight: float = field(default=0.5, metadata={"help": "w of --combine interpolate"})
    combine_run: str | None = field(default=None, metadata={
        "help": "take the scores to combine with from this run (e.g. a deep BM25 run) instead of --run"})
    failure_score: float = field(default=0.0, metadata={"help": "reranker score of a pair whose grade is unreadable"})
    grade_mode: str = field(default="parse", metadata={
        "help": "parse the grade from the text, or take the expected grade from logprobs", "choices": GRADE_MODES})
    parse_rule: str = field(default="lenient", metadata={
        "help": "how the grade is read from the text: lenient (ours: many answer styles) or strict (ReasonIR: "
                "float() of the two characters after the last 'Relevance score:', 0 without it)",
        "choices": PARSE_RULES})
    max_tokens: int = field(default=32, metadata={"help": "LLM answer budget per pair"})
    temperature: float = field(default=0.0, metadata={"help": "LLM sampling temperature (ReasonIR: 0.6)"})
    top_p: float = field(default=1.0, metadata={"help": "LLM nucleus sampling mass (ReasonIR: 0.9)"})
    seed: int | None = field(default=None, metadata={"help": "LLM sampling seed"})
    logprobs: int = field(default=10, metadata={"help": "top alternatives per token in expected mode"})
    max_doc_words: int = field(default=1500, metadata={"help": "truncate documents to N words (0 = never)"})
    context_tokens: str = field(default="off", metadata={
        "help": "cut documents only where prompt + answer would exceed the LLM's context: auto (the context the "
                "backend announces: vLLM's max_model_len, a local model's positions), N tokens, or off"})
    max_query_words: int = field(default=0, metadata={"help": "truncate queries to N words (0 = never)"})
    raw_prompt: bool = field(default=False, metadata={"help": "send a raw completion prompt instead of a chat"})
    sample_queries: int = field(default=0, metadata={"help": "rerank a fixed random sample of N queries (0 = all)"})
    sample_seed: int = field(default=0, metadata={"help": "seed of --sample-queries"})
    pairs_per_call: int = field(default=256, metadata={"help": "pairs handed to the reranker at once"})
    metrics: str = field(default=DEFAULT_REPORT_METRICS, metadata={
        "help": "comma-separated metrics; those deeper than --top-k are not reported (a warning)"})
    ce_max_length: int = field(default=512, metadata={"help": "cross-encoder: tokens per pair"})


@dataclass
class RerankConfig(LLMBackendFields, _RerankFields):
    """Options of ``reasonir rerank``."""

    PRESET_SECTION: ClassVar[str] = "rerank"

    # the local batch and device serve a cross-encoder too (same place in the field order as the base's)
    batch_size: int | None = field(default=None, metadata={"help": "local LLM / cross-encoder: batch size"})
    llm_device: str | None = field(default=None, metadata={
        "aliases": ("device",), "help": "local LLM or cross-encoder device: cpu, cuda, cuda:1, auto"})
    preset: str | None = field(default=None, metadata={
        "help": "settings profile: paper = ReasonIR's published settings; or a folder of <command>.yaml files"})


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


def prompt_set(cfg: RerankConfig, family: str) -> RerankPrompts:
    """The prompt templates of ``cfg`` (``prompts`` then ``prompt_template``; a bare FILE replaces ``family``).

    Raises:
        ConfigError: unknown family, unreadable file, or bad placeholders.
    """
    overrides = dict(cfg.prompts or {})
    overrides.update(split_overrides(cfg.prompt_template or [], FAMILIES, bare=family))
    return RerankPrompts(overrides)


def resolve_context(cfg: RerankConfig, llm: Any) -> int | None:
    """The context length (tokens) documents are fitted into, ``None`` for no context cut.

    Raises:
        ConfigError: a value that is neither ``auto``, ``off`` nor a positive integer.
    """
    value = str(cfg.context_tokens).strip().lower()
    if value in ("off", "0", "", "none"):
        return None
    if value == "auto":
        length = context_length(llm)
        if length is None:
            logger.warning("%s does not announce its context length: documents are sent whole "
                           "(pass --context-tokens N to fit them into N tokens)", llm.name)
        return length
    if not value.isdigit():
        raise ConfigError(f"--context-tokens must be auto, off or a positive number of tokens, "
                          f"got {cfg.context_tokens!r}")
    return int(value)


def build_reranker(cfg: RerankConfig, dataset: Dataset) -> tuple[Any, Any]:
    """The reranker ``cfg.reranker`` names, and the LLM behind it (``None`` for cross-encoders)."""
    spec = cfg.reranker.strip()
    if spec.startswith("cross-encoder:"):
        model = spec.split(":", 1)[1]
        if not model:
            raise ConfigError("cross-encoder:MODEL needs a model id or folder")
        return CrossEncoderReranker(model, max_length=cfg.ce_max_length, batch_size=cfg.batch_size or 32,
                                    device=cfg.llm_device), None
    family = family_for(dataset.task or dataset.name, cfg.stackexchange_prompt) if cfg.prompt == "auto" else cfg.prompt
    prompts = prompt_set(cfg, family)
    llm = open_llm(cfg, spec.removeprefix("llm:"))
    try:
        context = resolve_context(cfg, llm)
        reranker = LLMReranker(llm, family=family, grade_mode=cfg.grade_mode, max_tokens=cfg.max_tokens,
                               temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed, logprobs=cfg.logprobs,
                               max_doc_words=cfg.max_doc_words, max_query_words=cfg.max_query_words,
                               chat=not cfg.raw_prompt, prompts=prompts, parse_rule=cfg.parse_rule,
                               context_tokens=context)
    except BaseException:
        llm.close()
        raise
    logger.info("LLM reranker %s (prompt family %s, %s prompt, context %s)", llm.name, family,
                "chat" if not cfg.raw_prompt else "raw", context or "not fitted")
    return reranker, llm


def _named(variant: Any) -> Any:
    return None if variant in (None, "", "original") else variant


def run_variant(cfg: RerankConfig) -> str | None:
    """The query variant to rerank with: ``cfg.query_variant``, or with ``from-run`` the one retrieval used.

    ``from-run`` reads ``query_variant`` from ``RUN.config.json`` (written by ``reasonir retrieve``);
    with an explicit variant, a different one recorded there is warned about.

    Raises:
        ConfigError: ``from-run`` for a run without a readable ``RUN.config.json``.
    """
    path = Path(cfg.run).with_name(Path(cfg.run).name + ".config.json")
    recorded: Any = _MISSING
    if path.is_file():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))["config"].get("query_variant")
        except (ValueError, KeyError, TypeError, AttributeError, OSError):
            recorded = _MISSING
    if cfg.query_variant == FROM_RUN:
        if recorded is _MISSING:
            raise ConfigError(f"--queries {FROM_RUN}: {path} is missing or records no configuration, so the "
                              "query variant retrieval used is unknown; name it (--queries original, gpt4_reason, "
                              "FILE)")
        logger.info("reranking with the query variant retrieval used: %s", recorded or "original")
        return recorded
    if recorded is not _MISSING and _named(recorded) != _named(cfg.query_variant):
        logger.warning("the run was retrieved with queries %r but is reranked with %r", recorded or "original",
                       cfg.query_variant or "original")
    return cfg.query_variant


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
    prompt_set(cfg, "general")          # a bad template file fails before any work
    variant = run_variant(cfg)
    dataset = parse_dataset_spec(cfg.dataset, split=cfg.split, long_documents=cfg.long_documents)
    if variant:
        from ..query_variants import apply_query_variant

        dataset = apply_query_variant(dataset, variant)
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
    if grades.get("truncated_context"):
        logger.warning("%d of %d pairs had their document cut to fit the LLM's context of %d tokens",
                       grades["truncated_context"], pairs, reranker.fitter.context_tokens)
    if cfg.out:
        provenance = {"reranker": reranker.name, "grades": grades, "llm_stats": report, "seconds": round(seconds, 3),
                      "query_variant": dataset.metadata.get("query_variant") or "original",
                      **_prompt_provenance(reranker)}
        _write_outputs(cfg, final, evals, result, provenance)
    logger.info("reranked %d pairs of %d queries in %.1fs; %s", pairs, len(result.candidates), seconds,
                {k: round(v.get("ndcg@10", 0.0), 4) for k, v in means.items()})
    return RerankOutcome(run=final, metrics=means, grades=grades, llm=report, dataset=dataset,
                         queries=len(result.candidates), pairs=pairs, seconds=seconds, skipped_metrics=skipped)


def _prompt_provenance(reranker: Any) -> dict[str, Any]:
    """The prompt family, template version and sha256, raw/chat and context of an LLM reranker."""
    if not isinstance(reranker, LLMReranker):
        return {}
    fitter = reranker.fitter
    return {"prompt_family": reranker.family, "prompt_version": reranker.prompts.version,
            "prompt_templates": reranker.prompts.manifest((reranker.family,)),
            "prompt_format": "chat" if reranker.chat else "raw", "parse_rule": reranker.parse_rule,
            "context": {"tokens": fitter.context_tokens, "counted_by": fitter.codec.method} if fitter else None}


def _write_outputs(cfg: RerankConfig, final: Run, evals: dict[str, Any], result: Any,
                   provenance: dict[str, Any]) -> None:
    out = Path(cfg.out)  # type: ignore[arg-type]
    write_run(out, final, tag=f"reasonir-rerank-{cfg.combine}")
    write_json(out.with_name(out.name + ".metrics.json"),
               {"variants": {name: ev.mean for name, ev in evals.items()}, "final": cfg.combine,
                "per_query": evals[cfg.combine].per_query,
                "skipped_metrics": metrics_for_depth(cfg.metrics, cfg.top_k)[1]})
    rows = ({"qid": q, "doc_id": d, "retriever_score": result.candidates[q][d], "score": s.score,
             "grade": s.grade, "method": s.method, "text": (s.text or "")[:500], **s.extra}
            for q, d, s in result.pairs())
    write_jsonl(out.with_name(out.name + ".judgements.jsonl"), rows)
    save_config(cfg, out.with_name(out.name + ".config.json"), extra=provenance)
