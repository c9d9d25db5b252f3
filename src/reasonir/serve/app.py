"""The HTTP API (FastAPI) over an index, and ``reasonir serve``.

Endpoints:

* ``POST /search`` — ``{"query", "k", "mode", "filter", "instruction", "fusion", "weights", ...}`` -> ranked
  results with id, score, per-system scores, title and a query-biased snippet;
* ``GET /documents/{id}`` — one document (ids may contain ``/``);
* ``POST /v1/embeddings`` — OpenAI-compatible embeddings from the index's encoder: ``model`` ``"<id>#query"``
  embeds queries, ``"<id>"`` or ``"<id>#document"`` documents; ``input`` may be texts or tiktoken token
  arrays (:mod:`reasonir.serve.openai_compat`); ``usage`` counts the encoder's own tokens (extension
  fields: ``input_type`` ``"query"``/``"document"``, ``instruction``);
* ``GET /v1/models`` (and ``/v1/models/{id}``) — the encoder's model id and its ``#query``/``#document`` names;
* ``GET /health`` — status and index summary; ``GET /`` — a web page to search;
* ``GET /docs`` — the API reference (``/openapi.json``: the schema); both work offline.

Limits: request bodies over ``max_body_bytes`` get 413; every field is validated and a bad request
gets a 4xx whose body names the field and the problem (non-finite numbers and blank queries
included): ``{"error": message}``, or under ``/v1/`` OpenAI's ``{"error": {"message", "type", "param",
"code"}}`` so OpenAI clients show the message. A request that fails inside the model worker fails
alone, never the requests batched with it. With an API key, every endpoint but ``/`` and
``/health`` needs ``Authorization: Bearer KEY`` (or ``X-API-Key: KEY``); without one, only requests
whose ``Host`` header names this machine are answered (DNS-rebinding defence). The server binds to
127.0.0.1 unless told otherwise.
"""

# no ``from __future__ import annotations``: FastAPI must see the request models built in create_app
import base64
import contextlib
import logging
import time
from collections.abc import Awaitable, Iterable, Sequence
from importlib import resources
from typing import Any

import numpy as np

from ..errors import ReasonIRError, require
from ..index import Index, make_snippet
from ..netguard import AllowedHosts, echo, key_from_headers, key_matches, normalize_api_key
from .batcher import Batcher
from .docs import CONTENT_SECURITY_POLICY, render_api_page
from .limits import BodyLimitMiddleware, HostCheckMiddleware, validation_message
from .models import Mode, ServeLimits, embedding_request_model, search_request_model
from .openai_compat import TokenInputError, count_tokens, decode_token_arrays, model_list, side_of_model

logger = logging.getLogger(__name__)

__all__ = ["ServeLimits", "create_app"]


