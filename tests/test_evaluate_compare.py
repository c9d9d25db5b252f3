"""``reasonir evaluate`` for comparing systems: ir_measures metric names, several runs against one
qrels, per-query scores (``trec_eval -q`` lines) and paired significance tests; one scale (fractions)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from reasonir.cli import main
from reasonir.errors import ConfigError
from reasonir.evaluate import evaluate, normalize_metric
from reasonir.significance import compare_runs, paired_t_test, randomization_test

QRELS = {"q1": {"d1": 1}, "q2": {"d3": 1}, "q3": {"d5": 2, "d6": 1}, "q4": {"d7": 1}}
RUN_A = {"q1": {"d1": 0.9, "d2": 0.5}, "q2": {"d1": 0.7, "d3": 0.4}, "q3": {"d5": 0.9, "d6": 0.8},
         "q4": {"d7": 0.9, "d8": 0.1}}
RUN_B = {"q1": {"d2": 0.9, "d1": 0.5}, "q2": {"d3": 0.7}, "q3": {"d4": 0.9, "d6": 0.8}, "q4": {"d8": 0.9, "d9": 0.1}}


@pytest.mark.parametrize(("theirs", "ours"), [
    ("nDCG@10", "ndcg@10"), ("R@100", "recall@100"), ("RR@10", "mrr@10"), ("RR", "mrr"), ("P@5", "p@5"),
    ("Success@1", "success@1"), ("AP@100", "map@100"), ("AP", "map"), ("recall@5", "recall@5")])
def test_ir_measures_names_are_ours(theirs, ours):
    assert normalize_metric(theirs) == ours
    assert evaluate(QRELS, RUN_A, [theirs]).mean == {ours: evaluate(QRELS, RUN_A, [ours]).mean[ours]}


def test_success_at_k_counts_a_relevant_document_in_the_top_k():
    res = evaluate(QRELS, RUN_B, "success@1,success@2")
    assert res.per_query["q1"] == {"success@1": 0.0, "success@2": 1.0}
    assert res.per_query["q2"]["success@1"] == 1.0 and res.per_query["q4"]["success@2"] == 0.0
    with pytest.raises(ConfigError, match="success@K"):
        normalize_metric("Success")


def _files(tmp_path):
    (tmp_path / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in QRELS.items()
                                                for d, g in docs.items()), encoding="utf-8")
    for name, run in (("a", RUN_A), ("b", RUN_B)):
        lines = [f"{q} Q0 {d} {r} {s} {name}\n" for q, docs in run.items()
                 for r, (d, s) in enumerate(sorted(docs.items(), key=lambda x: -x[1]), start=1)]
        (tmp_path / f"{name}.trec").write_text("".join(lines), encoding="utf-8")
    return [str(tmp_path / "a.trec"), str(tmp_path / "b.trec")], str(tmp_path / "qrels.txt")


def test_several_runs_against_one_qrels_give_paired_p_values(tmp_path, capsys):
    runs, qrels = _files(tmp_path)
    assert main(["-q", "evaluate", "--run", *runs, "--qrels", qrels, "--metrics", "nDCG@10,RR", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out["runs"]) == {"a", "b"}
    by_metric = {c["metric"]: c for c in out["comparisons"]}
    assert set(by_metric) == {"ndcg@10", "mrr"} and all(c["run"] == "b" and c["baseline"] == "a"
                                                        for c in by_metric.values())
    a, b = evaluate(QRELS, RUN_A, "mrr"), evaluate(QRELS, RUN_B, "mrr")
    qids = sorted(QRELS)
    expected = stats.ttest_rel([b.per_query[q]["mrr"] for q in qids], [a.per_query[q]["mrr"] for q in qids]).pvalue
    assert by_metric["mrr"]["p_value"] == pytest.approx(expected)
    assert by_metric["mrr"]["delta"] == pytest.approx(b.mean["mrr"] - a.mean["mrr"])
    assert by_metric["mrr"]["test"] == "t-test" and by_metric["mrr"]["queries"] == 4


def test_per_query_scores_and_one_scale_in_the_table(tmp_path, capsys):
    runs, qrels = _files(tmp_path)
    assert main(["evaluate", "--run", *runs, "--qrels", qrels, "--metrics", "mrr", "--per-query",
                 "--significance", "randomization"]) == 0
    out = capsys.readouterr().out
    assert "mrr\tq1\t1.0000" in out and "mrr\tq1\t0.5000" in out and "mrr\tall\t0.8750" in out
    assert "| a | 4 | 0.8750 |" in out                      # fractions, as retrieve and search print them
    assert "p (randomization)" in out


def test_report_file_holds_per_query_scores_and_comparisons(tmp_path):
    runs, qrels = _files(tmp_path)
    report = tmp_path / "report.json"
    assert main(["-q", "evaluate", "--run", *runs, "--qrels", qrels, "--metrics", "mrr", "--per-query",
                 "--out", str(report)]) == 0
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["runs"]["b"]["per_query"]["q1"]["mrr"] == 0.5 and data["comparisons"][0]["run"] == "b"
    assert "p (t-test)" in report.with_suffix(".md").read_text(encoding="utf-8")


def test_randomization_test_is_exact_on_a_tiny_case_and_reproducible():
    a, b = [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]
    # 8 sign patterns, 2 of which (all +, all -) reach |mean| = 1: p ~ 1/4 (+1 smoothing)
    p = randomization_test(a, b, permutations=20000, seed=1)
    assert p == pytest.approx(0.25, abs=0.02) and p == randomization_test(a, b, permutations=20000, seed=1)
    rng = np.random.default_rng(0)
    x = rng.random(40)
    assert randomization_test(x + 0.3, x) < 0.01 and randomization_test(x, x) == 1.0
    assert paired_t_test(x, x) == 1.0 and paired_t_test(x + 0.1, x) == 0.0


def test_compare_runs_refuses_a_lone_run_and_an_unknown_test():
    per_query = {"a": {"q": {"m": 1.0}}}
    with pytest.raises(ConfigError, match="at least two runs"):
        compare_runs(per_query, ["m"])
    with pytest.raises(ConfigError, match="t-test, randomization"):
        compare_runs({**per_query, "b": {"q": {"m": 0.0}}}, ["m"], test="wilcoxon")


def test_run_and_qrels_counts_must_match(tmp_path, capsys):
    runs, qrels = _files(tmp_path)
    assert main(["evaluate", "--run", runs[0], "--qrels", qrels, qrels]) == 2
    assert "1 --run files but 2 --qrels files" in capsys.readouterr().err
