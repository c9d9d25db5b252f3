"""The CLI vocabulary (reasonir.cli.vocabulary) holds for every command's parser.

The walk covers every subcommand ``build_parser()`` registers: a visible flag outside the vocabulary,
a former name left visible, a shared flag whose config key differs from its name, a flag two commands
use without being shared, an old-style ``--flag [BOOL]`` or a command without ``--config`` fails.
Former names keep working (hidden, with one warning each), as flags and as config-file keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import re
from pathlib import Path

import pytest

from reasonir.cli import build_parser, main
from reasonir.cli.vocabulary import BY_FLAG, COMMAND_FLAGS, GLOBAL, SHARED, markdown_table
from reasonir.config import build, from_args
from reasonir.config_aliases import canonical_keys, key_of_flag
from reasonir.errors import ConfigError

README = Path(__file__).resolve().parents[1] / "README.md"
GLOBAL_FLAGS = {s for t in GLOBAL for s in (t.flag, t.short) if s} | {"--no-verbose"}


def _commands(parser: argparse.ArgumentParser, path: str = "") -> dict[str, argparse.ArgumentParser]:
    """``{"search": parser, "index build": parser, ...}``: every parser that runs a command."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                full = f"{path} {name}".strip()
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    out.update(_commands(sub, full))
                else:
                    out[full] = sub
    return out


COMMANDS = _commands(build_parser())


def _visible(parser: argparse.ArgumentParser):
    """``(canonical long flag, action)`` for each option ``--help`` shows."""
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        longs = [s for s in action.option_strings if s.startswith("--")]
        if isinstance(action, argparse.BooleanOptionalAction):
            longs = [s for s in longs if not s.startswith("--no-")]
        yield (longs[0] if longs else action.option_strings[0]), action


def _former(term) -> list[tuple[str, set[str] | None]]:
    """A term's former spellings as ``(flag, commands it applied to or None for all)``."""
    out = []
    for entry in term.replaces:
        flag, _, where = entry.partition(" ")
        if not flag.startswith("--"):
            continue
        scope = {w.strip() for w in re.sub(r"[():]|now the encoder's", "", where).split(",") if w.strip()}
        out.append((flag, scope or None))
    return out


def test_the_walk_finds_every_command_and_the_vocabulary_lists_each():
    assert {"retrieve", "search", "evaluate", "index build", "rag-datastore", "serve", "llm-serve"} <= set(COMMANDS)
    assert set(COMMANDS) == set(COMMAND_FLAGS), "a new command needs its entry in cli/vocabulary.py COMMAND_FLAGS"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_visible_flag_is_in_the_vocabulary(command):
    allowed = set(BY_FLAG) | set(COMMAND_FLAGS[command]) | GLOBAL_FLAGS
    outside = sorted(flag for flag, _ in _visible(COMMANDS[command]) if flag not in allowed)
    assert not outside, f"`reasonir {command}` has flags outside the vocabulary: {outside}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_takes_config_and_global_flags_after_its_name(command):
    flags = {flag for flag, _ in _visible(COMMANDS[command])}
    assert {"--config", "--verbose", "--quiet", "--no-progress"} <= flags, command


def test_a_flag_of_two_commands_is_shared():
    seen: dict[str, str] = {}
    for command, flags in COMMAND_FLAGS.items():
        for flag in flags:
            assert flag not in BY_FLAG, f"{flag} of {command} is in SHARED too"
            assert flag not in seen, f"{flag} is used by {seen.get(flag)} and {command}: move it to SHARED"
            seen[flag] = command


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_shared_flags_mean_one_thing(command):
    parser = COMMANDS[command]
    cls = parser._defaults.get("config_class")
    for flag, action in _visible(parser):
        term = BY_FLAG.get(flag)
        if term is None or term in GLOBAL or flag in ("--config", "--json"):
            continue
        if term.short:
            assert term.short in action.option_strings, f"{command}: {flag} without its short form {term.short}"
        if term.choices and action.choices:
            assert set(action.choices) <= set(term.choices), f"{command}: {flag} offers {action.choices}"
        if cls is not None and dataclasses.is_dataclass(cls):   # the config key is the flag's name
            mapped = canonical_keys(cls, {key_of_flag(flag): None}, "test")
            assert list(mapped) == [action.dest], f"{command}: {flag} sets {action.dest}, not {key_of_flag(flag)}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_booleans_are_flag_and_no_flag(command):
    cls = COMMANDS[command]._defaults.get("config_class")
    bools = {f.name for f in dataclasses.fields(cls) if f.type in (bool, "bool")} if cls else set()
    for action in COMMANDS[command]._actions:
        assert not (action.nargs == "?" and action.const is True), f"{command}: {action.option_strings} [BOOL]"
        if action.dest in bools and action.option_strings:
            assert isinstance(action, argparse.BooleanOptionalAction), f"{command}: {action.option_strings}"


@pytest.mark.parametrize("term", [t for t in SHARED if _former(t)], ids=lambda t: t.flag)
def test_former_names_are_hidden(term):
    for flag, scope in _former(term):
        if flag in BY_FLAG:                 # the name now means something else (index build --dtype)
            continue
        for command in scope or COMMANDS:
            shown = {f for f, _ in _visible(COMMANDS[command])}
            assert flag not in shown, f"{command} still shows the former {flag} (now {term.flag})"


def test_readme_table_is_the_vocabulary():
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- vocabulary:start -->", "<!-- vocabulary:end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0].strip() == markdown_table().strip()


