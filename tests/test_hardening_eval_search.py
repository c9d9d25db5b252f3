"""Evaluation and search outputs never go quietly wrong.

* a run and qrels that share no query, or qrels without a positive grade, are an error in
  :func:`reasonir.evaluate.evaluate` (so every command that evaluates refuses them), a partial
  overlap is a warning with the counts;
* non-finite numbers in user inputs (TREC run scores, ``search --weights``) are refused;
* a batch ``search`` without ``--out``/``--qrels`` prints its run on stdout;
* metrics deeper than the run (``search -k``, ``retrieve/rerank --top-k``) are not reported, and a
  run file shallower than a metric's cutoff is warned about.
"""

from __future__ import annotations

import json
import logging

import pytest

from reasonir.cli import main
from reasonir.errors import ConfigError, DataFormatError
from reasonir.evaluate import evaluate
from reasonir.io import read_run, write_run
from reasonir.rerank import PairScore
from reasonir.workflows.rerank import RerankConfig, run_rerank

TOPICS = ["white matter in the newborn brain", "cancer cells divide quickly", "plants make sugar from light",
          "stock market news today", "telescopes observe distant stars", "protein folding inside cells"]
QUERIES = {"q0": "newborn brain white matter", "q1": "cancer cells", "q2": "plants sugar light"}


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny corpus (18 documents), its hash+BM25 index, queries and qrels."""
    root = tmp_path_factory.mktemp("evalsearch")
    docs = [{"_id": f"d{i}", "text": f"{TOPICS[i % len(TOPICS)]} (copy {i})"} for i in range(18)]
    (root / "c.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (root / "q.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    (root / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\n")
    assert main(["-q", "index", "build", str(root / "c.jsonl"), str(root / "idx"), "--model", "hash", "--bm25"]) == 0
    return root


# ------------------------------------------------------------------------------------------------
# item 3: no overlap / no positive judgement is an error; partial overlap is a warning
# ------------------------------------------------------------------------------------------------
def test_evaluate_refuses_a_run_and_qrels_that_share_no_query():
    with pytest.raises(DataFormatError, match="share no query") as err:
        evaluate({"q1": {"a": 1}}, {"other": {"a": 1.0}}, "ndcg@10")
    assert "other" in str(err.value) and "q1" in str(err.value)
    # a shared query whose judgements are all negative does not count as overlap either
    with pytest.raises(DataFormatError, match="share no query"):
        evaluate({"q1": {"a": 1}, "q2": {"b": 0}}, {"q2": {"b": 1.0}}, "ndcg@10")


@pytest.mark.parametrize("qrels,what", [({}, "the qrels are empty"),
                                        ({"q1": {"a": 0, "b": -1}}, "2 judgement(s), none with a grade above 0")])
def test_evaluate_refuses_qrels_without_a_positive_judgement(qrels, what):
    with pytest.raises(DataFormatError, match="no positive judgement") as err:
        evaluate(qrels, {"q1": {"a": 1.0}}, "ndcg@10")
    assert what in str(err.value)


def test_evaluate_warns_about_a_partial_overlap_with_counts(caplog):
    with caplog.at_level(logging.WARNING, logger="reasonir.evaluate"):
        res = evaluate({"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 1}}, {"q1": {"a": 1.0}, "zz": {"a": 1.0}},
                       "ndcg@10")
    assert res.mean["ndcg@10"] == pytest.approx(1 / 3)
    text = caplog.text
    assert "2 of 3 judged queries have no results" in text and "q2, q3" in text
    assert "1 of 2 run queries have no judgements" in text


def test_evaluate_refuses_a_nan_score_in_memory():
    with pytest.raises(DataFormatError, match="NaN"):
        evaluate({"q1": {"a": 1}}, {"q1": {"a": float("nan"), "b": 1.0}}, "ndcg@10")


def test_cli_evaluate_against_empty_or_disjoint_qrels_exits_2(capsys, tmp_path):
    write_run(tmp_path / "r.trec", {"q1": {"a": 2.0, "b": 1.0}})
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "other.txt").write_text("q9 0 a 1\n")
    for qrels, message in (("empty.txt", "no positive judgement"), ("other.txt", "share no query")):
        code, out, err = _cli(capsys, "evaluate", "--qrels", str(tmp_path / qrels), "--run", str(tmp_path / "r.trec"))
        assert code == 2 and out == ""
        assert err.startswith("reasonir evaluate: error: ") and message in err and "Traceback" not in err
        assert str(tmp_path / qrels) in err and str(tmp_path / "r.trec") in err


def test_search_with_qrels_without_positive_grade_exits_2(capsys, files):
    (files / "zero.tsv").write_text("q0\td0\t0\n")
    code, out, err = _cli(capsys, "search", str(files / "idx"), "--queries", str(files / "q.jsonl"),
                          "--qrels", str(files / "zero.tsv"), "--retriever", "bm25")
    assert code == 2 and "no positive judgement" in err and "ndcg" not in out


# ------------------------------------------------------------------------------------------------
# item 3: non-finite numbers in CLI inputs
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("score", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_read_run_refuses_non_finite_scores_naming_file_and_line(tmp_path, score):
    path = tmp_path / "r.trec"
    path.write_text(f"q1 Q0 a 1 2.0 t\nq1 Q0 b 2 {score} t\n")
    with pytest.raises(DataFormatError, match="not a finite number") as err:
        read_run(path)
    assert err.value.path == str(path) and err.value.line == 2


def test_cli_evaluate_run_with_nan_score_exits_2(capsys, tmp_path):
    (tmp_path / "r.trec").write_text("q1 Q0 a 1 nan t\n")
    (tmp_path / "qrels.txt").write_text("q1 0 a 1\n")
    code, _, err = _cli(capsys, "evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run", str(tmp_path / "r.trec"))
    assert code == 2 and f"{tmp_path / 'r.trec'}:1: score 'nan' is not a finite number" in err


@pytest.mark.parametrize("spec", ["nan,1", "1,inf", "1,-inf", "1,NaN"])
def test_search_refuses_non_finite_hybrid_weights(capsys, files, spec):
    from reasonir.workflows.search import hybrid_weights

    with pytest.raises(ConfigError, match="finite"):
        hybrid_weights(spec)
    code, out, err = _cli(capsys, "search", str(files / "idx"), "newborn brain", "--weights", spec)
    assert code == 2 and out == "" and f"--weights {spec!r}" in err and "finite" in err
    assert hybrid_weights("0.3,0.7") == (0.3, 0.7) and hybrid_weights(None) == (0.5, 0.5)


# ------------------------------------------------------------------------------------------------
# item 4: batch search output goes somewhere; metrics deeper than the run are not reported
# ------------------------------------------------------------------------------------------------
def test_batch_search_without_out_prints_the_run_on_stdout(capsys, files, tmp_path):
    base = ["search", str(files / "idx"), "--queries", str(files / "q.jsonl"), "--retriever", "bm25", "-k", "4"]
    code, out, err = _cli(capsys, *base)
    assert code == 0 and "-> stdout" in err
    assert main(["-q", *base, "--out", str(tmp_path / "run.trec")]) == 0
    capsys.readouterr()
    assert out == (tmp_path / "run.trec").read_text()          # the same bytes --out writes
    run = read_run(tmp_path / "run.trec")
    assert set(run) == set(QUERIES) and max(len(d) for d in run.values()) == 4

    code, out, _ = _cli(capsys, *base, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["query_id"] for r in rows] == list(run)
    for row in rows:
        docs = run[row["query_id"]]
        assert [h["rank"] for h in row["results"]] == list(range(1, len(docs) + 1))
        assert [h["id"] for h in row["results"]] == sorted(docs, key=lambda d: (-docs[d], d))


def test_search_with_qrels_does_not_report_metrics_deeper_than_k(capsys, caplog, files):
    base = ["search", str(files / "idx"), "--queries", str(files / "q.jsonl"), "--qrels", str(files / "qrels.tsv"),
            "--retriever", "bm25", "-k", "3"]
    with caplog.at_level(logging.WARNING, logger="reasonir.evaluate"):
        code, out, err = _cli(capsys, *base, "--metrics", "ndcg@3,recall@100,mrr", "--json")
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0 and "ndcg@3" in summary and "mrr" in summary and "recall@100" not in summary
    assert summary["skipped_metrics"] == ["recall@100"]
    assert "not reporting recall@100" in caplog.text and "cut at 3 documents per query" in caplog.text
    # nothing measurable at that depth: refused before searching, naming the metric and the depth
    code, out, err = _cli(capsys, *base, "--metrics", "recall@100")
    assert code == 2 and out == "" and "recall@100" in err and "the 3 documents per query" in err
    assert "--metrics ndcg@3" in err


def test_metrics_for_depth_is_the_one_rule():
    from reasonir.evaluate import metrics_for_depth

    assert metrics_for_depth("ndcg@10,recall@100,mrr,map,oracle_ndcg@10", 10) == (
        ["ndcg@10", "mrr", "map", "oracle_ndcg@10"], ["recall@100"])
    assert metrics_for_depth("recall@100", None) == (["recall@100"], [])
    with pytest.raises(ConfigError, match="every requested metric"):
        metrics_for_depth("ndcg@10,recall@100", 5)
    with pytest.raises(ConfigError, match="at least 1"):
        metrics_for_depth("mrr", 0)
    res = evaluate({"q": {"a": 1}}, {"q": {"a": 2.0, "b": 1.0}}, "ndcg@2,recall@100", depth=2)
    assert res.metrics == ["ndcg@2"] and set(res.mean) == {"ndcg@2"} and res.skipped_metrics == ["recall@100"]
    assert res.to_dict()["skipped_metrics"] == ["recall@100"]


def test_evaluate_warns_when_a_run_file_is_shallower_than_a_cutoff(capsys, caplog, tmp_path):
    write_run(tmp_path / "r.trec", {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"x": 1.0}})
    (tmp_path / "qrels.txt").write_text("q1 0 b 1\nq2 0 x 1\n")
    with caplog.at_level(logging.WARNING, logger="reasonir.evaluate"):
        code, out, _ = _cli(capsys, "evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run",
                            str(tmp_path / "r.trec"), "--metrics", "ndcg@3,recall@10", "--json")
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["recall@10"] == 1.0   # still computed
    assert "at most 3 documents per query" in caplog.text and "cutoff of recall@10:" in caplog.text


def test_retrieve_refuses_metrics_deeper_than_top_k_before_any_work(capsys, tmp_path):
    code, _, err = _cli(capsys, "retrieve", "--dataset", f"beir:{tmp_path / 'not-loaded'}", "--top-k", "5")
    assert code == 2 and "every requested metric" in err and "5 documents per query" in err


class _Length:
    """A reranker scoring a document by its length (no model)."""

    name = "length"

    def __init__(self):
        self.pairs = 0

    def score(self, pairs):
        self.pairs += len(pairs)
        return [PairScore(score=float(len(d))) for _, d in pairs]


@pytest.fixture()
def beir(tmp_path):
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": "x" * (i + 1)}) + "\n"
                                               for i in range(6)))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": q}) + "\n" for q in ("q1", "q2")))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td5\t1\nq2\td4\t1\n")
    write_run(tmp_path / "first.trec", {q: {f"d{i}": 1.0 / (i + 1) for i in range(6)} for q in ("q1", "q2")})
    return root


def test_rerank_does_not_report_metrics_deeper_than_top_k(beir, tmp_path):
    cfg = RerankConfig(run=str(tmp_path / "first.trec"), dataset=f"beir:{beir}", top_k=3,
                       metrics="ndcg@3,recall@100", out=str(tmp_path / "rr.trec"))
    out = run_rerank(cfg, reranker=_Length())
    assert out.skipped_metrics == ["recall@100"]
    assert all(set(m) == {"ndcg@3"} for m in out.metrics.values())
    assert json.loads((tmp_path / "rr.trec.metrics.json").read_text())["skipped_metrics"] == ["recall@100"]


def test_rerank_refuses_before_reranking_when_no_metric_fits_or_no_query_matches(beir, tmp_path):
    reranker = _Length()
    cfg = RerankConfig(run=str(tmp_path / "first.trec"), dataset=f"beir:{beir}", top_k=3)   # default metrics @10+
    with pytest.raises(ConfigError, match="every requested metric"):
        run_rerank(cfg, reranker=reranker)
    write_run(tmp_path / "other.trec", {"zz": {"d1": 1.0}})
    cfg = RerankConfig(run=str(tmp_path / "other.trec"), dataset=f"beir:{beir}", top_k=3, metrics="ndcg@3")
    with pytest.raises(DataFormatError, match="no query of the run"):
        run_rerank(cfg, reranker=reranker)
    assert reranker.pairs == 0
