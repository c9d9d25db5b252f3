"""LangChain retrievers over an index and over `reasonir serve`, with the real langchain-core."""

from __future__ import annotations

import asyncio
import importlib
import sys

import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document as LCDocument  # noqa: E402
from langchain_core.runnables import RunnableLambda  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from reasonir.errors import ConfigError, DependencyError  # noqa: E402
from reasonir.index import Index  # noqa: E402
from reasonir.integrations._search import SearchServerError  # noqa: E402
from reasonir.integrations.langchain import ReasonIRRetriever, ReasonIRServerRetriever  # noqa: E402
from served_index import ServedIndex, build_small_index  # noqa: E402

QUERY = "how do leaves turn light into sugar with chlorophyll"
KEY = "lc-s3cret"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return build_small_index(tmp_path_factory.mktemp("lc"))


@pytest.fixture(scope="module")
def index(index_dir):
    idx = Index.open(index_dir)
    yield idx
    idx.close()


@pytest.fixture(scope="module")
def server(index_dir):
    pytest.importorskip("uvicorn")
    pytest.importorskip("fastapi")
    srv = ServedIndex(index_dir, api_key=KEY)
    yield srv
    srv.stop()


def test_index_retriever_returns_the_index_hits_as_documents(index):
    docs = ReasonIRRetriever(index=index, k=3).invoke(QUERY)
    hits = index.search(QUERY, k=3, mode="hybrid")
    assert all(isinstance(d, LCDocument) for d in docs)
    assert [d.id for d in docs] == [h.id for h in hits]
    assert [d.metadata["score"] for d in docs] == pytest.approx([h.score for h in hits])
    assert [d.metadata["rank"] for d in docs] == [1, 2, 3]
    top = docs[0]
    stored = index.get(top.id)
    assert top.page_content == stored.text and top.metadata["title"] == stored.title == "Plants"
    assert top.metadata["source"] == "tests" and {"dense", "bm25"} <= set(top.metadata)


def test_index_retriever_opens_a_directory_and_takes_search_options(index_dir):
    retriever = ReasonIRRetriever(index=str(index_dir), k=2, mode="bm25")
    assert isinstance(retriever.index, Index)
    docs = retriever.invoke("insulin pancreas")
    assert len(docs) == 2 and all(d.id.startswith("insulin-") for d in docs)
    assert all("bm25" in d.metadata and "dense" not in d.metadata for d in docs)
    rrf = ReasonIRRetriever(index=retriever.index, k=4, search_kwargs={"fusion": "rrf"}).invoke("insulin pancreas")
    assert [d.id for d in rrf] == [h.id for h in retriever.index.search("insulin pancreas", k=4, fusion="rrf")]


def test_index_retriever_is_a_runnable_async_and_batched(index):
    retriever = ReasonIRRetriever(index=index, k=3)
    want = [d.id for d in retriever.invoke(QUERY)]
    assert [d.id for d in asyncio.run(retriever.ainvoke(QUERY))] == want
    queries = [QUERY, "earthquakes and faults", "axon signal in the brain", "event horizon of black holes"] * 3
    batched = retriever.batch(queries, config={"max_concurrency": 4})          # threads share one index
    assert [[d.id for d in docs] for docs in batched] == [[d.id for d in retriever.invoke(q)] for q in queries]
    chain = retriever | RunnableLambda(lambda docs: [d.metadata["title"] for d in docs])
    assert chain.invoke("earthquakes and faults")[0] == "Quakes"


def test_index_retriever_refuses_bad_settings(index):
    with pytest.raises(ValidationError, match="k"):
        ReasonIRRetriever(index=index, k=0)
    with pytest.raises(ConfigError, match="unknown search mode 'splade'"):
        ReasonIRRetriever(index=index, mode="splade").invoke(QUERY)
    with pytest.raises(ConfigError, match="open reasonir Index or an index directory"):
        ReasonIRRetriever(index=42)


def test_server_retriever_matches_the_index_retriever(server, index):
    local = ReasonIRRetriever(index=index, k=4).invoke(QUERY)
    remote = ReasonIRServerRetriever(url=server.url, api_key=KEY, k=4).invoke(QUERY)
    assert [d.id for d in remote] == [d.id for d in local]
    assert [d.page_content for d in remote] == [d.page_content for d in local]
    assert [d.metadata["score"] for d in remote] == pytest.approx([d.metadata["score"] for d in local])
    assert remote[0].metadata["title"] == "Plants"
    dense = asyncio.run(ReasonIRServerRetriever(url=server.url + "/", api_key=KEY, k=2, mode="dense").ainvoke(QUERY))
    assert [d.id for d in dense] == [h.id for h in index.search(QUERY, k=2, mode="dense")]


def test_server_retriever_key_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("REASONIR_API_KEY", KEY)
    assert len(ReasonIRServerRetriever(url=server.url, k=1).invoke(QUERY)) == 1


def test_server_retriever_errors_name_the_cause(server):
    with pytest.raises(SearchServerError, match=r"answered 401: .*pass api_key="):
        ReasonIRServerRetriever(url=server.url, api_key="wrong", k=1).invoke(QUERY)
    with pytest.raises(SearchServerError, match="answered 401"):
        asyncio.run(ReasonIRServerRetriever(url=server.url, k=1).ainvoke(QUERY))
    with pytest.raises(SearchServerError, match="answered 422: .*k"):
        ReasonIRServerRetriever(url=server.url, api_key=KEY, k=5000).invoke(QUERY)
    with pytest.raises(SearchServerError, match="cannot reach the reasonir server at http://127.0.0.1:9"):
        ReasonIRServerRetriever(url="http://127.0.0.1:9", k=1, timeout=5).invoke(QUERY)
    with pytest.raises(ConfigError, match="http"):
        ReasonIRServerRetriever(url="127.0.0.1:8000").invoke(QUERY)


def test_missing_langchain_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "reasonir.integrations.langchain")
    monkeypatch.setitem(sys.modules, "langchain_core", None)                  # as if not installed
    with pytest.raises(DependencyError, match=r"pip install 'reasonir\[langchain\]'"):
        importlib.import_module("reasonir.integrations.langchain")
