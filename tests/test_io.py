import gzip
import json

import pytest

from reasonir.errors import DataFormatError
from reasonir.io import (atomic_write, read_corpus, read_qrels, read_queries, read_run, write_corpus,
                         write_qrels, write_run)
from reasonir.types import Document


def _write(path, text, mode="w"):
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_corpus_accepts_field_variants(tmp_path):
    p = _write(tmp_path / "c.jsonl",
               '{"_id": "a", "title": "T", "text": "x"}\n'
               '{"id": 2, "contents": "y"}\n'
               '\n'
               '{"docid": "c d/e f.txt", "content": "z", "lang": "en"}\n')
    docs = read_corpus(p)
    assert [d.id for d in docs] == ["a", "2", "c d/e f.txt"]
    assert docs[0].full_text == "T x" and docs[1].text == "y" and docs[2].metadata == {"lang": "en"}


def test_corpus_gzip_and_roundtrip(tmp_path):
    docs = [Document("1", "héllo wörld", "t"), Document("x y", "two", "", {"k": 1})]
    write_corpus(tmp_path / "c.jsonl", docs)
    raw = (tmp_path / "c.jsonl").read_bytes()
    (tmp_path / "c.jsonl.gz").write_bytes(gzip.compress(raw))
    assert read_corpus(tmp_path / "c.jsonl.gz") == docs
    assert read_corpus(tmp_path / "c.jsonl")[1].metadata == {"k": 1}


@pytest.mark.parametrize("content, needle", [
    ('{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y"\n', ":2: invalid JSON"),
    ('{"_id": "a", "text": "x"}\n{"title_only": 1, "text": "y"}\n', ":2: record has no document id"),
    ('{"_id": "a"}\n', ":1: document 'a' has no text"),
    ('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n', ":2: duplicate document id 'a' (first seen at line/row 1)"),
    ('[1, 2]\n', ":1: expected a JSON object"),
])
def test_corpus_errors_name_file_line_and_fix(tmp_path, content, needle):
    p = _write(tmp_path / "bad.jsonl", content)
    with pytest.raises(DataFormatError) as err:
        read_corpus(p)
    assert str(p) + needle in str(err.value)


def test_non_utf8_is_reported_with_line(tmp_path):
    p = _write(tmp_path / "latin.jsonl", b'{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "caf\xe9"}\n', "wb")
    with pytest.raises(DataFormatError) as err:
        read_corpus(p)
    msg = str(err.value)
    assert f"{p}:2:" in msg and "not valid UTF-8" in msg and "iconv" in msg


def test_missing_corpus_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(FileNotFoundError, match="corpus.jsonl"):
        read_corpus(tmp_path / "empty_dir")


def test_parquet_corpus(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"id": ["1", "2"], "content": ["a", "b"], "title": ["", "T"]}), tmp_path / "c.parquet")
    docs = read_corpus(tmp_path / "c.parquet")
    assert [(d.id, d.text, d.title) for d in docs] == [("1", "a", ""), ("2", "b", "T")]
    pq.write_table(pa.table({"id": ["1", "1"], "content": ["a", "b"]}), tmp_path / "d.parquet")
    with pytest.raises(DataFormatError, match="duplicate document id"):
        read_corpus(tmp_path / "d.parquet")


def test_queries_jsonl_and_tsv(tmp_path):
    j = _write(tmp_path / "q.jsonl", '{"_id": "1", "text": "a"}\n{"query_id": 2, "query": "b"}\n')
    assert read_queries(j) == {"1": "a", "2": "b"}
    t = _write(tmp_path / "q.tsv", "1\thello world\n2\tx\ty\n")
    assert read_queries(t) == {"1": "hello world", "2": "x\ty"}
    dup = _write(tmp_path / "d.jsonl", '{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n')
    with pytest.raises(DataFormatError, match=r"d.jsonl:2: duplicate query id '1' \(first at line 1\)"):
        read_queries(dup)


