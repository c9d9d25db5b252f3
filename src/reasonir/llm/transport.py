"""A small HTTP/JSON client with bounded retries, exponential backoff and per-thread keep-alive.

Standard library only (``http.client``), so the OpenAI-compatible backends need no extra package.
Retried: connection failures, timeouts, HTTP 408/409/429/5xx, and 200 answers whose body is
truncated or not JSON. Not retried: other 4xx (bad request, bad key, unknown model), which are
reported with the server's message. ``Retry-After`` is honoured (capped by ``max_backoff``).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .base import LLMConnectionError, LLMResponseError
from .stats import LLMStats

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 522, 524})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.

    Attributes:
        max_retries: extra attempts after the first (total attempts = max_retries + 1).
        backoff: first wait in seconds; doubles per attempt, with +-25 % jitter.
        max_backoff: cap on one wait (also caps ``Retry-After``).
        timeout: seconds to wait for a connection or a response.
    """

    max_retries: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    timeout: float = 120.0

    def wait(self, attempt: int, retry_after: float | None = None) -> float:
        base = self.backoff * (2 ** attempt) * (0.75 + 0.5 * random.random())
        if retry_after is not None:
            base = max(base, retry_after)
        return min(base, self.max_backoff)


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(reason)
        self.retry_after = retry_after
        self.status = status


class JSONClient:
    """POST/GET JSON to one base URL.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        headers: extra headers (e.g. ``Authorization``).
        policy: the :class:`RetryPolicy`.
        stats: counters to update (``requests``, ``retries``).
    """

    def __init__(self, base_url: str, headers: dict[str, str] | None = None, policy: RetryPolicy | None = None,
                 stats: LLMStats | None = None):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LLMConnectionError(f"invalid base URL {base_url!r}; expected http(s)://host[:port]/path")
        self.base_url = base_url.rstrip("/")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "reasonir", **(headers or {})}
        self.policy = policy or RetryPolicy()
        self.stats = stats or LLMStats()
        self._local = threading.local()

    # ------------------------------------------------------------------ connections
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.policy.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.policy.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close when they exit)."""
        self._drop_connection()

    # ------------------------------------------------------------------ requests
    def request(self, method: str, path: str, body: Any = None, *, raw_body: bytes | None = None,
                content_type: str = "application/json", expect_json: bool = True) -> Any:
        """Send one request with retries; return the decoded JSON (or bytes when ``expect_json=False``).

        Raises:
            LLMConnectionError: the server could not be reached within the retry budget.
            LLMResponseError: a non-retryable error status, or retryable failures until the budget ran out.
        """
        url = self.prefix + path
        data = raw_body if raw_body is not None else (
            json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None)
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = content_type
        last: _Transient | None = None
        attempts = self.policy.max_retries + 1
        for attempt in range(attempts):
            if attempt:
                wait = self.policy.wait(attempt - 1, last.retry_after if last else None)
                logger.debug("%s %s: %s; retry %d/%d in %.2fs", method, self.base_url + path, last,
                             attempt, self.policy.max_retries, wait)
                self.stats.add(retries=1)
                time.sleep(wait)
            try:
                return self._once(method, url, data, headers, expect_json)
            except _Transient as exc:
                last = exc
        assert last is not None
        where = f"{method} {self.base_url}{path}"
        if last.status is None:
            raise LLMConnectionError(
                f"{where}: no answer after {attempts} attempts ({last}); check that the server is running "
                f"and reachable, or raise the timeout/retries") from None
        raise LLMResponseError(f"{where}: failed after {attempts} attempts; last error: {last}", last.status)

    def _once(self, method: str, url: str, data: bytes | None, headers: dict[str, str], expect_json: bool) -> Any:
        self.stats.add(requests=1)
        conn = self._connection()
        reused = getattr(conn, "sock", None) is not None
        try:
            conn.request(method, url, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            self._drop_connection()
            if reused:       # the server closed an idle keep-alive connection: one free immediate retry
                return self._once(method, url, data, headers, expect_json)
            raise _Transient(f"connection closed by server ({type(exc).__name__})") from None
        except http.client.IncompleteRead as exc:
            self._drop_connection()
            raise _Transient(f"truncated response body ({len(exc.partial)} bytes received)", status=200) from None
        except TimeoutError:
            self._drop_connection()
            raise _Transient(f"timed out after {self.policy.timeout:g}s") from None
        except (ConnectionError, OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        if resp.getheader("Connection", "").lower() == "close" or resp.version == 10:
            self._drop_connection()
        status = resp.status
        if status >= 400:
            message = _error_message(payload)
            if status in RETRY_STATUS:
                raise _Transient(f"HTTP {status}: {message}", _retry_after(resp.getheader("Retry-After")), status)
            raise LLMResponseError(f"{self.base_url}{url[len(self.prefix):]}: HTTP {status}: {message}", status)
        if not expect_json:
            return payload
        try:
            return json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Transient(f"HTTP {status} with a body that is not JSON: {payload[:120]!r}", status=status) from None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_message(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace").strip()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return text[:300] or "(empty body)"
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])[:300]
    if isinstance(err, str):
        return err[:300]
    return text[:300]
