"""``reasonir encode`` (shards, resume, atomic outputs) and the DenseRetriever behind ``--retriever dense``."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from reasonir.encode import HashingEncoder
from reasonir.errors import ConfigError
from reasonir.io import write_corpus
from reasonir.retrieve.dense_retriever import DenseRetriever
from reasonir.types import Document
from reasonir.workflows.encode import EncodeConfig, load_encoded, run_encode

DOCS = [Document(f"d{i}", text=f"document number {i} about topic {i % 3}", title=f"T{i}") for i in range(7)]


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    write_corpus(path, DOCS)
    return path


def test_encode_writes_shards_ids_and_config(tmp_path, corpus):
    out = tmp_path / "emb"
    res = run_encode(EncodeConfig(corpus=str(corpus), out=str(out), model="hash", shard_size=3))
    assert res.count == 7 and res.encoded == 7 and res.dim == 256
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "embeddings-00000.npy", "embeddings-00001.npy",
                                                     "embeddings-00002.npy", "ids.json"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["encoder"]["model"] == "hash" and [s["rows"] for s in cfg["shards"]] == [3, 3, 1]
    ids, vecs = load_encoded(out)
    assert ids == [d.id for d in DOCS]
    np.testing.assert_allclose(vecs, HashingEncoder().encode_document([d.full_text for d in DOCS]))
    with pytest.raises(ConfigError, match="already holds"):
        run_encode(EncodeConfig(corpus=str(corpus), out=str(out), model="hash"))


def test_encode_resumes_finished_shards(tmp_path, corpus):
    out = tmp_path / "emb"
    cfg = EncodeConfig(corpus=str(corpus), out=str(out), model="hash", shard_size=3)
    with pytest.raises(KeyboardInterrupt):          # interrupted while encoding the third shard
        run_encode(cfg, encoder=_InterruptOnCall(3))
    assert not (out / "config.json").exists() and (out / "progress.json").exists()
    res = run_encode(cfg)
    assert res.encoded == 1 and load_encoded(out)[1].shape == (7, 256)
    other = EncodeConfig(corpus=str(corpus), out=str(tmp_path / "emb2"), model="hash", shard_size=3)
    with pytest.raises(KeyboardInterrupt):
        run_encode(EncodeConfig(**{**vars(other), "instruction": "other"}), encoder=_InterruptOnCall(2))
    with pytest.raises(ConfigError, match="partial encoding"):
        run_encode(other)


class _InterruptOnCall(HashingEncoder):
    """The hash encoder, interrupted (as by Ctrl-C) on its ``n``-th ``encode_document`` call."""

    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0

    def encode_document(self, texts, instruction=None, batch_size=None):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return super().encode_document(texts, instruction, batch_size)


def test_encode_cli(tmp_path, corpus, capsys):
    from reasonir.cli import main

    code = main(["encode", str(corpus), str(tmp_path / "cli"), "--model", "hash", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["count"] == 7 and summary["dim"] == 256


class RecordingEncoder(HashingEncoder):
    def __init__(self):
        super().__init__(dim=64)
        self.instructions = []

    def encode_query(self, texts, instruction=None, batch_size=None):
        self.instructions.append(instruction)
        return super().encode_query(texts, instruction, batch_size)


def test_dense_retriever_search_and_exclusions():
    enc = RecordingEncoder()
    r = DenseRetriever.from_corpus(enc, DOCS, query_instruction="Find it")
    run = r.search({"q1": "document number 4 about topic 1", "q2": "topic 2"}, k=3,
                   excluded_ids={"q1": {"d4"}})
    assert set(run) == {"q1", "q2"} and all(len(v) == 3 for v in run.values())
    assert "d4" not in run["q1"] and enc.instructions == ["Find it"]
    top = max(r.search({"q": "document number 4 about topic 1"}, k=1)["q"].items(), key=lambda kv: kv[1])
    assert top[0] == "d4"


def test_from_config_picks_bright_instruction(monkeypatch):
    enc = RecordingEncoder()
    monkeypatch.setattr("reasonir.encode.loading.load_encoder", lambda *a, **k: enc)
    ds = SimpleNamespace(task="earth_science", long_documents=True, require_corpus=lambda: DOCS,
                         queries={"q": "rocks"})
    cfg = SimpleNamespace(model="x", dtype="auto", device="cpu", max_length=None, batch_size=None, instruction=None)
    r = DenseRetriever.from_config(cfg, ds)
    r.search({"q": "rocks"}, k=2)
    assert enc.instructions == ["Given a earth_science post, retrieve relevant documents that help answer the post"]
    assert r.instruction_info["source"] == "bright" and r.instruction_info["task_name"] == "raw"
    cfg.instruction = "bright:pretty"
    assert DenseRetriever.from_config(cfg, ds).query_instruction.startswith("Given a Earth Science post")
