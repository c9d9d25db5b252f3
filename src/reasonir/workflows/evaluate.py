"""``reasonir evaluate``: score one or more runs against qrels (and BRIGHT excluded ids)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import save_config
from ..errors import ConfigError, DataFormatError
from ..evaluate import EvalResult, evaluate, macro_average, markdown_table
from ..io import atomic_write, iter_jsonl, read_qrels, read_run, write_json
from ..outputs import check_output_file
from ..types import ExcludedIds


@dataclass
class EvaluateConfig:
    """Options of ``reasonir evaluate``. Several ``--run``/``--qrels`` pairs give a macro average."""

    run: list[str] = field(metadata={"help": "TREC run file(s)"})
    qrels: list[str] = field(metadata={"help": "qrels file(s), one per run (TREC or BEIR TSV)"})
    examples: list[str] = field(default_factory=list, metadata={
        "help": "BRIGHT examples.jsonl[.gz] per run: its excluded_ids are removed before scoring"})
    metrics: str = field(default="ndcg@10,recall@100,map@100,mrr,oracle_ndcg@10",
                         metadata={"help": "comma-separated metrics"})
    names: list[str] = field(default_factory=list, metadata={"help": "row names (default: run file stems)"})
    out: str | None = field(default=None, metadata={"help": "write the JSON report here (+ .md table beside it)"})


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


def run_evaluate(cfg: EvaluateConfig) -> dict[str, EvalResult]:
    """Evaluate each run; write JSON + Markdown when ``cfg.out`` is set. Returns ``{name: result}``.

    Raises:
        DataFormatError: a malformed file, or a run and qrels that share no judged query (or qrels
            without a positive grade), naming both files.
    """
    if len(cfg.run) != len(cfg.qrels):
        raise ConfigError(f"got {len(cfg.run)} --run files but {len(cfg.qrels)} --qrels files; give one qrels per run")
    if cfg.out:
        check_output_file(cfg.out, "the report (--out)")
    if cfg.examples and len(cfg.examples) != len(cfg.run):
        raise ConfigError(f"got {len(cfg.examples)} --examples files for {len(cfg.run)} runs")
    if cfg.names and len(cfg.names) != len(cfg.run):
        raise ConfigError(f"got {len(cfg.names)} --names for {len(cfg.run)} runs")
    names = cfg.names or [Path(r).name.split(".")[0] for r in cfg.run]
    if len(set(names)) != len(names):
        names = [str(Path(r)) for r in cfg.run]
    results: dict[str, EvalResult] = {}
    for i, (name, run_path, qrels_path) in enumerate(zip(names, cfg.run, cfg.qrels)):
        excluded = read_excluded_ids(cfg.examples[i]) if cfg.examples else None
        qrels, run = read_qrels(qrels_path), read_run(run_path)
        try:
            results[name] = evaluate(qrels, run, cfg.metrics, excluded_ids=excluded)
        except DataFormatError as exc:
            if exc.path is not None:
                raise
            raise DataFormatError(f"{exc} (run {run_path}, qrels {qrels_path})") from None
    if cfg.out:
        out = Path(cfg.out)
        report = {"tasks": {n: r.to_dict() for n, r in results.items()}, "macro_average": macro_average(results)}
        write_json(out, report)
        with atomic_write(out.with_suffix(".md")) as fh:
            fh.write(markdown_table(results))
        save_config(cfg, out.with_name(out.name + ".config.json"))
    return results
