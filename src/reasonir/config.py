"""One configuration dataclass per command, accepted as CLI flags or a YAML/JSON file.

Precedence: dataclass defaults < preset (``--preset``, for commands that have one) <
``--config FILE`` < flags given on the command line. The resolved configuration is written next to
a command's outputs (``save_config``, with the preset's name and hash) so every artifact says how
it was made.

Field metadata understood by :func:`add_arguments`:

* ``help``: the flag's help text;
* ``choices``: allowed values;
* ``positional``: make it a positional argument;
* ``flag``: override the flag name (default: ``--field-name``);
* ``short``: an extra short flag such as ``-k``;
* ``aliases``: former names, still accepted as hidden flags and config keys with a deprecation
  warning (:mod:`reasonir.config_aliases`).

Booleans are ``--flag/--no-flag``. Flag names follow the vocabulary in :mod:`reasonir.cli.vocabulary`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from .config_aliases import aliases_of, canonical_keys, deprecated_action, flag_of, flush_deprecations
from .config_paths import relative_to_file
from .errors import ConfigError
from .io import write_json
from .prompts.presets import load_preset, preset_digest

C = TypeVar("C")


def _base_type(tp: Any) -> tuple[Any, bool]:
    """Strip ``Optional``; return (type, is_optional)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else str), True
    return tp, False


def _parse_bool(value: str) -> bool:
    v = str(value).strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {value!r}")


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one flag per dataclass field of ``cls`` (plus ``--config``); absent flags stay unset."""
    hints = typing.get_type_hints(cls)
    parser.set_defaults(config_class=cls)
    parser.add_argument("--config", dest="_config_file", default=None, metavar="FILE",
                        help="YAML or JSON file with these options (flags given here override it)")
    for f in dataclasses.fields(cls):
        if f.name.startswith("_") or f.metadata.get("cli") is False:
            continue
        tp, _ = _base_type(hints[f.name])
        meta = f.metadata
        kwargs: dict[str, Any] = {"help": meta.get("help", ""), "dest": f.name}
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        if default not in (None, "", [], ()) and "default" not in kwargs["help"]:
            kwargs["help"] += f" (default: {default})"
        origin = typing.get_origin(tp)
        if origin in (list, tuple):
            item = typing.get_args(tp)[0] if typing.get_args(tp) else str
            kwargs["type"] = item if item in (int, float) else str
            kwargs["nargs"] = "*" if meta.get("positional") else "+"
        elif tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif tp in (int, float):
            kwargs["type"] = tp
        else:
            kwargs["type"] = str
        if meta.get("positional"):
            kwargs.pop("dest")
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                kwargs.setdefault("nargs", "?")
            kwargs["default"] = argparse.SUPPRESS
            parser.add_argument(f.name, **kwargs)
        else:
            names = [flag_of(f)]
            if "short" in meta:
                names.insert(0, meta["short"])
            kwargs["default"] = argparse.SUPPRESS
            parser.add_argument(*names, **kwargs)
            _add_aliases(parser, f, names[-1], kwargs)


def _add_aliases(parser: argparse.ArgumentParser, f: dataclasses.Field, flag: str, kwargs: dict[str, Any]) -> None:
    """Hidden flags for the field's former names (skipping one that another option now uses)."""
    taken = {s for a in parser._actions for s in a.option_strings}
    base = kwargs.get("action", argparse._StoreAction)
    for alias in aliases_of(f):
        old = "--" + alias.replace("_", "-")
        if old in taken or (base is argparse.BooleanOptionalAction and "--no-" + old[2:] in taken):
            continue
        parser.add_argument(old, **{**kwargs, "help": argparse.SUPPRESS, "action": deprecated_action(base, old, flag)})


def load_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON mapping.

    Raises:
        ConfigError: when the file is missing, a folder, not UTF-8, not a mapping or cannot be parsed.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory; --config needs a YAML or JSON file")
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: config file is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror or exc}") from None
    import yaml  # here, not at the top: only a --config file needs it, every command's start-up would pay

    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{p}: cannot parse config: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must hold a mapping of option: value, not {_kind(data)}")
    return data