def create_app(index: Index, api_key: str | None = None, limits: ServeLimits | None = None,
               allowed_hosts: AllowedHosts | Iterable[str] | None = None):
    """A FastAPI app serving ``index``.

    Args:
        index: an opened index.
        api_key: when set, required on every endpoint except ``/`` and ``/health`` (``/docs`` and
            ``/openapi.json`` included); an empty key is refused.
        limits: request limits.
        allowed_hosts: the ``Host`` header values to answer (an :class:`AllowedHosts`, or extra
            names added to the loopback ones). Default: loopback names only when there is no API
            key (a defence against DNS rebinding), no check with a key.

    Raises:
        ConfigError: for an empty API key or a malformed allowed host.
    """
    fastapi = require("fastapi", "serve")
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    api_key = normalize_api_key(api_key, "api_key")
    if allowed_hosts is not None and not isinstance(allowed_hosts, AllowedHosts):
        allowed_hosts = AllowedHosts.for_server("127.0.0.1", allowed_hosts)
    if allowed_hosts is None and api_key is None:
        allowed_hosts = AllowedHosts()
    limits = limits or ServeLimits()
    qmax = limits.max_query_chars
    default_mode: Mode = "hybrid" if index.has_bm25 else "dense"
    SearchRequest = search_request_model(limits, default_mode)
    EmbeddingRequest = embedding_request_model(limits)
    batcher = Batcher(lambda key, requests: run_search(index, requests), max_batch=limits.max_batch,
                      max_wait=limits.batch_wait_ms / 1000)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    # FastAPI's /docs and /redoc load scripts from a CDN: off; /docs is served below, offline
    app = FastAPI(title="reasonir", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None,
                  description="Search an index of documents with reasoning-heavy questions (dense, BM25, hybrid).")
    app.add_middleware(BodyLimitMiddleware, limit=limits.max_body_bytes)
    if allowed_hosts is not None:
        app.add_middleware(HostCheckMiddleware, allowed=allowed_hosts)    # outermost: checked first
        if allowed_hosts.any_host and api_key is None:
            logger.warning("no API key and any Host header accepted: web pages elsewhere may reach this server "
                           "through DNS rebinding")
    app.state.index, app.state.batcher = index, batcher
    started = int(time.time())

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        if not key_matches(key_from_headers(request.headers.get), api_key):
            raise HTTPException(401, "missing or invalid API key: send `Authorization: Bearer KEY`",
                                headers={"WWW-Authenticate": "Bearer"})

    async def on_worker(what: str, work: Awaitable[Any]) -> Any:
        """Await model work; an unexpected failure becomes a 500 that names the request, not the internals."""
        try:
            return await work
        except (ReasonIRError, StarletteHTTPException):
            raise
        except Exception as exc:
            logger.error("%s failed", what, exc_info=exc)
            raise HTTPException(500, f"internal error while {what} ({type(exc).__name__}); this request could "
                                     "not be answered, the server log has the details") from None

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_request(request, exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(ReasonIRError)
    async def _bad_request(request: Request, exc: ReasonIRError) -> JSONResponse:
        return error_response(request, 400, str(exc))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "auth_required": api_key is not None, **index.info(),
                "limits": {"max_query_chars": qmax, "max_k": limits.max_k,
                           "max_embedding_inputs": limits.max_embedding_inputs}}

    @app.post("/search", dependencies=[Depends(check_key)])
    async def search(req: SearchRequest) -> dict[str, Any]:     # type: ignore[valid-type]
        return await on_worker("searching", submit_search(index, batcher, req))

    @app.get("/documents/{doc_id:path}", dependencies=[Depends(check_key)])
    async def document(doc_id: str) -> dict[str, Any]:
        doc = await on_worker("reading a document", batcher.run(lambda: index.get(doc_id)))
        if doc is None:
            raise HTTPException(404, f"no document with id {echo(doc_id)} in this index")
        return {"id": doc.id, "title": doc.title, "text": doc.text, "metadata": doc.metadata}

    @app.get("/v1/models", dependencies=[Depends(check_key)])
    async def models() -> dict[str, Any]:
        return model_list(index.info()["model"], started)

    @app.get("/v1/models/{model_id:path}", dependencies=[Depends(check_key)])
    async def model(model_id: str) -> dict[str, Any]:
        for entry in model_list(index.info()["model"], started)["data"]:
            if entry["id"] == model_id:
                return entry
        raise HTTPException(404, f"no model {echo(model_id)} here; GET /v1/models lists the served names")

    @app.post("/v1/embeddings", dependencies=[Depends(check_key)])
    async def embeddings(body: EmbeddingRequest) -> dict[str, Any]:     # type: ignore[valid-type]
        req: Any = body
        base, side, texts, arrays = embedding_inputs(req, limits)
        if arrays is not None:
            try:                                                 # may load tiktoken's file: off the event loop
                texts = await run_in_threadpool(decode_token_arrays, arrays, base)
            except TokenInputError as exc:
                raise HTTPException(422, str(exc)) from None
        check_embedding_texts(index, req, texts, limits, decoded=arrays is not None)
        vecs, tokens = await on_worker("embedding", batcher.run(lambda: encode_embeddings(index, texts, side,
                                                                                          req.instruction)))
        return embedding_response(index, req, vecs, tokens)

    page = resources.files("reasonir.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    html_headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> HTMLResponse:
        return HTMLResponse(page, headers=html_headers)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(check_key)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False, dependencies=[Depends(check_key)])
    async def docs() -> HTMLResponse:
        return HTMLResponse(render_api_page(app.openapi()), headers=html_headers)

    del fastapi
    return app


