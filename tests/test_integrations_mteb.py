"""The MTEB encoder adapter and local retrieval tasks, run by the real mteb on a SciFact subset."""

from __future__ import annotations

import importlib
import sys

import pytest

mteb = pytest.importorskip("mteb")

from mteb.types import PromptType  # noqa: E402

from reasonir.data import load_beir  # noqa: E402
from reasonir.encode import HashingEncoder, load_encoder  # noqa: E402
from reasonir.errors import ConfigError, DependencyError  # noqa: E402
from reasonir.evaluate import evaluate  # noqa: E402
from reasonir.integrations.mteb import ReasonIRMTEBEncoder, local_retrieval_task  # noqa: E402
from reasonir.retrieve.dense_retriever import DenseRetriever  # noqa: E402

PROMPT = "Given a scientific claim, retrieve documents that support or refute the claim"


class Recording:
    """An encoder that records which side and instruction each call used."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.calls = []

    @property
    def dim(self):
        return self.encoder.dim

    def fingerprint(self):
        return self.encoder.fingerprint()

    def encode_query(self, texts, instruction=None, batch_size=None):
        self.calls.append(("query", instruction, len(texts)))
        return self.encoder.encode_query(texts, instruction=instruction, batch_size=batch_size)

    def encode_document(self, texts, instruction=None, batch_size=None):
        self.calls.append(("document", instruction, len(texts)))
        return self.encoder.encode_document(texts, instruction=instruction, batch_size=batch_size)


@pytest.fixture(scope="module")
def scifact(scifact_dir):
    return load_beir(scifact_dir, split="test")


def test_local_task_holds_a_cut_of_the_collection(scifact):
    task = local_retrieval_task(scifact, name="SciFactTiny", max_queries=10, max_documents=50, prompt={"query": PROMPT})
    task.load_data()
    split = task.dataset["default"]["test"]
    assert task.metadata.name == "SciFactTiny" and task.metadata.main_score == "ndcg_at_10"
    assert len(split["corpus"]) == 50 and len(split["queries"]) == 10
    ids = set(split["corpus"]["id"])
    assert all(d in ids for docs in split["relevant_docs"].values() for d in docs)
    assert list(split["queries"]["id"]) == list(scifact.queries)[:10]
    by_id = {d.id: d for d in scifact.corpus}
    row = split["corpus"][0]
    assert (row["title"], row["text"]) == (by_id[row["id"]].title, by_id[row["id"]].text)
    for bad in ({"max_queries": 0}, {"max_documents": -3}, {"max_queries": 2.5}):
        with pytest.raises(ConfigError, match="must be a positive integer"):
            local_retrieval_task(scifact, **bad)


def test_adapter_picks_the_instruction_by_task_and_side(scifact):
    meta = local_retrieval_task(scifact, name="SciFactTiny", max_queries=2, max_documents=5,
                                prompt={"query": PROMPT}).metadata
    q, d = PromptType.query, PromptType.document
    enc = ReasonIRMTEBEncoder(HashingEncoder())
    assert isinstance(enc, mteb.models.EncoderProtocol)
    assert (enc.instruction_for(meta, q), enc.instruction_for(meta, d)) == (PROMPT, None)
    assert ReasonIRMTEBEncoder(HashingEncoder(), use_task_prompts=False).instruction_for(meta, q) is None
    prompts = {"query": "generic", "Retrieval": "by type", "SciFactTiny-query": "by task and side"}
    enc = ReasonIRMTEBEncoder(HashingEncoder(), prompts=prompts)
    assert (enc.instruction_for(meta, q), enc.instruction_for(meta, d)) == ("by task and side", "by type")
    enc = ReasonIRMTEBEncoder(HashingEncoder(), prompts={"query": "generic", "document": "passage"})
    assert (enc.instruction_for(meta, q), enc.instruction_for(meta, d)) == ("generic", "passage")
    plain = local_retrieval_task(scifact, name="Plain", max_queries=2, max_documents=5, prompt="a string prompt")
    enc = ReasonIRMTEBEncoder(HashingEncoder())
    assert (enc.instruction_for(plain.metadata, q), enc.instruction_for(plain.metadata, d)) == ("a string prompt", None)
    with pytest.raises(ConfigError, match="prompts must map"):
        ReasonIRMTEBEncoder(HashingEncoder(), prompts={"query": 3})


@pytest.mark.integration
def test_mteb_run_reproduces_reasonir_ndcg_on_a_scifact_subset(scifact):
    """minilm (fp32) through mteb.evaluate and through reasonir's own retrieval + evaluation agree."""
    task = local_retrieval_task(scifact, name="SciFactTiny", max_queries=10, max_documents=50, prompt={"query": PROMPT})
    task.load_data()
    split = task.dataset["default"]["test"]
    corpus = [d for d in scifact.corpus if d.id in set(split["corpus"]["id"])]
    queries = dict(zip(split["queries"]["id"], split["queries"]["text"]))
    encoder = Recording(load_encoder("minilm", dtype="fp32", device="cpu"))

    result = mteb.evaluate(ReasonIRMTEBEncoder(encoder), task, cache=None, show_progress_bar=False,
                           encode_kwargs={"batch_size": 16})
    got = result.task_results[0].scores["test"][0]
    assert sorted(encoder.calls) == [("document", None, 50), ("query", PROMPT, 10)]

    ours = DenseRetriever.from_corpus(encoder, corpus, query_instruction=PROMPT).search(queries, k=1000)
    want = evaluate(split["relevant_docs"], ours, "ndcg@10,recall@10").mean
    assert got["ndcg_at_10"] == pytest.approx(want["ndcg@10"], abs=1e-4)
    assert got["recall_at_10"] == pytest.approx(want["recall@10"], abs=1e-4)
    assert 0.3 < want["ndcg@10"] <= 1.0                                          # minilm finds the evidence


def test_missing_mteb_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "reasonir.integrations.mteb")
    monkeypatch.setitem(sys.modules, "mteb", None)                             # as if not installed
    with pytest.raises(DependencyError, match=r"pip install 'reasonir\[mteb\]'"):
        importlib.import_module("reasonir.integrations.mteb")
