"""POST /search with a metadata filter: only matching documents, k of them, and a 422 naming a bad filter's column."""

import pytest
from served_index import RunningServer, build_small_index

from reasonir.index import Index

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from reasonir.serve import create_app  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    index = Index.open(build_small_index(tmp_path_factory.mktemp("serve_filters")))
    srv = RunningServer(create_app(index))
    yield srv, index
    srv.stop()
    index.close()


@pytest.mark.parametrize("mode", ["dense", "bm25", "bm25q", "hybrid"])
def test_filtered_search_returns_only_matching_documents(server, mode):
    srv, index = server
    body = {"query": "sugar glucose plants energy", "k": 3, "mode": mode, "filter": "n >= 2 and source == 'tests'"}
    r = httpx.post(srv.url + "/search", json=body, timeout=120)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results and all(index.get(x["id"]).metadata["n"] >= 2 for x in results)
    unfiltered = httpx.post(srv.url + "/search", json={**body, "filter": None}, timeout=120).json()["results"]
    assert any(index.get(x["id"]).metadata["n"] < 2 for x in unfiltered)      # the filter changed the answer
    if mode == "dense":
        assert len(results) == 3
        r = httpx.post(srv.url + "/search", json={**body, "k": 50, "filter": "n == 1"}, timeout=120)
        assert sorted(x["id"] for x in r.json()["results"]) == sorted(f"{t}-1" for t in
                                                                         ("plants", "quakes", "insulin", "neurons",
                                                                          "gravity"))


def test_bad_filter_is_a_422_naming_the_column(server):
    srv, _ = server
    r = httpx.post(srv.url + "/search", json={"query": "sugar", "filter": "n => 2"}, timeout=120)
    assert r.status_code == 422
    assert "filter" in r.text and "column 3" in r.text


def test_filter_is_in_the_openapi_schema(server):
    srv, _ = server
    schema = httpx.get(srv.url + "/openapi.json", timeout=120).json()
    assert "filter" in schema["components"]["schemas"]["SearchRequest"]["properties"]
