"""The HTTP API against a real uvicorn server on a free port, driven by a real HTTP client (httpx)."""

import asyncio
import base64

import numpy as np
import pytest
from served_index import RunningServer

from reasonir.index import Index, IndexOptions, build_index
from reasonir.io import write_corpus
from reasonir.types import Document

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from reasonir.serve import ServeLimits, create_app  # noqa: E402

TOPICS = ["photosynthesis chlorophyll light energy plants sugar", "plate tectonics earthquakes continents drift",
          "insulin glucose pancreas blood sugar diabetes", "neurons synapses action potential brain signal",
          "black holes gravity event horizon spacetime", "vaccines antibodies immune memory infection"]


def make_docs():
    rng = np.random.default_rng(0)
    docs = [Document(f"doc{i}", " ".join(rng.permutation(TOPICS[i % len(TOPICS)].split())) + f" note {i}",
                     title=f"Topic {i % len(TOPICS)}") for i in range(300)]
    docs.append(Document("dir/sub file 1.txt", "a document whose id has slashes and spaces", title="odd id"))
    return docs


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    write_corpus(root / "c.jsonl", make_docs())
    build_index(str(root / "c.jsonl"), str(root / "idx"), IndexOptions(model="hash", bm25=True, shard_size=128))
    return Index.open(root / "idx")


@pytest.fixture(scope="module")
def server(index):
    srv = RunningServer(create_app(index, limits=ServeLimits(max_body_bytes=64 * 1024, max_k=50)))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def secured(index):
    srv = RunningServer(create_app(index, api_key="s3cret"))
    yield srv
    srv.stop()


