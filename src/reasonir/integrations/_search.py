"""What the LangChain and LlamaIndex retrievers share: one search of an open index or of a server.

Both adapters turn a query into a list of :class:`SearchResult` (id, score, title, text, metadata
and the per-system scores) and only differ in the objects they wrap them in. Searches of an
:class:`~reasonir.index.Index` are serialised per index (its query encoder is not re-entrant), so
a retriever can be called from LangChain's thread-pool ``ainvoke`` or from several threads.
The HTTP client speaks to ``reasonir serve`` (``POST /search``) with ``httpx``.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ReasonIRError, require
from ..index import Index

API_KEY_ENV = "REASONIR_API_KEY"
_LOCKS: weakref.WeakKeyDictionary[Index, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


class SearchServerError(ReasonIRError):
    """The search server could not be reached or refused a request (the message names URL and reason)."""


@dataclass(frozen=True)
class SearchResult:
    """One retrieved document, as both adapters need it.

    Attributes:
        id: the document id.
        score: the (fused) score; higher is better.
        rank: 1-based position in the result list.
        title: the document's title ("" when it has none).
        text: the document's text.
        metadata: the document's other stored fields (empty for results from a server).
        dense: the dense score (dense and hybrid search).
        bm25: the BM25 score (BM25 and hybrid search).
    """

    id: str
    score: float
    rank: int
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    dense: float | None = None
    bm25: float | None = None

    def describe(self) -> dict[str, Any]:
        """The fields a framework keeps next to the text: id, score, rank, title, per-system scores, metadata."""
        out: dict[str, Any] = {**self.metadata, "id": self.id, "score": self.score, "rank": self.rank,
                               "title": self.title}
        if self.dense is not None:
            out["dense"] = self.dense
        if self.bm25 is not None:
            out["bm25"] = self.bm25
        return out


def open_index(index: Index | str | os.PathLike[str]) -> Index:
    """``index`` itself when it is an open :class:`Index`, else the index opened from that directory."""
    if isinstance(index, Index):
        return index
    if isinstance(index, str | os.PathLike):
        return Index.open(Path(index))
    raise ConfigError(f"index must be an open reasonir Index or an index directory, got {type(index).__name__}")


def check_k(k: int) -> int:
    """``k`` when it is a positive int, else :class:`ConfigError`."""
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"k must be a positive integer (results per query), got {k!r}")
    return k


def default_mode(index: Index) -> str:
    """The mode a search uses when none is given: hybrid when the index has BM25, else dense (as the server)."""
    return "hybrid" if index.has_bm25 else "dense"


def _lock_for(index: Index) -> threading.Lock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(index)
        if lock is None:
            lock = _LOCKS[index] = threading.Lock()
        return lock


def search_index(index: Index, query: str, k: int, mode: str | None = None, instruction: str | None = None,
                 options: Mapping[str, Any] | None = None) -> list[SearchResult]:
    """Search one query in an open index and fetch each hit's stored document.

    Args:
        index: the open index.
        query: the query text.
        k: results to return.
        mode: ``dense``, ``bm25``, ``bm25q`` or ``hybrid`` (default: :func:`default_mode`).
        instruction: query instruction for the encoder (default: the index's).
        options: further keywords of :meth:`Index.search` (``fusion``, ``weights``, ``candidates``, ...).

    Returns:
        Up to ``k`` results, best first.

    Raises:
        ConfigError: an unknown mode or option, or ``k <= 0``.
        EmptyQueryError: the query is empty or whitespace only.
    """
    check_k(k)
    with _lock_for(index):
        hits = index.search([query], k=k, mode=mode or default_mode(index), instruction=instruction,
                            **dict(options or {}))[0]
        docs = index.documents([h.row for h in hits])
    return [SearchResult(id=h.id, score=float(h.score), rank=n, title=d.title or "", text=d.text,
                         metadata=dict(d.metadata), dense=h.dense, bm25=h.bm25)
            for n, (h, d) in enumerate(zip(hits, docs), start=1)]


class SearchClient:
    """A small client of ``reasonir serve``'s ``POST /search`` (sync and async).

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer KEY`` (default: ``$REASONIR_API_KEY``, else none).
        timeout: seconds per request.
        extra: ``httpx`` package extra to name when it is missing.
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0, extra: str = "langchain"):
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"url must be the server's http(s) base URL, e.g. http://127.0.0.1:8000, got {url!r}")
        self.httpx = require("httpx", extra)
        self.url = url.rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        self.headers = {"Authorization": f"Bearer {key.strip()}"} if key and key.strip() else {}
        self.timeout = timeout

    def payload(self, query: str, k: int, mode: str | None, instruction: str | None,
                options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The JSON body of one search: full texts, no snippets."""
        body: dict[str, Any] = {"query": query, "k": check_k(k), "include_text": True, "snippet_chars": 0}
        if mode is not None:
            body["mode"] = mode
        if instruction is not None:
            body["instruction"] = instruction
        body.update(options or {})
        return body

    def search(self, query: str, k: int, mode: str | None = None, instruction: str | None = None,
               options: Mapping[str, Any] | None = None) -> list[SearchResult]:
        """Search one query on the server.

        Raises:
            SearchServerError: the server is unreachable or answered with an error (status and reason).
        """
        body = self.payload(query, k, mode, instruction, options)
        try:
            response = self.httpx.post(self.url + "/search", json=body, headers=self.headers, timeout=self.timeout)
        except self.httpx.HTTPError as exc:
            raise SearchServerError(f"cannot reach the reasonir server at {self.url}: {exc}") from exc
        return self._results(response)

    async def asearch(self, query: str, k: int, mode: str | None = None, instruction: str | None = None,
                      options: Mapping[str, Any] | None = None) -> list[SearchResult]:
        """:meth:`search` without blocking the event loop."""
        body = self.payload(query, k, mode, instruction, options)
        try:
            async with self.httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url + "/search", json=body, headers=self.headers)
        except self.httpx.HTTPError as exc:
            raise SearchServerError(f"cannot reach the reasonir server at {self.url}: {exc}") from exc
        return self._results(response)

    def _results(self, response: Any) -> list[SearchResult]:
        if response.status_code != 200:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = None
            reason = detail if isinstance(detail, str) else response.text[:300]
            hint = " (pass api_key= or set $REASONIR_API_KEY)" if response.status_code == 401 else ""
            raise SearchServerError(f"{self.url}/search answered {response.status_code}: {reason}{hint}")
        try:
            results = response.json()["results"]
            return [SearchResult(id=str(r["id"]), score=float(r["score"]), rank=int(r.get("rank", n)),
                                 title=r.get("title") or "", text=r.get("text") or "",
                                 dense=r.get("dense"), bm25=r.get("bm25"))
                    for n, r in enumerate(results, start=1)]
        except (ValueError, KeyError, TypeError) as exc:
            raise SearchServerError(f"{self.url}/search answered 200 with a body that is not a reasonir result "
                                    f"list ({exc!r}); is this a reasonir server?") from exc
