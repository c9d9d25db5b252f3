"""``reasonir rerank --run RUN --dataset SPEC --reranker SPEC [--top-k 100] --out RUN``."""

from __future__ import annotations

import argparse

from ._common import format_metrics, print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "rerank": "rerank a run with an LLM (0-5 grades) or a cross-encoder",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.rerank import RerankConfig

    p = sub.add_parser("rerank", help=COMMANDS["rerank"],
                       description="Rerank each query's top-k of a run; report metrics before and after "
                                   "(reranker alone and combined with the first-stage score).")
    add_arguments(p, RerankConfig)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.rerank import RerankConfig, run_rerank

    cfg = from_args(RerankConfig, args)
    outcome = run_rerank(cfg)
    summary = {"dataset": outcome.dataset.name, "queries": outcome.queries, "pairs": outcome.pairs,
               "final": cfg.combine, "metrics": outcome.metrics, "grades": outcome.grades, "llm": outcome.llm,
               "seconds": round(outcome.seconds, 3), "skipped_metrics": outcome.skipped_metrics,
               "preset": cfg.preset}
    if args.json:
        print_json(summary)
        return 0
    print(f"{outcome.dataset.name}  {outcome.queries} queries x top-{cfg.top_k}  ({outcome.pairs} pairs, "
          f"{outcome.seconds:.1f}s)")
    for name, mean in outcome.metrics.items():
        mark = " <- final" if name == cfg.combine else ""
        print(f"  {name:<12} {format_metrics(mean)}{mark}")
    if outcome.skipped_metrics:
        print(f"  not reported (deeper than top-{cfg.top_k}): {', '.join(outcome.skipped_metrics)}")
    g = outcome.grades
    if "parse_failures" in g:
        print(f"  grades: {g['parse_failures']}/{g['pairs']} unreadable ({100 * g['parse_failure_rate']:.1f}%), "
              f"methods {g['methods']}")
        print(f"  documents cut: {g['truncated_words']} at --max-doc-words, {g['truncated_context']} to fit the "
              "LLM's context")
    if outcome.llm:
        s = outcome.llm
        print(f"  LLM {s['llm']}: {s['calls']} calls, {s['cache_hits']} cache hits, "
              f"{s['prompt_tokens']}+{s['completion_tokens']} tokens, ${s['cost_usd']:.4f}")
    return 0
