"""Relative paths in a config file are read from the file's folder; flags stay relative to the current folder."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import typing
from pathlib import Path

import pytest

from reasonir import config
from reasonir.config_paths import PATH_OPTIONS, relative_to_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@dataclasses.dataclass
class ToyConfig:
    corpus: str
    out: str = "out"
    model: str = "minilm"
    top_k: int = 10


def _toy(argv: list[str]) -> ToyConfig:
    parser = argparse.ArgumentParser()
    config.add_arguments(parser, ToyConfig)
    return config.from_args(ToyConfig, parser.parse_args(argv))


def test_file_paths_are_read_from_the_file_folder_and_flags_from_the_current_folder(tmp_path, monkeypatch):
    conf = tmp_path / "project" / "configs"
    conf.mkdir(parents=True)
    (conf / "run.yaml").write_text("corpus: ../data/corpus.jsonl\nout: results\ntop_k: 5\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = _toy(["--config", "../project/configs/run.yaml"])
    assert cfg.corpus == str(tmp_path / "project" / "data" / "corpus.jsonl")
    assert cfg.out == str(conf / "results")
    assert (cfg.top_k, cfg.model) == (5, "minilm")
    flagged = _toy(["--config", str(conf / "run.yaml"), "--out", "mine", "--corpus", "c.jsonl"])
    assert (flagged.out, flagged.corpus) == ("mine", "c.jsonl")          # flags: as typed, from the current folder


def test_values_that_are_not_relative_paths_are_left_alone(tmp_path):
    base = tmp_path / "cfg.yaml"
    values = {"dataset": "bright:biology", "input": ["hf:org/data?split=train", "/abs/docs.jsonl"],
              "run": "-", "llm_cache": "off", "cache": "none", "out": "~/runs/x", "qrels": "https://host/q.tsv",
              "model": "reasonir/ReasonIR-8B", "llm": "openai:gpt-4o-mini", "reranker": "llm:smollm2",
              "top_k": 7, "corpus": 12, "metrics": "ndcg@10", "queries": "original,gpt4_reason",
              "preset": "paper", "store": "milvus://db.example.org:19530/db", "mine_encoder": "hash"}
    assert relative_to_file(values, base) == values


def test_each_kind_of_path_option(tmp_path):
    base = tmp_path / "c.yaml"
    (tmp_path / "my-encoder").mkdir()
    (tmp_path / "rewritten.jsonl").write_text("{}\n")

    def at(rel: str) -> str:
        return os.path.abspath(tmp_path / rel)

    got = relative_to_file({
        "dataset": "beir:../data/scifact", "corpus": "docs.jsonl", "input": ["beir:a", "bright:pony@../bright", "b"],
        "train_data": ["x.jsonl", {"path": "beir:../scifact", "split": "train"}],
        "runs": "runs/a,runs/b", "model": "my-encoder", "edu_model": "./head",
        "queries": "original,rewritten.jsonl", "llm": "transformers:./qwen", "reranker": "llm:vllm:my-encoder",
        "prompt_template": ["hq_system=prompts/hq.txt", "my.txt"], "prompts": {"rerank": "r.txt"},
        "index-dir": "idx", "preset": "./my-settings",
        "store": "milvus:vectors.db", "edu_encoder": "./enc",
    }, base)
    assert got == {
        "dataset": "beir:" + at("../data/scifact"), "corpus": at("docs.jsonl"),
        "input": ["beir:" + at("a"), "bright:pony@" + at("../bright"), at("b")],
        "train_data": [at("x.jsonl"), {"path": "beir:" + at("../scifact"), "split": "train"}],
        "runs": at("runs/a") + "," + at("runs/b"), "model": at("my-encoder"), "edu_model": at("head"),
        "queries": "original," + at("rewritten.jsonl"), "llm": "transformers:" + at("qwen"),
        "reranker": "llm:vllm:" + at("my-encoder"),
        "prompt_template": ["hq_system=" + at("prompts/hq.txt"), at("my.txt")], "prompts": {"rerank": at("r.txt")},
        "index-dir": at("idx"), "preset": at("my-settings"),
        "store": "milvus:" + at("vectors.db"), "edu_encoder": at("enc"),
    }


def test_every_kind_is_described_and_handled(tmp_path):
    from reasonir.config_paths import PATH_KINDS

    assert set(PATH_OPTIONS.values()) == set(PATH_KINDS)
    for option in PATH_OPTIONS:                        # no kind is left without a rule
        relative_to_file({option: "x"}, tmp_path / "c.yaml")


def test_a_name_that_does_not_exist_next_to_the_file_stays_a_name(tmp_path):
    got = relative_to_file({"model": "minilm", "edu_model": "HuggingFaceTB/fineweb-edu-classifier"}, tmp_path / "c.yml")
    assert got == {"model": "minilm", "edu_model": "HuggingFaceTB/fineweb-edu-classifier"}


def _config_classes() -> dict[str, type]:
    from reasonir.cli import build_parser

    found: dict[str, type] = {}

    def walk(parser: argparse.ArgumentParser) -> None:
        cls = parser._defaults.get("config_class")
        if cls is not None:
            found[cls.__name__] = cls
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    return found


#: string options whose names end like a file's but hold something else
NOT_PATHS: set[str] = set()
LOOKS_LIKE_A_PATH = re.compile(r"(^|_)(out|dir|file|path|cache|corpus|runs?|qrels|data|dataset|labels|source|documents|"
                               r"index|input|examples|queries|model|encoder|template|prompts|llm|reranker|store|"
                               r"preset)$")


def _holds_text(tp) -> bool:
    args = typing.get_args(tp)
    if tp is str:
        return True
    return any(_holds_text(a) for a in args) or typing.get_origin(tp) is dict


def test_every_option_that_names_a_file_is_resolved_from_the_config_folder():
    missing = []
    for name, cls in sorted(_config_classes().items()):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if (LOOKS_LIKE_A_PATH.search(f.name) and _holds_text(hints[f.name])
                    and f.name not in PATH_OPTIONS and f.name not in NOT_PATHS):
                missing.append(f"{name}.{f.name}")
    assert not missing, ("classify these options in reasonir.config_paths.PATH_OPTIONS (or in NOT_PATHS here): "
                         + ", ".join(missing))


# --------------------------------------------------------------------------------------------------
# the example configs and a whole command
# --------------------------------------------------------------------------------------------------
def _example(name: str, cls: type, cwd: Path, monkeypatch) -> typing.Any:
    monkeypatch.chdir(cwd)
    path = os.path.relpath(EXAMPLES / name, cwd)
    return config.from_args(cls, argparse.Namespace(_config_file=path))


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_example_configs_mean_the_same_from_any_folder(name, tmp_path, monkeypatch):
    from reasonir.synth.config import SynthesizeConfig
    from reasonir.train.config import TrainConfig

    cls = SynthesizeConfig if name.startswith("synth_") else TrainConfig
    from_root = _example(name, cls, ROOT, monkeypatch)
    from_elsewhere = _example(name, cls, tmp_path, monkeypatch)
    assert from_root == from_elsewhere
    out = getattr(from_root, "out", None) or from_root.output_dir
    assert Path(out).parent == ROOT / "runs"                           # outputs land in the repository's runs/


def test_example_data_paths_point_at_the_shared_data_and_the_labels(tmp_path, monkeypatch):
    from reasonir.synth.config import SynthesizeConfig
    from reasonir.train.config import TrainConfig

    scifact = os.path.abspath(ROOT / ".." / "shared" / "data" / "scifact")
    synth = _example("synth_hq_smollm2.yaml", SynthesizeConfig, tmp_path, monkeypatch)
    assert synth.input == ["beir:" + scifact]
    assert Path(synth.edu_labels).is_file() and Path(synth.edu_labels).parent == EXAMPLES
    train = _example("train_cpu_demo.yaml", TrainConfig, tmp_path, monkeypatch)
    assert train.train_data[0]["path"] == "beir:" + scifact


def test_evaluate_with_a_config_file_run_from_another_folder(tmp_path, monkeypatch):
    from reasonir.cli import main

    project = tmp_path / "project"
    project.mkdir()
    (project / "qrels.tsv").write_text("q1\t0\td1\t1\nq2\t0\td2\t1\n")
    (project / "run.trec").write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d1 1 2.0 t\nq2 Q0 d2 2 1.0 t\n")
    (project / "eval.yaml").write_text("run: [run.trec]\nqrels: [qrels.tsv]\nmetrics: ndcg@10\nout: report/eval.json\n")
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert main(["-q", "evaluate", "--config", "../project/eval.yaml"]) == 0
    assert (project / "report" / "eval.json").is_file()
    assert not (other / "report").exists()
