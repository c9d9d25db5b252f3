"""Request-size limiting (ASGI middleware) and readable validation errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


class BodyLimitMiddleware:
    """Reject request bodies larger than ``limit`` bytes with 413, before the app reads them whole.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted as it
    arrives and refused as soon as it passes the limit.
    """

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = int(limit)
        self._too_large = _too_large_type()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_json(send, 400, {"error": "invalid Content-Length header"})
                return
            if size > self.limit:
                await _send_json(send, 413, {"error": f"request body of {size} bytes exceeds the limit of "
                                                      f"{self.limit} bytes"})
                return
        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large(413, f"request body exceeds the limit of {self.limit} bytes")
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except self._too_large:
            if not started:
                await _send_json(send, 413, {"error": f"request body exceeds the limit of {self.limit} bytes"})


def _too_large_type() -> type[Exception]:
    """Raised while the app reads the body: an HTTPException, which FastAPI hands to its error handler."""
    try:
        from starlette.exceptions import HTTPException
    except ImportError:  # pragma: no cover - plain ASGI apps
        class HTTPException(Exception):  # noqa: N818
            def __init__(self, status_code: int, detail: str):
                super().__init__(detail)

    class TooLarge(HTTPException):
        pass

    return TooLarge


async def _send_json(send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def validation_message(errors: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """A one-line summary and per-field details of pydantic validation errors."""
    details = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        msg = err.get("msg", "invalid value")
        if err.get("type") == "json_invalid":
            field, msg = "body", "the body is not valid JSON"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling; see /docs for the accepted fields)"
        details.append({"field": field, "message": msg})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5]) or "invalid request"
    return f"invalid request: {summary}", details
