"""One worker thread that runs every model call, batching concurrent searches together.

Concurrent ``/search`` requests with the same parameters are gathered for up to ``max_wait``
seconds (or ``max_batch`` requests) and searched in one :meth:`Index.search` call: the queries are
encoded in one encoder batch and scored in one matrix product, so 200 simultaneous requests cost a
few batched calls instead of 200 single ones. When a batched call fails, its requests are run again
one at a time, so a request that fails cannot fail the others batched with it. Running all model
work on one thread also keeps the encoder (tokenizers are not thread-safe) and the BLAS/torch
thread pools uncontended.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

logger = logging.getLogger(__name__)

_STOP = object()


class Batcher:
    """Run ``batch_fn(key, items) -> results`` for groups of items sharing ``key``, on one thread.

    Args:
        batch_fn: called with a group key and the list of items; returns one result per item.
        max_batch: most items per call.
        max_wait: seconds to wait for more items after the first one arrives.
    """

    def __init__(self, batch_fn: Callable[[Any, list[Any]], list[Any]], max_batch: int = 32,
                 max_wait: float = 0.002):
        self._fn = batch_fn
        self._max_batch = max(1, max_batch)
        self._max_wait = max(0.0, max_wait)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="reasonir-model-worker", daemon=True)
        self._thread.start()

    async def submit(self, key: Hashable, item: Any) -> Any:
        """Queue one item and wait for its result (exceptions are re-raised here)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put((key, item, fut, loop))
        return await fut

    async def run(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` alone on the worker thread (e.g. an embedding request) and return its result."""
        return await self.submit(("__call__", id(fn)), fn)

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    # ---------------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self._max_wait
            while len(batch) < self._max_batch:
                timeout = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    self._queue.put(_STOP)
                    break
                batch.append(nxt)
            groups: dict[Hashable, list[tuple]] = {}
            for entry in batch:
                groups.setdefault(entry[0], []).append(entry)
            for key, entries in groups.items():
                self._run_group(key, entries)

    def _run_group(self, key: Hashable, entries: list[tuple]) -> None:
        if isinstance(key, tuple) and key and key[0] == "__call__":
            outcomes = [_call(entry[1]) for entry in entries]     # plain calls: each one on its own
        else:
            outcomes = self._run_batch(key, entries)
        for (_, _, fut, loop), (result, exc) in zip(entries, outcomes):
            loop.call_soon_threadsafe(_resolve, fut, result, exc)

    def _run_batch(self, key: Hashable, entries: list[tuple]) -> list[tuple[Any, BaseException | None]]:
        """One batched call; if it fails, each item again on its own, so only a failing item gets an error."""
        items = [entry[1] for entry in entries]
        try:
            results = self._fn(key, items)
            if len(results) != len(items):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(items)} items")
            return [(r, None) for r in results]
        except Exception as exc:  # noqa: BLE001 - handed to the request(s) that caused it, below
            if len(items) == 1:
                return [(None, exc)]
            logger.info("a batch of %d requests failed (%s: %s); running them one by one",
                        len(items), type(exc).__name__, exc)
        outcomes: list[tuple[Any, BaseException | None]] = []
        for item in items:
            try:
                result = self._fn(key, [item])
                if len(result) != 1:
                    raise RuntimeError(f"batch function returned {len(result)} results for 1 item")
                outcomes.append((result[0], None))
            except Exception as err:  # noqa: BLE001 - handed to the one request that caused it
                outcomes.append((None, err))
        return outcomes


def _call(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 - handed to the request that made the call
        return None, exc


def _resolve(fut: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
