"""Hardening of ``reasonir serve`` and of snippets: failures stay with the request that caused them,
bad numbers and blank queries are refused, the server is safe to run on localhost without a key
(Host-header check), works offline (no CDN), and never echoes unbounded input back."""

import asyncio
import json
import re

import pytest

from reasonir.cli import main
from reasonir.errors import ConfigError
from reasonir.index import Index, IndexOptions, build_index, make_snippet
from reasonir.io import write_corpus
from reasonir.serve.batcher import Batcher
from reasonir.types import Document

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from reasonir.serve import ServeConfig, ServeLimits, create_app  # noqa: E402

WORDS = ["cancer cells divide quickly", "plants turn light into sugar", "neurons fire action potentials",
         "glaciers carve valleys slowly", "vaccines train immune memory"]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("hardening")
    docs = [Document(f"d{i}", f"{WORDS[i % len(WORDS)]} in example number {i} " * 3, title=f"T{i % 5}")
            for i in range(60)]
    write_corpus(root / "c.jsonl", docs)
    build_index(str(root / "c.jsonl"), str(root / "idx"), IndexOptions(model="hash", bm25=True))
    idx = Index.open(root / "idx")
    idx.search(["warm up"], k=1, mode="hybrid")          # load the encoder and BM25 before any request
    return idx


def client(app, host="localhost"):
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}", timeout=120)


def request(app, method, path, host="localhost", **kw):
    async def go():
        async with client(app, host) as c:
            return await c.request(method, path, **kw)
    return asyncio.run(go())


# --- item 7: snippets ---------------------------------------------------------------------------------
def test_snippet_narrower_than_every_word():
    text = "cancer cells divide and cancer cells grow " * 3
    for width in (1, 3, 5):
        snip = make_snippet(text, "cancer cells", width)
        assert len(snip.strip("…")) <= width
    assert make_snippet(text, "cancer cells", 0) == ""


def test_snippet_with_a_matching_token_longer_than_the_window():
    for token in ("ACGT" * 62, "ACGT" * 75):            # 248 and 300 characters, one token each
        text = "filler words here " * 20 + token + " tail"
        snip = make_snippet(text, f"sequence {token}", 240)   # the search and server default width
        assert snip.startswith("…ACGTACGT") and len(snip.strip("…")) <= 240
        assert token[:200] in make_snippet(text, f"sequence {token}")   # the function default, 280


def test_cli_search_with_tiny_snippets(index, capsys):
    rc = main(["search", str(index.root), "cancer cells", "--snippet-chars", "3", "--retriever", "bm25"])
    out = capsys.readouterr().out
    assert rc == 0 and "d0" in out


# --- item 7: the batcher isolates failures ------------------------------------------------------------
def test_batcher_gives_an_error_only_to_the_failing_item():
    calls = []

    def fn(key, items):
        calls.append(list(items))
        if "poison" in items:
            raise KeyError("cell")
        return [item.upper() for item in items]

    batcher = Batcher(fn, max_batch=64, max_wait=0.5)

    async def fire():
        items = [f"q{i}" for i in range(15)] + ["poison"] + [f"q{i}" for i in range(15, 30)]
        return await asyncio.gather(*(batcher.submit("k", it) for it in items), return_exceptions=True)

    try:
        results = asyncio.run(fire())
    finally:
        batcher.close()
    assert max(len(c) for c in calls) > 1                # the poisoned item was batched with others
    assert isinstance(results[15], KeyError)
    assert results[:15] + results[16:] == [f"Q{i}" for i in range(30)]


def test_batcher_plain_calls_fail_alone():
    batcher = Batcher(lambda key, items: items, max_wait=0.2)

    def boom():
        raise ValueError("bad")

    async def fire():
        return await asyncio.gather(batcher.run(lambda: 1), batcher.run(boom), batcher.run(lambda: 3),
                                    return_exceptions=True)

    try:
        ok1, bad, ok3 = asyncio.run(fire())
    finally:
        batcher.close()
    assert (ok1, ok3) == (1, 3) and isinstance(bad, ValueError)


