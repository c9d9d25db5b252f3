"""``reasonir <command>``: each command parses one config and calls one library function.

Commands live in their own modules (``reasonir/cli/<command>.py``) exposing ``register(subparsers)``;
this module only wires them together, configures logging and turns expected errors into a one-line
message and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from .._logging import configure_logging, set_progress
from ..errors import ReasonIRError
from ..outputs import describe_os_error

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES = ("retrieve", "evaluate", "encode", "rag", "rewrite", "rerank", "llm-serve", "index", "search",
                   "serve", "demo", "synthesize", "train", "bright")

logger = logging.getLogger("reasonir.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reasonir", description="Retrieval for reasoning-intensive queries (ReasonIR toolkit).")
    parser.add_argument("--version", action="version", version=f"reasonir {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--no-progress", action="store_true", help="never show progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    configure_logging(-1 if args.quiet else args.verbose)
    if args.no_progress:
        set_progress(False)
    try:
        return int(args.func(args) or 0)
    except (ReasonIRError, FileNotFoundError) as exc:
        print(f"reasonir {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = describe_os_error(exc)
        if message is None:
            raise
        print(f"reasonir {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"reasonir {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    """The exception's message as one line (the lines of a multi-line message are joined)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
