"""Metadata filters: the parser, its semantics, the Milvus translation, and filtered search on the local store."""

from __future__ import annotations

import numpy as np
import pytest
from filter_strategies import docs_st, reference, render, trees
from hypothesis import HealthCheck, given, settings

from reasonir.index import Index
from reasonir.index.filters import (
    BoolOp,
    Compare,
    FilterError,
    In,
    Not,
    filter_fields,
    matches,
    parse_filter,
    to_milvus,
)


# --------------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ('source == "pubmed"', Compare("source", "==", "pubmed")),
    ("year>=2020", Compare("year", ">=", 2020)),
    ("score < -1.5e2", Compare("score", "<", -150.0)),
    ("a.b.c != 'x\\'y'", Compare("a.b.c", "!=", "x'y")),
    ("flag == TRUE", Compare("flag", "==", True)),
    ('lang in ["en", "de",]', In("lang", ("en", "de"))),
    ("n not in [1, 2.5, false]", In("n", (1, 2.5, False), negate=True)),
    ("not x == 1", Not(Compare("x", "==", 1))),
    ("a == 1 or b == 2 and c == 3", BoolOp("or", (Compare("a", "==", 1),
                                                   BoolOp("and", (Compare("b", "==", 2), Compare("c", "==", 3)))))),
    ("(a == 1 or b == 2) and not (c == 3)", BoolOp("and", (BoolOp("or", (Compare("a", "==", 1), Compare("b", "==", 2))),
                                                           Not(Compare("c", "==", 3))))),
])
def test_parse_good_expressions(text, want):
    assert parse_filter(text) == want


@pytest.mark.parametrize("text, column, fragment", [
    ("", 1, "empty filter"),
    ("year = 2020", 6, "use =="),
    ("year >= ", 9, "expected a value"),
    ("year 2020", 6, "expected an operator"),
    ('(a == 1 or b == "x"', 20, "')' to close the '(' at column 1"),
    ('a == "abc', 6, "unterminated string"),
    ('a == "x\\q"', 8, "unknown escape"),
    ("a == 1 b == 2", 8, "expected and, or or the end"),
    ("a in []", 6, "empty list"),
    ("a in [1 2]", 9, "',' or ']'"),
    ("a not == 1", 7, "in after not"),
    ("== 1", 1, "expected a field name"),
    ("a == 1e999", 6, "out of range"),
    ("a == 1 && b == 2", 8, "unexpected character '&'"),
    ("a == b", 6, "expected a value"),
])
def test_parse_errors_name_the_column(text, column, fragment):
    with pytest.raises(FilterError) as err:
        parse_filter(text)
    assert err.value.column == column, str(err.value)
    assert fragment in str(err.value) and f"column {column}" in str(err.value)


def test_fields_flatten_the_metadata_object_and_nested_objects():
    meta = {"year": 2021, "metadata": {"lang": "en", "year": 1999, "x": {"y": 1}}, "none": None, "tags": ["a"]}
    assert filter_fields(meta) == {"year": 2021, "lang": "en", "x.y": 1}             # lists are not filterable


def test_semantics_missing_types_and_negation():
    doc = {"year": 2021, "src": "pubmed", "flag": True, "tags": ["a"]}
    assert matches(parse_filter("year >= 2020 and src == 'pubmed'"), doc)
    assert not matches(parse_filter("missing == 1"), doc)
    assert not matches(parse_filter("missing != 1"), doc)                 # missing: every comparison is false
    assert matches(parse_filter("not missing == 1"), doc)                 # ... and not negates plainly
    assert not matches(parse_filter("missing not in [1]"), doc)
    assert not matches(parse_filter("year == '2021'"), doc)               # a string never equals a number
    assert matches(parse_filter("year != '2021'"), doc)
    assert not matches(parse_filter("src < 5"), doc)
    assert matches(parse_filter("flag == 1 and flag == true and flag > 0"), doc)   # booleans are 1/0
    assert not matches(parse_filter("tags == 'a'"), doc) and not matches(parse_filter("tags != 'a'"), doc)
    assert matches(parse_filter("src in ['x', 'pubmed'] and year not in [1, 2]"), doc)
    assert matches(parse_filter("src < 'q' and src >= 'pubmed'"), doc)


