"""Request guards as ASGI middleware (body size, ``Host`` header) and readable validation errors.

The checks themselves live in :mod:`reasonir.netguard`, shared with ``reasonir llm-serve``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..netguard import AllowedHosts, echo

#: most per-field problems listed in a 422 body
MAX_ERROR_DETAILS = 20


class HostCheckMiddleware:
    """Answer 400 to a request whose ``Host`` header ``allowed`` does not accept (DNS-rebinding defence)."""

    def __init__(self, app, allowed: AllowedHosts):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            raw = dict(scope.get("headers") or []).get(b"host")
            host = raw.decode("latin-1") if raw is not None else None
            if not self.allowed.allows(host):
                await _send_json(send, 400, {"error": self.allowed.refusal(host or "")})
                return
        await self.app(scope, receive, send)


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
    from starlette.exceptions import HTTPException

    class TooLarge(HTTPException):
        pass

    return TooLarge


async def _send_json(send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def validation_message(errors: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """A one-line summary and per-field details of pydantic validation errors.

    Field names and the number of details are capped: a request cannot make the answer large.
    """
    details = []
    for err in list(errors)[:MAX_ERROR_DETAILS]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = echo(".".join(loc), quote=False) or "body"
        msg = str(err.get("msg", "invalid value"))
        if err.get("type") == "value_error":
            msg = msg.removeprefix("Value error, ")       # our own validators' messages read as they are
        msg = echo(msg, 200, quote=False)
        if err.get("type") == "json_invalid":
            field, msg = "body", "the body is not valid JSON"
        elif err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling; see /docs for the accepted fields)"
        details.append({"field": field, "message": msg})
    if len(errors) > MAX_ERROR_DETAILS:
        details.append({"field": "body", "message": f"and {len(errors) - MAX_ERROR_DETAILS} more problems"})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5]) or "invalid request"
    return f"invalid request: {summary}", details