def _normalise_keys(values: dict[Any, Any], origin: str) -> dict[str, Any]:
    bad = [k for k in values if not isinstance(k, str)]
    if bad:
        raise ConfigError(f"{origin}: option names must be strings, got {_short(bad[0])}")
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name in given:
            raise ConfigError(f"{origin}: option {name!r} is given twice (as {given[name]!r} and {key!r})")
        given[name], out[name] = key, value
    return out


def build(cls: type[C], values: dict[str, Any], origin: str = "config") -> C:
    """Instantiate ``cls`` from a mapping, checking names, types and choices of every value.

    Values are converted the way the command line converts flags (``"3"`` for an ``int`` option,
    ``"yes"`` for a ``bool``, a single value for a list option); anything else is refused.

    Raises:
        ConfigError: naming ``origin``, the option, the expected type (or choices) and the value.
    """
    clean = canonical_keys(cls, _normalise_keys(values, origin), origin)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(k for k in clean if k not in fields)
    if unknown:
        shown = ", ".join(k if k.isidentifier() else _short(k, 30) for k in unknown[:10])
        raise ConfigError(f"{origin}: unknown option(s) {shown}; valid options: "
                          f"{', '.join(sorted(n for n in fields if not n.startswith('_')))}")
    hints = typing.get_type_hints(cls)
    for name, value in clean.items():
        clean[name] = check_value(value, hints[name], name, origin, fields[name].metadata.get("choices"))
    try:
        return cls(**clean)
    except TypeError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def preset_values(cls: type, name: str | None) -> dict[str, Any]:
    """The option values preset ``name`` sets for the command whose config class is ``cls``.

    A config class opts in with a ``preset`` field and a ``PRESET_SECTION`` class attribute naming
    its section file (see :mod:`reasonir.prompts.presets`).

    Raises:
        ConfigError: unknown preset, or a preset value that is not an option of ``cls``.
    """
    section = getattr(cls, "PRESET_SECTION", None)
    if not name or not section:
        return {}
    values = load_preset(name, section)
    origin = f"preset {name!r} ({section}.yaml)"
    clean = canonical_keys(cls, _normalise_keys(values, origin), origin)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in clean if k not in fields or k == "preset")
    if unknown:
        raise ConfigError(f"{origin}: option(s) {', '.join(unknown)} are not options of this command")
    return clean


def preset_provenance(cfg: Any) -> dict[str, Any]:
    """``{"preset", "preset_sha256"}`` of a resolved config (empty without a preset): for manifests."""
    name = getattr(cfg, "preset", None)
    section = getattr(type(cfg), "PRESET_SECTION", None)
    if not name or not section:
        return {}
    return {"preset": name, "preset_sha256": preset_digest(name, section)}


def from_args(cls: type[C], args: argparse.Namespace) -> C:
    """Resolve a config: dataclass defaults < preset < ``--config`` file < explicit flags.

    The preset (``--preset NAME`` or ``preset:`` in the file) applies to config classes that declare
    a ``PRESET_SECTION``; values given in the file or as flags override the preset's. Relative paths
    in the file are read from the file's folder (see :mod:`reasonir.config_paths`); flags keep the
    current folder.
    """
    flush_deprecations()                    # former flag names met while parsing
    values: dict[str, Any] = {}
    cfg_file = getattr(args, "_config_file", None)
    if cfg_file:                            # relative paths in the file are relative to its folder
        values.update(relative_to_file(canonical_keys(cls, _normalise_keys(load_file(cfg_file), cfg_file),
                                                      cfg_file), cfg_file))
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in vars(args).items():
        if key in names:
            values[key] = value
    named_in = "command line" if getattr(args, "preset", None) is not None else (cfg_file or "command line")
    preset = check_value(values.get("preset"), str | None, "preset", named_in)
    try:
        preset_part = preset_values(cls, preset)
    except ConfigError as exc:              # say where the preset was named
        raise ConfigError(f"{named_in}: {exc}") from None
    values = {**preset_part, **values}
    missing = [f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in values]
    if missing:
        raise ConfigError(f"missing required option(s): {', '.join(missing)}")
    return build(cls, values, origin=cfg_file or "command line")


