"""``reasonir bright --tasks all --queries original,gpt4_reason --retriever bm25q,dense:MODEL,hybrid --out DIR``."""

from __future__ import annotations

import argparse

from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "bright": "the BRIGHT table in one command (runs, manifests, leaderboard, chart)",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.bright import BrightConfig

    p = sub.add_parser("bright", help=COMMANDS["bright"],
                       description="Run every --queries x --retriever (x --rerank) setting on the BRIGHT tasks, "
                                   "resumable per (task, setting), or score existing runs (--runs DIR); write "
                                   "leaderboard.md/.json beside the paper's numbers and a per-task bar chart.")
    add_arguments(p, BrightConfig)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.bright import BrightConfig, run_bright

    cfg = from_args(BrightConfig, args)
    outcome = run_bright(cfg)
    summary = {"settings": [{"setting": r["setting"], "average": r["average"],
                             "paper": (r["paper"] or {}).get("average"), "delta": (r["paper"] or {}).get("delta")}
                            for r in outcome.leaderboard["settings"]],
               "computed": len(outcome.computed), "reused": len(outcome.reused), **outcome.counters,
               "files": outcome.files, "seconds": round(outcome.seconds, 3)}
    if args.json:
        print_json(summary)
        return 0
    print(outcome.markdown, end="")
    c = outcome.counters
    print(f"{len(outcome.computed)} runs computed, {len(outcome.reused)} reused; encoded {c['encoded_documents']} "
          f"documents and {c['encoded_queries']} queries; LLM {c['llm_calls']} calls, {c['llm_cache_hits']} cache hits")
    print("wrote " + ", ".join(outcome.files.values()))
    return 0
