"""``reasonir rag`` under the ``paper`` preset: the published evaluation's query format, per-benchmark
sampling, the fixed-seed fallback, and replaceable prompt templates whose hashes are recorded."""

import hashlib
import json
import random

import pytest
from llm_fakes import FaultServer
from fakes import ScriptedLLM
from fakes import gpqa_csv as gpqa_csv_text

from reasonir.cli import main

from reasonir.config import build
from reasonir.errors import ConfigError
from reasonir.io import write_corpus
from reasonir.prompts import rag as P
from reasonir.prompts.presets import load_preset, preset_digest
from reasonir.rag.pipeline import retrieval_queries
from reasonir.rag.questions import MCQuestion
from reasonir.types import Document
from reasonir.workflows.rag import RagConfig, run_rag

PAPER = load_preset("paper", "rag")

ANATOMY_0 = (
    "The following are multiple choice questions (with answers) about anatomy.\n\n"
    "A lesion causing compression of the facial nerve at the stylomastoid foramen will cause ipsilateral\n"
    "A. paralysis of the facial muscles.\n"
    "B. paralysis of the facial muscles and loss of taste.\n"
    "C. paralysis of the facial muscles, loss of taste and lacrimation.\n"
    "D. paralysis of the facial muscles, loss of taste, lacrimation and decreased salivation.\n"
    "Answer:")


def _user(prompt):
    return prompt[-1]["content"]


@pytest.fixture()
def mmlu_zip(data_dir):
    return str(data_dir / "mmlu" / "mmlu.zip")


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    write_corpus(path, [Document(f"d{i}", f"facial nerve synthetic question passage {i}") for i in range(6)])
    return str(path)


@pytest.fixture()
def gpqa_csv(tmp_path):
    path = tmp_path / "gpqa_diamond.csv"
    path.write_text(gpqa_csv_text(3), encoding="utf-8")
    return str(path)


def _paper(**values):
    """A config resolved as defaults < paper preset < the given values."""
    return build(RagConfig, {**PAPER, "preset": "paper", "chart": False, "bootstrap": 50, **values})


# --- the retrieval query -----------------------------------------------------------------------------
def test_formatted_query_is_the_official_mmlu_format():
    q = MCQuestion("college_biology/test/0", "  Which organelle makes ATP? ", ("nucleus", "mitochondrion", "ribosome",
                   "vacuole"), 1, "college_biology", "stem", "mmlu")
    assert retrieval_queries([q], "formatted")[q.id] == (
        "The following are multiple choice questions (with answers) about college biology.\n\n"
        "Which organelle makes ATP?\nA. nucleus\nB. mitochondrion\nC. ribosome\nD. vacuole\nAnswer:")
    # the bare question and question_options modes are not that format
    assert retrieval_queries([q], "question_options")[q.id] != retrieval_queries([q], "formatted")[q.id]
    gq = MCQuestion("rec1", "Q?", ("a", "b", "c", "d"), 0, "Optics", "Physics", "gpqa", sensitive=True)
    with pytest.raises(ConfigError, match="MMLU"):
        retrieval_queries([gq], "formatted")


def test_paper_preset_retrieves_mmlu_with_the_formatted_question(tmp_path, mmlu_zip, corpus):
    llm = ScriptedLLM(lambda p, _: "The answer is (A).")
    out = run_rag(_paper(benchmark="mmlu", data=mmlu_zip, corpus=corpus, subjects=["anatomy"], limit=2,
                         out=str(tmp_path / "o")), llm=llm)
    assert out.rows[0]["id"] == "anatomy/test/0"
    assert out.rows[0]["rag"]["query"] == ANATOMY_0
    assert all(len(r["rag"]["passages"]) == 3 for r in out.rows)
    assert out.report["meta"]["query"] == "formatted" and out.report["meta"]["k"] == 3
    # a query given for all benchmarks wins over the preset's per-benchmark value
    again = run_rag(_paper(benchmark="mmlu", data=mmlu_zip, corpus=corpus, subjects=["anatomy"], limit=1,
                           query="question", out=str(tmp_path / "q")), llm=llm)
    assert again.rows[0]["rag"]["query"] == again.rows[0]["question"]


