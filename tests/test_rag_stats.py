"""Paired bootstrap, summaries recomputed from rows, datastore merging, report rendering."""

import numpy as np
import pytest

from reasonir.rag.datastore import merge_pools, merge_runs
from reasonir.rag.passages import Passage
from reasonir.rag.report import render_markdown, write_report
from reasonir.rag.stats import paired_bootstrap, summarize


def test_paired_bootstrap_basic_cases():
    same = np.array([1, 0, 1, 1, 0])
    b = paired_bootstrap(same, same, samples=300, seed=0)
    assert b["delta"] == 0 and b["ci_low"] == 0 and b["ci_high"] == 0 and b["fraction_le_zero"] == 1.0
    zeros, ones = np.zeros(50), np.ones(50)
    b = paired_bootstrap(zeros, ones, samples=300)
    assert (b["delta"], b["ci_low"], b["ci_high"], b["fraction_le_zero"]) == (1.0, 1.0, 1.0, 0.0)


def test_paired_bootstrap_interval_is_sane_and_seeded():
    rng = np.random.default_rng(0)
    before = rng.random(400) < 0.5
    after = before | (rng.random(400) < 0.2)                       # retrieval fixes ~10% of questions
    b1 = paired_bootstrap(before, after, samples=1000, seed=3)
    assert b1 == paired_bootstrap(before, after, samples=1000, seed=3)
    assert b1["ci_low"] < b1["delta"] < b1["ci_high"] and b1["ci_low"] > 0
    # pairing matters: the paired interval is narrower than one from unpaired resampling
    assert b1["ci_high"] - b1["ci_low"] < 0.08
    assert paired_bootstrap(before, after, samples=1000, seed=4) != b1


def _row(i, gold, closed, rag, fb_c="A", fb_r="A", group="stem", subject="anatomy"):
    return {"id": str(i), "gold": gold, "group": group, "subject": subject,
            "closed": {"pred": closed, "fallback": fb_c, "method": "answer_is" if closed else None},
            "rag": {"pred": rag, "fallback": fb_r, "method": "answer_is" if rag else None}}


def test_summarize_counts_failures_and_fallback():
    rows = [_row(0, "A", "A", "A"), _row(1, "B", None, "B", fb_c="B"), _row(2, "C", "D", None, fb_r="A"),
            _row(3, "D", None, "D", fb_c="A", group="other", subject="virology")]
    s = summarize(rows, bootstrap_samples=50)
    c, r = s["conditions"]["closed"], s["conditions"]["rag"]
    assert (c["accuracy"], c["accuracy_with_fallback"], c["parse_failures"]) == (0.25, 0.5, 2)
    assert (r["accuracy"], r["accuracy_with_fallback"], r["parse_failure_rate"]) == (0.75, 0.75, 0.25)
    assert c["methods"] == {"None": 2, "answer_is": 2} and c["hit_max_tokens"] == 0
    rows[1]["closed"]["finish_reason"] = "length"
    assert summarize(rows, bootstrap_samples=0)["conditions"]["closed"]["hit_max_tokens"] == 1
    assert s["difference"]["strict"]["delta"] == pytest.approx(0.5)
    assert s["difference"]["strict"]["relative"] == pytest.approx(2.0)
    assert s["groups"]["other"] == {"n": 1, "closed": {"accuracy": 0.0, "accuracy_with_fallback": 0.0,
                                                       "parse_failure_rate": 1.0},
                                    "rag": {"accuracy": 1.0, "accuracy_with_fallback": 1.0,
                                            "parse_failure_rate": 0.0}, "delta": 1.0}
    assert set(s["subjects"]) == {"anatomy", "virology"}
    only = summarize(rows, conditions=("closed",))
    assert "difference" not in only and set(only["conditions"]) == {"closed"}


def test_report_files(tmp_path):
    pytest.importorskip("matplotlib")
    rows = [_row(i, "A", "A" if i % 2 else "B", "A") for i in range(10)]
    report = {"meta": {"benchmark": "mmlu", "llm": "x", "timings": {"closed_generation": 1.5}},
              **summarize(rows, bootstrap_samples=100)}
    paths = write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| closed-book | 10 | 50.0 |" in md and "| retrieval-augmented | 10 | 100.0 |" in md
    assert "+50.0" in md and "closed generation: 1.5" in md
    png = (tmp_path / "accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    assert set(paths) == {"json", "markdown", "chart"}
    assert render_markdown(report) == md


def test_merge_pools_drops_exact_duplicates_in_order():
    pools = [("bm25", {"q1": [Passage("a", 3, "alpha"), Passage("b", 2, "beta")],
                       "q2": [Passage("b", 5, "beta"), Passage("c", 1, "gamma")]}),
             ("dense", {"q1": [Passage("x", 9, "alpha"), Passage("y", 8, "beta "), Passage("z", 7, "delta")]})]
    docs, stats = merge_pools(pools)
    assert [(d.id, d.text, d.metadata["source"], d.metadata["orig_id"]) for d in docs] == [
        ("0", "alpha", "bm25", "a"), ("1", "beta", "bm25", "b"), ("2", "gamma", "bm25", "c"),
        ("3", "beta ", "dense", "y"), ("4", "delta", "dense", "z")]
    assert (stats.seen, stats.kept, stats.duplicates) == (7, 5, 2)
    assert stats.per_pool["dense"] == {"seen": 3, "kept": 2, "duplicates": 1}
    docs, stats = merge_pools(pools, normalize=True)
    assert stats.kept == 4                                   # "beta " == "beta" up to whitespace
    docs, stats = merge_pools(pools, k=1)
    assert [d.text for d in docs] == ["alpha", "beta"]


def test_merge_runs_uses_scores_and_checks_texts():
    runs = [("r1", {"q": {"a": 1.0, "b": 2.0}}), ("r2", {"q": {"c": 1.0, "b": 0.5}})]
    docs, _ = merge_runs(runs, {"a": "A", "b": "B", "c": "C"}, k=1)
    assert [d.text for d in docs] == ["B", "C"]
    from reasonir.errors import DataFormatError

    with pytest.raises(DataFormatError, match="not in the corpus"):
        merge_runs(runs, {"a": "A"})
