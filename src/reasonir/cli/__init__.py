"""``reasonir <command>``: each command parses one config and calls one library function.

Commands live in their own modules (``reasonir/cli/<command>.py``) exposing ``COMMANDS`` (name ->
one-line help) and ``register(subparsers)``; this module only wires them together, configures logging
and turns expected errors into a one-line message and exit status 2.

Start-up stays cheap: a command module imports its workflow (and numpy, models...) only inside
``register`` and its handlers, and ``main`` registers in full only the command being run; the others
are listed by name and help line, so ``reasonir --help`` imports none of them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Collection

from .. import __version__
from .._logging import configure_logging, set_progress
from ..config_aliases import flush_deprecations, rewrite_bool_literals
from ..errors import ReasonIRError
from ..outputs import describe_os_error

#: command modules, in the order ``--help`` lists them
COMMAND_MODULES = ("retrieve", "evaluate", "encode", "rag", "rewrite", "rerank", "llm-serve", "index", "search",
                   "serve", "demo", "synthesize", "train", "bright")

logger = logging.getLogger("reasonir.cli")


class Parser(argparse.ArgumentParser):
    """argparse, reading the former ``--flag BOOL`` syntax of boolean options as ``--flag/--no-flag``."""

    def parse_known_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(rewrite_bool_literals(self, args), namespace)


def _add_global_flags(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v``, ``-q`` and ``--no-progress``: on the top parser, and again on every subcommand's.

    A subcommand's copies leave the namespace untouched unless given (``SUPPRESS``); its ``-v`` count
    goes to ``verbose_after`` and is added to the top-level count, so ``-v CMD -v`` is ``-vv``.
    """
    group = parser.add_argument_group("global options (before or after the command)") if not top else parser
    unset = {} if top else {"default": argparse.SUPPRESS}
    group.add_argument("-v", "--verbose", action="count", help="more logging (-vv: debug)",
                       dest="verbose" if top else "verbose_after", **({"default": 0} if top else unset))
    group.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors",
                       **({"default": False} if top else unset))
    group.add_argument("--no-progress", action="store_true", help="never show progress bars",
                       **({"default": False} if top else unset))


def _leaf_parsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):   # an alias maps to the same parser
                yield sub
                yield from _leaf_parsers(sub)


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``reasonir`` parser (what ``main`` parses; the vocabulary test walks it).

    Args:
        commands: register only these commands' options; the others get a bare parser with their
            help line, enough for ``reasonir --help``. ``None``: every command in full.
    """
    parser = Parser(prog="reasonir", description="Retrieval for reasoning-intensive queries (ReasonIR toolkit).")
    parser.add_argument("--version", action="version", version=f"reasonir {__version__}")
    _add_global_flags(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
        if commands is None or any(c in commands for c in module.COMMANDS):
            module.register(sub)
        else:
            for command, text in module.COMMANDS.items():
                sub.add_parser(command, help=text, description=text)
    for child in _leaf_parsers(parser):
        _add_global_flags(child, top=False)
    return parser


def _command_in(argv: list[str]) -> str | None:
    """The command word of ``argv``: the first argument that is not an option (global flags take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    parser = build_parser({command} if command else set())
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    verbose = args.verbose + getattr(args, "verbose_after", 0)
    configure_logging(-1 if args.quiet else verbose)
    flush_deprecations()
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
