"""Document and query ids are validated where they enter (files, parquet, HF rows, BRIGHT examples, writers).

An id with a TAB, a newline or another control character, an empty id, or a query id with a space was
accepted and then written into TREC runs that no reader, ours included, could parse back (or parsed
back wrongly). Every reader now refuses such ids naming the file and line, every writer refuses them
before writing anything, and real BRIGHT ids (spaces, slashes) keep working.
"""

from __future__ import annotations

import json

import pytest

from reasonir.data import bright_from_examples, load_bright_local
from reasonir.errors import DataFormatError
from reasonir.index import IndexOptions, build_index
from reasonir.index.corpus import iter_documents, resolve_corpus
from reasonir.io import read_corpus, read_qrels, read_queries, read_run, write_corpus, write_qrels, write_run
from reasonir.trainio import example_from_record, read_train_examples
from reasonir.types import Document

# ids as they appear in a JSON value -> why they must be refused
BAD_DOC_IDS = {
    "empty": "",
    "tab": "a\tb",
    "newline": "a\nb",
    "carriage return": "a\rb",
    "leading space": " a",
    "trailing space": "a ",
    "NUL": "a\x00b",
    "escape": "a\x1bb",
    "line separator": "a\u2028b",
    "no-break space": "a\u00a0b",
    "unpaired surrogate": "a\ud800b",
    "boolean": True,
    "float": 1.5,
    "list": ["a"],
    "object": {"a": 1},
}
GOOD_DOC_IDS = ["pytorch_torch_tensor_functions/Memory Management_2_0.txt", "a b  c", "Ω/ünï", "0", 7]


def _jsonl(path, rows):
    # ensure_ascii keeps a lone surrogate as a \ud800 escape, which json.loads turns back into one
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("bad", list(BAD_DOC_IDS.values()), ids=list(BAD_DOC_IDS))
def test_corpus_jsonl_refuses_bad_doc_ids_naming_file_and_line(tmp_path, bad):
    p = _jsonl(tmp_path / "c.jsonl", [{"_id": "ok", "text": "x"}, {"_id": bad, "text": "y"}])
    with pytest.raises(DataFormatError, match=r"document id|unpaired surrogate") as err:
        read_corpus(p)
    assert str(err.value).startswith(f"{p}:2: ")


@pytest.mark.parametrize("good", GOOD_DOC_IDS)
def test_real_world_doc_ids_with_spaces_and_slashes_are_kept(tmp_path, good):
    p = _jsonl(tmp_path / "c.jsonl", [{"_id": good, "text": "y"}])
    assert read_corpus(p)[0].id == str(good)
    run = {"q1": {str(good): 1.5, "other": 0.5}}
    write_run(tmp_path / "r.trec", run)
    assert read_run(tmp_path / "r.trec") == run
    write_qrels(tmp_path / "q.txt", {"q1": {str(good): 1}})
    assert read_qrels(tmp_path / "q.txt") == {"q1": {str(good): 1}}


def test_parquet_corpus_refuses_a_tab_in_an_id_naming_the_row(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": ["a", "b\tc"], "text": ["x", "y"]}), tmp_path / "c.parquet")
    with pytest.raises(DataFormatError, match=r"c.parquet:2: document id 'b\\tc' contains a TAB"):
        read_corpus(tmp_path / "c.parquet")
    src = resolve_corpus(str(tmp_path / "c.parquet"))
    with pytest.raises(DataFormatError, match=r"c.parquet:2: document id"):
        list(iter_documents(src))


def test_hf_dataset_rows_are_validated(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"_id": ["a", "b\nc"], "text": ["x", "y"]}).save_to_disk(str(tmp_path / "ds"))
    src = resolve_corpus(f"hf:{tmp_path / 'ds'}")
    with pytest.raises(DataFormatError, match=r":2: document id 'b\\nc' contains a line break"):
        list(iter_documents(src))


def test_index_build_refuses_a_newline_id_before_indexing(tmp_path):
    p = _jsonl(tmp_path / "c.jsonl", [{"_id": "d1", "text": "cells"}, {"_id": "d\n2", "text": "more cells"}])
    with pytest.raises(DataFormatError, match=r"c.jsonl:2: document id 'd\\n2' contains a line break"):
        build_index(str(p), str(tmp_path / "idx"), IndexOptions(model="hash"))


