"""Old option names kept working: deprecated flags and config keys, each warned about once.

An option renamed to follow the CLI vocabulary (``README.md``, :mod:`reasonir.cli.vocabulary`) lists
its former names in its field metadata, ``aliases=("k",)``: the flag ``--k`` stays accepted (hidden
from ``--help``) and so does the key ``k:`` in a config file or preset, each with one warning per
process naming the new spelling. A field whose flag differs from its name (``flag="--out"`` on
``output_dir``) also accepts the flag's spelling as a config key, without a warning.

Warnings raised while the command line is parsed wait in a queue until logging is configured
(:func:`flush_deprecations`, called by the CLI and by :func:`reasonir.config.from_args`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import Any

from .errors import ConfigError

logger = logging.getLogger("reasonir.config")

_warned: set[str] = set()
_pending: list[str] = []


def flag_of(f: dataclasses.Field) -> str:
    """The long flag of a dataclass field: metadata ``flag``, else ``--field-name``."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def key_of_flag(flag: str) -> str:
    """The config key a flag stands for (``--top-k`` -> ``top_k``)."""
    return flag.lstrip("-").replace("-", "_")


def aliases_of(f: dataclasses.Field) -> tuple[str, ...]:
    """The field's former names (config keys, underscored), oldest spelling first."""
    return tuple(a.lstrip("-").replace("-", "_") for a in f.metadata.get("aliases", ()))


def deprecated(old: str, new: str) -> None:
    """Record that ``old`` was used where ``new`` is the current name; warned once per process."""
    message = f"{old} is deprecated and will be removed; use {new}"
    if message in _warned:
        return
    _warned.add(message)
    if logging.getLogger("reasonir").handlers or logging.getLogger().handlers:
        logger.warning("%s", message)
    else:                                 # the command line is still being parsed: log once configured
        _pending.append(message)


def flush_deprecations() -> None:
    """Log the deprecation warnings recorded before logging was configured."""
    while _pending:
        logger.warning("%s", _pending.pop(0))


def deprecated_action(base: type[argparse.Action], old: str, new: str) -> type[argparse.Action]:
    """An argparse action like ``base`` that also records the use of the old flag ``old``."""

    class _Deprecated(base):  # type: ignore[misc, valid-type]
        def __call__(self, parser, namespace, values, option_string=None):
            used = option_string or old
            deprecated(used, new if not used.startswith("--no-") else "--no-" + new[2:])
            super().__call__(parser, namespace, values, option_string)

    return _Deprecated


def canonical_keys(cls: type, values: dict[str, Any], origin: str) -> dict[str, Any]:
    """``values`` (underscored keys) with former names and flag spellings mapped to field names.

    Raises:
        ConfigError: when an option is given under two of its names (naming both and ``origin``).
    """
    if not dataclasses.is_dataclass(cls):
        return values
    names: dict[str, tuple[str, bool]] = {}
    for f in dataclasses.fields(cls):
        spelled = key_of_flag(flag_of(f))
        if spelled != f.name:
            names.setdefault(spelled, (f.name, False))
        for alias in aliases_of(f):
            names.setdefault(alias, (f.name, True))
    field_names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in values.items():
        target, is_old = (key, False) if key in field_names else names.get(key, (key, False))
        if target in given:
            raise ConfigError(f"{origin}: option {target!r} is given twice (as {given[target]!r} and {key!r})")
        if is_old:
            deprecated(f"option {key!r} ({origin})", f"{key_of_flag(flag_of(_field(cls, target)))!r}")
        given[target], out[target] = key, value
    return out


def _field(cls: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def rewrite_bool_literals(parser: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """``--flag true``/``--flag=no`` (the former boolean syntax) as ``--flag``/``--no-flag``, warned once.

    Only the parser's own :class:`argparse.BooleanOptionalAction` flags are rewritten; a subcommand's
    parser rewrites its own when argparse hands it its arguments.
    """
    flags = {s for a in parser._actions if isinstance(a, argparse.BooleanOptionalAction)
             for s in a.option_strings if not s.startswith("--no-")}
    if not flags:
        return args
    out: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        name, eq, value = token.partition("=")
        if name in flags and eq:
            literal = value
        elif token in flags and i + 1 < len(args) and args[i + 1].strip().lower() in _TRUE + _FALSE:
            name, literal = token, args[i + 1]
            i += 1
        else:
            out.append(token)
            i += 1
            continue
        word = literal.strip().lower()
        if word not in _TRUE + _FALSE:
            parser.error(f"{name} takes no value (use {name} or --no-{name[2:]}), got {literal!r}")
        new = name if word in _TRUE else "--no-" + name[2:]
        deprecated(f"{name} {literal}", new)
        out.append(new)
        i += 1
    return out
