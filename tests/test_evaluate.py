import math

import pytest

from reasonir.data import BRIGHT_TASKS, load_bright
from reasonir.errors import ConfigError
from reasonir.evaluate import evaluate, macro_average, markdown_table, normalize_metric, parse_metrics
from reasonir.io import read_run

# ../shared/data/README.md: trec_eval nDCG@10 x100 of the ReasonIR GPT-4-reasoning runs
REFERENCE = dict(biology=43.5, earth_science=43.0, economics=32.7, psychology=39.6, robotics=20.8,
                 stackoverflow=31.0, sustainable_living=27.3, leetcode=31.7, pony=19.6, aops=7.4,
                 theoremqa_questions=33.9, theoremqa_theorems=36.7)


def test_reproduces_bright_reference_runs(bright_dir):
    results = {}
    for task in BRIGHT_TASKS:
        ds = load_bright(task, directory=bright_dir)
        run = read_run(bright_dir / f"runs/reasonir-8b_gpt4-reasoning_top100/{task}.txt")
        results[task] = evaluate(ds.qrels, run, "ndcg@10,oracle_ndcg@10", excluded_ids=ds.excluded_ids)
        assert abs(results[task].mean["ndcg@10"] * 100 - REFERENCE[task]) <= 0.05 + 1e-9, task
        assert results[task].mean["oracle_ndcg@10"] >= results[task].mean["ndcg@10"]
    avg = macro_average(results)["ndcg@10"] * 100
    assert abs(avg - 30.59) < 0.01
    table = markdown_table(results)
    assert "| **average** | 1384 | 0.3059 |" in table


def _dcg(rels):
    return sum(r / math.log2(i + 2) for i, r in enumerate(rels))  # trec_eval: linear gains


def test_hand_computed_values_missing_queries_and_exclusions():
    qrels = {"q1": {"a": 1, "b": 2}, "q2": {"x": 1}, "q3": {"z": 1}}
    run = {"q1": {"c": 3.0, "a": 2.0, "b": 1.0}, "q2": {"x": 1.0, "y": 0.5, "w": 2.0},
           "q9": {"a": 1.0}}
    res = evaluate(qrels, run, "ndcg@10,recall@1,p@1,mrr,mrr@1", excluded_ids={"q2": {"w"}})
    want_q1 = _dcg([0, 1, 2]) / _dcg([2, 1])
    assert res.per_query["q1"]["ndcg@10"] == pytest.approx(want_q1, abs=1e-4)
    assert res.per_query["q2"]["ndcg@10"] == pytest.approx(1.0)     # "w" excluded, "x" first
    assert res.per_query["q3"] == {"ndcg@10": 0.0, "recall@1": 0.0, "p@1": 0.0, "mrr": 0.0, "mrr@1": 0.0}
    assert res.missing_queries == ["q3"] and res.unjudged_queries == 1
    assert res.per_query["q1"]["mrr"] == pytest.approx(0.5) and res.per_query["q1"]["mrr@1"] == 0.0
    assert res.mean["ndcg@10"] == pytest.approx((want_q1 + 1.0 + 0.0) / 3, abs=1e-4)


def test_oracle_ndcg_reranks_only_top_depth():
    qrels = {"q": {"g1": 1, "g2": 1}}
    run = {"q": {**{f"d{i:03d}": 1000.0 - i for i in range(150)}, "g1": 1.0, "g2": 995.5}}
    res = evaluate(qrels, run, "oracle_ndcg@10", oracle_depth=100)
    # g2 is inside the top 100 and moves to rank 1; g1 is outside and stays unfound
    assert res.mean["oracle_ndcg@10"] == pytest.approx(1.0 / (1.0 + 1.0 / math.log2(3)), abs=1e-4)


def test_metric_names():
    assert normalize_metric("nDCG@10") == "ndcg@10" and normalize_metric("P@5") == "p@5"
    assert parse_metrics("ndcg@10, Recall@100,ndcg@10") == ["ndcg@10", "recall@100"]
    for bad in ("ndcg@0", "recall", "bleu@4", "p@x"):
        with pytest.raises(ConfigError):
            normalize_metric(bad)
