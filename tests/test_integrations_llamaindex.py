"""LlamaIndex retrievers over an index and over `reasonir serve`, with the real llama-index-core."""

from __future__ import annotations

import asyncio
import importlib
import sys

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode  # noqa: E402

from reasonir.errors import ConfigError, DependencyError  # noqa: E402
from reasonir.index import Index  # noqa: E402
from reasonir.integrations._search import SearchServerError  # noqa: E402
from reasonir.integrations.llamaindex import ReasonIRRetriever, ReasonIRServerRetriever  # noqa: E402
from served_index import ServedIndex, build_small_index  # noqa: E402

QUERY = "how do leaves turn light into sugar with chlorophyll"
KEY = "li-s3cret"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    return build_small_index(tmp_path_factory.mktemp("li"))


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


def test_index_retriever_returns_nodes_with_scores(index):
    nodes = ReasonIRRetriever(index, k=3).retrieve(QUERY)
    hits = index.search(QUERY, k=3, mode="hybrid")
    assert all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
    assert [n.node.node_id for n in nodes] == [h.id for h in hits]
    assert [n.score for n in nodes] == pytest.approx([h.score for h in hits])
    top = nodes[0].node
    stored = index.get(top.node_id)
    assert top.text == stored.text and top.metadata["title"] == "Plants" and top.metadata["rank"] == 1
    assert top.metadata["source"] == "tests" and "bm25" in top.metadata and "score" not in top.metadata
    # the LLM and embedders see the title and the text, not ranks or scores
    shown = top.get_content(metadata_mode=MetadataMode.LLM)
    assert "title: Plants" in shown and stored.text in shown
    assert "rank" not in shown and "bm25" not in shown and "source" not in shown


def test_index_retriever_options_async_and_a_query_engine(index_dir):
    retriever = ReasonIRRetriever(str(index_dir), k=2, mode="bm25")
    nodes = retriever.retrieve("insulin pancreas")
    assert len(nodes) == 2 and all(n.node.node_id.startswith("insulin-") for n in nodes)
    assert [n.node.node_id for n in asyncio.run(retriever.aretrieve("insulin pancreas"))] == \
        [n.node.node_id for n in nodes]
    engine = RetrieverQueryEngine.from_args(ReasonIRRetriever(retriever.index, k=3), llm=MockLLM())
    response = engine.query("what do black holes and gravity have to do with spacetime?")
    assert [n.node.node_id.split("-")[0] for n in response.source_nodes] == ["gravity"] * 3


def test_index_retriever_refuses_bad_settings(index):
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        ReasonIRRetriever(index, k=0)
    with pytest.raises(ConfigError, match="unknown search mode 'splade'"):
        ReasonIRRetriever(index, mode="splade").retrieve(QUERY)
    with pytest.raises(ConfigError, match="open reasonir Index or an index directory"):
        ReasonIRRetriever(3.5)


def test_server_retriever_matches_the_index_retriever(server, index):
    local = ReasonIRRetriever(index, k=4).retrieve(QUERY)
    remote = ReasonIRServerRetriever(server.url, api_key=KEY, k=4).retrieve(QUERY)
    assert [n.node.node_id for n in remote] == [n.node.node_id for n in local]
    assert [n.node.text for n in remote] == [n.node.text for n in local]
    assert [n.score for n in remote] == pytest.approx([n.score for n in local])
    assert remote[0].node.metadata["title"] == "Plants"
    dense = asyncio.run(ReasonIRServerRetriever(server.url, api_key=KEY, k=2, mode="dense").aretrieve(QUERY))
    assert [n.node.node_id for n in dense] == [h.id for h in index.search(QUERY, k=2, mode="dense")]


def test_server_retriever_errors_name_the_cause(server, monkeypatch):
    with pytest.raises(SearchServerError, match=r"answered 401: .*pass api_key="):
        ReasonIRServerRetriever(server.url, api_key="wrong", k=1).retrieve(QUERY)
    monkeypatch.setenv("REASONIR_API_KEY", KEY)
    assert len(ReasonIRServerRetriever(server.url, k=1).retrieve(QUERY)) == 1
    with pytest.raises(SearchServerError, match="answered 422"):
        ReasonIRServerRetriever(server.url, k=1, mode="splade").retrieve(QUERY)
    with pytest.raises(SearchServerError, match="cannot reach the reasonir server"):
        asyncio.run(ReasonIRServerRetriever("http://127.0.0.1:9", k=1, timeout=5).aretrieve(QUERY))
    with pytest.raises(ConfigError, match="http"):
        ReasonIRServerRetriever("ftp://example.org")


def test_missing_llama_index_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "reasonir.integrations.llamaindex")
    monkeypatch.setitem(sys.modules, "llama_index.core", None)                # as if not installed
    with pytest.raises(DependencyError, match=r"pip install 'reasonir\[llamaindex\]'"):
        importlib.import_module("reasonir.integrations.llamaindex")
