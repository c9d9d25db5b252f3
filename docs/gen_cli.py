"""Pages generated from the code at build time: the command-line reference and the top-level API.

mkdocs loads this file as a hook (``hooks:`` in ``mkdocs.yml``): :func:`on_config` puts one page per
``reasonir`` command into the navigation and :func:`on_files` adds the pages, rendered from the
argparse parsers (``reasonir.cli.build_parser``) and from ``reasonir.__all__``. The pages exist only
in the build, so they cannot fall behind the code; ``tests/test_docs_site.py`` checks that every
command and every flag is on them.

As a script it writes the same pages into a folder, to read them without mkdocs::

    python docs/gen_cli.py OUT_DIR
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLI_PAGE = "reference/cli.md"          # the overview page, listed in mkdocs.yml's nav
CLI_DIR = "reference/cli"              # one page per command: reference/cli/reasonir-<command>.md
API_PAGE = "reference/api.md"          # the objects of reasonir.__all__

_HIDDEN_KINDS = (argparse._HelpAction, argparse._VersionAction)
_FLAG_KINDS = (argparse._StoreTrueAction, argparse._StoreFalseAction, argparse._CountAction,
               argparse._StoreConstAction, argparse._AppendConstAction)


@dataclass
class Command:
    """One (sub)command: its words after ``reasonir``, its parser and its one-line summary."""

    words: tuple[str, ...]
    parser: argparse.ArgumentParser
    summary: str

    @property
    def name(self) -> str:
        return " ".join(("reasonir", *self.words))


def commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[Command]:
    """Every subcommand under ``parser``, depth first, in the order ``--help`` lists them (aliases once)."""
    found: list[Command] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        summaries = {choice.dest: choice.help or "" for choice in action._choices_actions}
        seen: set[int] = set()
        for word, sub in action.choices.items():
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            found.append(Command((*words, word), sub, summaries.get(word, "")))
            found.extend(commands(sub, (*words, word)))
    return found


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments ``--help`` shows: everything but subcommand lists, ``-h`` and hidden (SUPPRESS) ones."""
    return [a for a in parser._actions
            if not isinstance(a, (argparse._SubParsersAction, *_HIDDEN_KINDS)) and a.help is not argparse.SUPPRESS]