# --------------------------------------------------------------------------------------------------
# former names keep working, with a warning; global flags anywhere; booleans old and new
# --------------------------------------------------------------------------------------------------
def _parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_former_flags_set_the_new_option_and_warn_once(caplog):
    from reasonir.workflows.search import SearchConfig

    with caplog.at_level(logging.WARNING, logger="reasonir"):
        args = _parse("search", "IDX", "a query", "--k", "5", "--mode", "bm25")
        cfg = from_args(SearchConfig, args)
    assert (cfg.top_k, cfg.retriever) == (5, "bm25")
    warned = [r.getMessage() for r in caplog.records if "deprecated" in r.getMessage()]
    assert any("--k" in m and "--top-k" in m for m in warned) and any("--mode" in m and "--retriever" in m
                                                                     for m in warned)
    assert _parse("search", "IDX", "q", "-k", "7", "--retriever", "dense").top_k == 7


def test_former_config_keys_are_read_and_a_clash_is_refused(caplog):
    from reasonir.workflows.index import IndexBuildConfig
    from reasonir.workflows.rag import RagConfig
    from reasonir.workflows.search import SearchConfig

    cfg = build(SearchConfig, {"index_dir": "IDX", "k": 3, "mode": "dense"})
    assert (cfg.top_k, cfg.retriever) == (3, "dense")
    with pytest.raises(ConfigError, match="given twice"):
        build(SearchConfig, {"index_dir": "IDX", "k": 3, "top_k": 4})
    assert build(IndexBuildConfig, {"corpus": "c", "index_dir": "i", "encoder_dtype": "bf16"}).dtype == "bf16"
    rag = build(RagConfig, {"benchmark": "gpqa", "k": 2, "cache": "off", "search": "bm25"})
    assert (rag.top_k, rag.llm_cache, rag.retriever) == (2, "off", "bm25")
    assert RagConfig(benchmark="gpqa", benchmark_options={"gpqa": {"k": 4}}).setting("top_k") == 4


def test_llm_dtype_and_device_have_their_own_names():
    from reasonir.workflows._llm import LLM_OPTION_FIELDS
    from reasonir.workflows.rerank import RerankConfig

    args = _parse("rerank", "--run", "r", "--dataset", "beir:x", "--dtype", "bf16", "--device", "cpu")
    cfg = from_args(RerankConfig, args)
    assert (cfg.llm_dtype, cfg.llm_device) == ("bf16", "cpu")
    assert LLM_OPTION_FIELDS["llm_dtype"] == "dtype" and LLM_OPTION_FIELDS["llm_device"] == "device"
    build_args = _parse("index", "build", "c", "i", "--dtype", "bf16", "--vector-dtype", "fp32")
    assert (build_args.dtype, build_args.vector_dtype) == ("bf16", "fp32")


def test_global_flags_work_before_and_after_the_command():
    args = _parse("-v", "search", "IDX", "q", "-v", "--no-progress", "-q")
    assert args.verbose + args.verbose_after == 2 and args.no_progress and args.quiet
    args = _parse("index", "info", "IDX", "-q")
    assert args.quiet and args.verbose == 0 and not hasattr(args, "verbose_after")


def test_booleans_old_and_new_spellings():
    assert _parse("index", "build", "c", "i", "--bm25").bm25 is True
    assert _parse("index", "build", "c", "i", "--no-bm25").bm25 is False
    assert _parse("index", "build", "c", "i", "--bm25", "false").bm25 is False
    assert _parse("index", "build", "c", "i", "--bm25=yes").bm25 is True
    assert _parse("rag", "--benchmark", "mmlu", "--chart", "no").chart is False
    with pytest.raises(SystemExit):
        _parse("index", "build", "c", "i", "--bm25=maybe")


def test_ports_and_default_metrics_agree():
    from reasonir.serve.server import ServeConfig
    from reasonir.workflows.evaluate import EvaluateConfig
    from reasonir.workflows.llm_serve import LLMServeConfig
    from reasonir.workflows.rerank import RerankConfig
    from reasonir.workflows.retrieve import RetrieveConfig
    from reasonir.workflows.search import SearchConfig

    assert ServeConfig(index_dir="x").port == 8000 and LLMServeConfig().port == 8001
    defaults = {c.__dataclass_fields__["metrics"].default
                for c in (RetrieveConfig, SearchConfig, EvaluateConfig, RerankConfig)}
    assert len(defaults) == 1


def test_rag_datastore_takes_a_config_file(tmp_path, capsys):
    (tmp_path / "corpus.jsonl").write_text('{"_id": "d1", "text": "alpha"}\n{"_id": "d2", "text": "beta"}\n'
                                           '{"_id": "d3", "text": "alpha"}\n', encoding="utf-8")
    (tmp_path / "r.trec").write_text("q1 Q0 d1 1 3 t\nq1 Q0 d2 2 2 t\nq1 Q0 d3 3 1 t\n", encoding="utf-8")
    out = tmp_path / "merged.jsonl"
    (tmp_path / "cfg.yaml").write_text(f"run: [{tmp_path / 'r.trec'}]\ncorpus: {tmp_path / 'corpus.jsonl'}\n"
                                       f"out: {out}\ntop_k: 2\n", encoding="utf-8")
    assert main(["rag-datastore", "--config", str(tmp_path / "cfg.yaml"), "--json"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2     # the top 2: d1, d2
    assert main(["rag-datastore", "--config", str(tmp_path / "cfg.yaml"), "-k", "3", "--json"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2     # d3 repeats d1's text: dropped
