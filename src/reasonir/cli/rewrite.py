"""``reasonir rewrite --dataset SPEC --llm SPEC --max-tokens N --out rewritten.jsonl``."""

from __future__ import annotations

import argparse

from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "rewrite": "rewrite queries with an LLM (test-time reasoning expansion)",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.rewrite import RewriteConfig

    p = sub.add_parser("rewrite", help=COMMANDS["rewrite"],
                       description="Rewrite every query of a dataset into a reasoning text with an LLM; write "
                                   "JSONL rows {id, query, ...} for `reasonir retrieve --queries FILE`.")
    add_arguments(p, RewriteConfig)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.rewrite import RewriteConfig, run_rewrite

    cfg = from_args(RewriteConfig, args)
    outcome = run_rewrite(cfg)
    summary = {**outcome.lengths, **outcome.llm, "out": cfg.out, "seconds": round(outcome.seconds, 3)}
    if args.json:
        print_json(summary)
    else:
        s = outcome.llm
        print(f"{outcome.lengths['queries']} queries rewritten -> {cfg.out}  "
              f"(mean words {outcome.lengths['mean_words_original']} -> {outcome.lengths['mean_words_rewritten']}, "
              f"{outcome.lengths['hit_budget']} hit the token budget)")
        print(f"  LLM {s['llm']}: {s['calls']} calls, {s['cache_hits']} cache hits, "
              f"{s['prompt_tokens']}+{s['completion_tokens']} tokens, ${s['cost_usd']:.4f}, {outcome.seconds:.1f}s")
    return 0
