"""A small OpenAI-compatible HTTP server over any LLM backend (``reasonir llm-serve SPEC``).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (``prompt``
may be a list, answered as one batch), ``GET /health``. ``n = 1``. ``stream: true`` answers with
server-sent events in OpenAI's chunk format (:mod:`reasonir.llm.server_stream`), sent once the backend
has generated the whole answer (the backends do not stream tokens). Sampling defaults
follow OpenAI (``temperature`` 1, ``top_p`` 1); ``max_tokens`` defaults to 256 and may not exceed
``max_tokens_cap`` (4096 by default). Every request field is validated before work starts
(:mod:`reasonir.llm.server_params`): a bad one gets HTTP 400 naming the field and its valid range.
Binds 127.0.0.1 unless told otherwise; an optional API key (``Authorization: Bearer KEY``) guards every
route but ``/health``, and request bodies above ``max_body_bytes`` are refused with 413.

A request whose client disconnects is cancelled (:mod:`reasonir.llm.cancel`): queued work for it is
dropped and a cancellable backend (the local transformers model, micro-batched or not) stops after the
current token, so the next request is not kept waiting. Unexpected failures are logged here and
answered with a generic 500. Standard library only (``ThreadingHTTPServer``, HTTP/1.1 keep-alive).
"""

from __future__ import annotations

import hmac
import json
import logging
import select
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import ConfigError
from .base import LLM, Generation, LLMError, check_prompt
from .cancel import GenerationCancelled, cancel_scope
from .server_params import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MAX_TOKENS_CAP,
    RequestError,
    params_from_request,
    parse_body,
    show_value,
    stream_settings,
)
from .server_stream import chat_events, completion_events

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 8 * 2 ** 20
__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_TOKENS", "DEFAULT_MAX_TOKENS_CAP", "ClientProbe", "LLMServer",
           "RequestError", "params_from_request"]


class ClientProbe:
    """A cancel token that is set once the HTTP client has closed its side of the connection.

    ``is_set()`` peeks at the socket without consuming anything: end-of-stream or a reset means the
    client is gone (and stays gone); bytes waiting (a pipelined request) or nothing mean it is still there.
    """

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._gone = False

    def is_set(self) -> bool:
        if not self._gone:
            self._gone = self._peer_closed()
        return self._gone

    def _peer_closed(self) -> bool:
        try:
            if hasattr(select, "poll"):                     # no FD_SETSIZE limit
                poller = select.poll()
                poller.register(self._sock, select.POLLIN | select.POLLPRI)
                ready = bool(poller.poll(0))
            else:
                ready = bool(select.select([self._sock], [], [], 0)[0])
            return ready and self._sock.recv(1, socket.MSG_PEEK) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except (OSError, ValueError):                       # reset, or the socket is already closed
            return True


def _likeliest(alts: dict[str, float]) -> str:
    return max(alts, key=lambda t: alts[t]) if alts else ""


