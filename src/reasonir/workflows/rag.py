"""``reasonir rag``: closed-book vs retrieval-augmented accuracy on MMLU or GPQA with any LLM.

One call (:func:`run_rag`) loads the benchmark, opens the passage source (a ``reasonir`` index, a
precomputed run + corpus, or BM25 over a corpus built on the fly), loads the LLM through
:func:`reasonir.llm.load_llm`, answers every question closed-book and with passages, and writes into
``--out``:

* ``config.json`` — the resolved configuration, the preset and the sha256 of every prompt template;
* ``results.jsonl`` — one row per question (enough to recompute every reported number);
* ``report.json``, ``report.md``, ``accuracy.png`` — the report;
* ``generations.<stage>.jsonl`` — resumable generation checkpoints.

``--report-only`` rebuilds the report from an existing ``results.jsonl`` without any model.

``--preset paper`` (``reasonir/prompts/presets/paper/rag.yaml``) selects the published evaluation's
settings: the formatted MMLU retrieval query, per-benchmark sampling (greedy MMLU; GPQA at
temperature 0.7, top-p 0.8), passages per question, and the fixed-seed random fallback. Options that
differ per benchmark (query, k, max_tokens, temperature, top_p) may be given per benchmark in a
``benchmark_options: {mmlu: {...}, gpqa: {...}}`` section (config file or preset); a value given for
all benchmarks (flag or config key) wins over it. Prompt wording is ours and lives in template files
(``prompts:`` / ``--prompt-template NAME=FILE``, see :mod:`reasonir.prompts.rag`).
"""

from __future__ import annotations

import json
import logging
import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..config import check_value, save_config, to_dict
from ..config_aliases import deprecated
from ..errors import ConfigError
from ..io import iter_jsonl, read_corpus, write_jsonl
from ..llm.base import GenerationParams
from ..outputs import check_output_dir
from ..prompts.presets import preset_digest
from ..prompts.rag import TEMPLATE_NAMES, RagPrompts
from ..prompts.template_files import replacement_files
from ..rag.benchmarks import GPQA_SUBSETS, load_gpqa, load_mmlu
from ..rag.extract import FALLBACK_RULES
from ..rag.passages import PassageSource, RetrieverPassageSource, RunPassageSource, corpus_texts
from ..rag.pipeline import DEFAULT_K, QUERY_MODES, EvalSettings, evaluate_questions
from ..rag.questions import MMLU_GROUPS, MMLU_SUBJECT_GROUP, MMLU_SUBJECTS, select_questions
from ..rag.report import write_report
from ..rag.stats import CONDITIONS, summarize

logger = logging.getLogger(__name__)

BENCHMARKS = ("mmlu", "gpqa")
SEARCH_MODES = ("auto", "dense", "bm25", "bm25q", "hybrid")
#: options that may differ per benchmark (``benchmark_options``), with their built-in values
PER_BENCHMARK = {"query": "question", "top_k": None, "max_tokens": 2048, "temperature": 0.0, "top_p": 1.0}


