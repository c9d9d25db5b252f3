"""`reasonir bright`: the BRIGHT table in one command (score existing runs; run, resume and reuse settings)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reasonir.cli import main
from reasonir.config import build
from reasonir.errors import ConfigError
from reasonir.io import read_run
from reasonir.workflows.bright import BrightConfig, plan_settings, run_bright
from reasonir.workflows.bright_report import Setting, infer_from_name, match_published

REPO = Path(__file__).resolve().parents[1]
RUNS = "runs/reasonir-8b_gpt4-reasoning_top100"
#: the shared data's reference (trec_eval nDCG@10 x100 of the ReasonIR runs, excluded ids removed)
REFERENCE = {"biology": 43.5, "earth_science": 43.0, "economics": 32.7, "psychology": 39.6, "robotics": 20.8,
             "stackoverflow": 31.0, "sustainable_living": 27.3, "leetcode": 31.7, "pony": 19.6, "aops": 7.4,
             "theoremqa_questions": 33.9, "theoremqa_theorems": 36.7}
TASKS = ("biology", "leetcode", "pony")


def make_fixture(root: Path, bright_dir: Path, n: int = 3) -> dict[str, dict[str, str]]:
    """A BRIGHT-format folder: real examples, a tiny corpus, and a gpt4_reason.jsonl per task.

    Gold documents talk about a made-up keyword that only the gpt4_reason query mentions; distractors copy
    words of the original query; each excluded id is a document that repeats the query verbatim.
    Returns ``{task: {qid: keyword}}``.
    """
    keywords: dict[str, dict[str, str]] = {}
    for task in TASKS:
        with gzip.open(bright_dir / task / "examples.jsonl.gz", "rt", encoding="utf-8") as fh:
            examples = [json.loads(line) for _, line in zip(range(n), fh)]
        folder = root / task
        folder.mkdir(parents=True)
        (folder / "examples.jsonl").write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
        docs: dict[str, str] = {}
        keywords[task] = {}
        for ex in examples:
            kw = keywords[task][ex["id"]] = f"zq{task[:3]}{ex['id']}kw"
            for k, gold in enumerate(ex["gold_ids"]):
                docs[gold] = docs.get(gold, "") + f" Explanation {k} of {kw}: the mechanism of {kw} in detail."
            words = [w for w in ex["query"].split() if w.isalpha()][:40]
            for j in range(4):
                docs.setdefault(f"distractor_{ex['id']}_{j}", " ".join(words[j:j + 25]) or "filler text")
            for ex_id in [e for e in ex["excluded_ids"] if e != "N/A"][:2]:
                docs.setdefault(ex_id, f"{kw} {kw} {kw} " + ex["query"])
        (folder / "documents.jsonl").write_text(
            "".join(json.dumps({"id": d, "content": t.strip()}) + "\n" for d, t in docs.items()), encoding="utf-8")
        (folder / "gpt4_reason.jsonl").write_text(
            "".join(json.dumps({"id": e["id"], "query": f"{keywords[task][e['id']]} explained"}) + "\n"
                    for e in examples), encoding="utf-8")
    return keywords


def _cfg(**values) -> BrightConfig:
    return build(BrightConfig, values)


def test_scores_the_shared_reasonir_runs_beside_the_paper(tmp_path, bright_dir, capsys):
    out = tmp_path / "board"
    assert main(["bright", "--runs", str(bright_dir / RUNS), "--data", str(bright_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| **average** | | **30.59** | 29.90 | +0.69 |" in printed
    board = json.loads((out / "leaderboard.json").read_text())
    (row,) = board["settings"]
    assert row["queries"] == "gpt4_reason" and row["retriever"] == "dense:reasonir"
    assert row["average"] == pytest.approx(30.59, abs=0.005) and row["paper"]["average"] == 29.9
    assert row["paper"]["delta"] == pytest.approx(0.69, abs=0.006)
    for task, ref in REFERENCE.items():
        assert row["tasks"][task]["ndcg@10"] == pytest.approx(ref, abs=0.051)
    assert row["tasks"]["biology"]["paper"] == 43.6 and row["tasks"]["theoremqa_questions"]["queries"] == 194
    assert (out / "leaderboard.md").read_text().startswith("# BRIGHT nDCG@10")
    assert (out / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_folder_missing_a_task_names_the_file(tmp_path, bright_dir):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "biology.txt").write_bytes((bright_dir / RUNS / "biology.txt").read_bytes())
    with pytest.raises(ConfigError, match="no run pony.txt for task pony .runs there: biology"):
        run_bright(_cfg(runs=str(runs), data=str(bright_dir), tasks="biology,pony", out=str(tmp_path / "o"),
                        chart=False))
    done = run_bright(_cfg(runs=str(runs), data=str(bright_dir), tasks="biology", out=str(tmp_path / "o"),
                           chart=False, retriever="bm25q", queries="original"))
    row = done.leaderboard["settings"][0]
    assert row["paper"]["name"] == "BM25 (paper)" and row["paper"]["average"] is None      # one task: no average
    assert row["tasks"]["biology"]["paper"] == 18.9


def test_missing_documents_are_named_before_any_work(tmp_path, bright_dir):
    with pytest.raises(ConfigError) as err:
        run_bright(_cfg(data=str(bright_dir), tasks="biology,pony", queries="original,gpt4_reason",
                        retriever="bm25q", out=str(tmp_path / "o")))
    msg = str(err.value)
    for name in ("biology/documents.jsonl", "pony/documents.jsonl", "biology/gpt4_reason.jsonl"):
        assert str(bright_dir / name) in msg
    assert "--runs DIR" in msg and not (tmp_path / "o" / "runs").exists()


def test_settings_plan_and_published_matching():
    cfg = _cfg(queries="original,gpt4_reason", retriever="bm25q,dense:reasonir/ReasonIR-8B,hybrid")
    settings = plan_settings(cfg)
    assert [s.retriever for s in settings[:3]] == ["bm25q", "dense:reasonir/ReasonIR-8B", "hybrid:reasonir/ReasonIR-8B"]
    averages = [(match_published(s) or {}).get("average") for s in settings]
    assert averages == [14.5, 24.4, None, 26.5, 29.9, 32.0]
    assert match_published(Setting("gpt4_reason", "hybrid:reasonir/ReasonIR-8B", "vllm:Qwen/Qwen2.5-32B-Instruct")
                           )["average"] == 36.9
    assert match_published(Setting("gpt4_reason", "dense:minilm")) is None
    assert infer_from_name("reasonir-8b_gpt4-reasoning_top100") == ("gpt4_reason", "dense:reasonir")
    assert infer_from_name("bm25_original") == ("original", "bm25q")
    with pytest.raises(ConfigError, match="exactly one dense:MODEL"):
        plan_settings(_cfg(retriever="bm25q,hybrid"))
    with pytest.raises(ConfigError, match="dense:MODEL"):
        plan_settings(_cfg(retriever="dense"))
    with pytest.raises(ConfigError, match="unknown BRIGHT task"):
        run_bright(_cfg(tasks="biolgy"))


@pytest.mark.integration
def test_end_to_end_on_a_fixture_then_everything_is_reused(tmp_path, bright_dir):
    pytest.importorskip("sentence_transformers")
    data = tmp_path / "bright"
    make_fixture(data, bright_dir)
    out = tmp_path / "out"
    argv = ["bright", "--data", str(data), "--tasks", ",".join(TASKS), "--queries", "original,gpt4_reason",
            "--retriever", "bm25q,dense:minilm,hybrid", "--device", "cpu", "--out", str(out), "--json"]
    assert main(argv) == 0
    first = run_bright(_cfg(data=str(data), tasks=",".join(TASKS), queries="original,gpt4_reason",
                            retriever="bm25q,dense:minilm,hybrid", device="cpu", out=str(out)))
    assert first.computed == [] and len(first.reused) == 3 * 6          # the CLI run above made them all
    board = json.loads((out / "leaderboard.json").read_text())
    rows = {r["setting"]: r for r in board["settings"]}
    assert set(rows) == {f"{q} / {r}" for q in ("original", "gpt4_reason")
                         for r in ("bm25q", "dense:minilm", "hybrid:minilm")}
    for r in ("bm25q", "dense:minilm", "hybrid:minilm"):              # the keyword queries find the gold docs
        assert rows[f"gpt4_reason / {r}"]["average"] > rows[f"original / {r}"]["average"]
    assert rows["gpt4_reason / bm25q"]["average"] == pytest.approx(100.0)
    assert rows["original / bm25q"]["paper"]["name"] == "BM25 (paper)"
    # excluded ids never appear in a written run (leetcode's excluded docs repeat the query verbatim)
    examples = [json.loads(x) for x in (data / "leetcode" / "examples.jsonl").read_text().splitlines()]
    for setting in ("original__bm25q", "original__dense-minilm", "original__hybrid-minilm"):
        run = read_run(out / "runs" / setting / "leetcode.txt")
        for ex in examples:
            assert not set(ex["excluded_ids"]) & set(run[ex["id"]])
    manifest = json.loads((out / "runs" / "gpt4_reason__dense-minilm" / "pony.manifest.json").read_text())
    assert manifest["encoder"]["model"] and manifest["encoder"]["dtype"] and "max_length" in manifest["encoder"]
    assert manifest["instruction"]["instruction"].startswith("Given a pony question")
    assert manifest["data"]["source"] == "local" and len(manifest["data"]["documents_sha256"]) == 64
    assert manifest["query_variant"]["name"] == "gpt4_reason" and len(manifest["query_variant"]["sha256"]) == 64
    assert manifest["versions"]["reasonir"] and manifest["seed"] == 0 and manifest["options"]["top_k"] == 1000
    hybrid = json.loads((out / "runs" / "original__hybrid-minilm" / "biology.manifest.json").read_text())
    assert hybrid["weights"] == [0.5, 0.5] and hybrid["components"] == ["dense:minilm", "bm25q"]

    # a lost run is recomputed from what is cached: the hybrid from its component runs, nothing encoded
    (out / "runs" / "gpt4_reason__hybrid-minilm" / "pony.manifest.json").unlink()
    again = run_bright(_cfg(data=str(data), tasks=",".join(TASKS), queries="original,gpt4_reason",
                            retriever="bm25q,dense:minilm,hybrid", device="cpu", out=str(out), chart=False))
    assert again.computed == [("pony", "gpt4_reason / hybrid:minilm")]
    assert again.counters["encoded_documents"] == 0 and again.counters["encoded_queries"] == 0
    # a new query variant reuses the document vectors (embedding cache): only its queries are encoded
    variant = tmp_path / "rewritten.json"
    variant.write_text(json.dumps({e["id"]: f"a rewritten query about mechanism {e['id']}" for e in examples}))
    new = run_bright(_cfg(data=str(data), tasks="leetcode", queries=str(variant), retriever="dense:minilm",
                          device="cpu", out=str(out), chart=False))
    assert len(new.computed) == 1 and new.counters["encoded_documents"] == 0
    assert new.counters["encoded_queries"] == len(examples)
    # options that change a run invalidate it
    changed = run_bright(_cfg(data=str(data), tasks="biology", retriever="bm25q", top_k=5, out=str(out), chart=False))
    assert changed.computed == [("biology", "original / bm25q")]


@pytest.mark.slow
@pytest.mark.integration
def test_rerank_smollm2_with_the_paper_preset_and_reuse(tmp_path, bright_dir):
    pytest.importorskip("transformers")
    from reasonir.config import preset_values
    from reasonir.workflows.rerank import RerankConfig

    data = tmp_path / "bright"
    make_fixture(data, bright_dir, n=2)
    out = tmp_path / "out"
    values = dict(data=str(data), tasks="biology", queries="gpt4_reason", retriever="bm25q", rerank="smollm2",
                  rerank_top_k=3, preset="paper", device="cpu", out=str(out), llm_cache=str(tmp_path / "llm.sqlite"),
                  chart=False)
    first = run_bright(_cfg(**values))
    base = read_run(out / "runs" / "gpt4_reason__bm25q" / "biology.txt")
    pairs = sum(min(3, len(docs)) for docs in base.values())
    assert pairs >= 2 and first.counters["llm_calls"] == pairs and len(first.computed) == 2
    manifest = json.loads((out / "runs" / "gpt4_reason__bm25q__rerank-smollm2" / "biology.manifest.json").read_text())
    assert manifest["preset"] == "paper" and len(manifest["preset_sha256"]) == 64
    rerank = manifest["rerank"]
    assert rerank["config"]["top_k"] == 3 and rerank["llm_calls"] == pairs and rerank["prompt_sha256"]
    for key, value in preset_values(RerankConfig, "paper").items():      # the rerank stage follows the preset
        if key not in ("top_k", "seed", "llm_cache"):
            assert rerank["config"][key] == value, key
    reranked = read_run(out / "runs" / "gpt4_reason__bm25q__rerank-smollm2" / "biology.txt")
    assert all(set(reranked[q]) == set(base[q]) for q in base)          # the tail below the top 3 is kept

    second = run_bright(_cfg(**values))
    assert second.computed == [] and second.counters == {"encoded_documents": 0, "encoded_queries": 0,
                                                         "llm_calls": 0, "llm_cache_hits": 0}
    (out / "runs" / "gpt4_reason__bm25q__rerank-smollm2" / "biology.manifest.json").unlink()
    third = run_bright(_cfg(**values))
    assert third.counters["llm_calls"] == 0 and third.counters["llm_cache_hits"] == pairs


def test_gpu_script_parses_its_arguments_and_refuses_without_a_gpu(tmp_path):
    script = REPO / "benchmarks" / "gpu" / "bright_reasonir8b.py"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    shown = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, env=env,
                           timeout=120)
    assert shown.returncode == 0 and "--out" in shown.stdout and "--tolerance" in shown.stdout
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the script would run")
    ran = subprocess.run([sys.executable, str(script), "--out", str(tmp_path / "o")], capture_output=True,
                         text=True, env=env, timeout=120)
    assert ran.returncode == 2 and "needs a CUDA GPU" in ran.stderr and not (tmp_path / "o").exists()
