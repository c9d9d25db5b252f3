"""A small OpenAI-compatible HTTP server over any LLM backend (``reasonir llm-serve SPEC``).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (``prompt``
may be a list, answered as one batch), ``GET /health``. Non-streaming, ``n = 1``. Sampling defaults
follow OpenAI (``temperature`` 1, ``top_p`` 1); ``max_tokens`` defaults to 256. Binds 127.0.0.1
unless told otherwise; an optional API key (``Authorization: Bearer KEY``) guards every route but
``/health``, and request bodies above ``max_body_bytes`` are refused with 413. Standard library only (``ThreadingHTTPServer``, HTTP/1.1 keep-alive).
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import ConfigError
from .base import LLM, Generation, GenerationParams, LLMError, check_prompt

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 256
DEFAULT_MAX_BODY_BYTES = 8 * 2 ** 20


class RequestError(Exception):
    """A request the server rejects (HTTP 4xx)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def params_from_request(body: dict[str, Any], chat: bool) -> GenerationParams:
    """OpenAI request fields -> :class:`GenerationParams`.

    Raises:
        RequestError: for unsupported or malformed fields.
    """
    if body.get("stream"):
        raise RequestError("streaming is not supported by this server; send stream=false")
    if int(body.get("n") or 1) != 1:
        raise RequestError("only n=1 is supported")
    stop = body.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(stop)
    logprobs = None
    if chat and body.get("logprobs"):
        logprobs = int(body.get("top_logprobs") or 1)
    elif not chat and body.get("logprobs") is not None:
        logprobs = int(body["logprobs"])
    try:
        return GenerationParams(
            max_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or DEFAULT_MAX_TOKENS),
            temperature=float(body.get("temperature", 1.0)), top_p=float(body.get("top_p", 1.0)),
            stop=tuple(str(s) for s in stop), seed=None if body.get("seed") is None else int(body["seed"]),
            logprobs=logprobs)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"bad sampling parameter: {exc}") from None


def _chat_logprobs(gen: Generation) -> dict[str, Any] | None:
    if gen.logprobs is None:
        return None
    tokens = gen.metadata.get("tokens") or [max(a, key=a.get) if a else "" for a in gen.logprobs]
    content = []
    for tok, alts in zip(tokens, gen.logprobs):
        chosen = alts.get(tok, min(alts.values()) if alts else 0.0)
        content.append({"token": tok, "logprob": chosen,
                        "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alts.items()]})
    return {"content": content}


def _completion_logprobs(gen: Generation) -> dict[str, Any] | None:
    if gen.logprobs is None:
        return None
    tokens = gen.metadata.get("tokens") or [max(a, key=a.get) if a else "" for a in gen.logprobs]
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
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": kind, "code": status}})

    def _authorized(self) -> bool:
        """True when no key is configured or the request carries it; otherwise answers 401."""
        key = self.server.api_key
        if key is None:
            return True
        sent = self.headers.get("Authorization") or ""
        if hmac.compare_digest(sent.encode("utf-8"), f"Bearer {key}".encode("utf-8")):
            return True
        self._error(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "authentication_error")
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if self.path.rstrip("/") != "/health" and not self._authorized():
            return
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            self._send(200, {"object": "list", "data": [
                {"id": self.server.model_name, "object": "model", "created": int(self.server.started),
                 "owned_by": "reasonir"}]})
        elif self.path.rstrip("/") == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:  # noqa: N802
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
            self._error(404, f"no route POST {self.path}")
            return
        try:
            body = json.loads(raw.decode("utf-8") or "{}")
            if not isinstance(body, dict):
                raise RequestError("the request body must be a JSON object")
            model = body.get("model")
            if model not in (None, self.server.model_name):
                raise RequestError(f"model {model!r} is not served here; this server serves "
                                   f"{self.server.model_name!r}", 404)
            out = self._chat(body) if route.endswith("chat/completions") else self._completion(body)
        except RequestError as exc:
            self._error(exc.status, str(exc))
            return
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._error(400, "the request body is not valid JSON")
            return
        except (ConfigError, LLMError) as exc:
            self._error(400 if isinstance(exc, ConfigError) else 502, str(exc),
                        "invalid_request_error" if isinstance(exc, ConfigError) else "backend_error")
            return
        except Exception as exc:  # noqa: BLE001 - report any backend crash as a 500, keep serving
            logger.exception("request failed")
            self._error(500, f"{type(exc).__name__}: {exc}", "server_error")
            return
        self._send(200, out)

    def _envelope(self, kind: str, choices: list[dict[str, Any]], gens: list[Generation]) -> dict[str, Any]:
        p = sum(g.prompt_tokens for g in gens)
        c = sum(g.completion_tokens for g in gens)
        prefix = "chatcmpl" if kind == "chat.completion" else "cmpl"
        return {"id": f"{prefix}-{uuid.uuid4().hex[:24]}", "object": kind, "created": int(time.time()),
                "model": self.server.model_name, "choices": choices,
                "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = check_prompt(body.get("messages"), "messages")
        if isinstance(messages, str):
            raise RequestError("messages must be a list of {role, content} objects")
        params = params_from_request(body, chat=True)
        gen = self.server.llm.generate([messages], params)[0]
        choice = {"index": 0, "message": {"role": "assistant", "content": gen.text},
                  "finish_reason": gen.finish_reason or "stop", "logprobs": _chat_logprobs(gen)}
        return self._envelope("chat.completion", [choice], [gen])

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("prompt must be a string or a non-empty list of strings")
        params = params_from_request(body, chat=False)
        gens = self.server.llm.generate(prompts, params)
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
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, llm: LLM, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                 api_key: str | None = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES):
        if max_body_bytes <= 0:
            raise ConfigError(f"max_body_bytes must be positive, got {max_body_bytes}")
        super().__init__((host, port), _Handler)
        self.api_key = api_key or None
        self.max_body_bytes = int(max_body_bytes)
        self.llm = llm
        self.model_name = model_name or llm.name
        self.started = time.time()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API root clients use, e.g. ``http://127.0.0.1:8000/v1``."""
        host, port = self.server_address[:2]
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
