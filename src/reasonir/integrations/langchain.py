"""LangChain retrievers over a reasonir index, opened in this process or served by ``reasonir serve``.

Both are ``langchain_core.retrievers.BaseRetriever`` runnables: ``invoke(query)`` returns
LangChain ``Document`` objects (``page_content`` = the document text, ``id`` = its doc id, and the
title, score, rank, per-system scores and stored metadata in ``metadata``), best first.

Examples:
    >>> from reasonir.integrations.langchain import ReasonIRRetriever  # doctest: +SKIP
    >>> retriever = ReasonIRRetriever(index="my_index", k=5)          # doctest: +SKIP
    >>> retriever.invoke("why does ice float?")[0].metadata["title"]  # doctest: +SKIP
    >>> remote = ReasonIRServerRetriever(url="http://127.0.0.1:8000", api_key="KEY")  # doctest: +SKIP

Needs ``pip install 'reasonir[langchain]'`` (``langchain-core``).
"""

from __future__ import annotations

from typing import Any

from ..errors import require
from ._search import SearchClient, SearchResult, open_index, search_index

require("langchain_core", "langchain", "langchain-core")

from langchain_core.callbacks import (  # noqa: E402
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr  # noqa: E402

__all__ = ["ReasonIRRetriever", "ReasonIRServerRetriever", "to_document"]


def to_document(result: SearchResult) -> Document:
    """A LangChain ``Document`` for one search result (text as ``page_content``, the rest in ``metadata``)."""
    return Document(page_content=result.text, metadata=result.describe(), id=result.id)


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

    Raises:
        ConfigError: an unknown mode or search keyword, or ``k <= 0`` (at the first search for
            mode and keywords).
        IndexNotFoundError: ``index`` is a directory without a committed index.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any
    k: int = Field(default=10, gt=0)
    mode: str | None = None
    instruction: str | None = None
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, index: Any, **kwargs: Any):
        # opened here rather than in a validator, so reasonir's errors reach the caller unwrapped
        super().__init__(**{**kwargs, "index": open_index(index)})

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        results = search_index(self.index, query, self.k, self.mode, self.instruction, self.search_kwargs)
        return [to_document(r) for r in results]


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

    Raises:
        SearchServerError: the server is unreachable or refuses a request (status and reason named).
    """

    url: str
    api_key: SecretStr | None = None
    k: int = Field(default=10, gt=0)
    mode: str | None = None
    instruction: str | None = None
    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    timeout: float = Field(default=60.0, gt=0)
    _client: SearchClient | None = PrivateAttr(default=None)

    @property
    def client(self) -> SearchClient:
        """The HTTP client (made at first use)."""
        if self._client is None:
            key = self.api_key.get_secret_value() if self.api_key is not None else None
            self._client = SearchClient(self.url, key, self.timeout, extra="langchain")
        return self._client

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        results = self.client.search(query, self.k, self.mode, self.instruction, self.search_kwargs)
        return [to_document(r) for r in results]

    async def _aget_relevant_documents(self, query: str, *,
                                       run_manager: AsyncCallbackManagerForRetrieverRun) -> list[Document]:
        results = await self.client.asearch(query, self.k, self.mode, self.instruction, self.search_kwargs)
        return [to_document(r) for r in results]
