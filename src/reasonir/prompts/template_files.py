"""Prompt templates as files: the built-in ones under ``reasonir/prompts/templates/<stage>/<name>.txt``,
and a user's replacements, checked for their placeholders and identified by their sha256.

A template is a Python ``str.format`` string: placeholders in braces, literal braces doubled
(``{{`` and ``}}``). One trailing newline is dropped when a file is read, so an editor's final newline
does not reach the prompt.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from ..errors import ConfigError


def strip_newline(text: str) -> str:
    """``text`` without one trailing newline."""
    return text[:-1] if text.endswith("\n") else text


def sha256(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def builtin_text(stage: str, name: str) -> str:
    """The text of the built-in template ``templates/<stage>/<name>.txt``.

    Raises:
        ConfigError: no such built-in template.
    """
    path = resources.files("reasonir.prompts").joinpath("templates", stage, f"{name}.txt")
    try:
        return strip_newline(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no built-in {stage} prompt template {name!r}") from None


def check_placeholders(text: str, allowed: Iterable[str], what: str, origin: str) -> None:
    """Check that ``text`` is a format string that uses only ``allowed`` placeholders.

    Raises:
        ConfigError: naming ``origin``, ``what``, the bad placeholder and the valid ones.
    """
    allowed = set(allowed)
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"{origin}: {what} is not a valid format string ({exc}); "
                          "write literal braces as {{ and }}") from None
    valid = ", ".join("{" + p + "}" for p in sorted(allowed)) or "none"
    for f in fields:
        if f not in allowed:
            raise ConfigError(f"{origin}: {what} uses placeholder {{{f}}}; valid placeholders: {valid} "
                              "(literal braces: {{ }})")


def read_user_template(path: str | Path, allowed: Iterable[str], what: str) -> str:
    """A user's template file, checked (see :func:`check_placeholders`).

    Raises:
        ConfigError: unreadable file or bad placeholders.
    """
    p = Path(path).expanduser()
    try:
        text = strip_newline(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what}: cannot read {p}: {exc}") from None
    check_placeholders(text, allowed, what, str(p))
    return text


def split_overrides(entries: Iterable[str], names: Iterable[str], bare: str | None,
                    option: str = "prompt_template") -> dict[str, str]:
    """``{name: file}`` from ``NAME=FILE`` entries; a bare ``FILE`` replaces template ``bare``.

    Raises:
        ConfigError: a bare file where no template takes one, or an entry naming an unknown template.
    """
    names = tuple(names)
    out: dict[str, str] = {}
    for entry in entries:
        name, eq, path = entry.partition("=")
        if eq and name in names:
            out[name] = path
        elif eq and name.isidentifier() and not Path(entry).exists():
            raise ConfigError(f"{option}: unknown template {name!r} in {entry!r}; valid names: {', '.join(names)}")
        elif bare is None:
            raise ConfigError(f"{option}: {entry!r} is not NAME=FILE (names: {', '.join(names)})")
        else:
            out[bare] = entry
    return out


def replacement_files(prompts: Mapping[str, str] | None, entries: Iterable[str] | None,
                      names: Iterable[str]) -> dict[str, str]:
    """``{name: file}`` from a ``prompts:`` mapping and ``NAME=FILE`` entries (entries win).

    Raises:
        ConfigError: an entry that is not ``NAME=FILE``, or an unknown template name.
    """
    names = tuple(names)
    files = dict(prompts or {})
    for entry in entries or []:
        name, sep, path = entry.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ConfigError(f"prompt_template: {entry!r} is not NAME=FILE (names: {', '.join(names)})")
        files[name.strip()] = path.strip()
    unknown = sorted(set(files) - set(names))
    if unknown:
        raise ConfigError(f"prompt templates: unknown name(s) {', '.join(unknown)}; valid names: {', '.join(names)}")
    return files


def manifest(texts: Mapping[str, str], sources: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``{template: {"sha256", "source"}}`` (source: ``builtin`` or the user's file)."""
    return {n: {"sha256": sha256(texts[n]), "source": sources[n]} for n in texts}


def version_of(base: str, texts: Mapping[str, str], sources: Mapping[str, str]) -> str:
    """``base`` for built-in templates, ``base+user-<hash>`` when any template was replaced."""
    if all(src == "builtin" for src in sources.values()):
        return base
    return f"{base}+user-{sha256(chr(0).join(texts[n] for n in sorted(texts)))[:12]}"
