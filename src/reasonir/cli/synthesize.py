"""``reasonir synthesize [CONFIG.yaml] [--flags]``: synthesize training data (or convert the released data)."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "synthesize": "generate reasoning-intensive training data (HQ, VL, hard negatives)",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.synthesize import SynthesizeConfig

    p = sub.add_parser(
        "synthesize", help=COMMANDS["synthesize"],
        description="Generate GritLM/ReasonIR training JSONL from documents with an LLM (resumable: a re-run "
                    "reuses every cached answer), or convert reasonir/reasonir-data with --released.")
    p.add_argument("config_file", nargs="?", default=None, metavar="CONFIG.yaml",
                   help="YAML/JSON file of options (same as --config; flags override it)")
    add_arguments(p, SynthesizeConfig)
    p.add_argument("--merge-shards", action="store_true",
                   help="only merge OUT/train.shard-*.jsonl into OUT/train.jsonl and exit")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.synthesize import SynthesizeConfig, merge_shards, run_synthesize

    if args.config_file:
        if getattr(args, "_config_file", None):
            raise ConfigError("give the config file once (positional CONFIG.yaml or --config)")
        args._config_file = args.config_file
    cfg = from_args(SynthesizeConfig, args)
    if args.merge_shards:
        path = merge_shards(cfg.out)
        print(f"merged shards into {path}")
        return 0
    res = run_synthesize(cfg)
    stats = res.stats
    total = stats.get("llm_total", {})
    summary = {"examples": len(res.examples), "train": str(res.paths.get("train")),
               "stats": str(res.paths.get("stats")), "llm_calls": total.get("calls", 0),
               "cached": total.get("cached", 0), "parse_failure_rate": total.get("parse_failure_rate", 0.0)}
    if args.json:
        print_json(summary)
    else:
        print(f"{summary['examples']} examples -> {summary['train']}  (LLM calls this run: {summary['llm_calls']}, "
              f"cached: {summary['cached']}, parse-failure rate: {summary['parse_failure_rate']:.3f}; "
              f"statistics: {summary['stats']})")
    return 0
