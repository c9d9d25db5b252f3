"""``reasonir demo``: build a hybrid index over the Python reference and answer reasoning-style questions."""

from __future__ import annotations

import argparse
import textwrap

from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "demo": "the main job on a corpus every Python carries: index, then answer questions",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.demo import DemoConfig

    p = sub.add_parser("demo", help=COMMANDS["demo"],
                       description="Index the Python language reference shipped with the interpreter (dense + "
                                   "BM25, resumable, cached) and answer a few reasoning-style questions with "
                                   "hybrid search.")
    add_arguments(p, DemoConfig)
    p.add_argument("--json", action="store_true", help="print the answers as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.demo import DemoConfig, run_demo

    cfg = from_args(DemoConfig, args)
    outcome = run_demo(cfg)
    if args.json:
        print_json({"index": outcome.index_dir, "answers": outcome.answers})
        return 0
    rep = outcome.report
    built = ("reused" if rep.operation == "noop" else
             f"built in {sum(rep.seconds.values()):.1f}s ({rep.docs_per_second:.0f} passages/s)")
    print(f"Index: {outcome.index_dir} — {rep.documents} passages of the Python language reference, {built}")
    print(f"Search: {cfg.retriever}, top {cfg.top_k} per question\n")
    for n, ans in enumerate(outcome.answers, start=1):
        print(textwrap.fill(f"Q{n}. {ans['question']}", width=100, subsequent_indent="    "))
        for rank, r in enumerate(ans["results"], start=1):
            print(f"  {rank}. [{r['title']}]  score {r['score']:.3f}  ({r['id']})")
            print(textwrap.fill(r["snippet"], width=100, initial_indent="     ", subsequent_indent="     "))
        print()
    return 0
