"""The HTTP API (FastAPI) over an index, and ``reasonir serve``.

Endpoints:

* ``POST /search`` — ``{"query", "k", "mode", "instruction", "fusion", "weights", ...}`` -> ranked
  results with id, score, per-system scores, title and a query-biased snippet;
* ``GET /documents/{id}`` — one document (ids may contain ``/``);
* ``POST /v1/embeddings`` — OpenAI-compatible embeddings from the index's encoder (extension fields:
  ``input_type`` ``"query"``/``"document"``, ``instruction``);
* ``GET /health`` — status and index summary; ``GET /`` — a web page to search.

Limits: request bodies over ``max_body_bytes`` get 413; every field is validated and a bad request
gets a 4xx whose body names the field and the problem. With an API key, every endpoint but ``/``
and ``/health`` needs ``Authorization: Bearer KEY`` (or ``X-API-Key: KEY``). The server binds to
127.0.0.1 unless told otherwise.
"""

# no ``from __future__ import annotations``: FastAPI must see the request models defined in create_app
import base64
import contextlib
import hmac
import logging
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np

from ..errors import ReasonIRError, require
from ..index import Index, make_snippet
from .batcher import Batcher
from .limits import BodyLimitMiddleware, validation_message

logger = logging.getLogger(__name__)


@dataclass
class ServeLimits:
    """Request limits (each rejected with a 4xx that names the limit)."""

    max_body_bytes: int = 1 << 20
    max_query_chars: int = 32768
    max_k: int = 1000
    max_candidates: int = 10000
    max_embedding_inputs: int = 256
    max_batch: int = 32
    batch_wait_ms: float = 2.0


def create_app(index: Index, api_key: str | None = None, limits: ServeLimits | None = None):
    """A FastAPI app serving ``index``.

    Args:
        index: an opened index.
        api_key: when set, required on every endpoint except ``/`` and ``/health``.
        limits: request limits.
    """
    fastapi = require("fastapi", "serve")
    from fastapi import Depends, FastAPI, HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException

    limits = limits or ServeLimits()
    qmax = limits.max_query_chars

    class SearchRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        query: str = Field(min_length=1, max_length=qmax, description="the question, any length up to the limit")
        k: int = Field(10, ge=1, le=limits.max_k)
        mode: Literal["dense", "bm25", "bm25q", "hybrid"] = "hybrid" if index.has_bm25 else "dense"
        instruction: str | None = Field(None, max_length=qmax)
        fusion: Literal["interpolate", "rrf"] = "interpolate"
        weights: tuple[float, float] = (0.5, 0.5)
        rrf_k: float = Field(60.0, ge=0)
        candidates: int = Field(100, ge=1, le=limits.max_candidates)
        bm25_mode: Literal["bm25", "bm25q"] = "bm25"
        exact: bool = False
        snippet_chars: int = Field(240, ge=0, le=10000)
        include_text: bool = False

    class EmbeddingRequest(BaseModel):
        model_config = ConfigDict(extra="ignore")
        input: str | list[str] = Field(description="text or list of texts (token arrays are not supported)")
        model: str | None = None
        encoding_format: Literal["float", "base64"] = "float"
        dimensions: int | None = Field(None, ge=1)
        input_type: Literal["query", "document"] = "document"
        instruction: str | None = Field(None, max_length=qmax)

    def run_search(key: tuple, requests: list[SearchRequest]) -> list[dict[str, Any]]:
        first = requests[0]
        t0 = time.perf_counter()
        hits = index.search([r.query for r in requests], k=first.k, mode=first.mode, instruction=first.instruction,
                            fusion=first.fusion, weights=first.weights, rrf_k=first.rrf_k,
                            candidates=first.candidates, bm25_mode=first.bm25_mode, exact=first.exact)
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

    batcher = Batcher(run_search, max_batch=limits.max_batch, max_wait=limits.batch_wait_ms / 1000)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        batcher.close()

    app = FastAPI(title="reasonir", version=_version(), lifespan=lifespan,
                  description="Search an index of documents with reasoning-heavy questions (dense, BM25, hybrid).")
    app.add_middleware(BodyLimitMiddleware, limit=limits.max_body_bytes)
    app.state.index, app.state.batcher = index, batcher

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
        if not given or not hmac.compare_digest(given.encode(), api_key.encode()):
            raise HTTPException(401, "missing or invalid API key: send `Authorization: Bearer KEY`",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, details = validation_message(exc.errors())
        return JSONResponse({"error": message, "detail": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ReasonIRError)
    async def _bad_request(request: Request, exc: ReasonIRError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "auth_required": api_key is not None, **index.info(),
                "limits": {"max_query_chars": qmax, "max_k": limits.max_k,
                           "max_embedding_inputs": limits.max_embedding_inputs}}

    @app.post("/search", dependencies=[Depends(check_key)])
    async def search(req: SearchRequest) -> dict[str, Any]:
        if req.mode not in index.modes:
            raise HTTPException(400, f"mode {req.mode!r} is not available: this index supports "
                                     f"{', '.join(index.modes)} (build it with --bm25 for bm25/bm25q/hybrid)")
        if req.weights[0] < 0 or req.weights[1] < 0 or sum(req.weights) == 0:
            raise HTTPException(422, "weights must be two non-negative numbers, not both zero")
        key = (req.k, req.mode, req.instruction, req.fusion, req.weights, req.rrf_k, req.candidates, req.bm25_mode,
               req.exact)
        return await batcher.submit(key, req)

    @app.get("/documents/{doc_id:path}", dependencies=[Depends(check_key)])
    async def document(doc_id: str) -> dict[str, Any]:
        doc = await batcher.run(lambda: index.get(doc_id))
        if doc is None:
            raise HTTPException(404, f"no document with id {doc_id!r} in this index")
        return {"id": doc.id, "title": doc.title, "text": doc.text, "metadata": doc.metadata}

    @app.post("/v1/embeddings", dependencies=[Depends(check_key)])
    async def embeddings(req: EmbeddingRequest) -> dict[str, Any]:
        texts = [req.input] if isinstance(req.input, str) else list(req.input)
        if not texts:
            raise HTTPException(422, "input: give at least one text")
        if len(texts) > limits.max_embedding_inputs:
            raise HTTPException(413, f"input: {len(texts)} texts exceed the limit of {limits.max_embedding_inputs} "
                                     "per request; split the request")
        for i, t in enumerate(texts):
            if len(t) > qmax:
                raise HTTPException(413, f"input[{i}]: {len(t)} characters exceed the limit of {qmax}")
        if req.dimensions is not None and req.dimensions != index.dim:
            raise HTTPException(422, f"dimensions: this model produces {index.dim}-d vectors; omit `dimensions` "
                                     f"or set it to {index.dim}")

        def encode() -> np.ndarray:
            if req.input_type == "query":
                return index.encode_queries(texts, req.instruction)
            return index.encode_documents(texts)

        vecs = await batcher.run(encode)
        data = []
        for i, v in enumerate(vecs):
            emb: Any = (base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode("ascii")
                        if req.encoding_format == "base64" else [float(x) for x in v])
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(len(t.split()) for t in texts)
        return {"object": "list", "data": data, "model": index.info()["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    page = resources.files("reasonir.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def home() -> str:
        return page

    del fastapi
    return app


def _version() -> str:
    from .. import __version__

    return __version__
