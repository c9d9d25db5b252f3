"""The Milvus store (Milvus Lite) against the local store: same hits and scores, writes, info, serve and RAG."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from reasonir.errors import ConfigError  # noqa: E402
from reasonir.index import Index, IndexOptions, build_index  # noqa: E402
from reasonir.index.milvus_store import MilvusParams, _credentials, parse_store  # noqa: E402
from reasonir.io import read_corpus, read_queries, write_corpus  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
N_DOCS, N_QUERIES = 1000, 40


@pytest.fixture(scope="module")
def scifact_pair(tmp_path_factory, data_dir):
    """The first 1,200 SciFact documents indexed twice with the hash encoder: local store and Milvus Lite."""
    root = tmp_path_factory.mktemp("milvus_scifact")
    docs = list(read_corpus(data_dir / "scifact" / "corpus.jsonl"))[:N_DOCS]
    write_corpus(root / "c.jsonl", docs)
    common = dict(model="hash", bm25=True, shard_size=500)
    build_index(str(root / "c.jsonl"), str(root / "local"), IndexOptions(**common))
    build_index(str(root / "c.jsonl"), str(root / "milvus"), IndexOptions(**common, store="milvus"))
    queries = dict(list(read_queries(data_dir / "scifact" / "queries.jsonl").items())[:N_QUERIES])
    local, milvus = Index.open(root / "local"), Index.open(root / "milvus")
    yield local, milvus, queries, root
    local.close()
    milvus.close()


def _same(a, b, atol=1e-6):
    """Identical ranked ids, scores equal to float32 rounding."""
    assert [h.id for h in a] == [h.id for h in b]
    np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=2e-6, atol=atol)


# RRF scores are functions of ranks: two candidates whose dense scores tie to the last float32 bit may
# swap places deep in a candidate list (the two stores sum the same products in another order), which
# moves one RRF term by one rank at depth >= 50: at most 1/110 - 1/111 < 1e-4
RRF_ATOL = 1e-4


@pytest.mark.parametrize("mode,extra", [("dense", {}), ("bm25", {}), ("bm25q", {}),
                                        ("hybrid", {}), ("hybrid", {"fusion": "rrf"}),
                                        ("hybrid", {"bm25_mode": "bm25q"})])
def test_scifact_top10_identical_to_the_local_store(scifact_pair, mode, extra):
    local, milvus, queries, _ = scifact_pair
    texts = list(queries.values())
    want = local.search(texts, k=10, mode=mode, **extra)
    got = milvus.search(texts, k=10, mode=mode, **extra)
    assert sum(len(h) for h in want) > 5 * len(texts)          # the comparison is not over empty lists
    for a, b in zip(want, got):
        _same(a, b, RRF_ATOL if extra.get("fusion") == "rrf" else 1e-6)


def test_the_milvus_index_holds_no_vector_shards_and_says_where_it_is(scifact_pair):
    _, milvus, _, root = scifact_pair
    cfg = json.loads((root / "milvus" / "config.json").read_text())
    assert cfg["vectors"]["shards"] == [] and not list((root / "milvus" / "vectors").glob("*.npy"))
    assert cfg["milvus"]["uri"] == str((root / "milvus" / "milvus.db").absolute())
    info = milvus.info()
    assert info["store"] == "milvus" and info["milvus_index_type"] == "FLAT"
    assert info["milvus_consistency"] == "Strong" and info["milvus_shards"] == 1
    assert info["documents"] == N_DOCS and info["milvus_bm25_collection"].endswith("_bm25_g1")
    assert milvus.backend.count() == N_DOCS
    milvus.check(verify=True)


def test_writes_mirror_the_local_store(tmp_path, data_dir):
    docs = list(read_corpus(data_dir / "scifact" / "corpus.jsonl"))[:300]
    extra = [{"_id": docs[0].id, "text": "replacement text about vitamin D and bone density"},
             {"_id": "new-1", "title": "New", "text": "a new document on insulin resistance in muscle"}]
    pair = [Index.build(docs, tmp_path / name, model="hash", bm25=True, shard_size=64, **kw)
            for name, kw in (("l", {}), ("m", {"store": f"milvus:{tmp_path / 'lite.db'}"}))]
    for index in pair:
        index.delete([docs[5].id, docs[7].id])
        index.add(extra, replace=True)
    local, milvus = pair
    assert milvus.num_documents == local.num_documents == 299
    for mode in ("dense", "bm25", "bm25q", "hybrid"):
        for q in ("vitamin D bone density", "insulin resistance muscle", docs[5].text[:80]):
            _same(local.search(q, k=10, mode=mode), milvus.search(q, k=10, mode=mode))
            assert docs[5].id not in {h.id for h in milvus.search(q, k=50, mode=mode)}
    assert milvus.get(docs[0].id).text.startswith("replacement")
    # the deleted and replaced rows and the older BM25 generations are gone from Milvus too
    assert milvus.backend.count() == milvus.num_documents
    names = milvus.backend.client.list_collections()
    assert sorted(names) == sorted([milvus.backend.name, milvus.backend.bm25_name])
    for index in pair:
        index.close()


def test_store_forms_and_refusals(tmp_path):
    assert parse_store("local", tmp_path) is None
    assert parse_store("milvus", tmp_path) == {"uri": str(tmp_path.absolute() / "milvus.db"), "db_name": None,
                                               "lite": True}
    assert parse_store("milvus://db.example:19530/prod", tmp_path) == {
        "uri": "http://db.example:19530", "db_name": "prod", "lite": False}
    assert parse_store("milvus+https://db.example:443", tmp_path)["uri"] == "https://db.example:443"
    with pytest.raises(ConfigError, match="MILVUS_TOKEN"):
        parse_store("milvus://root:secret@db.example:19530", tmp_path)
    with pytest.raises(ConfigError, match="milvus:PATH.db"):
        parse_store("milvus:/tmp/x.sqlite", tmp_path)
    with pytest.raises(ConfigError, match="choose local"):
        parse_store("faiss://x", tmp_path)
    with pytest.raises(ConfigError, match="Milvus index type"):
        IndexOptions(model="hash", store="milvus", ann="hnsw")
    with pytest.raises(ConfigError, match="IVF_PQ"):
        MilvusParams(index_type="DISKANNN")


def test_credentials_come_from_the_environment_and_are_never_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("MILVUS_TOKEN", "tok-123")
    assert _credentials() == {"token": "tok-123"}
    monkeypatch.delenv("MILVUS_TOKEN")
    monkeypatch.setenv("MILVUS_USER", "ann")
    monkeypatch.setenv("MILVUS_PASSWORD", "pw-456")
    assert _credentials() == {"user": "ann", "password": "pw-456"}
    index = Index.build([{"_id": "a", "text": "alpha beta"}, {"_id": "b", "text": "gamma"}], tmp_path / "i",
                        model="hash", store="milvus")
    index.close()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and b"pw-456" in p.read_bytes()]


def test_cli_build_with_store_options_and_info(tmp_path, data_dir):
    docs = list(read_corpus(data_dir / "scifact" / "corpus.jsonl"))[:80]
    write_corpus(tmp_path / "c.jsonl", docs)
    env = {**os.environ, "PYTHONPATH": SRC, "REASONIR_PROGRESS": "0"}
    cli = [sys.executable, "-m", "reasonir"]
    subprocess.run(cli + ["index", "build", str(tmp_path / "c.jsonl"), str(tmp_path / "i"), "--model", "hash",
                          "--bm25", "--store", "milvus", "--milvus-index-type", "HNSW", "--milvus-consistency",
                          "Bounded", "--milvus-collection", "sci_small"], check=True, env=env, capture_output=True)
    out = subprocess.run(cli + ["index", "info", str(tmp_path / "i"), "--json"], check=True, env=env,
                         capture_output=True, text=True).stdout
    info = json.loads(out.strip().splitlines()[-1])
    assert info["store"] == "milvus" and info["milvus_collection"] == "sci_small"
    assert info["milvus_index_type"] == "HNSW" and info["milvus_index_params"]["M"] == 32
    assert info["milvus_consistency"] == "Bounded" and info["documents"] == 80
    with Index.open(tmp_path / "i") as index:         # approximate index, candidates re-scored exactly
        hits = index.search(docs[3].title + " " + docs[3].text[:200], k=3, mode="dense")
        assert hits[0].id == docs[3].id
        with pytest.raises(ConfigError, match="FLAT"):
            index.search("x", k=3, mode="dense", exact=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_reasonir_serve_on_a_milvus_index(scifact_pair):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("uvicorn")
    local, milvus, queries, root = scifact_pair
    milvus.close()                          # Milvus Lite: one process at a time; the server opens it now
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": SRC, "REASONIR_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "reasonir", "serve", str(root / "milvus"), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        t0 = time.monotonic()
        while True:
            try:
                health = httpx.get(url + "/health", timeout=5)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() - t0 > 240:
                    raise AssertionError(f"server did not start: {proc.stderr.read()[-2000:]}") from None
                time.sleep(0.5)
        assert health.json()["documents"] == N_DOCS
        for mode in ("dense", "bm25q", "hybrid"):
            q = next(iter(queries.values()))
            got = httpx.post(url + "/search", json={"query": q, "k": 5, "mode": mode}, timeout=240).json()["results"]
            want = local.search(q, k=5, mode=mode)
            assert [r["id"] for r in got] == [h.id for h in want]
            assert [r["score"] for r in got] == pytest.approx([h.score for h in want], rel=1e-5)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        proc.stderr.close()
    milvus._load(milvus.config)            # reopen for the tests that follow


def test_rag_on_a_milvus_index(scifact_pair, tmp_path, data_dir):
    from reasonir.llm.base import Generation
    from reasonir.rag.index_source import IndexPassageSource
    from reasonir.workflows.rag import RagConfig, run_rag

    local, milvus, _, root = scifact_pair
    milvus.close()
    src = IndexPassageSource.open(root / "milvus", "hybrid")
    want = IndexPassageSource.open(root / "local", "hybrid")
    q = {"q": "vitamin D deficiency and bone fractures"}
    assert [p.doc_id for p in src.search(q, k=4)["q"]] == [p.doc_id for p in want.search(q, k=4)["q"]]

    class Fixed:
        name = "fixed"

        def generate(self, prompts, params=None):
            return [Generation(text="The answer is (A).") for _ in prompts]

    common = dict(benchmark="mmlu", data=str(data_dir / "mmlu" / "mmlu.zip"), subjects=["anatomy"], limit=3,
                  chart=False, retriever="hybrid")
    runs = [run_rag(RagConfig(index=str(root / name), out=str(tmp_path / name), **common), llm=Fixed())
            for name in ("milvus", "local")]
    passages = [[[p["doc_id"] for p in r["rag"]["passages"]] for r in out.rows] for out in runs]
    assert passages[0] == passages[1] and all(len(p) == 3 for p in passages[0])
    milvus._load(milvus.config)
