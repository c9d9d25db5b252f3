"""TSV collections (pyserini's and MS MARCO's ``id<TAB>text``) are accepted wherever a corpus path is."""

from __future__ import annotations

import gzip

import pytest

from reasonir.cli import main
from reasonir.errors import DataFormatError
from reasonir.index import Index
from reasonir.index.corpus import iter_documents, resolve_corpus
from reasonir.io import read_corpus
from reasonir.types import Document

LINES = ["0\tIce floats because it is less dense than liquid water.",
         "1\tSalt dissolves in water.",
         "",
         "doc-2\tA text\twith a TAB inside stays whole."]


def _write(path, lines):
    data = "\n".join(lines) + "\n"
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["collection.tsv", "collection.tsv.gz"])
def test_read_corpus_reads_id_tab_text(tmp_path, name):
    docs = read_corpus(_write(tmp_path / name, LINES))
    assert docs == [Document("0", "Ice floats because it is less dense than liquid water."),
                    Document("1", "Salt dissolves in water."),
                    Document("doc-2", "A text\twith a TAB inside stays whole.")]


@pytest.mark.parametrize("line, message", [
    ("just text without a tab", "expected `doc_id<TAB>text`"),
    ("bad\x01id\tsome text", "control character"),
    ("\tno id", "document id '' is empty"),
])
def test_a_bad_line_names_file_and_line(tmp_path, line, message):
    path = _write(tmp_path / "collection.tsv", LINES[:2] + [line])
    with pytest.raises(DataFormatError, match=message) as info:
        read_corpus(path)
    assert f"{path}:3" in str(info.value)
    with pytest.raises(DataFormatError, match=message):
        list(iter_documents(resolve_corpus(path)))


def test_duplicate_ids_are_refused(tmp_path):
    path = _write(tmp_path / "collection.tsv", LINES[:2] + ["0\tagain"])
    with pytest.raises(DataFormatError, match=r"c\w*\.tsv:3: duplicate document id '0' \(first seen at line/row 1\)"):
        read_corpus(path)


def test_an_index_builds_from_a_tsv_collection(tmp_path, capsys):
    path = _write(tmp_path / "collection.tsv", LINES)
    source = resolve_corpus(path)
    assert source.kind == "tsv"
    assert [(d.id, where) for d, where in iter_documents(source)] == [
        ("0", f"{path}:1"), ("1", f"{path}:2"), ("doc-2", f"{path}:4")]
    assert main(["index", "build", str(path), str(tmp_path / "idx"), "--model", "hash"]) == 0
    with Index.open(tmp_path / "idx") as index:
        assert index.num_documents == 3
        assert index.search("salt dissolves", k=1, mode="bm25")[0].id == "1"
