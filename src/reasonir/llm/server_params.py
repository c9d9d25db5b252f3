"""Validation of OpenAI request bodies for ``reasonir llm-serve`` (:mod:`reasonir.llm.server`).

Every field the server reads is checked for type and range before any work starts, and a bad one is
answered with HTTP 400 naming the field, its valid range and (shortened) the value received:

============================ ====================================================================
``max_tokens``               integer in 1..cap (``max_completion_tokens`` takes precedence)
``temperature``              number in [0, 2]
``top_p``                    number in (0, 1]
``n``                        1 (one choice per prompt)
``logprobs`` (chat)          boolean; ``top_logprobs`` integer in 0..20, only with ``logprobs: true``
``logprobs`` (completions)   integer in 0..20
``seed``                     integer in the signed 64-bit range
``stop``                     a string or a list of at most 16 strings
``stream``                   true or false (true: server-sent events, :mod:`reasonir.llm.server_stream`)
``stream_options``           ``{"include_usage": bool}`` (``include_obfuscation`` ignored), only with streaming
============================ ====================================================================

JSON bodies with ``NaN`` or ``Infinity`` (which Python's parser accepts) or numbers that overflow to
infinity are refused as well.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .base import GenerationParams

DEFAULT_MAX_TOKENS = 256
DEFAULT_MAX_TOKENS_CAP = 4096
MAX_LOGPROBS = 20
MAX_STOP_STRINGS = 16
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


class RequestError(Exception):
    """A request the server rejects (HTTP 4xx).

    Args:
        message: shown to the client.
        status: the HTTP status.
        param: the request field at fault (the ``param`` of OpenAI's error body), when there is one.
    """

    def __init__(self, message: str, status: int = 400, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.param = param


def show_value(value: Any, limit: int = 40) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _non_finite(body: Any) -> str | None:
    """The path (``temperature``, ``messages[0].x``) of the first NaN/infinite number in ``body``."""
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return path or "the body"
        if isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))
    return None


def parse_body(raw: bytes) -> dict[str, Any]:
    """Decode a request body: a JSON object (an empty body is ``{}``).

    Raises:
        RequestError: for invalid UTF-8 or JSON, a body that is not an object, or a non-finite number
            anywhere in it (``NaN``, ``Infinity``, ``1e999``), naming where.
    """
    try:
        body = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers beyond Python's digit limit
        raise RequestError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    where = _non_finite(body)
    if where is not None:
        raise RequestError(f"{where} must be a finite number (NaN and infinities are not accepted)",
                           param=where.split(".")[0].split("[")[0])
    return body


def _integer(body: dict[str, Any], name: str, lo: int, hi: int, default: int | None,
             hint: str = "") -> int | None:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RequestError(f"{name} must be an integer in {lo}..{hi}{hint}, got {show_value(value)}", param=name)
    return value


def _number(body: dict[str, Any], name: str, lo: float, hi: float, default: float, lo_open: bool = False) -> float:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = math.isfinite(value)
    if ok:
        ok = (lo < value if lo_open else lo <= value) and value <= hi
    if not ok:
        bounds = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        raise RequestError(f"{name} must be a finite number in {bounds}, got {show_value(value)}", param=name)
    return float(value)


def _stop(body: dict[str, Any]) -> tuple[str, ...]:
    stop = body.get("stop")
    if stop is None:
        return ()
    items = [stop] if isinstance(stop, str) else stop
    if not isinstance(items, list) or len(items) > MAX_STOP_STRINGS or not all(isinstance(s, str) for s in items):
        raise RequestError(f"stop must be a string or a list of at most {MAX_STOP_STRINGS} strings, "
                           f"got {show_value(stop)}", param="stop")
    return tuple(s for s in items if s)            # an empty string cannot stop anything


def _logprobs(body: dict[str, Any], chat: bool) -> int | None:
    if not chat:
        return _integer(body, "logprobs", 0, MAX_LOGPROBS, None)
    wanted = body.get("logprobs")
    if wanted is not None and not isinstance(wanted, bool):
        raise RequestError(f"logprobs must be true or false, got {show_value(wanted)}", param="logprobs")
    top = _integer(body, "top_logprobs", 0, MAX_LOGPROBS, None)
    if top and not wanted:
        raise RequestError("top_logprobs needs logprobs: true", param="top_logprobs")
    return max(1, top or 0) if wanted else None


def stream_settings(body: dict[str, Any]) -> tuple[bool, bool]:
    """``(stream, include_usage)`` of a request.

    Raises:
        RequestError: when ``stream`` is not a boolean, or ``stream_options`` is malformed or given
            without ``stream: true``.
    """
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestError(f"stream must be true or false, got {show_value(stream)}", param="stream")
    options = body.get("stream_options")
    if options is None:
        return bool(stream), False
    if not stream:
        raise RequestError("stream_options needs stream: true", param="stream_options")
    usage = options.get("include_usage") if isinstance(options, dict) else None
    if not isinstance(options, dict) or set(options) - {"include_usage", "include_obfuscation"} or \
            not isinstance(usage if usage is not None else False, bool):
        raise RequestError('stream_options must be {"include_usage": true|false}, got '
                           f"{show_value(options)}", param="stream_options")
    return True, bool(usage)


def params_from_request(body: dict[str, Any], chat: bool,
                        max_tokens_cap: int = DEFAULT_MAX_TOKENS_CAP) -> GenerationParams:
    """OpenAI request fields -> :class:`GenerationParams`, every field checked (see the module table).

    Args:
        body: the decoded request body.
        chat: a ``/chat/completions`` request (else ``/completions``; they spell ``logprobs`` differently).
        max_tokens_cap: the largest ``max_tokens`` accepted; the default of 256 is lowered to it.

    Raises:
        RequestError: naming the first unsupported or out-of-range field.
    """
    stream_settings(body)
    _integer(body, "n", 1, 1, 1, " (one choice per prompt)")
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _integer(body, key, 1, max_tokens_cap, min(DEFAULT_MAX_TOKENS, max_tokens_cap),
                          " (this server's --max-tokens-cap)")
    assert max_tokens is not None
    return GenerationParams(
        max_tokens=max_tokens,
        temperature=_number(body, "temperature", 0.0, 2.0, 1.0),
        top_p=_number(body, "top_p", 0.0, 1.0, 1.0, lo_open=True),
        stop=_stop(body), seed=_integer(body, "seed", *_INT64, None),
        logprobs=_logprobs(body, chat))
