"""``reasonir evaluate --qrels FILE --run FILE [--examples FILE] [--metrics ...] [--json]``."""

from __future__ import annotations

import argparse

from ..config import add_arguments, from_args
from ._common import print_json


def register(sub: argparse._SubParsersAction) -> None:
    from ..workflows.evaluate import EvaluateConfig

    p = sub.add_parser("evaluate", help="score TREC runs against qrels (BRIGHT excluded ids supported)",
                       description="Score one or more runs. Several --run/--qrels pairs print a table "
                                   "with the macro average over them.")
    add_arguments(p, EvaluateConfig)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..evaluate import macro_average, markdown_table
    from ..workflows.evaluate import EvaluateConfig, run_evaluate

    cfg = from_args(EvaluateConfig, args)
    results = run_evaluate(cfg)  # judged queries missing from a run are logged as a warning
    if args.json:
        if len(results) == 1:
            res = next(iter(results.values()))
            print_json({**res.mean, "num_queries": res.num_queries, "missing_queries": len(res.missing_queries)})
        else:
            print_json({**macro_average(results), "tasks": {n: r.mean for n, r in results.items()}})
    else:
        print(markdown_table(results), end="")
    return 0
