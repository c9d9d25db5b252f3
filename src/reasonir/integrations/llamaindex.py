"""LlamaIndex retrievers over a reasonir index, opened in this process or served by ``reasonir serve``.

Both subclass ``llama_index.core.retrievers.BaseRetriever``: ``retrieve(query)`` (and
``aretrieve``) return ``NodeWithScore`` objects holding a ``TextNode`` whose ``id_`` is the doc id,
``text`` the document text and ``metadata`` its title, rank, per-system scores and stored fields.
Only the title is shown to the LLM and to embedders (the other keys are excluded from the node's
content), so a query engine reads ``title: ...`` above each text and nothing else.

Examples:
    >>> from reasonir.integrations.llamaindex import ReasonIRRetriever  # doctest: +SKIP
    >>> nodes = ReasonIRRetriever("my_index", k=5).retrieve("why does ice float?")  # doctest: +SKIP
    >>> nodes[0].node.node_id, nodes[0].score  # doctest: +SKIP

Needs ``pip install 'reasonir[llamaindex]'`` (``llama-index-core``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import require
from ..index import Index
from ._search import SearchClient, SearchResult, check_k, open_index, search_index

require("llama_index.core", "llamaindex", "llama-index-core")

from llama_index.core.retrievers import BaseRetriever  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402

__all__ = ["ReasonIRRetriever", "ReasonIRServerRetriever", "to_node"]


def to_node(result: SearchResult) -> NodeWithScore:
    """A ``NodeWithScore`` for one search result (only ``title`` reaches the LLM and embedders)."""
    metadata = result.describe()
    metadata.pop("score", None)                      # the score lives on NodeWithScore
    hidden = [key for key in metadata if key != "title"]
    node = TextNode(id_=result.id, text=result.text, metadata=metadata,
                    excluded_llm_metadata_keys=hidden, excluded_embed_metadata_keys=hidden)
    return NodeWithScore(node=node, score=result.score)


class ReasonIRRetriever(BaseRetriever):
    """Retrieve from a reasonir index opened in this process.

    Args:
        index: an open :class:`reasonir.index.Index`, or an index directory (opened once).
        k: documents per query.
        mode: ``dense``, ``bm25``, ``bm25q`` or ``hybrid`` (default: hybrid when the index has BM25,
            else dense).
        instruction: query instruction for the encoder (default: the one the index was built with).
        search_kwargs: further keywords of :meth:`reasonir.index.Index.search` (``fusion``,
            ``weights``, ``candidates``, ``exact``, ...).
        **kwargs: LlamaIndex's retriever options (``callback_manager``, ``verbose``, ...).

    Raises:
        ConfigError: ``k <= 0``; an unknown mode or search keyword (at the first search).
        IndexNotFoundError: ``index`` is a directory without a committed index.
    """

    def __init__(self, index: Index | str | os.PathLike[str], k: int = 10, mode: str | None = None,
                 instruction: str | None = None, search_kwargs: Mapping[str, Any] | None = None, **kwargs: Any):
        self.index = open_index(index)
        self.k = check_k(k)
        self.mode = mode
        self.instruction = instruction
        self.search_kwargs = dict(search_kwargs or {})
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        results = search_index(self.index, query_bundle.query_str, self.k, self.mode, self.instruction,
                               self.search_kwargs)
        return [to_node(r) for r in results]


class ReasonIRServerRetriever(BaseRetriever):
    """Retrieve from a running ``reasonir serve`` (``POST /search``), sync or async.

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8000``.
        api_key: the server's key, sent as ``Authorization: Bearer KEY`` (default:
            ``$REASONIR_API_KEY``, else none).
        k: documents per query.
        mode: ``dense``, ``bm25``, ``bm25q`` or ``hybrid`` (default: the server's).
        instruction: query instruction for the encoder (default: the index's).
        search_kwargs: further fields of the search request (``fusion``, ``weights``, ``candidates``, ...).
        timeout: seconds per request.
        **kwargs: LlamaIndex's retriever options (``callback_manager``, ``verbose``, ...).

    Raises:
        ConfigError: a URL that is not http(s), or ``k <= 0``.
        SearchServerError: the server is unreachable or refuses a request (status and reason named).
    """

    def __init__(self, url: str, api_key: str | None = None, k: int = 10, mode: str | None = None,
                 instruction: str | None = None, search_kwargs: Mapping[str, Any] | None = None,
                 timeout: float = 60.0, **kwargs: Any):
        self.client = SearchClient(url, api_key, timeout, extra="llamaindex")
        self.k = check_k(k)
        self.mode = mode
        self.instruction = instruction
        self.search_kwargs = dict(search_kwargs or {})
        super().__init__(**kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        results = self.client.search(query_bundle.query_str, self.k, self.mode, self.instruction, self.search_kwargs)
        return [to_node(r) for r in results]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        results = await self.client.asearch(query_bundle.query_str, self.k, self.mode, self.instruction,
                                            self.search_kwargs)
        return [to_node(r) for r in results]