class PoisonedIndex:
    """An index whose batched search fails whenever one of the queries mentions POISON."""

    def __init__(self, index):
        self._index = index
        self.batches = []

    def __getattr__(self, name):
        return getattr(self._index, name)

    def search(self, queries, **kw):
        self.batches.append(list(queries))
        if any("POISON" in q for q in queries):
            raise KeyError("cell")
        return self._index.search(queries, **kw)


def test_one_poisoned_request_does_not_fail_thirty_others(index):
    poisoned = PoisonedIndex(index)
    app = create_app(poisoned, limits=ServeLimits(max_batch=64, batch_wait_ms=200))
    queries = [f"{WORDS[i % len(WORDS)]} question {i}" for i in range(30)]

    async def fire():
        async with client(app) as c:
            bodies = [{"query": q, "k": 3, "mode": "hybrid"} for q in queries[:10]]
            bodies += [{"query": "POISON cells", "k": 3, "mode": "hybrid"}]
            bodies += [{"query": q, "k": 3, "mode": "hybrid"} for q in queries[10:]]
            return await asyncio.gather(*(c.post("/search", json=b) for b in bodies))

    responses = asyncio.run(fire())
    bad = responses.pop(10)
    assert any(len(b) > 1 and any("POISON" in q for q in b) for b in poisoned.batches)  # batched together
    assert [r.status_code for r in responses] == [200] * 30
    want = index.search(queries, k=3, mode="hybrid")
    for r, hits in zip(responses, want):
        assert [x["id"] for x in r.json()["results"]] == [h.id for h in hits]
    assert bad.status_code == 500
    assert "internal error while searching (KeyError)" in bad.json()["error"]
    assert "Traceback" not in bad.text and "File \"" not in bad.text


# --- items 3 and 6 (server side): non-finite numbers and blank queries --------------------------------
@pytest.mark.parametrize("body,field", [
    ('{"query": "cells", "weights": [NaN, 1]}', "weights.0"),
    ('{"query": "cells", "weights": [1, Infinity]}', "weights.1"),
    ('{"query": "cells", "rrf_k": NaN, "fusion": "rrf"}', "rrf_k"),
    ('{"query": "cells", "weights": [-Infinity, 1]}', "weights.0"),
])
def test_non_finite_numbers_get_422_naming_the_field(index, body, field):
    r = request(create_app(index), "POST", "/search", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert f"{field}:" in r.json()["error"] and "finite" in r.json()["error"]


@pytest.mark.parametrize("query", [" ", "   \n\t ", "\u3000"])
def test_blank_query_gets_422(index, query):
    r = request(create_app(index), "POST", "/search", json={"query": query})
    assert r.status_code == 422 and "query: the query is empty or only whitespace" in r.json()["error"]


def test_blank_embedding_input_gets_422(index):
    app = create_app(index)
    r = request(app, "POST", "/v1/embeddings", json={"input": ["fine text", "  "]})
    assert r.status_code == 422 and "input[1]" in r.json()["error"]["message"]     # OpenAI's error shape under /v1/
    assert request(app, "POST", "/v1/embeddings", json={"input": "fine text"}).status_code == 200


# --- item 9: API key, Host header, docs, CDN, echoed ids ----------------------------------------------
def test_empty_api_key_is_refused(index, capsys, monkeypatch):
    uvicorn = pytest.importorskip("uvicorn")

    def started(*args, **kwargs):
        raise AssertionError("the server started with an empty API key")

    monkeypatch.setattr(uvicorn, "run", started)
    monkeypatch.delenv("REASONIR_API_KEY", raising=False)
    assert main(["serve", str(index.root), "--api-key", ""]) == 2
    assert "--api-key is empty" in capsys.readouterr().err
    monkeypatch.setenv("REASONIR_API_KEY", "  ")
    assert main(["serve", str(index.root)]) == 2
    assert "REASONIR_API_KEY is empty" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="empty"):
        create_app(index, api_key="")


def test_key_helpers():
    from reasonir.netguard import key_from_headers, key_matches, normalize_api_key

    assert normalize_api_key(None) is None and normalize_api_key(" k1 ") == "k1"
    with pytest.raises(ConfigError, match="printable ASCII"):
        normalize_api_key("k\n1")
    headers = {"authorization": "Bearer  k1 "}.get
    assert key_from_headers(headers) == "k1" and key_matches("k1", "k1")
    assert key_from_headers({"x-api-key": "k2"}.get) == "k2"
    assert not key_matches("", "k1") and not key_matches("k1x", "k1")