# --------------------------------------------------------------------------------------------------
# text helpers
# --------------------------------------------------------------------------------------------------
def md_escape(text: str) -> str:
    """``text`` safe inside a Markdown table cell: HTML, emphasis, links and ``|`` are shown literally."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", text)


def _code(text: str) -> str:
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"        # a | inside a code span does not split a table cell


def help_text(action: argparse.Action, prog: str) -> str:
    """The action's help with argparse's ``%(default)s``-style fields filled in."""
    text = action.help or ""
    if "%" in text:
        fields = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        if fields.get("choices") is not None:
            fields["choices"] = ", ".join(map(str, fields["choices"]))
        with contextlib.suppress(KeyError, TypeError, ValueError):        # a literal % in the text
            text = text % {**fields, "prog": prog}
    return text


def default_of(action: argparse.Action, parser: argparse.ArgumentParser) -> str | None:
    """The value an unset argument takes, as it would be typed (``None``: nothing to show).

    Commands built from a config dataclass leave flags unset (``SUPPRESS``); their defaults are the
    dataclass's, found through the parser's ``config_class``.
    """
    if isinstance(action, _FLAG_KINDS):
        return None
    value = action.default
    if value is argparse.SUPPRESS:
        cls = parser._defaults.get("config_class")
        fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        field = fields.get(action.dest)
        if field is None:
            return None
        if field.default is not dataclasses.MISSING:
            value = field.default
        elif field.default_factory is not dataclasses.MISSING:
            value = field.default_factory()
        else:
            return None
    if value is None or value == "" or value == [] or value == ():
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")   # "\n" for a newline


def value_of(action: argparse.Action) -> str:
    """What the argument takes: its choices, metavar or type, with the number of values."""
    if isinstance(action, _FLAG_KINDS) or action.nargs == 0:
        return ""
    if action.choices is not None:
        one = "|".join(map(str, action.choices))
    elif action.metavar is not None:
        one = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    elif action.option_strings:
        one = action.dest.upper()
    else:
        one = action.dest
    return {"?": f"[{one}]", "*": f"[{one} ...]", "+": f"{one} [{one} ...]"}.get(str(action.nargs), one)


def _positional_name(action: argparse.Action) -> str:
    metavar = action.metavar
    return metavar if isinstance(metavar, str) else action.dest


def _strip_default(text: str, default: str | None, action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    """Drop the ``(default: X)`` that ``reasonir.config.add_arguments`` appends (the table has a column)."""
    if default is None:
        return text
    cls = parser._defaults.get("config_class")
    raw = {f.name: f for f in dataclasses.fields(cls)}.get(action.dest) if dataclasses.is_dataclass(cls) else None
    candidates = {default}
    if raw is not None and raw.default is not dataclasses.MISSING:
        candidates.add(str(raw.default))
    if raw is not None and raw.default_factory is not dataclasses.MISSING:
        candidates.add(str(raw.default_factory()))
    for value in candidates:
        suffix = f" (default: {value})"
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def usage(parser: argparse.ArgumentParser, width: int = 100) -> str:
    """The usage line(s), wrapped at a fixed width whatever the terminal."""
    formatter = argparse.HelpFormatter(parser.prog, width=width)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


# --------------------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------------------
def options_table(parser: argparse.ArgumentParser) -> list[str]:
    """Markdown tables of the positional arguments and the options of one parser."""
    actions = documented_actions(parser)
    lines: list[str] = []
    positionals = [a for a in actions if not a.option_strings]
    options = [a for a in actions if a.option_strings]
    for title, group in (("Arguments", positionals), ("Options", options)):
        if not group:
            continue
        lines += [f"**{title}**", "", "| Argument | Value | Default | Description |", "|---|---|---|---|"]
        for action in group:
            if action.option_strings:
                names, value = ", ".join(_code(s) for s in action.option_strings), value_of(action)
            else:                                        # a positional: its name, and its form when not plain
                plain = action.nargs is None and action.choices is None
                names, value = _code(_positional_name(action)), "" if plain else value_of(action)
            default = default_of(action, parser)
            text = _strip_default(help_text(action, parser.prog), default, action, parser)
            if action.required:
                text = (text + " (required)").strip()
            lines.append(f"| {names} | {_code(value) if value else ''} | {_code(default) if default else ''} "
                         f"| {md_escape(text)} |")
        lines.append("")
    return lines


def command_page(command: Command, subcommands: list[Command]) -> str:
    """The page of one top-level command; its subcommands (``index build`` ...) are sections of it."""
    lines = [f"# {command.name}", ""]
    for cmd in [command, *subcommands]:
        if cmd is not command:
            lines += [f"## {cmd.name}", ""]
        description = cmd.parser.description or cmd.summary
        if description:
            lines += [md_escape(description), ""]
        lines += ["```text", usage(cmd.parser), "```", ""]
        lines += options_table(cmd.parser)
    return "\n".join(lines).rstrip() + "\n"


def page_path(command: Command) -> str:
    return f"{CLI_DIR}/reasonir-{command.words[0]}.md"


def overview_page(parser: argparse.ArgumentParser, top: list[Command]) -> str:
    """``reference/cli.md``: global options, the list of commands, and how config files are read."""
    from reasonir.config_paths import PATH_KINDS, PATH_OPTIONS

    lines = ["# Command line", "",
             md_escape(parser.description or ""), "",
             "Every command takes `--help`, and `--config FILE` (YAML or JSON; the flags given on the command line "
             "override it). Each page below is generated from the command's parser when the site is built.", "",
             "```text", usage(parser), "```", "", "## Global options", ""]
    lines += options_table(parser)
    lines += ["## Commands", "", "| Command | What it does |", "|---|---|"]
    for cmd in top:
        lines.append(f"| [{cmd.name}]({page_path(cmd).removeprefix('reference/')}) | {md_escape(cmd.summary)} |")
    lines += ["", "## Config files", "",
              "A config file holds the options of one command, spelled as the flags without `--` "
              "(`top_k: 100` or `top-k: 100`). Precedence: defaults < `--preset` < `--config` file < flags.", "",
              "**Relative paths in a config file are relative to the folder of the file**, wherever the command "
              "is started from (as in `mkdocs.yml` or `docker-compose.yml`); paths given as flags are relative "
              "to the current folder. Absolute paths, `~/...`, URLs, `hf:` datasets, Hub ids, `-` (stdin or "
              "stdout) and `off`/`none` are left as they are. The options this applies to, and how each is "
              "read:", "",
              "| Option | Read as |", "|---|---|"]
    for option, kind in sorted(PATH_OPTIONS.items()):
        lines.append(f"| `{option}` | {PATH_KINDS[kind]} |")
    return "\n".join(lines).rstrip() + "\n"


def cli_pages(parser: argparse.ArgumentParser | None = None) -> dict[str, str]:
    """``{path under docs/: Markdown}`` of the command-line reference."""
    if parser is None:
        from reasonir.cli import build_parser

        parser = build_parser()
    everything = commands(parser)
    top = [c for c in everything if len(c.words) == 1]
    pages = {CLI_PAGE: overview_page(parser, top)}
    for cmd in top:
        subs = [c for c in everything if len(c.words) > 1 and c.words[0] == cmd.words[0]]
        pages[page_path(cmd)] = command_page(cmd, subs)
    return pages


def api_page() -> str:
    """``reference/api.md``: each object of ``reasonir.__all__``, documented where it is defined."""
    import reasonir

    lines = ["# Top-level objects", "",
             "`import reasonir` gives these names (`reasonir.__all__`); each is imported on first use. "
             "The modules they come from are documented in the pages that follow.", ""]
    for name in reasonir.__all__:
        if name.startswith("_"):
            continue
        obj = getattr(reasonir, name)
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        lines += [f"## reasonir.{name}", ""]
        if module and qualname:
            lines += [f"::: {module}.{qualname}", "    options:", "      show_root_heading: false",
                      "      heading_level: 3", ""]
        else:                                            # a constant: its value
            lines += ["```python", f"reasonir.{name} = {obj!r}", "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def generated_pages() -> dict[str, str]:
    """Every generated page, ``{path under docs/: Markdown}``."""
    return {**cli_pages(), API_PAGE: api_page()}


# --------------------------------------------------------------------------------------------------
# mkdocs hook events
# --------------------------------------------------------------------------------------------------
def on_config(config: Any) -> Any:
    """Replace the nav entry of the overview page by a section: the overview, then one page per command."""
    from reasonir.cli import build_parser

    top = [c for c in commands(build_parser()) if len(c.words) == 1]
    section = [CLI_PAGE, *({c.name: page_path(c)} for c in top)]

    def expand(items: list[Any]) -> list[Any]:
        out = []
        for item in items:
            if isinstance(item, dict):
                (title, value), = item.items()
                if value == CLI_PAGE:
                    item = {title: section}
                elif isinstance(value, list):
                    item = {title: expand(value)}
            out.append(item)
        return out

    if config.nav:
        config.nav = expand(config.nav)
    return config


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the build."""
    from mkdocs.structure.files import File

    for path, text in generated_pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=text))
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python docs/gen_cli.py OUT_DIR\n")
        return 2
    for path, text in generated_pages().items():
        target = Path(args[0]) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
