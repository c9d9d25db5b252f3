"""``MicroBatchingLLM``: coalesce concurrent ``generate`` calls into backend batches.

A local model answers a batch of 8 prompts in little more time than one, but a server receives one
request per thread. This wrapper queues concurrent calls, waits up to ``max_wait`` seconds for more
with the same sampling parameters, and sends them to the backend together (up to ``max_batch``
prompts). Each caller gets its own answers back; a backend error reaches every caller of that batch.
A call made inside :func:`~reasonir.llm.cancel.cancel_scope` is dropped if its token is set before its
batch starts, and a running batch is cancelled once every caller in it is gone.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from .base import LLM, Generation, GenerationParams, Prompt, ResultCallback, single_prompt
from .cancel import CancelToken, GenerationCancelled, all_of, cancel_scope, current_cancel


@dataclass
class _Job:
    prompts: list[Prompt]
    params: GenerationParams
    done: threading.Event = field(default_factory=threading.Event)
    results: list[Generation] | None = None
    error: BaseException | None = None
    cancel: CancelToken | None = field(default_factory=current_cancel)      # the caller's token


class MicroBatchingLLM:
    """Wrap ``backend`` so that concurrent callers share its batches.

    Args:
        backend: the LLM to call (usually a local model).
        max_batch: prompts per backend call, at most (a single larger call is sent as it is).
        max_wait: seconds the first waiting call waits for company.
    """

    supports_on_result = True

    def __init__(self, backend: LLM, max_batch: int = 8, max_wait: float = 0.01):
        self.backend = backend
        self.name = backend.name
        self.stats = getattr(backend, "stats", None)
        self.max_batch = max(1, max_batch)
        self.max_wait = max_wait
        self.batches = 0
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name="reasonir-microbatch", daemon=True)
        self._worker.start()

    def __repr__(self) -> str:
        return f"MicroBatchingLLM({self.backend!r}, max_batch={self.max_batch}, max_wait={self.max_wait})"

    @single_prompt
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: ResultCallback | None = None) -> list[Generation]:
        """Answer ``prompts`` (possibly together with other callers' prompts)."""
        job = _Job(list(prompts), params or GenerationParams())
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.results is not None
        if on_result is not None:
            for i, gen in enumerate(job.results):
                on_result(i, gen)
        return job.results

    def _loop(self) -> None:
        pending: list[_Job] = []
        while True:
            first = pending.pop(0) if pending else self._queue.get()
            group, size = [first], len(first.prompts)
            for job in [j for j in pending if j.params == first.params]:   # set-aside jobs first
                if size + len(job.prompts) > self.max_batch:
                    break
                pending.remove(job)
                group.append(job)
                size += len(job.prompts)
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                try:
                    job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job.params == first.params and size + len(job.prompts) <= self.max_batch:
                    group.append(job)
                    size += len(job.prompts)
                else:
                    pending.append(job)
            self._run(group)

    def _run(self, group: list[_Job]) -> None:
        for job in [j for j in group if j.cancel is not None and j.cancel.is_set()]:
            job.error = GenerationCancelled("generation cancelled before it started: the caller is gone")
            job.done.set()
            group.remove(job)
        if not group:
            return
        prompts = [p for job in group for p in job.prompts]
        try:
            with cancel_scope(all_of(job.cancel for job in group)):
                gens = self.backend.generate(prompts, group[0].params)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting caller
            for job in group:
                job.error = exc
                job.done.set()
            return
        self.batches += 1
        start = 0
        for job in group:
            job.results = gens[start:start + len(job.prompts)]
            start += len(job.prompts)
            job.done.set()

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
