"""The foundation commands end to end: ``reasonir retrieve`` (BM25 on SciFact) and ``reasonir evaluate``."""

from __future__ import annotations

import gzip
import json

import pytest

from reasonir.cli import main
from reasonir.io import read_run


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    lines = out.strip().splitlines()
    assert lines, "no output"
    return json.loads(lines[-1])


def test_retrieve_bm25_scifact_json_and_outputs(capsys, scifact_dir, tmp_path):
    out_path = tmp_path / "run.trec"
    code, out, _ = run_cli(capsys, "--no-progress", "retrieve", "--dataset", f"beir:{scifact_dir}",
                           "--retriever", "bm25", "--json", "--out", str(out_path))
    assert code == 0
    summary = last_json(out)
    assert summary["ndcg@10"] >= 0.670          # measured 0.6777 (Anserini's flat BM25: 0.679)
    assert summary["num_queries"] == 300 and summary["missing_queries"] == 0
    assert summary["retriever"] == "bm25" and summary["dataset"] == "scifact"
    run = read_run(out_path)
    assert len(run) == 300 and all(0 < len(docs) <= 1000 for docs in run.values())
    metrics = json.loads(out_path.with_name("run.trec.metrics.json").read_text())
    assert metrics["metrics"]["ndcg@10"] == pytest.approx(summary["ndcg@10"]) and len(metrics["per_query"]) == 300
    assert json.loads(out_path.with_name("run.trec.config.json").read_text())["config"]["retriever"] == "bm25"


def test_retrieve_bm25q_scifact(capsys, scifact_dir):
    code, out, _ = run_cli(capsys, "--no-progress", "retrieve", "--dataset", f"beir:{scifact_dir}",
                           "--retriever", "bm25q", "--json", "--metrics", "ndcg@10,recall@100")
    assert code == 0
    summary = last_json(out)
    assert summary["retriever"] == "bm25q"
    assert 0.66 <= summary["ndcg@10"] < 0.6776   # measured 0.6708: query-side weighting differs from bm25
    assert summary["recall@100"] >= 0.92


def test_retrieve_table_output(capsys, scifact_dir):
    code, out, _ = run_cli(capsys, "--no-progress", "retrieve", "--dataset", f"beir:{scifact_dir}",
                           "--metrics", "ndcg@10")
    assert code == 0 and out.startswith("scifact  bm25  300 queries  ndcg@10=0.67")


def test_unknown_task_and_bad_specs_exit_2(capsys, bright_dir):
    code, out, err = run_cli(capsys, "retrieve", "--dataset", f"bright:nonexistent@{bright_dir}", "--json")
    assert code == 2 and out == ""
    assert "unknown BRIGHT task 'nonexistent'" in err and "biology" in err and "theoremqa_theorems" in err
    code, _, err = run_cli(capsys, "retrieve", "--dataset", "foo:bar")
    assert code == 2 and "unknown dataset scheme 'foo'" in err and "beir:PATH" in err
    code, _, err = run_cli(capsys, "evaluate", "--run", "/nonexistent/run.txt", "--qrels", "/nonexistent/q.txt")
    assert code == 2 and "no such file" in err


def test_malformed_files_exit_2_naming_file_and_line(capsys, tmp_path, bright_dir):
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "1", "text": "fine"}\n{"_id": 2, broken\n', encoding="utf-8")
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "fine"}\n', encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\n", encoding="utf-8")
    code, out, err = run_cli(capsys, "retrieve", "--dataset", f"beir:{beir}", "--json")
    assert code == 2 and out == ""
    assert f"{beir / 'corpus.jsonl'}:2" in err and "invalid JSON" in err
    bad_run = tmp_path / "bad.run"
    bad_run.write_text("1 Q0 doc 1 0.5 tag\n1 Q0 doc2 2 not-a-number tag\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "evaluate", "--run", str(bad_run), "--qrels", str(bright_dir / "biology/qrels.txt"))
    assert code == 2 and f"{bad_run}:2" in err and "not-a-number" in err
    code, _, err = run_cli(capsys, "evaluate", "--run", str(bad_run), "--qrels", "a", "b")
    assert code == 2 and "1 --run files but 2 --qrels files" in err


def test_evaluate_bright_reference_run_with_examples(capsys, bright_dir, tmp_path):
    runs = bright_dir / "runs/reasonir-8b_gpt4-reasoning_top100"
    base = ["evaluate", "--run", str(runs / "leetcode.txt"), "--qrels", str(bright_dir / "leetcode/qrels.txt"),
            "--metrics", "ndcg@10,recall@100,oracle_ndcg@10", "--json"]
    code, out, _ = run_cli(capsys, *base, "--examples", str(bright_dir / "leetcode/examples.jsonl.gz"))
    assert code == 0
    ref = last_json(out)
    assert ref["ndcg@10"] * 100 == pytest.approx(31.7, abs=0.05) and ref["num_queries"] == 142
    assert ref["oracle_ndcg@10"] >= ref["ndcg@10"]
    # put an excluded document on top of every query: only --examples removes it again
    with gzip.open(bright_dir / "leetcode/examples.jsonl.gz", "rt", encoding="utf-8") as fh:
        first_excluded = {str(r["id"]): r["excluded_ids"][0] for r in map(json.loads, fh)
                          if r["excluded_ids"] and r["excluded_ids"] != ["N/A"]}
    polluted = tmp_path / "leetcode.txt"
    lines = [f"{q} Q0 {d} 0 1000.0 polluted" for q, d in first_excluded.items()]
    polluted.write_text("\n".join(lines) + "\n" + (runs / "leetcode.txt").read_text(encoding="utf-8"),
                        encoding="utf-8")
    base[2] = str(polluted)
    code, out, _ = run_cli(capsys, *base, "--examples", str(bright_dir / "leetcode/examples.jsonl.gz"))
    assert code == 0 and last_json(out)["ndcg@10"] == pytest.approx(ref["ndcg@10"], abs=1e-12)
    code, out, _ = run_cli(capsys, *base)
    assert code == 0 and last_json(out)["ndcg@10"] < ref["ndcg@10"] - 0.02


def test_evaluate_several_runs_prints_table_with_average(capsys, bright_dir, tmp_path):
    runs = bright_dir / "runs/reasonir-8b_gpt4-reasoning_top100"
    tasks = ("biology", "pony")
    argv = ["evaluate", "--metrics", "ndcg@10", "--out", str(tmp_path / "report.json"), "--run"]
    argv += [str(runs / f"{t}.txt") for t in tasks] + ["--qrels"] + [str(bright_dir / t / "qrels.txt") for t in tasks]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    assert "| biology | 103 | 0.4349 |" in out and "| pony | 112 | 0.1955 |" in out
    assert "| **average** | 215 | 0.3152 |" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["macro_average"]["ndcg@10"] * 100 == pytest.approx((43.5 + 19.6) / 2, abs=0.1)
    assert (tmp_path / "report.md").read_text().startswith("|")


def test_help_does_not_import_heavy_frameworks():
    """``reasonir --help`` and the command parsers stay fast: no torch, transformers or ray at start-up."""
    import subprocess
    import sys

    code = ("import sys\nfrom reasonir.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'ray', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
