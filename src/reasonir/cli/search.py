"""``reasonir search INDEX_DIR "query" [-k 10] [--mode ...] [--json]`` and batch ``--queries FILE --out run.trec``."""

from __future__ import annotations

import argparse

from ..config import add_arguments, from_args
from ._common import format_metrics, print_json


def register(sub: argparse._SubParsersAction) -> None:
    from ..workflows.search import SearchConfig

    p = sub.add_parser("search", help="search an index (one query, or a queries file to a TREC run)",
                       description="Search an index built by `reasonir index build`. Modes: dense, bm25, bm25q "
                                   "(query-side BM25), hybrid (dense + BM25 fusion).")
    add_arguments(p, SearchConfig)
    p.add_argument("--json", action="store_true", help="print machine-readable results (one JSON object, last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..workflows.search import SearchConfig, run_search

    cfg = from_args(SearchConfig, args)
    outcome = run_search(cfg)
    if outcome.results is not None:
        if args.json:
            print_json({"query": cfg.query, "mode": cfg.mode, "results": outcome.results,
                        "seconds": round(outcome.seconds, 4)})
            return 0
        if not outcome.results:
            print("no results")
        for r in outcome.results:
            title = f"  {r['title']}" if r["title"] else ""
            print(f"{r['rank']:>3}. {r['id']}  {r['score']:.4f}{title}")
            print(f"     {r['snippet']}")
        return 0
    summary = {"queries": outcome.num_queries, "mode": cfg.mode, "seconds": round(outcome.seconds, 3),
               "queries_per_second": round(outcome.num_queries / outcome.seconds, 2) if outcome.seconds else None,
               "out": cfg.out}
    if outcome.evaluation is not None:
        summary.update(outcome.evaluation.mean)
    if args.json:
        print_json(summary)
    else:
        line = f"{outcome.num_queries} queries  {cfg.mode}  {outcome.seconds:.1f}s"
        if outcome.evaluation is not None:
            line += "  " + format_metrics(outcome.evaluation.mean)
        print(line + (f"  -> {cfg.out}" if cfg.out else ""))
    return 0
