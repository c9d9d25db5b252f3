"""Reading reasonir/reasonir-data offline: hq rows hold BRIGHT document ids, resolved through a local
copy of BRIGHT's documents in the Hub schema ({id, content})."""

from __future__ import annotations

import json

import pytest

from reasonir.errors import DataFormatError
from reasonir.synth import SynthesizeConfig, load_bright_documents, resolve_released, synthesize
from reasonir.trainio import read_train_examples

INSTR = "Given a biology post, retrieve relevant passages that help answer the post"


def _fixture(tmp_path):
    docs = tmp_path / "bright"
    (docs / "biology").mkdir(parents=True)
    (docs / "stackoverflow").mkdir(parents=True)
    (docs / "biology" / "documents.jsonl").write_text(
        json.dumps({"id": "bio/cell_1.txt", "content": "Cells divide by mitosis."}) + "\n"
        + json.dumps({"id": "bio/cell_2.txt", "content": "Meiosis halves the chromosome number."}) + "\n")
    (docs / "stackoverflow" / "documents.jsonl").write_text(
        json.dumps({"id": "pytorch/Memory Management_2_0.txt", "content": "CUDA caching allocator."}) + "\n")
    (docs / "biology" / "long_documents.jsonl").write_text(json.dumps({"id": "bio/cell_1.txt", "content": "LONG"}) + "\n")
    hq = tmp_path / "hq.jsonl"
    rows = [
        {"query": [INSTR, "Why do my onion root cells look different under the microscope?"],
         "pos": [["", "bio/cell_1.txt"]], "neg": [["", "A generated hard negative about plant roots."]]},
        {"query": [INSTR, "How does a caching allocator reduce fragmentation?"],
         "pos": [["", "pytorch/Memory Management_2_0.txt"], ["", "bio/cell_2.txt"]], "neg": []},
        {"query": [INSTR, "An id that BRIGHT does not have"], "pos": [["", "missing/doc.txt"]], "neg": []},
    ]
    hq.write_text("".join(json.dumps(r) + "\n" for r in rows))
    vl = tmp_path / "vl.jsonl"
    vl.write_text(json.dumps({"query": ["Given an essay, retrieve a rebuttal", "long essay text"],
                              "pos": [["", "long rebuttal"]], "neg": [["", "long distractor"]]}) + "\n")
    return docs, hq, vl


def test_load_bright_documents_from_a_folder(tmp_path):
    docs, _, _ = _fixture(tmp_path)
    table = load_bright_documents(docs)
    assert table == {"bio/cell_1.txt": "Cells divide by mitosis.", "bio/cell_2.txt": "Meiosis halves the chromosome number.",
                     "pytorch/Memory Management_2_0.txt": "CUDA caching allocator."}   # long documents ignored
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x"}) + "\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl:1"):
        load_bright_documents(bad)


def test_resolve_hq_ids_to_text(tmp_path):
    docs, hq, _ = _fixture(tmp_path)
    exs, counts = resolve_released("hq", hq, load_bright_documents(docs))
    assert counts == {"rows": 3, "written": 2, "unresolved_rows": 1, "unresolved_ids": 1}
    assert exs[0].pos == ["Cells divide by mitosis."] and exs[0].query_instruction == INSTR
    assert exs[0].neg == ["A generated hard negative about plant roots."]
    assert exs[1].pos == ["CUDA caching allocator.", "Meiosis halves the chromosome number."]
    assert exs[1].metadata["pos_ids"] == ["pytorch/Memory Management_2_0.txt", "bio/cell_2.txt"]
    assert exs[0].metadata["subset"] == "hq" and exs[0].metadata["row"] == 1
    exs, counts = resolve_released("hq", hq, load_bright_documents(docs), limit=1)
    assert counts["rows"] == 1 and len(exs) == 1


def test_convert_released_through_synthesize(tmp_path):
    docs, hq, vl = _fixture(tmp_path)
    res = synthesize(SynthesizeConfig(out=str(tmp_path / "out"), released="hq", released_source=str(hq),
                                      bright_documents=str(docs)))
    back = read_train_examples(res.paths["train"])
    assert [e.pos for e in back] == [e.pos for e in res.examples] and len(back) == 2
    assert res.stats["released"]["unresolved_rows"] == 1
    res = synthesize(SynthesizeConfig(out=str(tmp_path / "vl"), released="vl", released_source=str(vl)))
    assert read_train_examples(res.paths["train"])[0].pos == ["long rebuttal"]


class _FakeDatasets:
    """Stands in for the ``datasets`` package: records load_dataset calls, serves in-memory rows."""

    def __init__(self, tables):
        self.tables = tables
        self.calls = []

    def load_dataset(self, name, config=None, split=None, revision=None, **kw):
        self.calls.append((name, config, split))
        table = self.tables[(name, config)]
        return table[split] if split is not None else table


def test_hub_paths_with_a_stand_in_datasets_module(tmp_path, monkeypatch):
    import sys

    from reasonir.synth.pool import read_documents

    fake = _FakeDatasets({
        ("reasonir/reasonir-data", "hq"): {"train": [{"query": [INSTR, "q?"], "pos": [["", "bio/1"]], "neg": [["", "n"]]}]},
        ("xlangai/BRIGHT", "documents"): {"biology": [{"id": "bio/1", "content": "resolved text"}],
                                          "pony": [{"id": "pony/1", "content": "pony doc"}]},
        ("org/corpus", "en"): {"train": [{"doc": "first text", "key": "a"}, {"doc": "second text", "key": "b"}]},
    })
    monkeypatch.setitem(sys.modules, "datasets", fake)
    exs, counts = resolve_released("hq")                         # both from the (stand-in) Hub
    assert exs[0].pos == ["resolved text"] and counts["written"] == 1
    assert ("xlangai/BRIGHT", "documents", None) in fake.calls and ("reasonir/reasonir-data", "hq", "train") in fake.calls
    docs = read_documents("hf:org/corpus?config=en&split=train&text=doc&id=key")
    assert [(d.id, d.text) for d in docs] == [("a", "first text"), ("b", "second text")]