def test_cli_index_build_reports_the_bad_id_in_one_line(tmp_path, capsys):
    from reasonir.cli import main
    p = _jsonl(tmp_path / "c.jsonl", [{"_id": "d1", "text": "cells"}, {"_id": "", "text": "more cells"}])
    assert main(["index", "build", str(p), str(tmp_path / "idx"), "--model", "hash"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{p}:2: document id '' is empty" in err[0]


@pytest.mark.parametrize("line, needle", [
    ('{"_id": "q 1", "text": "t"}', "query id 'q 1' contains a space"),
    ('{"_id": "", "text": "t"}', "query id '' is empty"),
    ('{"_id": "q\\u00a01", "text": "t"}', "contains whitespace other than a space"),
    ('{"_id": null, "qid": [1], "text": "t"}', "query id [1] is a list"),
])
def test_query_jsonl_ids_are_validated(tmp_path, line, needle):
    p = tmp_path / "q.jsonl"
    p.write_text('{"_id": "ok", "text": "t"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_queries(p)
    assert str(err.value).startswith(f"{p}:2: ") and needle in str(err.value)


def test_query_tsv_with_an_empty_id_is_refused(tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text("1\tfirst\n\tsecond\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"q.tsv:2: query id '' is empty"):
        read_queries(p)


@pytest.mark.parametrize("text, needle", [
    ("q1\t0\t\t1\n", "document id '' is empty"),
    ("q 1\t0\td\t1\n", "query id 'q 1' contains a space"),
    ("q1\t0\td\x0bx\t1\n", "contains a line break"),
])
def test_qrels_ids_are_validated(tmp_path, text, needle):
    p = tmp_path / "qrels.txt"
    p.write_text("q0\t0\td0\t1\n" + text, encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_qrels(p)
    assert str(err.value).startswith(f"{p}:2: ") and needle in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("q1\tQ0\t\t1\t0.5\tt\n", "document id '' is empty"),
    ("q 1\tQ0\td\t1\t0.5\tt\n", "query id 'q 1' contains a space"),
    ("q1 Q0 d\x00x 1 0.5 t\n", "contains a control character"),
    ("q1 Q0 d 1 nan t\n", "score 'nan' is not a finite number"),
    ("q1 Q0 d 1 -inf t\n", "score '-inf' is not a finite number"),
    ("q1 Q0 d 1 1e999 t\n", "is not a finite number (too large)"),
])
def test_run_lines_are_validated(tmp_path, text, needle):
    p = tmp_path / "r.trec"
    p.write_text("q0 Q0 d0 1 1.0 t\n" + text, encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_run(p)
    assert str(err.value).startswith(f"{p}:2: ") and needle in str(err.value)


@pytest.mark.parametrize("run, needle", [
    ({"q1": {"a\nb": 1.0}}, "document id 'a\\nb' contains a line break"),
    ({"q1": {"": 1.0}}, "document id '' is empty"),
    ({"q 1": {"d": 1.0}}, "query id 'q 1' contains a space"),
    ({"q1": {"d": float("nan")}}, "is not a finite number"),
])
def test_write_run_refuses_what_read_run_cannot_read_and_writes_nothing(tmp_path, run, needle):
    with pytest.raises(DataFormatError) as err:
        write_run(tmp_path / "r.trec", run)
    assert needle in str(err.value)
    assert not list(tmp_path.iterdir())


def test_writers_refuse_bad_ids_and_leave_no_file(tmp_path):
    with pytest.raises(DataFormatError, match="contains a TAB"):
        write_corpus(tmp_path / "c.jsonl", [Document("a", "x"), Document("b\tc", "y")])
    with pytest.raises(DataFormatError, match="contains a space"):
        write_qrels(tmp_path / "q.txt", {"q 1": {"d": 1}})
    assert not list(tmp_path.iterdir())


def test_bright_examples_validate_query_and_gold_ids(tmp_path):
    good = {"id": "0", "query": "why?", "gold_ids": ["a/b c.txt"], "excluded_ids": ["N/A"]}
    ds = bright_from_examples("biology", [good], None)
    assert ds.qrels == {"0": {"a/b c.txt": 1}} and ds.excluded_ids == {}
    with pytest.raises(DataFormatError, match=r"ex.jsonl:2: gold_ids entry 'x\\ty' contains a TAB"):
        bright_from_examples("biology", [good, {**good, "id": "1", "gold_ids": ["x\ty"]}], None, origin="ex.jsonl")
    # a string where a list belongs was iterated character by character
    with pytest.raises(DataFormatError, match=r"'gold_ids' must be a list"):
        bright_from_examples("biology", [{**good, "gold_ids": "a/b c.txt"}], None, origin="ex.jsonl")
    with pytest.raises(DataFormatError, match=r"query id 'q 0' contains a space"):
        bright_from_examples("biology", [{**good, "id": "q 0"}], None, origin="ex.jsonl")


def test_real_bright_files_pass_validation(bright_dir):
    for task in ("stackoverflow", "leetcode", "pony"):
        ds = load_bright_local(task, bright_dir)
        assert read_qrels(bright_dir / task / "qrels.txt") == ds.qrels
        run = read_run(bright_dir / "runs/reasonir-8b_gpt4-reasoning_top100" / f"{task}.txt")
        assert len(run) == len(ds.queries)


def test_training_rows_validate_tevatron_ids(tmp_path):
    row = {"query": "q", "query_id": "7", "positive_passages": [{"docid": 12, "text": "p"}]}
    assert example_from_record(row).metadata["pos_ids"] == ["12"]
    bad = {**row, "positive_passages": [{"docid": "a\nb", "text": "p"}]}
    p = _jsonl(tmp_path / "t.jsonl", [row, bad])
    with pytest.raises(DataFormatError, match=r"t.jsonl:2: positive_passages\[0\].docid 'a\\nb' contains a line"):
        read_train_examples(p)
    with pytest.raises(DataFormatError, match=r"query id 'q 7' contains a space"):
        example_from_record({**row, "query_id": "q 7"})


def test_id_checks_accept_integers_and_refuse_other_types():
    from reasonir.ids import check_doc_id, check_query_id
    assert check_doc_id(12) == "12" and check_query_id(0) == "0"
    with pytest.raises(DataFormatError, match=r"f.jsonl:3: document id True is a bool"):
        check_doc_id(True, "f.jsonl", 3)
    with pytest.raises(DataFormatError, match=r"query id 1\.0 is a float"):
        check_query_id(1.0)