def test_health_and_page(server):
    r = httpx.get(timeout=120, url=server.url + "/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["documents"] == 301 and "hybrid" in body["modes"]
    page = httpx.get(timeout=120, url=server.url + "/")
    assert page.status_code == 200 and "<form" in page.text and 'id="query"' in page.text


def test_search_matches_the_library(server, index):
    q = "how do plants turn light into sugar"
    r = httpx.post(timeout=120, url=server.url + "/search", json={"query": q, "k": 5, "mode": "hybrid"})
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    want = index.search([q], k=5, mode="hybrid")[0]
    assert [x["id"] for x in got] == [h.id for h in want]
    assert [x["score"] for x in got] == pytest.approx([h.score for h in want])
    assert got[0]["title"] == "Topic 0" and "photosynthesis" in got[0]["snippet"]
    for mode in ("dense", "bm25", "bm25q"):
        assert httpx.post(timeout=120, url=server.url + "/search", json={"query": q, "k": 3, "mode": mode}).status_code == 200


@pytest.mark.integration
def test_200_concurrent_searches(server, index, monkeypatch):
    queries = [f"{TOPICS[i % len(TOPICS)]} question {i}" for i in range(200)]
    want = index.search(queries, k=5, mode="hybrid")
    batches = []                                     # queries per Index.search call made by the server
    search = index.search

    def counted(texts, *args, **kwargs):
        batches.append(len(texts))
        return search(texts, *args, **kwargs)

    monkeypatch.setattr(index, "search", counted)

    async def fire():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
            return await asyncio.gather(*(client.post("/search", json={"query": q, "k": 5, "mode": "hybrid"})
                                          for q in queries))

    responses = asyncio.run(fire())
    assert [r.status_code for r in responses] == [200] * 200
    for r, hs in zip(responses, want):
        assert [x["id"] for x in r.json()["results"]] == [h.id for h in hs]
    # every query was searched exactly once, in fewer calls than requests, none above the batch limit
    assert sum(batches) == 200 and len(batches) < 200 and max(batches) <= ServeLimits().max_batch
    # each response names the size of the batch it was answered in
    sizes = sorted(r.json()["batched_with"] + 1 for r in responses)
    assert sizes == sorted(n for n in batches for _ in range(n))


@pytest.mark.parametrize("payload,status,fragment", [
    ({"k": 5}, 422, "query: Field required"),
    ({"query": ""}, 422, "query: String should have at least 1 character"),
    ({"query": "x", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ({"query": "x", "k": 51}, 422, "k: Input should be less than or equal to 50"),
    ({"query": "x", "mode": "splade"}, 422, "mode: Input should be"),
    ({"query": "x", "kk": 3}, 422, "kk: unknown field"),
    ({"query": "x", "weights": [1, 2, 3]}, 422, "weights"),
    ({"query": "x", "weights": [0, 0]}, 422, "weights must be two non-negative numbers"),
    ({"query": 42}, 422, "query: Input should be a valid string"),
])
def test_malformed_searches_get_explained_4xx(server, payload, status, fragment):
    r = httpx.post(timeout=120, url=server.url + "/search", json=payload)
    assert r.status_code == status
    assert fragment in r.json()["error"]


def test_bad_bodies(server):
    r = httpx.post(timeout=120, url=server.url + "/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["error"]
    big = httpx.post(timeout=120, url=server.url + "/search", json={"query": "x" * 100_000})
    assert big.status_code == 413 and "exceeds the limit" in big.json()["error"]

    def chunks():
        for _ in range(100):
            yield b"x" * 1024

    chunked = httpx.post(timeout=120, url=server.url + "/search", content=chunks(), headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    assert httpx.get(timeout=120, url=server.url + "/nope").status_code == 404


def test_documents_endpoint(server):
    r = httpx.get(timeout=120, url=server.url + "/documents/doc7")
    assert r.status_code == 200 and r.json()["id"] == "doc7" and r.json()["title"] == "Topic 1"
    odd = httpx.get(timeout=120, url=server.url + "/documents/dir/sub%20file%201.txt")
    assert odd.status_code == 200 and odd.json()["title"] == "odd id"
    missing = httpx.get(timeout=120, url=server.url + "/documents/unknown")
    assert missing.status_code == 404 and "no document with id 'unknown'" in missing.json()["error"]


def test_openai_compatible_embeddings(server, index):
    texts = ["insulin and glucose", "black holes"]
    r = httpx.post(timeout=120, url=server.url + "/v1/embeddings", json={"model": "anything", "input": texts})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list" and [d["index"] for d in body["data"]] == [0, 1]
    got = np.asarray([d["embedding"] for d in body["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, index.encode_documents(texts), atol=1e-6)
    assert body["usage"]["prompt_tokens"] == 4       # the hash encoder's terms ("and" is a stop word), not words
    b64 = httpx.post(timeout=120, url=server.url + "/v1/embeddings", json={"input": "black holes", "encoding_format": "base64"}).json()
    vec = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vec, got[1], atol=1e-6)
    q = httpx.post(timeout=120, url=server.url + "/v1/embeddings", json={"input": "black holes", "input_type": "query"}).json()
    np.testing.assert_allclose(q["data"][0]["embedding"], index.encode_queries(["black holes"])[0], atol=1e-6)
    assert httpx.post(timeout=120, url=server.url + "/v1/embeddings", json={"input": [[1, -2]]}).status_code == 422
    assert httpx.post(timeout=120, url=server.url + "/v1/embeddings", json={"input": ["a"] * 300}).status_code == 413
    wrong_dim = httpx.post(timeout=120, url=server.url + "/v1/embeddings", json={"input": "a", "dimensions": 7})
    assert wrong_dim.status_code == 422 and "dimensions" in wrong_dim.json()["error"]["message"]   # OpenAI's shape


def test_api_key(secured):
    url = secured.url
    assert httpx.get(url + "/health").json()["auth_required"] is True
    assert httpx.get(url + "/").status_code == 200
    r = httpx.post(url + "/search", json={"query": "plants"})
    assert r.status_code == 401 and "API key" in r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
    assert httpx.post(url + "/search", json={"query": "plants"},
                      headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.post(url + "/search", json={"query": "plants"},
                      headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert httpx.get(url + "/documents/doc1", headers={"X-API-Key": "s3cret"}).status_code == 200
    assert httpx.post(url + "/v1/embeddings", json={"input": "x"}).status_code == 401


def test_serve_binds_localhost_by_default_and_warns_otherwise(caplog, tmp_path, index):
    from reasonir.serve.server import ServeConfig, build_app

    assert ServeConfig(index_dir="x").host == "127.0.0.1"
    cfg = ServeConfig(index_dir=str(index.root), host="0.0.0.0")
    with caplog.at_level("WARNING"):
        build_app(cfg)
    assert "without an API key" in caplog.text