def test_milvus_translation_quotes_and_pushes_negations_down():
    expr = to_milvus(parse_filter('src == "a\\"b\\\\c\\n" and not (n in [1, 2.5, true]) or k != 3'))
    assert expr == ('(((exists meta["src"] and meta["src"] == "a\\"b\\\\c\\n") and '
                    '(not exists meta["n"] or (meta["n"] != 1 and meta["n"] != 2.5 and meta["n"] != true))) or '
                    '(exists meta["k"] and meta["k"] != 3))')
    assert to_milvus(parse_filter("not (a < 1 or b >= 'x')")) == (
        '((not exists meta["a"] or meta["a"] >= 1 or meta["a"] >= "") and '
        '(not exists meta["b"] or meta["b"] < "x" or meta["b"] < 0 or meta["b"] >= 0))')


# --------------------------------------------------------------------------------------------------
# property: parse(render(tree)) == tree, and the column evaluator agrees with an independent reference
# --------------------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, docs_st)
def test_property_round_trip_and_reference_semantics(tree, docs):
    assert parse_filter(render(tree)) == tree
    for doc in docs:
        assert matches(tree, doc) == reference(tree, doc), (render(tree), doc)


# --------------------------------------------------------------------------------------------------
# filtered search on the local store, every mode
# --------------------------------------------------------------------------------------------------
MODES = ("dense", "bm25", "bm25q", "hybrid")


def corpus(n: int = 60) -> list[dict]:
    return [{"_id": f"d{i}", "text": f"water ice floats and melts {'rust iron' * (i % 4)} note {i}",
             "year": 2000 + i % 30, "source": "pubmed" if i % 3 == 0 else "arxiv",
             **({"metadata": {"lang": "de"}} if i % 10 == 0 else {})} for i in range(n)]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    with Index.build(corpus(), tmp_path_factory.mktemp("filt") / "idx", model="hash", bm25=True) as idx:
        yield idx


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("flt", ['source == "pubmed" and year >= 2010', "lang == 'de'",
                                 "not (year < 2025) or source != 'arxiv'", "nothing == 1"])
def test_only_matching_documents_and_k_of_them(index, mode, flt):
    docs = {d["_id"]: d for d in corpus()}
    expr = parse_filter(flt)
    allowed = {i for i, d in docs.items() if matches(expr, {k: v for k, v in d.items() if k not in ("_id", "text")})}
    for k in (3, 100):
        hits = index.search("water ice floats", k=k, mode=mode, filter=flt)
        ids = [h.id for h in hits]
        assert set(ids) <= allowed, (flt, mode)
        assert len(ids) == min(k, len(allowed))     # every document holds the query terms, so BM25 finds all
        if mode == "dense":                          # the filtered ranking is the unfiltered one, restricted
            full = [h.id for h in index.search("water ice floats", k=100, mode="dense")]
            assert ids == [i for i in full if i in allowed][:k]


def test_filter_errors_and_batch_and_runs(index):
    with pytest.raises(FilterError, match="column 6"):
        index.search("water", filter="year = 1")
    batch = index.search(["water", "rust iron"], k=4, mode="hybrid", filter="year < 2003")
    assert [len(h) for h in batch] == [4, 4] and all(h.metadata["year"] < 2003 for hs in batch for h in hs)
    run = index.search_run({"q1": "water"}, k=50, mode="bm25", filter="source == 'pubmed'")
    assert run["q1"] and all(int(d[1:]) % 3 == 0 for d in run["q1"])


