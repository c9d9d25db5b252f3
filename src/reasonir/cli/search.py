"""``reasonir search INDEX_DIR "query" [-k 10] [--retriever R] [--json]`` and batch ``--queries FILE [--out run.trec]``.

A batch search with neither ``--out`` nor ``--qrels`` prints its run on stdout (TREC lines, or one JSON
object per query with ``--json``) and its one-line summary on stderr, so that ``> run.trec`` works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from ..types import Run, top_k
from ._common import format_metrics, print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "search": "search an index (one query, or a queries file to a TREC run)",
}


if TYPE_CHECKING:
    from ..workflows.search import SearchConfig


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.search import SearchConfig

    p = sub.add_parser("search", help=COMMANDS["search"],
                       description="Search an index built by `reasonir index build`. Retrievers: dense, bm25, bm25q "
                                   "(query-side BM25), hybrid (dense + BM25 fusion). A --queries search writes "
                                   "its run to --out, or to stdout when neither --out nor --qrels is given.")
    add_arguments(p, SearchConfig)
    p.add_argument("--json", action="store_true", help="print machine-readable results (one JSON object, last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.search import SearchConfig, run_search

    cfg = from_args(SearchConfig, args)
    outcome = run_search(cfg)
    if outcome.results is not None:
        if args.json:
            print_json({"query": cfg.query, "retriever": cfg.retriever, **_fusion_fields(cfg),
                        "results": outcome.results, "seconds": round(outcome.seconds, 4)})
            return 0
        if not outcome.results:
            print("no results")
        for r in outcome.results:
            title = f"  {r['title']}" if r["title"] else ""
            print(f"{r['rank']:>3}. {r['id']}  {r['score']:.4f}{title}")
            print(f"     {r['snippet']}")
        return 0
    line = f"{outcome.num_queries} queries  {cfg.retriever}  {outcome.seconds:.1f}s"
    if outcome.run is not None and not cfg.out and outcome.evaluation is None:
        if not _print_run(outcome.run, cfg.top_k, f"reasonir-{cfg.retriever}", args.json):
            return 0
        print(line + "  -> stdout", file=sys.stderr)
        return 0
    summary = {"queries": outcome.num_queries, "retriever": cfg.retriever, **_fusion_fields(cfg),
               "seconds": round(outcome.seconds, 3),
               "queries_per_second": round(outcome.num_queries / outcome.seconds, 2) if outcome.seconds else None,
               "out": cfg.out}
    if outcome.evaluation is not None:
        summary.update(outcome.evaluation.mean)
        if outcome.evaluation.skipped_metrics:
            summary["skipped_metrics"] = outcome.evaluation.skipped_metrics
    if args.json:
        print_json(summary)
    else:
        if outcome.evaluation is not None:
            line += "  " + format_metrics(outcome.evaluation.mean)
        print(line + (f"  -> {cfg.out}" if cfg.out else ""))
    return 0


def _fusion_fields(cfg: SearchConfig) -> dict[str, Any]:
    """How a hybrid search combined its systems (and the preset it resolved from), for ``--json`` output."""
    out: dict[str, Any] = {"preset": cfg.preset} if cfg.preset else {}
    if cfg.retriever == "hybrid":
        out.update(fusion=cfg.fusion, bm25_mode=cfg.bm25_mode, weights=cfg.weights)
    return out


def _print_run(run: Run, k: int, tag: str, as_json: bool, stream: TextIO | None = None) -> bool:
    """Write ``run`` ranked as :func:`reasonir.io.write_run` ranks it; ``False`` if the reader went away."""
    stream = stream or sys.stdout
    try:
        for qid, docs in run.items():
            ranked = top_k(docs, k)
            if as_json:
                hits = [{"rank": r, "id": d, "score": s} for r, (d, s) in enumerate(ranked, start=1)]
                stream.write(json.dumps({"query_id": qid, "results": hits}, ensure_ascii=False) + "\n")
            else:
                stream.write("".join(f"{qid} Q0 {d} {r} {s:.9g} {tag}\n" for r, (d, s) in enumerate(ranked, start=1)))
        stream.flush()
    except BrokenPipeError:  # e.g. `reasonir search ... | head`: stop quietly, like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True
