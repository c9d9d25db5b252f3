"""One configuration dataclass per command, accepted as CLI flags or a YAML/JSON file.

Precedence: dataclass defaults < ``--config FILE`` < flags given on the command line. The resolved
configuration is written next to a command's outputs (``save_config``) so every artifact says how
it was made.

Field metadata understood by :func:`add_arguments`:

* ``help``: the flag's help text;
* ``choices``: allowed values;
* ``positional``: make it a positional argument;
* ``flag``: override the flag name (default: ``--field-name``);
* ``short``: an extra short flag such as ``-k``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import ConfigError
from .io import write_json

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
            kwargs["type"] = _parse_bool
            kwargs["nargs"] = "?"
            kwargs["const"] = True
            kwargs["metavar"] = "BOOL"
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
            names = [meta.get("flag", "--" + f.name.replace("_", "-"))]
            if "short" in meta:
                names.insert(0, meta["short"])
            kwargs["default"] = argparse.SUPPRESS
            parser.add_argument(*names, **kwargs)


def load_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML or JSON mapping.

    Raises:
        ConfigError: when the file is not a mapping or cannot be parsed.
    """
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{p}: cannot parse config: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must hold a mapping of option: value")
    return data


def build(cls: type[C], values: dict[str, Any], origin: str = "config") -> C:
    """Instantiate ``cls`` from a mapping, rejecting unknown keys with the list of valid ones."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in values if k.replace("-", "_") not in names)
    if unknown:
        raise ConfigError(f"{origin}: unknown option(s) {', '.join(unknown)}; valid options: "
                          f"{', '.join(sorted(n for n in names if not n.startswith('_')))}")
    clean = {k.replace("-", "_"): v for k, v in values.items()}
    try:
        return cls(**clean)
    except TypeError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def from_args(cls: type[C], args: argparse.Namespace) -> C:
    """Resolve a config: dataclass defaults < ``--config`` file < explicit flags."""
    values: dict[str, Any] = {}
    cfg_file = getattr(args, "_config_file", None)
    if cfg_file:
        values.update(load_file(cfg_file))
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in vars(args).items():
        if key in names:
            values[key] = value
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in values]
    if missing:
        raise ConfigError(f"missing required option(s): {', '.join(missing)}")
    return build(cls, values, origin=cfg_file or "command line")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-serialisable dict of a config dataclass."""
    out = dataclasses.asdict(cfg)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items() if not k.startswith("_")}


def save_config(cfg: Any, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> None:
    """Write the resolved config (plus ``extra`` provenance) atomically as JSON."""
    data = {"config": to_dict(cfg), "command": type(cfg).__name__}
    if extra:
        data.update(extra)
    write_json(path, data)
