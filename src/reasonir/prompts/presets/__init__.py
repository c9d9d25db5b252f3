"""Named settings profiles: the published system's settings for each command, one flag away.

A preset is a folder with one YAML file per command section (``rerank.yaml``, ``rewrite.yaml``,
``synthesize.yaml``, ``train.yaml``, ``rag.yaml``, ``search.yaml``, ...). Each file maps option
names of that command's configuration dataclass to values, with a comment per value citing where
the setting comes from. The built-in ``paper`` preset reproduces ReasonIR (arXiv 2504.20595) and
its released code: sampling parameters, input formats, truncation and parse rules, score
combination — the *settings* of the published system. Prompt *wording* stays ours and lives in
template files (see :mod:`reasonir.prompts`), which a preset may point to but never copies.

Precedence when a command resolves its configuration (see :func:`reasonir.config.from_args`):
dataclass defaults < preset < ``--config FILE`` < flags given on the command line.

A user preset is a folder path (``--preset ./my-settings``) laid out like the built-in ones.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any

from ...errors import ConfigError

__all__ = ["available_presets", "load_preset", "preset_digest"]


def _builtin_root() -> Path:
    return Path(str(resources.files(__name__)))


def available_presets() -> list[str]:
    """Names of the built-in presets."""
    root = _builtin_root()
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def _preset_dir(name: str) -> Path:
    if not name.strip():
        raise ConfigError(f"empty preset name: choose one of {', '.join(available_presets())} "
                          "or give the path of a folder of <command>.yaml files")
    builtin = _builtin_root() / name
    if name and "/" not in name and builtin.is_dir():
        return builtin
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(available_presets())} "
                      "or give the path of a folder of <command>.yaml files")


def load_preset(name: str, section: str) -> dict[str, Any]:
    """The option values a preset sets for one command section.

    Args:
        name: a built-in preset name (``"paper"``) or a folder path.
        section: the command section, e.g. ``"rerank"``.

    Returns:
        ``{option: value}``; empty when the preset does not configure that command.

    Raises:
        ConfigError: unknown preset, or a section file that is not a YAML mapping.

    Example:
        >>> load_preset("paper", "no-such-command")
        {}
    """
    path = _preset_dir(name) / f"{section}.yaml"
    if not path.is_file():
        return {}
    import yaml  # here, not at the top: only a preset needs it, every command's start-up would pay

    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse preset file: {exc}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a preset file maps option names to values, got {type(values).__name__}")
    return {str(k): v for k, v in values.items()}


def preset_digest(name: str, section: str) -> str:
    """SHA-256 of a preset's section file (``""`` when absent): recorded in manifests."""
    path = _preset_dir(name) / f"{section}.yaml"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