def _chat_logprobs(gen: Generation) -> dict[str, Any] | None:
    if gen.logprobs is None:
        return None
    tokens = gen.metadata.get("tokens") or [_likeliest(a) for a in gen.logprobs]
    content = []
    for tok, alts in zip(tokens, gen.logprobs):
        chosen = alts.get(tok, min(alts.values()) if alts else 0.0)
        content.append({"token": tok, "logprob": chosen,
                        "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alts.items()]})
    return {"content": content}


def _completion_logprobs(gen: Generation) -> dict[str, Any] | None:
    if gen.logprobs is None:
        return None
    tokens = gen.metadata.get("tokens") or [_likeliest(a) for a in gen.logprobs]
    return {"tokens": tokens, "token_logprobs": [a.get(t) for t, a in zip(tokens, gen.logprobs)],
            "top_logprobs": gen.logprobs}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True      # headers and body are separate writes: don't wait for delayed ACKs
    server: LLMServer

    def log_message(self, fmt: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), fmt % args)

    def _send(self, status: int, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError as exc:                  # the client left before its answer: nothing to tell it
            logger.info("%s: could not send the %d answer (%s)", self.address_string(), status, exc)
            self.close_connection = True

    def _send_events(self, events: list[bytes]) -> None:
        """A 200 ``text/event-stream`` answer, one HTTP/1.1 chunk per event (the connection stays usable)."""
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in events:
                self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        except OSError as exc:
            logger.info("%s: left while its answer was streamed (%s)", self.address_string(), exc)
            self.close_connection = True

    def _error(self, status: int, message: str, kind: str = "invalid_request_error",
               param: str | None = None) -> None:
        self._send(status, {"error": {"message": message, "type": kind, "param": param, "code": status}})

    def _authorized(self) -> bool:
        """True when no key is configured or the request carries it; otherwise answers 401."""
        key = self.server.api_key
        if key is None:
            return True
        sent = self.headers.get("Authorization") or ""
        if hmac.compare_digest(sent.encode("utf-8"), f"Bearer {key}".encode()):
            return True
        self._error(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "authentication_error")
        return False

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/health" and not self._authorized():
            return
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [
                {"id": self.server.model_name, "object": "model", "created": int(self.server.started),
                 "owned_by": "reasonir"}]})
        elif self.path.rstrip("/") == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route GET {show_value(self.path, 100)}")

    def do_POST(self) -> None:
        if not self._authorized():
            self.close_connection = True          # the unread body must not be taken as the next request
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.server.max_body_bytes:
            self.close_connection = True
            self._error(413 if length > 0 else 400, f"request body must be 0..{self.server.max_body_bytes} bytes "
                        f"(Content-Length: {self.headers.get('Content-Length')!r})")
            return
        raw = self.rfile.read(length) if length else b""
        route = self.path.rstrip("/")
        if route not in ("/v1/chat/completions", "/v1/completions", "/chat/completions", "/completions"):
            self._error(404, f"no route POST {show_value(self.path, 100)}")
            return
        try:
            body = parse_body(raw)
            model = body.get("model")
            if model is not None and model != self.server.model_name:
                raise RequestError(f"model {show_value(model)} is not served here; this server serves "
                                   f"{self.server.model_name!r}", 404, "model")
            with cancel_scope(ClientProbe(self.connection)):       # stop work nobody will read
                out = self._chat(body) if route.endswith("chat/completions") else self._completion(body)
        except RequestError as exc:
            self._error(exc.status, str(exc), param=exc.param)
            return
        except GenerationCancelled:
            self.server.note_cancelled()
            logger.info("%s disconnected: its generation was cancelled", self.address_string())
            self.close_connection = True
            return
        except ConfigError as exc:
            self._error(400, str(exc))
            return
        except LLMError as exc:
            self._error(502, str(exc), "backend_error")
            return
        except Exception:       # any backend crash: logged here, a generic 500 there, keep serving
            logger.exception("%s %s failed", self.command, self.path)
            self._error(500, "internal server error (details are in the server's log)", "server_error")
            return
        if isinstance(out, list):
            self._send_events(out)
        else:
            self._send(200, out)

    def _head(self, kind: str) -> dict[str, Any]:
        prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
        return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "created": int(time.time()), "model": self.server.model_name}

    def _envelope(self, kind: str, choices: list[dict[str, Any]], gens: list[Generation]) -> dict[str, Any]:
        p = sum(g.prompt_tokens for g in gens)
        c = sum(g.completion_tokens for g in gens)
        return {**self._head(kind), "object": kind, "choices": choices,
                "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}

    def _chat(self, body: dict[str, Any]) -> dict[str, Any] | list[bytes]:
        """The answer: a ``chat.completion`` object, or the events of a streamed one."""
        messages = check_prompt(body.get("messages"), "messages")
        if isinstance(messages, str):
            raise RequestError("messages must be a list of {role, content} objects")
        params = params_from_request(body, chat=True, max_tokens_cap=self.server.max_tokens_cap)
        stream, usage = stream_settings(body)
        gen = self.server.llm.generate([messages], params)[0]
        if stream:
            return list(chat_events(gen, self._head("chat.completion"), usage, _chat_logprobs(gen)))
        choice = {"index": 0, "message": {"role": "assistant", "content": gen.text},
                  "finish_reason": gen.finish_reason or "stop", "logprobs": _chat_logprobs(gen)}
        return self._envelope("chat.completion", [choice], [gen])

    def _completion(self, body: dict[str, Any]) -> dict[str, Any] | list[bytes]:
        """The answer: a ``text_completion`` object, or the events of a streamed one."""
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("prompt must be a string or a non-empty list of strings")
        params = params_from_request(body, chat=False, max_tokens_cap=self.server.max_tokens_cap)
        stream, usage = stream_settings(body)
        gens = self.server.llm.generate(prompts, params)
        if stream:
            return list(completion_events(gens, self._head("text_completion"), usage,
                                          [_completion_logprobs(g) for g in gens]))
        choices = [{"index": i, "text": g.text, "finish_reason": g.finish_reason or "stop",
                    "logprobs": _completion_logprobs(g)} for i, g in enumerate(gens)]
        return self._envelope("text_completion", choices, gens)


class LLMServer(ThreadingHTTPServer):
    """An OpenAI-compatible server over ``llm``.

    Args:
        llm: any object with ``name`` and ``generate(prompts, params)``.
        host: interface to bind (127.0.0.1 by default; ``0.0.0.0`` exposes it to the network).
        port: TCP port (0 picks a free one; see :attr:`url`).
        model_name: the model id clients send and ``/v1/models`` lists (default: ``llm.name``).
        api_key: if set, every route but ``/health`` requires ``Authorization: Bearer <api_key>``.
        max_body_bytes: larger request bodies are refused (413).
        max_tokens_cap: the largest ``max_tokens`` a request may ask for (larger: 400).

    Attributes:
        cancelled: requests whose generation was cancelled because their client disconnected.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, llm: LLM, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                 api_key: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_tokens_cap: int = DEFAULT_MAX_TOKENS_CAP):
        if max_body_bytes <= 0:
            raise ConfigError(f"max_body_bytes must be positive, got {max_body_bytes}")
        if isinstance(max_tokens_cap, bool) or not isinstance(max_tokens_cap, int) or max_tokens_cap < 1:
            raise ConfigError(f"max_tokens_cap must be a positive integer, got {max_tokens_cap!r}")
        super().__init__((host, port), _Handler)
        self.api_key = api_key or None
        self.max_body_bytes = int(max_body_bytes)
        self.max_tokens_cap = max_tokens_cap
        self.cancelled = 0
        self._count_lock = threading.Lock()
        self.llm = llm
        self.model_name = model_name or llm.name
        self.started = time.time()
        self._thread: threading.Thread | None = None

    def note_cancelled(self) -> None:
        """Count one request cancelled because its client disconnected."""
        with self._count_lock:
            self.cancelled += 1

    @property
    def url(self) -> str:
        """The API root clients use, e.g. ``http://127.0.0.1:8000/v1``."""
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}/v1"

    @property
    def spec(self) -> str:
        """An LLM spec naming this server and its model, for :func:`reasonir.llm.load_llm`."""
        return f"{self.url}#{self.model_name}"

    def start(self) -> LLMServer:
        """Serve in a background daemon thread; returns ``self``."""
        self._thread = threading.Thread(target=self.serve_forever, name="reasonir-llm-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> LLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