def test_filters_follow_adds_and_deletes(tmp_path):
    with Index.build(corpus(20), tmp_path / "idx", model="hash", bm25=True) as idx:
        assert {h.id for h in idx.search("water", k=50, mode="dense", filter="year == 2005")} == {"d5"}
        idx.add([{"_id": "new", "text": "water again", "year": 2005}])
        idx.delete("d5")
        for mode in MODES:
            assert {h.id for h in idx.search("water", k=50, mode=mode, filter="year == 2005")} == {"new"}


def test_filter_with_an_ann_index(tmp_path):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(200)]
    docs = [{"_id": f"d{i}", "text": " ".join(rng.choice(words, 20)), "bucket": i % 50, "half": i % 2}
            for i in range(2000)]
    with Index.build(docs, tmp_path / "idx", model="hash", bm25=False, ann="hnsw") as idx:
        q = docs[7]["text"]
        for flt, n_match in (("bucket == 7", 40), ("half == 1", 1000)):     # selective: exact subset; broad: wider pool
            hits = idx.search(q, k=10, mode="dense", filter=flt)
            exact = idx.search(q, k=10, mode="dense", filter=flt, exact=True)
            assert len(hits) == 10 and all(idx.get(h.id).metadata[flt.split()[0]] == int(flt.split()[-1])
                                           for h in hits)
            assert len({h.id for h in hits} & {h.id for h in exact}) >= 8
        assert [h.id for h in idx.search(q, k=1, mode="dense", filter="bucket == 7")] == ["d7"]


def test_cli_search_with_filter_single_and_batch(tmp_path, capsys):
    import json

    from reasonir.cli import main

    (tmp_path / "c.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus(40)))
    idx = str(tmp_path / "idx")
    assert main(["index", "build", str(tmp_path / "c.jsonl"), idx, "--model", "hash", "--json"]) == 0
    capsys.readouterr()
    assert main(["search", idx, "water ice", "-k", "5", "--retriever", "hybrid", "--json",
                 "--filter", "source == 'pubmed' and year >= 2010"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"]
    want = {f"d{i}" for i in range(40) if i % 3 == 0 and 2000 + i % 30 >= 2010}
    assert len(res) == 5 and {r["id"] for r in res} <= want
    (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "water"}\n{"_id": "q2", "text": "rust iron"}\n')
    assert main(["search", idx, "--queries", str(tmp_path / "q.jsonl"), "--out", str(tmp_path / "run.trec"),
                 "--retriever", "bm25", "-k", "100", "--filter", "lang == 'de'"]) == 0
    lines = [ln.split() for ln in (tmp_path / "run.trec").read_text().splitlines()]
    assert {ln[2] for ln in lines} <= {"d0", "d10", "d20", "d30"} and {ln[0] for ln in lines} == {"q1", "q2"}
    assert main(["search", idx, "water", "--filter", "year >> 3"]) == 2
    assert "column 7" in capsys.readouterr().err


def test_a_store_from_before_the_fields_table_is_filtered_and_filled_in(tmp_path):
    import sqlite3

    with Index.build(corpus(20), tmp_path / "idx", model="hash", bm25=True):
        pass
    conn = sqlite3.connect(tmp_path / "idx" / "docs.sqlite")
    conn.executescript("DROP TABLE fields; PRAGMA user_version=0;")
    conn.close()
    with Index.open(tmp_path / "idx") as idx:                           # a reader parses the metadata column
        assert {h.id for h in idx.search("water", k=50, mode="bm25", filter="lang == 'de'")} == {"d0", "d10"}
        idx.add([{"_id": "x", "text": "water", "metadata": {"lang": "de"}}])   # a writer fills the table in
        assert {h.id for h in idx.search("water", k=50, mode="dense", filter="lang == 'de'")} == {"d0", "d10", "x"}
    conn = sqlite3.connect(tmp_path / "idx" / "docs.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM fields WHERE name = 'lang'").fetchone()[0] == 3
    conn.close()
