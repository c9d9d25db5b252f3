"""Persistent LLM response cache (SQLite), safe with concurrent threads and processes.

Each answer is stored under a SHA-256 key of everything that changes it: the backend's ``name``
(backend kind, model, and for HTTP servers the base URL), the prompt (raw text or chat messages) and
every sampling parameter. Answers are committed one by one as they arrive, so a crashed job loses
nothing that was already answered and a re-run makes zero repeated backend calls.

Concurrency: the database runs in WAL mode with a busy timeout, so several processes may read and
write the same file at once; within a process a lock serialises use of the shared connection.
Sampling with ``temperature > 0`` is cached too: a re-run returns the same sample. Change ``seed``
(it is part of the key) to draw a new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .base import Generation, GenerationParams, Prompt

logger = logging.getLogger(__name__)

#: bump when the key derivation or the stored value changes shape
CACHE_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    llm TEXT NOT NULL,
    prompt TEXT NOT NULL,
    params TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(llm_name: str, prompt: Prompt, params: GenerationParams) -> str:
    """The cache key of one request: SHA-256 over backend name, prompt and parameters."""
    payload = json.dumps({"format": CACHE_FORMAT, "llm": llm_name, "prompt": prompt,
                          "params": params.to_dict()}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _encode(gen: Generation) -> str:
    return json.dumps({"text": gen.text, "prompt_tokens": gen.prompt_tokens,
                       "completion_tokens": gen.completion_tokens, "finish_reason": gen.finish_reason,
                       "logprobs": gen.logprobs, "metadata": gen.metadata}, ensure_ascii=False)


def _decode(raw: str) -> Generation:
    d = json.loads(raw)
    return Generation(text=d["text"], prompt_tokens=d.get("prompt_tokens", 0),
                      completion_tokens=d.get("completion_tokens", 0), finish_reason=d.get("finish_reason"),
                      logprobs=d.get("logprobs"), cached=True, metadata=d.get("metadata") or {})


class ResponseCache:
    """A SQLite file of LLM answers.

    Args:
        path: the database file (created with its parent folders).
        busy_timeout: seconds to wait for another writer's lock before failing.
    """

    def __init__(self, path: str | os.PathLike, busy_timeout: float = 60.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(self.path), timeout=busy_timeout, check_same_thread=False,
                                     isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        self._execute_retrying("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._execute_retrying(_SCHEMA)

    def _execute_retrying(self, sql: str, args: Sequence[Any] = (), attempts: int = 20) -> sqlite3.Cursor:
        # schema / WAL switches can hit "database is locked" when many processes open the file at once
        for i in range(attempts):
            try:
                return self._conn.execute(sql, args)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or i == attempts - 1:
                    raise
                time.sleep(0.05 * (i + 1))
        raise AssertionError("unreachable")

    def get_many(self, keys: Sequence[str]) -> dict[str, Generation]:
        """The stored answers among ``keys`` (missing keys are absent from the result)."""
        found: dict[str, Generation] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._conn.execute(f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk)
                for key, raw in rows:
                    found[key] = _decode(raw)
        return found

    def get(self, key: str) -> Generation | None:
        return self.get_many([key]).get(key)

    def put(self, key: str, llm_name: str, prompt: Prompt, params: GenerationParams, gen: Generation) -> None:
        """Store one answer (committed immediately; an existing entry is replaced)."""
        self.put_many([(key, llm_name, prompt, params, gen)])

    def put_many(self, items: Iterable[tuple[str, str, Prompt, GenerationParams, Generation]]) -> None:
        """Store several answers in one transaction."""
        rows = [(key, name, json.dumps(prompt, ensure_ascii=False), json.dumps(params.to_dict()),
                 _encode(gen), time.time()) for key, name, prompt, params, gen in items]
        if not rows:
            return
        with self._lock:
            for attempt in range(20):
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)", rows)
                    self._conn.execute("COMMIT")
                    return
                except sqlite3.OperationalError as exc:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    if "locked" not in str(exc) or attempt == 19:
                        raise
                    time.sleep(0.05 * (attempt + 1))

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def count(self, llm_name: str | None = None) -> int:
        """Number of stored answers, optionally only those of one backend."""
        if llm_name is None:
            return len(self)
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM responses WHERE llm = ?", (llm_name,)).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"
