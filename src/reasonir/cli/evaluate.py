"""``reasonir evaluate --qrels FILE --run FILE [FILE ...] [--per-query] [--significance t-test] [--json]``."""

from __future__ import annotations

import argparse

from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "evaluate": "score TREC runs against qrels; compare runs with a paired test",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.evaluate import EvaluateConfig

    p = sub.add_parser("evaluate", help=COMMANDS["evaluate"],
                       description="Score runs against qrels (fractions, 0-1). Several runs against one --qrels "
                                   "are compared with the first by a paired significance test (p-values); one "
                                   "--qrels per run (e.g. BRIGHT tasks) prints the macro average over them. "
                                   "--per-query adds each query's scores (trec_eval -q lines).")
    add_arguments(p, EvaluateConfig)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..evaluate import macro_average, markdown_table
    from ..workflows.evaluate import EvaluateConfig, comparison_table, evaluate_runs, per_query_lines

    cfg = from_args(EvaluateConfig, args)
    outcome = evaluate_runs(cfg)  # judged queries missing from a run are logged as a warning
    results = outcome.results
    if args.json:
        if len(results) == 1:
            res = next(iter(results.values()))
            summary: dict[str, object] = {**res.mean, "num_queries": res.num_queries,
                                          "missing_queries": len(res.missing_queries)}
            if cfg.per_query:
                summary["per_query"] = res.per_query
            print_json(summary)
        elif outcome.shared_qrels:
            print_json(outcome.to_dict(per_query=cfg.per_query))
        else:
            print_json({**macro_average(results), "tasks": {n: r.mean for n, r in results.items()},
                        **({"per_query": {n: r.per_query for n, r in results.items()}} if cfg.per_query else {})})
        return 0
    if cfg.per_query:
        print("\n".join(per_query_lines(results)))
        print()
    print(markdown_table(results, average=not outcome.shared_qrels), end="")
    if outcome.comparisons:
        c0 = outcome.comparisons[0]
        print(f"\npaired {c0.test} against {c0.baseline} on {c0.queries} queries (* p < {cfg.alpha}):")
        print(comparison_table(outcome.comparisons), end="")
    return 0