@pytest.mark.parametrize("host,status", [
    ("localhost", 200), ("localhost:8000", 200), ("127.0.0.1:8000", 200), ("[::1]:8000", 200),
    ("LOCALHOST.", 200), ("app.localhost:8000", 200),
    ("evil.example", 400), ("evil.example:8000", 400), ("127.0.0.1.evil.example", 400), ("localhost.evil", 400),
])
def test_host_header_is_checked_without_a_key(index, host, status):
    r = request(create_app(index), "GET", "/health", host=host)
    assert r.status_code == status
    if status == 400:
        assert "DNS rebinding" in r.json()["error"] and "--allowed-hosts" in r.json()["error"]


def test_allowed_hosts_extend_the_check(index):
    app = create_app(index, allowed_hosts=["search.lan"])
    assert request(app, "GET", "/health", host="search.lan:8000").status_code == 200
    assert request(app, "GET", "/health", host="other.lan").status_code == 400
    assert request(create_app(index, allowed_hosts=["*"]), "GET", "/health", host="other.lan").status_code == 200
    keyed = create_app(index, api_key="s3cret")          # with a key, any Host (the key is the defence)
    assert request(keyed, "GET", "/health", host="search.example.org").status_code == 200


def test_bind_address_and_wildcard_bind(monkeypatch):
    from reasonir.netguard import AllowedHosts

    monkeypatch.delenv("REASONIR_API_KEY", raising=False)
    lan = ServeConfig(index_dir="x", host="192.168.1.5").allowed(None)
    assert lan.allows("192.168.1.5:8000") and lan.allows("localhost") and not lan.allows("10.0.0.9")
    assert not lan.allows("rebind.attacker.example")
    named = ServeConfig(index_dir="x", host="search.lan", allowed_hosts=["alias.lan"]).allowed(None)
    assert named.allows("search.lan") and named.allows("alias.lan:80") and not named.allows("other.lan")
    everywhere = AllowedHosts.for_server("0.0.0.0")
    assert everywhere.allows("10.0.0.9:8000") and everywhere.allows("[fe80::1]") and everywhere.allows("localhost")
    assert not everywhere.allows("rebind.attacker.example")
    assert ServeConfig(index_dir="x", api_key="k").allowed("k") is None
    with pytest.raises(ConfigError, match="not a host name"):
        ServeConfig(index_dir="x", allowed_hosts=["http://x/"]).validate()


def test_with_a_key_the_api_docs_need_it_too(index):
    app = create_app(index, api_key="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    for path in ("/docs", "/openapi.json"):
        assert request(app, "GET", path).status_code == 401
        assert request(app, "GET", path, headers=auth).status_code == 200
    assert request(app, "GET", "/redoc").status_code == 404
    assert request(app, "GET", "/redoc", headers=auth).status_code == 404
    assert request(app, "GET", "/").status_code == 200          # the page itself asks for the key


_EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//""",
                       re.IGNORECASE)


def test_no_page_loads_anything_from_another_site(index):
    app = create_app(index)
    for path in ("/", "/docs"):
        r = request(app, "GET", path)
        assert r.status_code == 200 and "<html" in r.text.lower()
        assert not _EXTERNAL.search(r.text), f"{path} loads from another site"
        assert "default-src 'none'" in r.headers["content-security-policy"]
    docs = request(app, "GET", "/docs").text
    assert "/search" in docs and "snippet_chars" in docs and "<script" not in docs
    schema = request(app, "GET", "/openapi.json").json()
    assert "/search" in schema["paths"]


def test_echoed_input_is_capped(index):
    app = create_app(index)
    r = request(app, "GET", "/documents/" + "x" * 5000)
    assert r.status_code == 404 and "5002 characters" in r.json()["error"] and len(r.text) < 400
    body = {"query": "cells", **{"f" * 2000 + str(i): 1 for i in range(200)}}
    r = request(app, "POST", "/search", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and len(r.text) < 8000 and "more problems" in r.text
    from reasonir.netguard import echo_many

    assert echo_many(["a" * 500] * 9, max_count=3, max_chars=20).endswith("and 6 more")