def error_response(request: Any, status: int, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> Any:
    """``{"error": message}``; under ``/v1/`` OpenAI's ``{"error": {"message", "type", "param", "code"}}``."""
    from fastapi.responses import JSONResponse

    if request.url.path.startswith("/v1/"):
        kind = ("authentication_error" if status == 401 else "server_error" if status >= 500
                else "invalid_request_error")
        body = {"error": {"message": message, "type": kind, "param": None, "code": status}, **extra}
    else:
        body = {"error": message, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def invalid_request(request: Any, errors: Sequence[Any]) -> Any:
    """The 422 for a request that fails validation: one message naming the field and the problem."""
    if any(len(e["loc"]) > 2 and tuple(e["loc"][:2]) == ("body", "input") and isinstance(e["loc"][2], str)
           for e in errors):            # one error per branch of the input union: say what fits instead
        return error_response(request, 422, "input: give a string, a list of strings, a list of token ids "
                                            "(integers >= 0) or a list of such lists")
    message, details = validation_message(errors)
    return error_response(request, 422, message, detail=details)


def run_search(index: Index, requests: list[Any]) -> list[dict[str, Any]]:
    """Answer a batch of search requests that share every setting but the query (one index call)."""
    first = requests[0]
    t0 = time.perf_counter()
    hits = index.search([r.query for r in requests], k=first.k, mode=first.mode, instruction=first.instruction,
                        fusion=first.fusion, weights=first.weights, rrf_k=first.rrf_k,
                        candidates=first.candidates, bm25_mode=first.bm25_mode, exact=first.exact,
                        filter=first.filter)
    took = (time.perf_counter() - t0) * 1000
    out = []
    for req, hs in zip(requests, hits):
        docs = index.documents([h.row for h in hs])
        results = []
        for rank, (h, d) in enumerate(zip(hs, docs), start=1):
            item = {"rank": rank, "id": h.id, "score": h.score, "dense": h.dense, "bm25": h.bm25,
                    "title": d.title, "snippet": make_snippet(d.text, req.query, req.snippet_chars)}
            if req.include_text:
                item["text"] = d.text
            results.append(item)
        out.append({"query": req.query, "mode": req.mode, "results": results, "took_ms": round(took, 2),
                    "batched_with": len(requests) - 1})
    return out


def submit_search(index: Index, batcher: Batcher, req: Any) -> Awaitable[dict[str, Any]]:
    """The ``POST /search`` handler's work: check the mode, then queue the request with those sharing its settings.

    Raises:
        HTTPException: 400 when the index lacks the requested mode.
    """
    from fastapi import HTTPException

    if req.mode not in index.modes:
        raise HTTPException(400, f"mode {req.mode!r} is not available: this index supports "
                                 f"{', '.join(index.modes)} (build it with --bm25 for bm25/bm25q/hybrid)")
    key = (req.k, req.mode, req.instruction, req.fusion, req.weights, req.rrf_k, req.candidates, req.bm25_mode,
           req.exact, req.filter)
    return batcher.submit(key, req)


def embedding_inputs(req: Any, limits: ServeLimits) -> tuple[str | None, str, list[str], list[list[int]] | None]:
    """``(base model name, side, texts, token arrays or None)`` of a ``/v1/embeddings`` request.

    Raises:
        HTTPException: 422 for a bad model suffix, a side that contradicts it or no input; 413 for more
            inputs than ``limits.max_embedding_inputs``.
    """
    from fastapi import HTTPException

    try:
        base, side = side_of_model(req.model)
    except TokenInputError as exc:
        raise HTTPException(422, str(exc)) from None
    if req.input_type is not None and side is not None and req.input_type != side:
        raise HTTPException(422, f"input_type {req.input_type!r} contradicts the model name {echo(req.model)}; "
                                 "give one of them")
    inp: Any = req.input
    texts: list[str] = []
    arrays: list[list[int]] | None = None
    if isinstance(inp, str):
        texts = [inp]
    elif inp and all(isinstance(x, int) for x in inp):
        arrays = [inp]                                       # one token array
    elif inp and all(isinstance(x, list) for x in inp):
        arrays = list(inp)                                   # several token arrays
    else:
        texts = list(inp)
    n = len(arrays if arrays is not None else texts)
    if not n:
        raise HTTPException(422, "input: give at least one text")
    if n > limits.max_embedding_inputs:
        raise HTTPException(413, f"input: {n} texts exceed the limit of {limits.max_embedding_inputs} "
                                 "per request; split the request")
    return base, req.input_type or side or "document", texts, arrays


def check_embedding_texts(index: Index, req: Any, texts: list[str], limits: ServeLimits, decoded: bool) -> None:
    """Refuse blank decoded token arrays, texts over ``limits.max_query_chars`` and a foreign ``dimensions``.

    Raises:
        HTTPException: 422 or 413, naming the input.
    """
    from fastapi import HTTPException

    if decoded:
        for i, t in enumerate(texts):
            if not t.strip():
                raise HTTPException(422, f"input[{i}] decodes to only whitespace: every text needs words")
    qmax = limits.max_query_chars
    for i, t in enumerate(texts):
        if len(t) > qmax:
            raise HTTPException(413, f"input[{i}]: {len(t)} characters exceed the limit of {qmax}")
    if req.dimensions is not None and req.dimensions != index.dim:
        raise HTTPException(422, f"dimensions: this model produces {index.dim}-d vectors; omit `dimensions` "
                                 f"or set it to {index.dim}")


def encode_embeddings(index: Index, texts: list[str], side: str, instruction: str | None) -> tuple[np.ndarray, int]:
    """The vectors and the encoder's token count (run on the model worker, which owns the tokenizer)."""
    vecs = index.encode_queries(texts, instruction) if side == "query" else index.encode_documents(texts)
    return vecs, count_tokens(index.encoder, texts)


def embedding_response(index: Index, req: Any, vecs: np.ndarray, tokens: int) -> dict[str, Any]:
    """OpenAI's embeddings response: float lists, or little-endian float32 in base64 on request."""
    data = []
    for i, v in enumerate(vecs):
        emb: Any = (base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode("ascii")
                    if req.encoding_format == "base64" else [float(x) for x in v])
        data.append({"object": "embedding", "index": i, "embedding": emb})
    return {"object": "list", "data": data, "model": index.info()["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _version() -> str:
    from .. import __version__

    return __version__
