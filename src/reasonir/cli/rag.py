"""``reasonir rag`` (closed-book vs retrieval-augmented QA) and ``reasonir rag-datastore`` (merge
retrieved pools into one deduplicated corpus)."""

from __future__ import annotations

import argparse

from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "rag": "MMLU/GPQA accuracy closed-book vs with retrieved passages",
    "rag-datastore": "merge retrieved pools into one corpus without exact-duplicate texts",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.rag import RagConfig

    p = sub.add_parser(
        "rag", help=COMMANDS["rag"],
        description="Answer MMLU or GPQA questions with an LLM, closed-book and with the top-k passages "
                    "from an index, a run file or a corpus; write per-question results and a report "
                    "(JSON, Markdown, bar chart) with a paired-bootstrap interval on the difference.")
    add_arguments(p, RagConfig)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    p.set_defaults(func=_run)

    from ..workflows.rag_datastore import RagDatastoreConfig

    d = sub.add_parser(
        "rag-datastore", help=COMMANDS["rag-datastore"],
        description="Merge the documents ranked in one or more TREC runs (top --top-k per query) into a "
                    "JSONL corpus with sequential ids, dropping exact-duplicate texts.")
    add_arguments(d, RagDatastoreConfig)
    d.add_argument("--json", action="store_true", help="print the counts as one JSON object (last line)")
    d.set_defaults(func=_datastore)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.rag import RagConfig, run_rag

    cfg = from_args(RagConfig, args)
    outcome = run_rag(cfg)
    rep = outcome.report
    summary = {"benchmark": cfg.benchmark, "n": rep["n"], **{
        f"{c}_{k}": v[k] for c, v in rep["conditions"].items()
        for k in ("accuracy", "accuracy_with_fallback", "parse_failure_rate")}}
    if "difference" in rep:
        d = rep["difference"]["strict"]
        summary.update(delta=d["delta"], delta_ci=[d["ci_low"], d["ci_high"]])
    summary["preset"] = cfg.preset
    summary["wall_seconds"] = rep.get("meta", {}).get("wall_seconds")
    summary["outputs"] = outcome.paths
    if args.json:
        print_json(summary)
        return 0
    print(f"{cfg.benchmark}: {rep['n']} questions")
    for c, v in rep["conditions"].items():
        print(f"  {c:6s} accuracy {100 * v['accuracy']:.1f}%  with fallback {100 * v['accuracy_with_fallback']:.1f}%"
              f"  unparseable {v['parse_failures']} ({100 * v['parse_failure_rate']:.1f}%)")
    if "difference" in rep:
        d = rep["difference"]["strict"]
        print(f"  rag - closed: {100 * d['delta']:+.1f} points "
              f"[{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] ({100 * d['confidence']:.0f}% bootstrap)")
    print(f"  report: {outcome.paths.get('markdown')}")
    return 0


def _datastore(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.rag_datastore import RagDatastoreConfig, run_rag_datastore

    cfg = from_args(RagDatastoreConfig, args)
    stats = run_rag_datastore(cfg)
    if args.json:
        print_json({"out": cfg.out, **stats.to_dict()})
    else:
        print(f"{stats.kept} passages written to {cfg.out} "
              f"({stats.seen} seen, {stats.duplicates} exact duplicates dropped)")
    return 0
