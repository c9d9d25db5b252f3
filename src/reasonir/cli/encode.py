"""``reasonir encode CORPUS --out DIR --model M [--json]``: embed a corpus into .npy shards."""

from __future__ import annotations

import argparse

from ..config_aliases import deprecated
from ..errors import ConfigError
from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "encode": "embed a corpus (or queries) into .npy shards + ids.json + config.json",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.encode import EncodeConfig

    p = sub.add_parser("encode", help=COMMANDS["encode"],
                       description="Embed every document of a corpus with a dense encoder. Resumable; "
                                   "files are written atomically; config.json is written last.")
    add_arguments(p, EncodeConfig)
    p.add_argument("out_positional", nargs="?", default=None, help=argparse.SUPPRESS)  # former OUT_DIR
    p.add_argument("--json", action="store_true", help="print a summary as one JSON object (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..workflows.encode import EncodeConfig, run_encode

    if args.out_positional is not None:         # `reasonir encode CORPUS OUT_DIR`, the former spelling
        if getattr(args, "out", None) is not None:
            raise ConfigError(f"give the output folder once: --out {args.out} or OUT_DIR {args.out_positional}")
        deprecated("the positional OUT_DIR of `reasonir encode`", "--out OUT_DIR")
        args.out = args.out_positional
    cfg = from_args(EncodeConfig, args)
    outcome = run_encode(cfg)
    summary = {"out_dir": str(outcome.out_dir), "count": outcome.count, "dim": outcome.dim,
               "encoded": outcome.encoded, "seconds": round(outcome.seconds, 3),
               "model": outcome.config["encoder"].get("model")}
    if args.json:
        print_json(summary)
    else:
        print(f"{outcome.count} texts -> {outcome.out_dir} (dim {outcome.dim}, {outcome.encoded} encoded "
              f"in {outcome.seconds:.1f}s)")
    return 0
