"""Training-data reader/writer: GritLM rows, plain strings, sentence-transformers and Tevatron forms."""

from __future__ import annotations

import gzip
import json

import pytest

from reasonir.errors import DataFormatError
from reasonir.trainio import (
    example_from_record,
    example_to_record,
    read_train_examples,
    write_sentence_transformers,
    write_train_examples,
)
from reasonir.types import TrainExample


def _write_lines(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_round_trip_keeps_instructions_and_provenance(tmp_path):
    exs = [
        TrainExample(query="why is the sky blue?", pos=["Rayleigh scattering ..."], neg=["Mie theory ..."],
                     query_instruction="Given a question, retrieve passages", doc_instruction="",
                     metadata={"source_doc_id": "d1", "generator": "scripted", "prompt_version": "hq-1"}),
        TrainExample(query="q2", pos=["p2a", "p2b"], neg=[]),
    ]
    path = tmp_path / "train.jsonl"
    assert write_train_examples(path, exs) == 2
    first = json.loads(path.read_text().splitlines()[0])
    assert first["query"] == ["Given a question, retrieve passages", "why is the sky blue?"]
    assert first["pos"] == [["", "Rayleigh scattering ..."]]
    assert first["neg"] == [["", "Mie theory ..."]]
    assert first["source_doc_id"] == "d1" and first["prompt_version"] == "hq-1"
    back = read_train_examples(path)
    assert [b.query for b in back] == ["why is the sky blue?", "q2"]
    assert back[0].query_instruction == "Given a question, retrieve passages"
    assert back[0].metadata == exs[0].metadata
    assert back[1].pos == ["p2a", "p2b"] and back[1].neg == []


def test_differing_item_instructions_round_trip(tmp_path):
    row = {"query": ["qi", "q"], "pos": [["a:", "p1"], ["b:", "p2"]], "neg": [["", "n1"]]}
    ex = example_from_record(row)
    assert ex.doc_instruction == "a:"
    assert example_to_record(ex) == row


def test_plain_string_forms():
    ex = example_from_record({"query": "q text", "pos": ["p1", "p2"], "neg": ["n1"]})
    assert (ex.query, ex.pos, ex.neg, ex.query_instruction) == ("q text", ["p1", "p2"], ["n1"], "")
    ex = example_from_record({"query": "q", "pos": "only positive"})
    assert ex.pos == ["only positive"] and ex.neg == []
    # a flat [instruction, text] pair with an empty instruction is one positive, not two
    ex = example_from_record({"query": "q", "pos": ["", "the doc"]})
    assert ex.pos == ["the doc"]


def test_sentence_transformers_columns():
    ex = example_from_record({"anchor": "a", "positive": "p", "negative_2": "n2", "negative_1": "n1",
                              "extra": 3})
    assert ex.query == "a" and ex.pos == ["p"] and ex.neg == ["n1", "n2"] and ex.metadata == {"extra": 3}
    ex = example_from_record({"query": "a", "positive": "p", "negative": "n"})
    assert ex.neg == ["n"]


def test_tevatron_rows():
    row = {"query_id": "7", "query": "what?",
           "positive_passages": [{"docid": "d1", "title": "T", "text": "body"}],
           "negative_passages": [{"docid": "d9", "title": "", "text": "other"}]}
    ex = example_from_record(row)
    assert ex.pos == ["T body"] and ex.neg == ["other"]
    assert ex.metadata["pos_ids"] == ["d1"] and ex.metadata["neg_ids"] == ["d9"]
    assert ex.metadata["query_id"] == "7"


@pytest.mark.parametrize("row, field", [
    ({"query": ["i", "q"], "pos": []}, "pos"),
    ({"query": ["i", "q"], "pos": [["", "p"]], "neg": [["", 5]]}, "neg[0]"),
    ({"query": 3, "pos": ["p"]}, "query"),
    ({"query": ["i", "  "], "pos": ["p"]}, "query"),
    ({"pos": ["p"]}, "query"),
    ({"anchor": "a", "positive": 1}, "positive"),
    ({"query": "q", "positive_passages": [{"docid": "x"}]}, "positive_passages"),
    ({"text": "nothing useful"}, "unrecognised"),
])
def test_errors_name_file_line_and_field(tmp_path, row, field):
    path = _write_lines(tmp_path / "bad.jsonl", [{"query": "ok", "pos": ["fine"]}, row])
    with pytest.raises(DataFormatError) as err:
        read_train_examples(path)
    msg = str(err.value)
    assert f"{path}:2:" in msg and field in msg
    assert err.value.line == 2


def test_invalid_json_line_reported(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"query": "q", "pos": ["p"]}\n{"query": \n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"t\.jsonl:2"):
        read_train_examples(path)


def test_folder_gzip_and_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    d = tmp_path / "data"
    d.mkdir()
    _write_lines(d / "a.jsonl", [{"query": "q1", "pos": ["p1"]}])
    with gzip.open(d / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"anchor": "q2", "positive": "p2"}) + "\n")
    exs = [TrainExample(query="q3", pos=["p3"], neg=["n3"])]
    st = write_sentence_transformers(d / "c.parquet", exs)
    assert st == {"written": 1, "skipped": 0, "num_negatives": 1}
    (d / "notes.txt").write_text("ignored")
    got = read_train_examples(d)
    assert [e.query for e in got] == ["q1", "q2", "q3"]
    assert got[2].neg == ["n3"]


def test_sentence_transformers_export_has_uniform_columns(tmp_path):
    exs = [TrainExample(query="q1", pos=["p1"], neg=["a", "b"], query_instruction="I: "),
           TrainExample(query="q2", pos=["p2"], neg=["c"]),
           TrainExample(query="q3", pos=["p3"], neg=[])]
    path = tmp_path / "st.jsonl"
    assert write_sentence_transformers(path, exs)["num_negatives"] == 0
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert all(set(r) == {"anchor", "positive"} for r in rows) and len(rows) == 3
    res = write_sentence_transformers(path, exs, num_negatives=2, with_instructions=True)
    assert res == {"written": 1, "skipped": 2, "num_negatives": 2}
    row = json.loads(path.read_text())
    assert row == {"anchor": "I: q1", "positive": "p1", "negative_1": "a", "negative_2": "b"}
    assert read_train_examples(path)[0].neg == ["a", "b"]


def test_writer_rejects_examples_without_positive_and_leaves_no_file(tmp_path):
    path = tmp_path / "out.jsonl"
    with pytest.raises(DataFormatError, match="example 1"):
        write_train_examples(path, [TrainExample(query="q", pos=["p"]), TrainExample(query="q", pos=[])])
    assert not path.exists()


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_train_examples(tmp_path / "nope.jsonl")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no training files"):
        read_train_examples(tmp_path / "empty")
