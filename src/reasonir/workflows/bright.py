"""``reasonir bright``: the BRIGHT table in one command, resumable per (task, setting).

Every combination of ``--queries`` x ``--retriever`` (x ``--rerank``) is run on every task of
``--tasks`` with the project's own components (BM25 / query-side BM25, the dense retriever, score
interpolation for ``hybrid``, the LLM reranker), then scored with :func:`reasonir.evaluate.evaluate`
(nDCG@10, excluded ids removed, as ``reasonir evaluate --examples``). Outputs under ``--out``:

* ``runs/<setting>/<task>.txt`` — the TREC run, and ``<task>.manifest.json`` beside it (versions, model
  fingerprint, instruction, prompt-template hash, data hashes or Hub revision, seed, preset), written
  last and atomically: a rerun skips every (task, setting) whose manifest matches the options;
* ``leaderboard.md`` / ``leaderboard.json`` — the 12 tasks + average per setting, beside the paper's
  published numbers where a row matches, and the delta; ``leaderboard.png`` — the per-task bar chart;
* ``bright.config.json`` — the resolved options and the counters of this invocation;
* ``cache/embeddings`` — document and query vectors (``--embedding-cache``), reused by later runs.

``--runs DIR`` scores existing runs (``DIR/<task>.txt``) and needs no documents.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..config import preset_provenance, save_config
from ..data import BRIGHT_REVISION, BRIGHT_TASKS, check_bright_task
from ..errors import ConfigError, require
from ..evaluate import evaluate
from ..outputs import check_output_dir
from ..query_variants import is_variant_file
from ..retrieve.fusion import interpolate, parse_weights
from ..types import Run
from . import bright_report as report
from ._bright_task import TaskRunner
from .bright_report import Setting, check_retriever, infer_from_name

logger = logging.getLogger(__name__)


@dataclass
class BrightConfig:
    """Options of ``reasonir bright``."""

    PRESET_SECTION: ClassVar[str] = "bright"

    out: str = field(default="bright-results", metadata={"help": "output folder (runs, manifests, leaderboard)"})
    tasks: str = field(default="all", metadata={"help": "all, or a comma-separated list of BRIGHT tasks"})
    queries: str | None = field(default=None, metadata={
        "help": "comma-separated query variants: original, gpt4_reason (or another BRIGHT *_reason config), "
                "or a rewritten-query FILE (default: original; with --runs: guessed from the folder name)"})
    retriever: str | None = field(default=None, metadata={
        "help": "comma-separated: bm25, bm25q (BRIGHT's query-side BM25), dense:MODEL, hybrid[:MODEL] "
                "(dense + bm25q score interpolation) (default: bm25q; with --runs: guessed from the folder name)"})
    rerank: str | None = field(default=None, metadata={
        "help": "LLM spec that reranks each setting's top --rerank-top-k (smollm2, vllm:PATH, openai:MODEL, ...)"})
    rerank_top_k: int = field(default=100, metadata={"help": "documents reranked per query"})
    preset: str | None = field(default=None, metadata={
        "help": "settings profile: paper = ReasonIR's published settings (this command and the reranker); "
                "or a folder of <command>.yaml files"})
    data: str | None = field(default=None, metadata={
        "help": "local BRIGHT folder (<task>/examples.jsonl[.gz], <task>/documents.jsonl[.gz], "
                "<task>/<variant>.jsonl[.gz]); default: the Hub (xlangai/BRIGHT, pinned revision)"})
    runs: str | None = field(default=None, metadata={
        "help": "score existing runs instead: comma-separated folders of <task>.txt (no documents needed)"})
    top_k: int = field(default=1000, metadata={"short": "-k", "help": "documents retrieved per query"})
    weights: str = field(default="0.5,0.5", metadata={
        "aliases": ("hybrid_weights",), "help": "hybrid: dense,bm25q interpolation weights"})
    k1: float = field(default=0.9, metadata={"help": "BM25 k1"})
    b: float = field(default=0.4, metadata={"help": "BM25 b"})
    dtype: str = field(default="auto", metadata={
        "help": "encoder compute dtype", "choices": ("auto", "bf16", "fp16", "fp32")})
    device: str = field(default="auto", metadata={"help": "auto, cpu, cuda, cuda:1, or a comma-separated list"})
    batch_size: int | None = field(default=None, metadata={"help": "encoding batch size (default: per model)"})
    max_length: int | None = field(default=None, metadata={"help": "encoder max tokens per text (default: per model)"})
    instruction: str | None = field(default=None, metadata={
        "help": "query instruction (default: each task's BRIGHT instruction)"})
    long_documents: bool = field(default=False, metadata={"help": "BRIGHT long-document setting"})
    revision: str = field(default=BRIGHT_REVISION, metadata={"help": "Hub revision of xlangai/BRIGHT"})
    embedding_cache: str | None = field(default=None, metadata={
        "help": "embedding cache folder, or 'off' (default: OUT/cache/embeddings)"})
    llm_cache: str | None = field(default=None, metadata={
        "help": "LLM response cache: a SQLite path, or 'off' (default: $REASONIR_LLM_CACHE or the user cache)"})
    seed: int = field(default=0, metadata={"help": "seed of the LLM reranker's sampling"})
    chart: bool = field(default=True, metadata={"help": "write leaderboard.png (needs matplotlib: reasonir[rag])"})


@dataclass
class BrightOutcome:
    """What one invocation did: the leaderboard, the (task, setting) pairs computed or reused, counters."""

    leaderboard: dict[str, Any]
    markdown: str
    files: dict[str, str]
    computed: list[tuple[str, str]]
    reused: list[tuple[str, str]]
    counters: dict[str, int]
    seconds: float


def parse_tasks(spec: str) -> list[str]:
    """``all`` or a comma-separated list of BRIGHT task ids (validated)."""
    if spec.strip() == "all":
        return list(BRIGHT_TASKS)
    tasks = [check_bright_task(t.strip()) for t in spec.split(",") if t.strip()]
    if not tasks:
        raise ConfigError("--tasks is empty; give all or a comma-separated list of BRIGHT tasks")
    return list(dict.fromkeys(tasks))


def _split(spec: str | None, default: str) -> list[str]:
    return [s.strip() for s in (spec or default).split(",") if s.strip()]


def plan_settings(cfg: BrightConfig) -> list[Setting]:
    """The requested settings, in order (``--runs`` folders, or queries x retrievers [x rerank])."""
    if cfg.runs:
        settings = []
        for folder in _split(cfg.runs, ""):
            if not Path(folder).is_dir():
                raise ConfigError(f"--runs {folder}: not a folder (expected a folder of <task>.txt TREC runs)")
            guess_q, guess_r = infer_from_name(Path(folder).name)
            queries = _split(cfg.queries, guess_q)
            retrievers = _split(cfg.retriever, guess_r)
            if len(queries) != 1 or len(retrievers) != 1:
                raise ConfigError("with --runs, --queries and --retriever name the one setting the runs come from")
            settings.append(Setting(queries[0], retrievers[0], cfg.rerank, runs_dir=folder))
            logger.info("scoring %s as %s", folder, settings[-1].label)
        return settings
    retrievers = [check_retriever(r) for r in _split(cfg.retriever, "bm25q")]
    dense = [r for r in retrievers if r.startswith("dense:")]
    resolved = []
    for r in retrievers:
        if r == "hybrid":
            if len(dense) != 1:
                raise ConfigError("'hybrid' fuses dense and bm25q: give exactly one dense:MODEL in --retriever, "
                                  "or write hybrid:MODEL")
            r = "hybrid:" + dense[0].split(":", 1)[1]
        resolved.append(r)
    out = []
    for q in _split(cfg.queries, "original"):
        if is_variant_file(q) and not Path(q).is_file():
            raise ConfigError(f"--queries {q}: no such query-variant file")
        for r in dict.fromkeys(resolved):
            out.append(Setting(q, r))
            if cfg.rerank:
                out.append(Setting(q, r, cfg.rerank.strip()))
    return out


class _Bench:
    """Runs (or reuses) every (task, setting) of one invocation."""

    def __init__(self, cfg: BrightConfig, reranker_factory: Any = None):
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.weights = parse_weights(cfg.weights, 2)
        self.counters = {"encoded_documents": 0, "encoded_queries": 0, "llm_calls": 0, "llm_cache_hits": 0}
        self.computed: list[tuple[str, str]] = []
        self.reused: list[tuple[str, str]] = []
        self.reranker_factory = reranker_factory
        self.encoders: dict[str, Any] = {}
        self.memo: dict[tuple[str, str], Run] = {}

    def ensure(self, runner: TaskRunner, s: Setting) -> Run:
        """The run of ``s`` on ``runner.task``: read back when finished with the same options, else computed."""
        task = runner.task
        if (task, s.slug) in self.memo:
            return self.memo[(task, s.slug)]
        self.memo[(task, s.slug)] = run = self._ensure(runner, s)
        return run

    def _ensure(self, runner: TaskRunner, s: Setting) -> Run:
        task = runner.task
        folder = self.out / "runs" / s.slug
        path, manifest = folder / f"{task}.txt", folder / f"{task}.manifest.json"
        key = runner.key(s, self)
        done = runner.finished(path, manifest, key)
        if done is not None:
            self.reused.append((task, s.label))
            return done
        t0 = time.perf_counter()
        if s.rerank:
            run, extra = runner.rerank(self.ensure(runner, s.base()), s, self)
        elif s.kind == "hybrid":
            dense = self.ensure(runner, Setting(s.queries, f"dense:{s.model}"))
            sparse = self.ensure(runner, Setting(s.queries, "bm25q"))
            run = interpolate([dense, sparse], self.weights, k=self.cfg.top_k)
            extra = {"fusion": "interpolate (min-max per query over the union)", "weights": self.weights,
                     "components": [f"dense:{s.model}", "bm25q"]}
        else:
            run, extra = runner.retrieve(s, self)
        runner.write(path, manifest, run, s, key, {**extra, "seconds": round(time.perf_counter() - t0, 3)}, self)
        self.computed.append((task, s.label))
        return run


def run_bright(cfg: BrightConfig, reranker_factory: Any = None) -> BrightOutcome:
    """Run, reuse or score every (task, setting), then write the leaderboard, chart and config.

    Args:
        cfg: the options.
        reranker_factory: ``(rerank_config, dataset) -> (reranker, llm)`` to use instead of
            :func:`reasonir.workflows.rerank.build_reranker` (tests, notebooks).

    Raises:
        ConfigError: bad options; BRIGHT files that are needed and missing (all of them named).
        DependencyError: ``--chart`` without matplotlib.
    """
    t0 = time.perf_counter()
    tasks = parse_tasks(cfg.tasks)
    settings = plan_settings(cfg)
    if cfg.rerank_top_k < 1 or cfg.top_k < 1:
        raise ConfigError("--top-k and --rerank-top-k must be at least 1")
    out = check_output_dir(cfg.out, "the results (--out)")
    if cfg.chart:
        require("matplotlib", "rag")
    bench = _Bench(cfg, reranker_factory)
    runners = {t: TaskRunner(cfg, t) for t in tasks}
    if any(s.runs_dir is None for s in settings):
        missing = [m for r in runners.values() for m in r.missing_files(settings)]
        if missing:
            raise ConfigError("BRIGHT files needed to retrieve are missing: " + "; ".join(missing) +
                              ". Scoring existing runs (--runs DIR) needs no documents.")
    scores: dict[Setting, dict[str, dict[str, Any]]] = {s: {} for s in settings}
    for task, runner in runners.items():
        for s in settings:
            run = runner.read_external(s) if s.runs_dir else bench.ensure(runner, s)
            judged = runner.judgements()
            res = evaluate(judged.qrels, run, "ndcg@10", excluded_ids=judged.excluded_ids or None)
            scores[s][task] = {"ndcg@10": res.mean["ndcg@10"], "queries": res.num_queries,
                               "missing_queries": len(res.missing_queries)}
        runner.close()
    board = report.leaderboard(scores, tasks)
    board["preset"] = preset_provenance(cfg) or None
    json_path, md_path = report.write_leaderboard(board, out)
    files = {"leaderboard.json": str(json_path), "leaderboard.md": str(md_path)}
    if cfg.chart:
        files["leaderboard.png"] = str(report.write_chart(board, out / "leaderboard.png"))
    seconds = time.perf_counter() - t0
    save_config(cfg, out / "bright.config.json", extra={
        "counters": bench.counters, "computed": len(bench.computed), "reused": len(bench.reused),
        "settings": [asdict(s) for s in settings], "seconds": round(seconds, 3)})
    logger.info("bright: %d runs computed, %d reused, counters %s", len(bench.computed), len(bench.reused),
                bench.counters)
    return BrightOutcome(leaderboard=board, markdown=md_path.read_text(encoding="utf-8"), files=files,
                         computed=bench.computed, reused=bench.reused, counters=dict(bench.counters),
                         seconds=seconds)