# --- sampling ----------------------------------------------------------------------------------------
def test_gpqa_sampling_params_reach_the_llm(tmp_path, gpqa_csv, corpus):
    llm = ScriptedLLM(lambda p, _: "\\boxed{A}")
    out = run_rag(_paper(benchmark="gpqa", data=gpqa_csv, corpus=corpus, out=str(tmp_path / "g")), llm=llm)
    params = [prm for _, prm in llm.batches]
    assert len(params) == 2                                          # closed and rag stages
    assert {(p.temperature, p.top_p, p.max_tokens, p.seed) for p in params} == {(0.7, 0.8, 8000, 12345)}
    assert all("Question:" not in p.stop for p in params)
    assert all(len(r["rag"]["passages"]) == 5 for r in out.rows)
    meta = out.report["meta"]
    assert (meta["temperature"], meta["top_p"], meta["max_tokens"], meta["k"]) == (0.7, 0.8, 8000, 5)
    # an explicit value wins over the preset's GPQA value
    llm2 = ScriptedLLM(lambda p, _: "\\boxed{A}")
    run_rag(_paper(benchmark="gpqa", data=gpqa_csv, conditions="closed", temperature=0.0, out=str(tmp_path / "t")),
            llm=llm2)
    assert {(p.temperature, p.top_p, p.seed) for _, p in llm2.batches} == {(0.0, 0.8, None)}


class RecordingServer(FaultServer):
    """The echoing OpenAI-compatible test server, keeping every request body."""

    def __init__(self):
        super().__init__()
        self.bodies = []

    def next_action(self, body):
        self.bodies.append(body)
        return super().next_action(body)


def test_cli_preset_paper_sends_gpqa_sampling_over_http(tmp_path, gpqa_csv):
    with RecordingServer() as srv:
        code = main(["rag", "--preset", "paper", "--benchmark", "gpqa", "--data", gpqa_csv, "--conditions", "closed",
                     "--llm", f"{srv.url}#m", "--llm-cache", "off", "--no-chart", "--bootstrap", "20",
                     "--out", str(tmp_path / "cli"), "--json"])
    assert code == 0 and len(srv.bodies) == 3
    assert {(b["temperature"], b["top_p"], b["max_tokens"]) for b in srv.bodies} == {(0.7, 0.8, 8000)}
    saved = json.loads((tmp_path / "cli" / "config.json").read_text(encoding="utf-8"))
    assert saved["preset"] == "paper" and saved["config"]["benchmark_options"]["gpqa"]["top_p"] == 0.8


def test_mmlu_sampling_under_the_paper_preset_is_greedy(tmp_path, mmlu_zip):
    llm = ScriptedLLM(lambda p, _: "The answer is (B).")
    run_rag(_paper(benchmark="mmlu", data=mmlu_zip, subjects=["anatomy"], limit=1, conditions="closed",
                   out=str(tmp_path / "m")), llm=llm)
    (_, p), = llm.batches
    assert (p.temperature, p.top_p, p.max_tokens, p.seed) == (0.0, 1.0, 2048, None)
    assert "Question:" in p.stop


# --- the random fallback -----------------------------------------------------------------------------
def test_fallback_seed_makes_two_runs_identical(tmp_path, mmlu_zip, corpus):
    def run(name, **values):
        cfg = _paper(benchmark="mmlu", data=mmlu_zip, corpus=corpus, subjects=["anatomy", "virology"],
                     limit_per_subject=3, out=str(tmp_path / name), **values)
        return run_rag(cfg, llm=ScriptedLLM(lambda p, _: "I am not sure."))   # never parseable

    first, second = run("a"), run("b")
    assert first.rows == second.rows
    fallbacks = {r[c]["fallback"] for r in first.rows for c in ("closed", "rag")}
    # the published rule: random.seed(12345); randint(0, 3), the same letter for every unparseable output
    assert fallbacks == {"ABCD"[random.Random(12345).randint(0, 3)]} == {"D"}
    for name in ("a", "b"):
        report = json.loads((tmp_path / name / "report.json").read_text(encoding="utf-8"))
        config = json.loads((tmp_path / name / "config.json").read_text(encoding="utf-8"))
        assert (report["meta"]["fallback"], report["meta"]["fallback_seed"]) == ("per_run", 12345)
        assert (config["fallback"], config["fallback_seed"]) == ("per_run", 12345)
        assert "fallback seed: `12345`" in (tmp_path / name / "report.md").read_text(encoding="utf-8")
    # our per-question rule is deterministic across reruns too, and draws per question
    ours_a, ours_b = run("c", fallback="per_question"), run("d", fallback="per_question")
    assert ours_a.rows == ours_b.rows
    assert len({r["closed"]["fallback"] for r in ours_a.rows}) > 1


