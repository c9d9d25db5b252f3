"""Passages from a persistent index (hashing encoder + BM25, built in a temp folder)."""

import pytest

from reasonir.errors import ConfigError, DataFormatError
from reasonir.io import write_corpus, write_run
from reasonir.types import Document

index_mod = pytest.importorskip("reasonir.index")

DOCS = [Document("bio1", "Mitochondria produce ATP through oxidative phosphorylation.", title="Cells"),
        Document("bio2", "Ribosomes translate messenger RNA into proteins."),
        Document("geo1", "Tectonic plates move a few centimetres each year."),
        Document("bio3", "ATP synthase is driven by a proton gradient across the inner membrane.")]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("rag_index")
    write_corpus(root / "corpus.jsonl", DOCS)
    index_mod.build_index(str(root / "corpus.jsonl"), str(root / "idx"),
                          index_mod.IndexOptions(model="hash", bm25=True, dtype="fp32"))
    return root / "idx"


def test_index_source_searches_and_attaches_texts(index_dir):
    from reasonir.rag.index_source import IndexPassageSource

    src = IndexPassageSource.open(index_dir, "bm25")
    found = src.search({"q1": "how is ATP produced in mitochondria", "q2": "plates move"}, k=2)
    assert found["q1"][0].doc_id == "bio1" and found["q1"][0].text.startswith("Cells\nMitochondria")
    assert found["q2"][0].doc_id == "geo1" and len(found["q1"]) == 2
    assert found["q1"][0].score >= found["q1"][1].score
    dense = IndexPassageSource.open(index_dir).search({"q": "ribosomes translate RNA"}, k=3)
    assert len(dense["q"]) == 3 and {p.doc_id for p in dense["q"]} <= {d.id for d in DOCS}
    assert IndexPassageSource.open(index_dir, "hybrid").search({"q": "ATP"}, k=1)["q"]


def test_index_texts_for_a_run(index_dir):
    from reasonir.rag.index_source import index_texts
    from reasonir.rag.passages import passages_from_run

    texts = index_texts(index_dir)
    assert "bio2" in texts and "nope" not in texts and texts["geo1"].startswith("Tectonic")
    got = passages_from_run({"q": {"bio2": 1.0, "bio3": 2.0}}, texts, 5)
    assert [p.doc_id for p in got["q"]] == ["bio3", "bio2"]
    with pytest.raises(DataFormatError):
        passages_from_run({"q": {"nope": 1.0}}, texts, 5)


def test_missing_bm25_mode_is_a_config_error(tmp_path):
    from reasonir.rag.index_source import IndexPassageSource

    write_corpus(tmp_path / "c.jsonl", DOCS)
    index_mod.build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "i"),
                          index_mod.IndexOptions(model="hash", bm25=False))
    with pytest.raises(ConfigError, match="bm25"):
        IndexPassageSource.open(tmp_path / "i", "bm25")


def test_workflow_with_index_and_with_run_plus_index(index_dir, tmp_path, data_dir):
    from reasonir.llm.base import Generation
    from reasonir.workflows.rag import RagConfig, run_rag

    class Fixed:
        name = "fixed"

        def generate(self, prompts, params=None):
            return [Generation(text="The answer is (A).") for _ in prompts]

    common = dict(benchmark="mmlu", data=str(data_dir / "mmlu" / "mmlu.zip"), subjects=["anatomy"], limit=3,
                  chart=False)
    out = run_rag(RagConfig(index=str(index_dir), retriever="dense", out=str(tmp_path / "a"), **common), llm=Fixed())
    assert out.report["meta"]["source"].endswith(":dense")
    assert all(len(r["rag"]["passages"]) == 3 for r in out.rows)
    write_run(tmp_path / "run", {"anatomy/test/0": {"geo1": 1.0}, "anatomy/test/1": {"bio1": 2.0}})
    out = run_rag(RagConfig(index=str(index_dir), run=str(tmp_path / "run"), out=str(tmp_path / "b"), **common),
                  llm=Fixed())
    assert [[p["doc_id"] for p in r["rag"]["passages"]] for r in out.rows] == [["geo1"], ["bio1"], []]


def test_workflow_filter_keeps_only_matching_passages(tmp_path, data_dir):
    from fakes import ScriptedLLM

    from reasonir.workflows.rag import RagConfig, run_rag

    llm = ScriptedLLM(lambda prompt, params: "The answer is (A).")
    docs = [Document(d.id, d.text, title=d.title, metadata={"topic": d.id[:3]}) for d in DOCS]
    write_corpus(tmp_path / "c.jsonl", docs)
    index_mod.build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "i"), index_mod.IndexOptions(model="hash"))
    common = dict(benchmark="mmlu", data=str(data_dir / "mmlu" / "mmlu.zip"), subjects=["anatomy"], limit=2,
                  chart=False)
    out = run_rag(RagConfig(index=str(tmp_path / "i"), filter='topic == "bio"', out=str(tmp_path / "a"), **common),
                  llm=llm)
    got = [[p["doc_id"] for p in r["rag"]["passages"]] for r in out.rows]
    assert all(sorted(ids) == ["bio1", "bio2", "bio3"] for ids in got)       # k = 3: every bio document, no geo
    with pytest.raises(ConfigError, match="--filter"):
        run_rag(RagConfig(corpus=str(tmp_path / "c.jsonl"), filter='topic == "bio"', out=str(tmp_path / "b"),
                          **common), llm=llm)