@dataclass
class RagConfig:
    """Options of ``reasonir rag``."""

    PRESET_SECTION: ClassVar[str] = "rag"

    benchmark: str = field(metadata={"help": "benchmark", "choices": BENCHMARKS})
    llm: str | None = field(default=None, metadata={
        "help": "reader LLM spec: smollm2, openai:MODEL, http://HOST:PORT/v1#MODEL, transformers:PATH, vllm:PATH"})
    index: str | None = field(default=None, metadata={"help": "a reasonir index directory to search"})
    run: str | None = field(default=None, metadata={
        "help": "precomputed TREC run keyed by question id (texts from --corpus or --index)"})
    corpus: str | None = field(default=None, metadata={
        "help": "corpus (JSONL or BEIR folder): texts for --run, or searched with in-memory BM25"})
    retriever: str = field(default="auto", metadata={
        "aliases": ("search",), "help": "retrieval method; auto = dense for --index, bm25 for --corpus",
        "choices": SEARCH_MODES})
    filter: str | None = field(default=None, metadata={
        "help": "metadata filter on the --index's documents, applied before the top-k (the syntax of "
                "reasonir search --filter, e.g. 'source == \"textbook\"')"})
    data: str | None = field(default=None, metadata={
        "help": "local benchmark release (MMLU zip/folder, GPQA zip/csv); default: the Hugging Face Hub"})
    split: str = field(default="test", metadata={"help": "MMLU split", "choices": ("test", "val", "dev")})
    subset: str = field(default="diamond", metadata={"help": "GPQA subset", "choices": GPQA_SUBSETS})
    subjects: list[str] | None = field(default=None, metadata={
        "help": "MMLU subjects/groups or GPQA domains/subdomains to keep"})
    limit: int | None = field(default=None, metadata={"help": "evaluate at most N questions"})
    limit_per_subject: int | None = field(default=None, metadata={"help": "at most N questions per subject"})
    top_k: int | None = field(default=None, metadata={
        "short": "-k", "aliases": ("k",), "help": "passages per question (default: 3 MMLU, 5 GPQA)"})
    query: str | None = field(default=None, metadata={
        "help": "retrieval query: formatted = the published MMLU query (subject header, question, options) "
                "(default: question)", "choices": QUERY_MODES})
    conditions: str = field(default="closed,rag", metadata={"help": "closed, rag or closed,rag"})
    max_tokens: int | None = field(default=None, metadata={"help": "max generated tokens per answer (default: 2048)"})
    temperature: float | None = field(default=None, metadata={"help": "sampling temperature (default: 0 = greedy)"})
    top_p: float | None = field(default=None, metadata={"help": "nucleus sampling mass (default: 1)"})
    benchmark_options: dict[str, Any] = field(default_factory=dict, metadata={
        "cli": False, "help": "per-benchmark values of query, top_k, max_tokens, temperature, top_p: "
                              "{mmlu: {...}, gpqa: {...}} (a value given for all benchmarks wins)"})
    batch_size: int = field(default=8, metadata={"help": "prompts per LLM call"})
    llm_dtype: str | None = field(default=None, metadata={
        "help": "local LLM compute dtype (transformers and vLLM backends; default: fp32 on CPU, bf16 on GPU)",
        "choices": ("auto", "fp32", "bf16", "fp16")})
    llm_device: str | None = field(default=None, metadata={
        "help": "local LLM device: cpu, cuda, cuda:1, auto (transformers backend)"})
    passage_words: int | None = field(default=None, metadata={"help": "cut each passage to N words"})
    seed: int = field(default=12345, metadata={"help": "seed of GPQA option shuffling and the random fallback"})
    fallback: str = field(default="per_question", metadata={
        "help": "random letter for unparseable answers: per_question = seeded per question id; per_run = one "
                "letter per run from random seeded with --seed (the published evaluation)",
        "choices": FALLBACK_RULES})
    preset: str | None = field(default=None, metadata={
        "help": "settings profile: paper = ReasonIR's published settings; or a folder of <command>.yaml files"})
    prompts: dict[str, str] = field(default_factory=dict, metadata={
        "cli": False, "help": "replace prompt templates: {NAME: FILE} (names in reasonir.prompts.rag)"})
    prompt_template: list[str] = field(default_factory=list, metadata={
        "help": "replace prompt templates: NAME=FILE ... (e.g. mmlu_rag_user=my.txt; names and placeholders in "
                "reasonir.prompts.rag; overrides the prompts: section)"})
    bootstrap: int = field(default=1000, metadata={"help": "paired-bootstrap resamples"})
    out: str | None = field(default=None, metadata={"help": "output folder (default: rag-<benchmark>)"})
    llm_cache: str | None = field(default=None, metadata={
        "aliases": ("cache",),
        "help": "LLM response cache (SQLite path, or 'off'; default: the user cache, off for GPQA)"})
    chart: bool = field(default=True, metadata={"help": "draw accuracy.png (needs matplotlib)"})
    report_only: bool = field(default=False, metadata={"help": "rebuild the report from OUT/results.jsonl"})

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        checked: dict[str, Any] = {}
        for bench, values in (self.benchmark_options or {}).items():
            where = f"benchmark_options.{bench}"
            if bench not in BENCHMARKS:
                raise ConfigError(f"{where}: unknown benchmark; choose from {', '.join(BENCHMARKS)}")
            if not isinstance(values, dict):
                raise ConfigError(f"{where}: expected a mapping of option: value, got {type(values).__name__}")
            if "k" in values:                       # the former name of top_k
                if "top_k" in values:
                    raise ConfigError(f"{where}: option 'top_k' is given twice (as 'top_k' and 'k')")
                deprecated(f"option 'k' ({where})", "'top_k'")
                values = {("top_k" if k == "k" else k): v for k, v in values.items()}
            unknown = sorted(set(values) - set(PER_BENCHMARK))
            if unknown:
                raise ConfigError(f"{where}: option(s) {', '.join(map(str, unknown))} cannot be set per benchmark; "
                                  f"valid: {', '.join(PER_BENCHMARK)}")
            checked[bench] = {k: check_value(v, hints[k], k, where, choices=QUERY_MODES if k == "query" else None)
                              for k, v in values.items()}
        self.benchmark_options = checked
        if self.preset:
            preset_digest(self.preset, self.PRESET_SECTION)     # an unknown preset fails here, by name
        self.prompt_files()

    def setting(self, name: str) -> Any:
        """The value of a per-benchmark option for this run's benchmark.

        Order: the value given for all benchmarks, else ``benchmark_options[benchmark]``, else the
        built-in value (top_k: 3 for MMLU, 5 for GPQA).
        """
        value = getattr(self, name)
        if value is None:
            value = (self.benchmark_options or {}).get(self.benchmark, {}).get(name)
        if value is None:
            value = DEFAULT_K.get(self.benchmark, 3) if name == "top_k" else PER_BENCHMARK[name]
        return value

    def prompt_files(self) -> dict[str, str]:
        """The replaced prompt templates, ``{name: file}`` (``prompt_template`` entries win over ``prompts``)."""
        return replacement_files(self.prompts, self.prompt_template, TEMPLATE_NAMES)

    def prompt_set(self) -> RagPrompts:
        """The run's prompt templates: the built-in ones with this configuration's replacements."""
        return RagPrompts(self.prompt_files())

    def provenance(self) -> dict[str, Any]:
        """Preset, prompt templates (sha256 and source) and fallback rule, for ``config.json`` and the report."""
        prompts = self.prompt_set()
        return {"preset": self.preset,
                "preset_sha256": preset_digest(self.preset, self.PRESET_SECTION) if self.preset else None,
                "prompt_version": prompts.version, "prompt_templates": prompts.manifest(),
                "fallback": self.fallback, "fallback_seed": self.seed}

    def out_dir(self) -> Path:
        return Path(self.out or f"rag-{self.benchmark}")

    def condition_list(self) -> tuple[str, ...]:
        conds = tuple(c.strip() for c in self.conditions.split(",") if c.strip())
        bad = [c for c in conds if c not in CONDITIONS]
        if bad or not conds:
            raise ConfigError(f"--conditions {self.conditions!r}: use closed, rag or closed,rag")
        return conds