# --------------------------------------------------------------------------------------------------
# value types
# --------------------------------------------------------------------------------------------------
_EXPECTED = {bool: "a boolean (true/false)", int: "an integer", float: "a finite number", str: "a string"}
_PLURAL = {bool: "booleans", int: "integers", float: "finite numbers", str: "strings"}


def _short(value: Any, width: int = 60) -> str:
    try:
        text = repr(value)
    except ValueError:                      # an integer too long to print
        return f"<{type(value).__name__} too long to show>"
    return text if len(text) <= width else text[:width - 3] + "..."


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _scalar(value: Any, tp: Any) -> Any:
    """``value`` converted to ``tp`` (bool, int, float, str), or ``_BAD``."""
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return _parse_bool(value)
            except argparse.ArgumentTypeError:
                return _BAD
        return _BAD
    if isinstance(value, bool):
        return _BAD
    if tp is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return _BAD
        return _BAD
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                out = float(value)
            except OverflowError:
                return _BAD
        elif isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                return _BAD
        else:
            return _BAD
        return out if math.isfinite(out) else _BAD
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and (not isinstance(value, float) or math.isfinite(value)):
            try:
                return str(value)
            except ValueError:              # an integer too long to convert
                return _BAD
        return _BAD
    return value


_BAD = object()


def check_value(value: Any, tp: Any, name: str, origin: str = "config", choices: Any = None) -> Any:
    """Check (and convert, as the command line would) one option value against its declared type.

    Args:
        value: the value from a config file or a flag.
        tp: the dataclass field's type (``int``, ``str | None``, ``list[str]``, ``dict[str, Any]``...).
        name: the option name (for the message).
        origin: the config file (or ``"command line"``).
        choices: the allowed values, if the option has them.

    Returns:
        The converted value.

    Raises:
        ConfigError: naming the file, the option, the expected type and the value given.
    """
    base, optional = _base_type(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{origin}: option {name!r} expects {_describe(base)}, got null")
    origin_tp = typing.get_origin(base)
    if origin_tp in (list, tuple):
        args = typing.get_args(base)
        item = args[0] if args else str
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        out = [_checked_scalar(v, item, name, origin, choices, of_list=True) for v in items]
        return tuple(out) if origin_tp is tuple else out
    if origin_tp is dict or base is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{origin}: option {name!r} expects a mapping with string keys, "
                              f"got {_short(value)} ({_kind(value)})")
        return value
    return _checked_scalar(value, base, name, origin, choices)


def _checked_scalar(value: Any, tp: Any, name: str, origin: str, choices: Any, of_list: bool = False) -> Any:
    if tp not in _EXPECTED:
        return value
    out = _scalar(value, tp)
    if out is _BAD:
        what = f"a list of {_PLURAL[tp]} (or one value)" if of_list else _describe(tp)
        raise ConfigError(f"{origin}: option {name!r} expects {what}, got {_short(value)} ({_kind(value)})")
    if choices is not None and out not in choices:
        raise ConfigError(f"{origin}: option {name!r} must be one of {', '.join(map(str, choices))}; "
                          f"got {_short(value)}")
    return out


def _describe(tp: Any) -> str:
    if typing.get_origin(tp) in (list, tuple):
        args = typing.get_args(tp)
        item = args[0] if args else str
        return f"a list of {_PLURAL.get(item, 'values')}"
    if typing.get_origin(tp) is dict or tp is dict:
        return "a mapping"
    return _EXPECTED.get(tp, getattr(tp, "__name__", str(tp)))


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of a config dataclass."""
    out = dataclasses.asdict(cfg)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items() if not k.startswith("_")}


def save_config(cfg: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> None:
    """Write the resolved config (plus ``extra`` provenance) atomically as JSON."""
    data = {"config": to_dict(cfg), "command": type(cfg).__name__, **preset_provenance(cfg)}
    if extra:
        data.update(extra)
    write_json(path, data)
