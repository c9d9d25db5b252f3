"""``reasonir retrieve --dataset SPEC --retriever NAME [--out run.trec] [--json]``."""

from __future__ import annotations

import argparse

from ._common import format_metrics, print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "retrieve": "retrieve for a dataset's queries and evaluate the run",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.retrieve import RetrieveConfig

    p = sub.add_parser("retrieve", help=COMMANDS["retrieve"],
                       description="Retrieve for every query of a dataset, write a TREC run, print metrics.")
    add_arguments(p, RetrieveConfig)
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.retrieve import RetrieveConfig, run_retrieve

    cfg = from_args(RetrieveConfig, args)
    outcome = run_retrieve(cfg)
    res = outcome.result
    summary = {**res.mean, "num_queries": res.num_queries, "missing_queries": len(res.missing_queries),
               "dataset": outcome.dataset.name, "retriever": cfg.retriever,
               "seconds": round(outcome.seconds, 3)}
    if args.json:
        print_json(summary)
    else:
        print(f"{outcome.dataset.name}  {cfg.retriever}  {res.num_queries} queries  {format_metrics(res.mean)}")
        if res.missing_queries:
            print(f"  {len(res.missing_queries)} judged queries had no results (scored 0)")
    return 0