@dataclass
class RagOutcome:
    report: dict[str, Any]
    rows: list[dict[str, Any]]
    paths: dict[str, str]


def load_questions(cfg: RagConfig):
    """The benchmark's questions after subject selection and limits."""
    if cfg.benchmark == "mmlu":
        wanted = None
        if cfg.subjects:   # read only the files needed: expand groups to subjects
            names = {s.strip().lower().replace("-", "_").replace(" ", "_") for s in cfg.subjects}
            wanted = sorted({s for n in names for s in MMLU_GROUPS.get(n, (n,))} & set(MMLU_SUBJECT_GROUP)) or None
        questions = load_mmlu(cfg.data, cfg.split, subjects=wanted)
        known = (*MMLU_SUBJECTS, *MMLU_GROUPS)
    elif cfg.benchmark == "gpqa":
        questions = load_gpqa(cfg.data, cfg.subset, seed=cfg.seed)
        known = ()
    else:
        raise ConfigError(f"unknown benchmark {cfg.benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    return select_questions(questions, cfg.subjects, cfg.limit, cfg.limit_per_subject, known=known)


def corpus_text_lookup(corpus: str | None = None, index: str | None = None) -> Mapping[str, str]:
    """``{doc_id: passage text}`` from a corpus file/folder or from an index's document store."""
    if index:
        from ..rag.index_source import index_texts

        return index_texts(index)
    if not corpus:
        raise ConfigError("document texts needed: pass --corpus FILE or --index DIR")
    return corpus_texts(read_corpus(corpus))


def open_source(cfg: RagConfig) -> PassageSource | None:
    """The passage source the config names (``None`` when none is given)."""
    if cfg.filter is not None and (not cfg.index or cfg.run):
        raise ConfigError("--filter applies to searching an index: use it with --index DIR (and no --run)")
    if cfg.index:
        from ..rag.index_source import IndexPassageSource

        if cfg.run:
            return RunPassageSource.from_files(cfg.run, corpus_text_lookup(index=cfg.index))
        return IndexPassageSource.open(cfg.index, mode=None if cfg.retriever == "auto" else cfg.retriever,
                                       filter=cfg.filter)
    if cfg.run:
        if not cfg.corpus:
            raise ConfigError("--run needs the documents' texts: add --corpus FILE or --index DIR")
        return RunPassageSource.from_files(cfg.run, corpus_text_lookup(corpus=cfg.corpus))
    if cfg.corpus:
        mode = "bm25" if cfg.retriever == "auto" else cfg.retriever
        if mode not in ("bm25", "bm25q"):
            raise ConfigError(f"--corpus without --index supports --search bm25 or bm25q, not {mode!r}; "
                              "build an index (reasonir index build) for dense or hybrid search")
        return RetrieverPassageSource.bm25(read_corpus(cfg.corpus), mode=mode, name=f"{mode}:{cfg.corpus}")
    return None


def _meta(cfg: RagConfig, source_name: str | None, llm_name: str | None) -> dict[str, Any]:
    return {"benchmark": cfg.benchmark, "subset": cfg.subset if cfg.benchmark == "gpqa" else None,
            "split": cfg.split if cfg.benchmark == "mmlu" else None, "llm": llm_name, "source": source_name,
            **{("k" if name == "top_k" else name): cfg.setting(name) for name in PER_BENCHMARK},  # report: "k"
            "seed": cfg.seed, **cfg.provenance(),
            "config": to_dict(cfg)}


def rebuild_report(cfg: RagConfig) -> RagOutcome:
    """Recompute the report from ``OUT/results.jsonl`` (no model, no retrieval)."""
    out = cfg.out_dir()
    rows = [row for _, row in iter_jsonl(out / "results.jsonl")]
    conds = tuple(c for c in CONDITIONS if rows and c in rows[0])
    old: dict[str, Any] = {}
    if (out / "report.json").exists():   # keep what ran (LLM, source, timings); recompute the numbers
        old = json.loads((out / "report.json").read_text(encoding="utf-8")).get("meta", {})
    report = {"meta": old or _meta(cfg, None, None),
              **summarize(rows, conds, cfg.bootstrap, cfg.seed)}
    return RagOutcome(report=report, rows=rows, paths=write_report(report, out, chart=cfg.chart))


def run_rag(cfg: RagConfig, llm=None) -> RagOutcome:
    """Run the whole evaluation the config describes and write its outputs.

    Args:
        cfg: the options.
        llm: an already built LLM (tests, notebooks); default: ``load_llm(cfg.llm, cache=cfg.llm_cache)``.
    """
    if cfg.report_only:
        return rebuild_report(cfg)
    if cfg.out:
        check_output_dir(cfg.out, "the RAG output folder (--out)")
    t_start = time.perf_counter()
    conditions = cfg.condition_list()
    prompts = cfg.prompt_set()          # a bad template file fails before any work
    questions = load_questions(cfg)
    source = open_source(cfg) if "rag" in conditions else None
    if "rag" in conditions and source is None:
        raise ConfigError("the rag condition needs passages: pass --index DIR, --run RUN (+ --corpus) or "
                          "--corpus FILE, or use --conditions closed")
    if llm is None:
        if not cfg.llm:
            raise ConfigError("--llm is required (e.g. --llm smollm2)")
        from ..llm import load_llm

        cache = cfg.llm_cache
        if cache is None and any(q.sensitive for q in questions):
            # the response cache stores prompts' answers in plain text: opt-in only for GPQA
            logger.info("GPQA: LLM response cache off (pass --cache PATH to enable it); "
                        "the generation checkpoint still makes the run resumable")
            cache = "off"
        dtype = cfg.llm_dtype
        if dtype and cfg.llm.startswith("vllm:"):   # vLLM spells its dtypes out
            dtype = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}.get(dtype, dtype)
        llm = load_llm(cfg.llm, **({} if cache is None else {"cache": cache}),
                       dtype=dtype, device=cfg.llm_device, batch_size=cfg.batch_size)
    temperature = cfg.setting("temperature")
    settings = EvalSettings(
        conditions=conditions, k=cfg.setting("top_k"), query=cfg.setting("query"), batch_size=cfg.batch_size,
        seed=cfg.seed, passage_words=cfg.passage_words, fallback=cfg.fallback, prompts=prompts,
        params=GenerationParams(max_tokens=cfg.setting("max_tokens"), temperature=temperature,
                                top_p=cfg.setting("top_p"), seed=cfg.seed if temperature > 0 else None))
    out = cfg.out_dir()
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json", extra=cfg.provenance())
    logger.info("%s: %d questions, conditions %s, source %s, llm %s", cfg.benchmark, len(questions),
                ",".join(conditions), getattr(source, "name", None), llm.name)
    outcome = evaluate_questions(questions, llm, source, settings, out)
    write_jsonl(out / "results.jsonl", outcome.rows)
    meta = _meta(cfg, getattr(source, "name", None), llm.name)
    meta["n_questions"] = len(questions)
    meta["timings"] = {k: round(v, 3) for k, v in outcome.timings.items()}
    meta["wall_seconds"] = round(time.perf_counter() - t_start, 3)
    meta["usage"] = outcome.usage
    summary_fn = getattr(llm, "summary", None)
    if callable(summary_fn):
        meta["llm_stats"] = summary_fn()
    report = {"meta": meta, **summarize(outcome.rows, conditions, cfg.bootstrap, cfg.seed)}
    paths = write_report(report, out, chart=cfg.chart)
    paths["results"] = str(out / "results.jsonl")
    return RagOutcome(report=report, rows=outcome.rows, paths=paths)
