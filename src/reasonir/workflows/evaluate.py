"""``reasonir evaluate``: score runs against qrels (and BRIGHT excluded ids); compare runs on one qrels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import save_config
from ..errors import ConfigError, DataFormatError
from ..evaluate import REPORT_METRICS, EvalResult, evaluate, macro_average, markdown_table
from ..io import atomic_write, iter_jsonl, read_qrels, read_run, write_json
from ..outputs import check_output_file
from ..significance import Comparison, compare_runs
from ..types import ExcludedIds


@dataclass
class EvaluateConfig:
    """Options of ``reasonir evaluate``.

    Several ``--run`` files against one ``--qrels`` are compared (with a paired significance test
    against the first run); one qrels per run (e.g. BRIGHT's tasks) gives a macro average instead.
    """

    run: list[str] = field(metadata={"help": "TREC run file(s)"})
    qrels: list[str] = field(metadata={
        "help": "qrels file (TREC or BEIR TSV): one for all runs, or one per run"})
    examples: list[str] = field(default_factory=list, metadata={
        "help": "BRIGHT examples.jsonl[.gz] (one, or one per run): its excluded_ids are removed before scoring"})
    metrics: str = field(default=REPORT_METRICS, metadata={
        "help": "comma-separated metrics; ir_measures names (nDCG@10, R@100, RR@10, P@5, Success@1, AP@100) work too"})
    names: list[str] = field(default_factory=list, metadata={"help": "row names (default: run file stems)"})
    out: str | None = field(default=None, metadata={"help": "write the JSON report here (+ .md table beside it)"})
    per_query: bool = field(default=False, metadata={
        "help": "also give each query's scores (trec_eval -q lines; per_query in the JSON report)"})
    significance: str = field(default="t-test", metadata={
        "help": "paired test of each run against the first, when the runs share their qrels",
        "choices": ("t-test", "randomization", "none")})
    alpha: float = field(default=0.05, metadata={"help": "significance level"})
    permutations: int = field(default=10000, metadata={"help": "random swaps of the randomization test"})
    seed: int = field(default=0, metadata={"help": "seed of the randomization test"})


@dataclass
class EvaluateOutcome:
    """What ``reasonir evaluate`` found: results per run, and the comparisons with the first run."""

    results: dict[str, EvalResult]
    comparisons: list[Comparison] = field(default_factory=list)
    shared_qrels: bool = False

    def to_dict(self, per_query: bool = False) -> dict:
        out: dict = {"tasks" if not self.shared_qrels else "runs":
                     {n: r.to_dict(per_query=per_query) for n, r in self.results.items()}}
        if self.shared_qrels:
            out["comparisons"] = [c.to_dict() for c in self.comparisons]
        else:
            out["macro_average"] = macro_average(self.results)
        return out


def read_excluded_ids(path: str | Path) -> ExcludedIds:
    """``{query_id: {doc_id}}`` from a BRIGHT examples file (``"N/A"`` means none)."""
    out: ExcludedIds = {}
    for lineno, row in iter_jsonl(path):
        if "id" not in row:
            raise DataFormatError("BRIGHT example has no 'id' field", path, lineno)
        ids = {str(d) for d in row.get("excluded_ids") or [] if str(d) != "N/A"}
        if ids:
            out[str(row["id"])] = ids
    return out


def _per_run(values: list[str], runs: int, flag: str) -> list[str]:
    if len(values) == 1 and runs > 1:
        return values * runs
    if len(values) != runs:
        raise ConfigError(f"got {runs} --run files but {len(values)} {flag} files; give one {flag} file for all "
                          "runs or one per run")
    return values


def evaluate_runs(cfg: EvaluateConfig) -> EvaluateOutcome:
    """Evaluate each run; compare them when they share their qrels; write the report when ``cfg.out`` is set.

    Raises:
        DataFormatError: a malformed file, or a run and qrels that share no judged query (or qrels
            without a positive grade), naming both files.
        ConfigError: file counts that do not match, or an unknown metric.
    """
    qrels_files = _per_run(cfg.qrels, len(cfg.run), "--qrels")
    examples = _per_run(cfg.examples, len(cfg.run), "--examples") if cfg.examples else []
    if cfg.out:
        check_output_file(cfg.out, "the report (--out)")
    if cfg.names and len(cfg.names) != len(cfg.run):
        raise ConfigError(f"got {len(cfg.names)} --names for {len(cfg.run)} runs")
    names = cfg.names or [Path(r).name.split(".")[0] for r in cfg.run]
    if len(set(names)) != len(names):
        names = [str(Path(r)) for r in cfg.run]
    results: dict[str, EvalResult] = {}
    cache: dict[str, Any] = {}
    for i, (name, run_path, qrels_path) in enumerate(zip(names, cfg.run, qrels_files)):
        excluded = read_excluded_ids(examples[i]) if examples else None
        if qrels_path not in cache:
            cache[qrels_path] = read_qrels(qrels_path)
        try:
            results[name] = evaluate(cache[qrels_path], read_run(run_path), cfg.metrics, excluded_ids=excluded)
        except DataFormatError as exc:
            if exc.path is not None:
                raise
            raise DataFormatError(f"{exc} (run {run_path}, qrels {qrels_path})") from None
    shared = len(results) > 1 and len(set(qrels_files)) == 1 and len(set(examples)) <= 1
    outcome = EvaluateOutcome(results=results, shared_qrels=shared)
    if shared and cfg.significance != "none":
        metrics = next(iter(results.values())).metrics
        outcome.comparisons = compare_runs({n: r.per_query for n, r in results.items()}, metrics,
                                           test=cfg.significance, alpha=cfg.alpha,
                                           permutations=cfg.permutations, seed=cfg.seed)
    if cfg.out:
        out = Path(cfg.out)
        write_json(out, outcome.to_dict(per_query=cfg.per_query))
        with atomic_write(out.with_suffix(".md")) as fh:
            fh.write(markdown_table(results, average=not shared))
            if outcome.comparisons:
                fh.write("\n" + comparison_table(outcome.comparisons))
        save_config(cfg, out.with_name(out.name + ".config.json"))
    return outcome


def run_evaluate(cfg: EvaluateConfig) -> dict[str, EvalResult]:
    """Evaluate each run (see :func:`evaluate_runs`). Returns ``{name: result}``."""
    return evaluate_runs(cfg).results


def comparison_table(comparisons: list[Comparison]) -> str:
    """Markdown: each run against the baseline, per metric (fractions; ``*`` marks p below alpha)."""
    if not comparisons:
        return ""
    test = comparisons[0].test
    lines = [f"| run | metric | mean | {comparisons[0].baseline} | delta | p ({test}) |",
             "|---|---|---:|---:|---:|---:|"]
    for c in comparisons:
        mark = " *" if c.significant else ""
        lines.append(f"| {c.run} | {c.metric} | {c.mean:.4f} | {c.baseline_mean:.4f} | {c.delta:+.4f} | "
                     f"{c.p_value:.4f}{mark} |")
    return "\n".join(lines) + "\n"


def per_query_lines(results: dict[str, EvalResult]) -> list[str]:
    """``trec_eval -q`` style lines, ``metric<TAB>query_id<TAB>value``, per run (``all`` = the mean)."""
    lines: list[str] = []
    for name, res in results.items():
        if len(results) > 1:
            lines.append(f"# run {name}")
        for qid in sorted(res.per_query):
            lines.extend(f"{m}\t{qid}\t{v:.4f}" for m, v in res.per_query[qid].items())
        lines.extend(f"{m}\tall\t{v:.4f}" for m, v in res.mean.items())
    return lines
