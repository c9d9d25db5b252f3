"""The documentation site: every command and flag is on the generated reference, and the site builds.

The command-line pages are generated from the parsers when the site is built (``docs/gen_cli.py``);
these tests walk the parsers on their own, so a new command or flag cannot go undocumented, and a
flag without help text fails here rather than showing up blank.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reasonir.cli import build_parser
from reasonir.config_paths import PATH_OPTIONS

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SUFFIX = re.compile(r"\s*\(default: [^()]*\)$")


def _load_generator():
    spec = importlib.util.spec_from_file_location("reasonir_docs_gen_cli", ROOT / "docs" / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                # dataclasses resolve the module's annotations through it
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _all_commands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, sub in action.choices.items():
                yield (*words, word), sub
                yield from _all_commands(sub, (*words, word))


def _section(page: str, name: str) -> str:
    """The part of a command page about ``name`` (its heading up to the next subcommand heading)."""
    match = re.search(rf"^#+ {re.escape(name)}\n(.*?)(?=^## reasonir |\Z)", page, flags=re.M | re.S)
    assert match, f"no section for {name!r}"
    return match.group(1)


def _expected_default(action: argparse.Action, parser: argparse.ArgumentParser):
    value = action.default
    if value is argparse.SUPPRESS:
        cls = parser._defaults.get("config_class")
        field = {f.name: f for f in dataclasses.fields(cls)}.get(action.dest) if cls else None
        if field is None:
            return None
        value = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else None)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value in (None, "", [], ()):
        return None
    text = " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return text.replace("\n", "\\n").replace("\t", "\\t")      # shown escaped: a table row is one line


def test_every_command_and_flag_is_on_its_generated_page():
    parser = build_parser()
    pages = gen.cli_pages(parser)
    checked = 0
    for words, sub in _all_commands(parser):
        path = f"reference/cli/reasonir-{words[0]}.md"
        assert path in pages, f"no page for reasonir {' '.join(words)}"
        section = _section(pages[path], " ".join(("reasonir", *words)))
        assert f"usage: reasonir {' '.join(words)}" in section
        rows = [line for line in section.splitlines() if line.startswith("| ")]
        for action in sub._actions:
            if (isinstance(action, (argparse._SubParsersAction, argparse._HelpAction, argparse._VersionAction))
                    or action.help is argparse.SUPPRESS):
                continue
            label = " ".join(("reasonir", *words, *(action.option_strings or [action.dest])))
            assert (action.help or "").strip(), f"{label}: no help text"
            names = action.option_strings or [action.metavar or action.dest]
            row = [r for r in rows if all(f"`{n}`" in r.split(" | ")[0] for n in names)]
            assert len(row) == 1, f"{label}: {len(row)} rows on {path}"
            help_text = DEFAULT_SUFFIX.sub("", action.help % {"prog": sub.prog} if "%(prog)" in action.help
                                           else action.help)
            assert gen.md_escape(help_text) in row[0], f"{label}: help text missing"
            default = _expected_default(action, sub)
            if default is not None and not isinstance(action, gen._FLAG_KINDS):
                assert f"`{default}`" in row[0], f"{label}: default {default!r} missing"
            checked += 1
    assert checked > 200                              # the walk really saw the flags of every command


def test_the_overview_links_every_command_and_lists_the_config_path_options():
    parser = build_parser()
    pages = gen.cli_pages(parser)
    top = {words[0] for words, _ in _all_commands(parser)}
    overview = pages["reference/cli.md"]
    for word in top:
        assert f"(cli/reasonir-{word}.md)" in overview
    assert set(pages) == {"reference/cli.md", *(f"reference/cli/reasonir-{w}.md" for w in top)}
    for option in PATH_OPTIONS:
        assert f"| `{option}` |" in overview
    for action in parser._actions:                    # the global options
        if action.help is argparse.SUPPRESS or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        for flag in action.option_strings:
            assert f"`{flag}`" in overview


def test_the_api_page_documents_every_public_name():
    import reasonir

    page = gen.api_page()
    for name in reasonir.__all__:
        if not name.startswith("_"):
            assert f"## reasonir.{name}\n" in page
            obj = getattr(reasonir, name)
            if hasattr(obj, "__qualname__"):
                assert f"::: {obj.__module__}.{obj.__qualname__}\n" in page


def test_markdown_escaping_keeps_text_literal():
    assert gen.md_escape("a|b *x* [y](z) <i> `c` #1 a_b\\") == (
        "a\\|b \\*x\\* \\[y\\](z) &lt;i&gt; \\`c\\` \\#1 a\\_b\\\\")


def test_the_nav_hook_puts_every_command_page_under_command_line():
    class Config:
        nav = [{"Home": "index.md"}, {"Command line": "reference/cli.md"}, {"API": [{"x": "reference/api.md"}]}]

    nav = gen.on_config(Config()).nav
    section = nav[1]["Command line"]
    assert section[0] == "reference/cli.md"
    listed = [next(iter(item.values())) for item in section[1:]]
    assert listed == [p for p in gen.cli_pages() if p != "reference/cli.md"]
    assert nav[0] == {"Home": "index.md"} and nav[2] == {"API": [{"x": "reference/api.md"}]}


def test_the_results_page_includes_the_benchmark_file_rather_than_copying_it():
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert '--8<-- "benchmarks/RESULTS.md"' in text
    assert not re.search(r"\d\.\d", text)             # no figure typed by hand


@pytest.mark.integration
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = (site / "results" / "index.html").read_text(encoding="utf-8")
    headings = [line.lstrip("#").strip() for line in (ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines()
                if line.startswith("###") and ("BRIGHT" in line or "SciFact" in line)]
    assert headings
    for heading in headings:
        assert gen.html.escape(heading.replace("`", ""), quote=False).split(" (")[0] in re.sub(r"</?code>", "", results)
    for word in ("retrieve", "index", "search", "evaluate"):
        page = (site / "reference" / "cli" / f"reasonir-{word}" / "index.html").read_text(encoding="utf-8")
        assert f"reasonir {word}" in page
    assert "reasonir.index.searcher.Index.search" in (site / "reference" / "api" / "index.html").read_text()
    assert "fonts.googleapis.com" not in (site / "index.html").read_text()
