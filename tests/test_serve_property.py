"""Property tests for the HTTP request models of ``reasonir serve``: random and adversarial bodies,
ids and headers get a correct answer or a 4xx with a readable message, never a 500 or a hang."""

import asyncio
import json
import math
from urllib.parse import quote

import pytest

from reasonir.index import Index, IndexOptions, build_index, make_snippet
from reasonir.io import write_corpus
from reasonir.types import Document

hypothesis = pytest.importorskip("hypothesis")
httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reasonir.serve import ServeLimits, create_app  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SEARCH_FIELDS = ["query", "k", "mode", "instruction", "fusion", "weights", "rrf_k", "candidates", "bm25_mode",
                 "exact", "snippet_chars", "include_text"]
EMBED_FIELDS = ["input", "model", "encoding_format", "dimensions", "input_type", "instruction"]
ERROR_STATUSES = {400, 401, 404, 413, 422}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-prop")
    docs = [Document(f"d{i}", f"topic {i % 7} words about cells light and stars number {i}", title=f"T{i}")
            for i in range(40)]
    write_corpus(root / "c.jsonl", docs)
    build_index(str(root / "c.jsonl"), str(root / "idx"), IndexOptions(model="hash", bm25=True))
    index = Index.open(root / "idx")
    index.search(["warm up"], k=1, mode="hybrid")
    return create_app(index, limits=ServeLimits(max_k=50, max_body_bytes=64 * 1024, batch_wait_ms=0))


def send(app, method, path, host="localhost", **kw):
    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}", timeout=60) as c:
            return await c.request(method, path, **kw)
    return asyncio.run(go())


def assert_answered(r):
    """A success, or a 4xx whose JSON body carries a one-line, bounded error message."""
    assert r.status_code == 200 or r.status_code in ERROR_STATUSES, (r.status_code, r.text[:500])
    if r.status_code != 200:
        error = r.json()["error"]
        if isinstance(error, dict):                     # OpenAI's error shape under /v1/
            error = error.get("message")
        assert isinstance(error, str) and error and "Traceback" not in error and len(r.text) < 20000
        assert "\n" not in error


scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
good_search_values = {
    "query": st.text(min_size=0, max_size=60), "k": st.integers(-5, 80), "mode": st.sampled_from(
        ["dense", "bm25", "bm25q", "hybrid", "splade", ""]),
    "instruction": st.none() | st.text(max_size=30), "fusion": st.sampled_from(["interpolate", "rrf", "max"]),
    "weights": st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=3),
    "rrf_k": st.floats(allow_nan=True, allow_infinity=True), "candidates": st.integers(-2, 20000),
    "bm25_mode": st.sampled_from(["bm25", "bm25q", "x"]), "exact": st.booleans(),
    "snippet_chars": st.integers(-3, 12000), "include_text": st.booleans()}


@st.composite
def search_bodies(draw):
    """Mostly well-typed bodies with edge values, some fields of any JSON type, some unknown fields."""
    body = {}
    for name in draw(st.lists(st.sampled_from(SEARCH_FIELDS), unique=True, max_size=len(SEARCH_FIELDS))):
        body[name] = draw(json_values if draw(st.integers(0, 4)) == 0 else good_search_values[name])
    if draw(st.integers(0, 5)) == 0:
        body[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    return body


@SETTINGS
@given(body=search_bodies())
@example(body={"query": "cells", "weights": [math.nan, 1.0]})
@example(body={"query": "cells", "rrf_k": math.inf, "fusion": "rrf"})
@example(body={"query": " \n\t"})
@example(body={"query": "cells", "x" * 3000: 1})
def test_search_bodies_are_answered_or_refused_clearly(app, body):
    r = send(app, "POST", "/search", content=json.dumps(body, allow_nan=True),
             headers={"Content-Type": "application/json"})
    assert_answered(r)
    if r.status_code == 200:                          # accepted only when every field is valid
        assert body["query"].strip() and 1 <= body.get("k", 10) <= 50
        weights = body.get("weights", [0.5, 0.5])
        assert all(math.isfinite(w) and w >= 0 for w in weights) and sum(weights) > 0
        assert len(r.json()["results"]) <= body.get("k", 10)
    elif isinstance(body.get("query"), str) and not body["query"].strip():
        assert r.status_code == 422


@SETTINGS
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8")))
def test_arbitrary_bytes_are_refused_clearly(app, raw):
    for path in ("/search", "/v1/embeddings"):
        assert_answered(send(app, "POST", path, content=raw, headers={"Content-Type": "application/json"}))


@SETTINGS
@given(body=st.dictionaries(st.sampled_from(EMBED_FIELDS), json_values, max_size=6)
       | st.builds(lambda texts: {"input": texts}, st.lists(st.text(max_size=30), max_size=5)))
def test_embedding_bodies_are_answered_or_refused_clearly(app, body):
    r = send(app, "POST", "/v1/embeddings", content=json.dumps(body, allow_nan=True),
             headers={"Content-Type": "application/json"})
    assert_answered(r)
    if r.status_code == 200:
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        assert len(r.json()["data"]) == len(texts) and all(t.strip() for t in texts)


@SETTINGS
@example(doc_id="x" * 3000)
@given(doc_id=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=3000))
def test_document_ids_are_found_or_404_with_a_bounded_echo(app, doc_id):
    r = send(app, "GET", "/documents/" + quote(doc_id, safe=""))
    assert_answered(r)
    if r.status_code == 404:
        assert len(r.json()["error"]) < 300


@SETTINGS
@given(host=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=300))
def test_any_host_header_is_answered_or_refused_clearly(app, host):
    r = send(app, "GET", "/health", headers={"Host": host})
    assert r.status_code in (200, 400), r.text[:300]
    if r.status_code == 400:
        assert "DNS rebinding" in r.json()["error"] and len(r.text) < 1000


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=600), query=st.text(max_size=60), width=st.integers(-5, 400))
def test_snippets_never_fail_and_stay_within_the_width(text, query, width):
    snip = make_snippet(text, query, width)
    assert len(snip.strip("…")) <= max(width, 0)
    if 0 < width and len(" ".join(text.split())) <= width:
        assert snip == " ".join(text.split())