def test_qrels_tab_space_and_beir_header(tmp_path):
    trec_tab = _write(tmp_path / "a.txt", "q1\t0\tdoc with space.txt\t1\nq1\t0\td2\t2\n")
    trec_space = _write(tmp_path / "b.txt", "q1 0 doc with space.txt 1\nq1 0 d2 2\n")
    beir = _write(tmp_path / "c.tsv", "query-id\tcorpus-id\tscore\nq1\tdoc with space.txt\t1\nq1\td2\t2\n")
    expected = {"q1": {"doc with space.txt": 1, "d2": 2}}
    assert read_qrels(trec_tab) == read_qrels(trec_space) == read_qrels(beir) == expected
    write_qrels(tmp_path / "out.txt", expected)
    assert read_qrels(tmp_path / "out.txt") == expected
    bad = _write(tmp_path / "bad.txt", "q1\t0\td1\tyes\n")
    with pytest.raises(DataFormatError, match=r"bad.txt:1: relevance 'yes' is not a number"):
        read_qrels(bad)


def test_run_with_spaces_in_doc_ids_roundtrip(tmp_path):
    run = {"4": {"pytorch_torch_tensor_functions/Memory Management_2_0.txt": 0.6, "b": 0.5, "c": 0.5}}
    write_run(tmp_path / "r.trec", run, tag="t")
    lines = (tmp_path / "r.trec").read_text().splitlines()
    assert lines[0] == "4 Q0 pytorch_torch_tensor_functions/Memory Management_2_0.txt 1 0.600000024 t" or \
        lines[0].startswith("4 Q0 pytorch_torch_tensor_functions/Memory Management_2_0.txt 1 0.6")
    assert [ln.split()[2] for ln in lines[1:]] == ["b", "c"]          # ties broken by doc id
    assert read_run(tmp_path / "r.trec") == run
    bad = _write(tmp_path / "bad.trec", "1 Q0 d 1 notanumber tag\n")
    with pytest.raises(DataFormatError, match="bad.trec:1: score 'notanumber' is not a number"):
        read_run(bad)
    short = _write(tmp_path / "short.trec", "1 Q0 d 1\n")
    with pytest.raises(DataFormatError, match="short.trec:1: expected 6 columns"):
        read_run(short)


def test_real_bright_stackoverflow_files(bright_dir):
    run = read_run(bright_dir / "runs/reasonir-8b_gpt4-reasoning_top100/stackoverflow.txt")
    assert "pytorch_torch_tensor_functions/Memory Management_2_0.txt" in run["4"]
    assert all(len(docs) == 100 for docs in run.values())
    qrels = read_qrels(bright_dir / "stackoverflow/qrels.txt")
    assert len(qrels) == 117 and qrels["0"]["snowflake_docs/flatten_6_1.txt"] == 1


def test_atomic_write_leaves_old_content_on_failure(tmp_path):
    target = tmp_path / "f.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write("half")
            raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    with atomic_write(target) as fh:
        json.dump({"a": 1}, fh)
    assert json.loads(target.read_text()) == {"a": 1}


def test_atomic_write_uses_normal_permissions(tmp_path):
    import os

    from reasonir import io as rio
    with atomic_write(tmp_path / "f.txt") as fh:
        fh.write("x")
    assert (os.stat(tmp_path / "f.txt").st_mode & 0o777) == 0o666 & ~rio._UMASK


@pytest.mark.parametrize("raw, message", [
    (b'{"a": 1,\n "b": }', "invalid JSON (Expecting value at line 2 column 7)"),
    (b"[1, 2]", "expected an index config, got list"),
    (b'{"a": "\xff"}', "byte 7 is not valid UTF-8"),
])
def test_read_json_object_names_the_file_and_the_fault(tmp_path, raw, message):
    from reasonir.io import read_json_object

    path = _write(tmp_path / "config.json", raw, "wb")
    with pytest.raises(DataFormatError) as err:
        read_json_object(path, "an index config")
    assert message in str(err.value) and str(path) in str(err.value)


def test_read_json_object_reads_an_object_with_a_bom(tmp_path):
    from reasonir.io import read_json_object

    path = _write(tmp_path / "meta.json", "\ufeff" + json.dumps({"k1": 0.9, "ids": ["a"]}))
    assert read_json_object(path) == {"k1": 0.9, "ids": ["a"]}