# --- prompt templates --------------------------------------------------------------------------------
def test_replaced_template_changes_the_prompt_and_its_hash_is_recorded(tmp_path, mmlu_zip, corpus):
    text = "CONTEXT\n{passages}Subject {subject}.\n{question}\n{options}\nSay: the answer is (X).\n"
    tpl = tmp_path / "my_rag.txt"
    tpl.write_text(text, encoding="utf-8")
    llm = ScriptedLLM(lambda p, _: "The answer is (C).")
    out = run_rag(_paper(benchmark="mmlu", data=mmlu_zip, corpus=corpus, subjects=["anatomy"], limit=1,
                         prompt_template=[f"mmlu_rag_user={tpl}"], out=str(tmp_path / "o")), llm=llm)
    closed, rag = (_user(prompts[0]) for prompts, _ in llm.batches)
    assert rag.startswith("CONTEXT\nfacial nerve") and "Subject anatomy." in rag and rag.endswith("(X).")
    assert closed == P.mmlu_user_message(out.rows[0]["question"], out.rows[0]["options"], "anatomy")
    digest = hashlib.sha256(text[:-1].encode("utf-8")).hexdigest()      # one trailing newline dropped
    config = json.loads((tmp_path / "o" / "config.json").read_text(encoding="utf-8"))
    meta = out.report["meta"]
    for record in (config["prompt_templates"], meta["prompt_templates"]):
        assert record["mmlu_rag_user"] == {"sha256": digest, "source": str(tpl)}
        assert record["mmlu_closed_user"]["source"] == "builtin"
        assert record["system"]["sha256"] == hashlib.sha256(P.SYSTEM.encode("utf-8")).hexdigest()
    assert meta["prompt_version"].startswith("rag-1+user-") and config["prompt_version"] == meta["prompt_version"]
    assert config["preset"] == "paper" and config["preset_sha256"] == preset_digest("paper", "rag")


def test_template_errors_name_the_template_and_the_valid_choices(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("{question} {answer}", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\{answer\}.*\{options\}, \{question\}"):
        P.RagPrompts({"gpqa_closed_user": bad})
    with pytest.raises(ConfigError, match="valid names: system, mmlu_rag_user"):
        RagConfig(benchmark="mmlu", prompt_template=["mmlu_user=x.txt"])
    with pytest.raises(ConfigError, match="NAME=FILE"):
        RagConfig(benchmark="mmlu", prompt_template=["x.txt"])
    with pytest.raises(ConfigError, match="cannot read"):
        RagConfig(benchmark="mmlu", prompts={"system": str(tmp_path / "missing.txt")}).prompt_set()


# --- the preset file, one value at a time ------------------------------------------------------------
PAPER_VALUES = {
    ("benchmark_options", "mmlu", "query"): "formatted",
    ("benchmark_options", "mmlu", "top_k"): 3,
    ("benchmark_options", "mmlu", "max_tokens"): 2048,
    ("benchmark_options", "mmlu", "temperature"): 0.0,
    ("benchmark_options", "gpqa", "top_k"): 5,
    ("benchmark_options", "gpqa", "max_tokens"): 8000,
    ("benchmark_options", "gpqa", "temperature"): 0.7,
    ("benchmark_options", "gpqa", "top_p"): 0.8,
    ("fallback",): "per_run",
    ("seed",): 12345,
}


def _leaves(tree, path=()):
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _leaves(sub, (*path, key)).items()}
    return {path: tree}


def test_the_paper_preset_sets_exactly_the_pinned_values():
    assert set(_leaves(PAPER)) == set(PAPER_VALUES)


@pytest.mark.parametrize("path", list(PAPER_VALUES), ids=lambda p: ".".join(p))
def test_paper_preset_value(path):
    value = PAPER
    for key in path:
        value = value[key]
    assert value == PAPER_VALUES[path]
    # and the resolved configuration of that benchmark uses it
    if path[0] == "benchmark_options":
        assert _paper(benchmark=path[1]).setting(path[2]) == PAPER_VALUES[path]
    else:
        assert getattr(_paper(benchmark="mmlu"), path[0]) == PAPER_VALUES[path]


def test_benchmark_options_are_checked():
    with pytest.raises(ConfigError, match="unknown benchmark; choose from mmlu, gpqa"):
        RagConfig(benchmark="mmlu", benchmark_options={"arc": {"top_k": 2}})
    with pytest.raises(ConfigError, match="cannot be set per benchmark; valid: query, top_k"):
        RagConfig(benchmark="mmlu", benchmark_options={"mmlu": {"seed": 2}})
    with pytest.raises(ConfigError, match="'temperature' expects a finite number"):
        RagConfig(benchmark="mmlu", benchmark_options={"gpqa": {"temperature": "hot"}})
    with pytest.raises(ConfigError, match="must be one of"):
        RagConfig(benchmark="mmlu", benchmark_options={"mmlu": {"query": "hyde"}})
    cfg = RagConfig(benchmark="gpqa", benchmark_options={"gpqa": {"top_k": "4"}})
    assert cfg.setting("top_k") == 4 and cfg.setting("query") == "question" and cfg.setting("temperature") == 0.0
    assert RagConfig(benchmark="mmlu").setting("top_k") == 3 and RagConfig(benchmark="gpqa").setting("top_k") == 5
