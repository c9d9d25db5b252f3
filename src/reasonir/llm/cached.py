"""``CachedLLM``: any backend behind the response cache, with call, token and cost counters.

This is the object :func:`reasonir.llm.load_llm` returns. ``generate`` looks every prompt up in the
cache, sends only the misses to the backend (duplicates within a batch are sent once), stores each
answer the moment it arrives, and returns the batch in order with ``Generation.cached`` telling which
answers cost nothing. ``stats`` counts backend calls, cache hits, tokens and cost; the backend's own
counters (HTTP requests, retries) are in ``backend.stats`` and merged by :meth:`CachedLLM.summary`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol, TypeGuard

from .._logging import progress
from .base import LLM, Generation, GenerationParams, LLMError, Prompt, ResultCallback, single_prompt
from .cache import ResponseCache, cache_key
from .stats import LLMStats

logger = logging.getLogger(__name__)


class _StreamingLLM(Protocol):
    """A backend that reports each answer through ``on_result`` as soon as it arrives."""

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: ResultCallback | None = None) -> list[Generation]: ...


def _supports_on_result(backend: Any) -> TypeGuard[_StreamingLLM]:
    return bool(getattr(backend, "supports_on_result", False))


class CachedLLM:
    """Wrap ``backend`` with a :class:`ResponseCache` (or none) and counters.

    Args:
        backend: any object with ``name`` and ``generate(prompts, params)``.
        cache: a :class:`ResponseCache`, or ``None`` for no caching (counters still work).
        chunk_size: for backends that cannot report answers one by one, misses are sent in chunks of
            this many prompts and each chunk is stored before the next starts.
        show_progress: show a progress bar over the misses of large batches.
    """

    supports_on_result = True

    def __init__(self, backend: LLM, cache: ResponseCache | None = None, chunk_size: int = 64,
                 show_progress: bool = True):
        self.backend = backend
        self.cache = cache
        self.chunk_size = max(1, chunk_size)
        self.show_progress = show_progress
        self.stats = LLMStats()

    @property
    def name(self) -> str:
        return self.backend.name

    @single_prompt
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: Any = None) -> list[Generation]:
        """One :class:`Generation` per prompt, in order; cached answers have ``cached=True``.

        ``prompts`` may also be one prompt (a string or one chat), which returns its :class:`Generation`.

        Raises:
            InputError: ``prompts`` is neither a prompt nor a list of prompts.
            LLMError: when the backend fails for some prompts. Every answer received before the
                failure is already stored, so a re-run only asks for the missing ones.
        """
        params = params or GenerationParams()
        keys = [cache_key(self.name, p, params) for p in prompts]
        results: list[Generation | None] = [None] * len(prompts)
        hits = self.cache.get_many(list(dict.fromkeys(keys))) if self.cache is not None else {}
        first_of: dict[str, int] = {}
        todo: list[int] = []      # one index per distinct missing key
        for i, key in enumerate(keys):
            if key in hits:
                results[i] = hits[key]
                if on_result is not None:
                    on_result(i, hits[key])
            elif key not in first_of:
                first_of[key] = i
                todo.append(i)
        n_hits = sum(1 for r in results if r is not None)
        self.stats.add(cache_hits=n_hits)
        if todo:
            self._fill(prompts, keys, params, todo, results, on_result)
        out: list[Generation] = []
        for i, key in enumerate(keys):
            gen = results[i]
            if gen is None:                      # a duplicate of a prompt answered in this batch
                src = results[first_of[key]]
                assert src is not None
                gen = Generation(text=src.text, prompt_tokens=src.prompt_tokens,
                                 completion_tokens=src.completion_tokens, finish_reason=src.finish_reason,
                                 logprobs=src.logprobs, cached=True, metadata=dict(src.metadata))
                self.stats.add(cache_hits=1)
                if on_result is not None:
                    on_result(i, gen)
            out.append(gen)
        return out

    def _fill(self, prompts: Sequence[Prompt], keys: list[str], params: GenerationParams, todo: list[int],
              results: list[Generation | None], on_result: Any) -> None:
        quiet: dict[str, Any] = {} if self.show_progress and len(todo) >= 8 else {"disable": True}
        bar = progress(total=len(todo), desc=f"LLM {self.name}", unit="call", **quiet)

        def store(local_index: int, gen: Generation, batch: list[int]) -> None:
            i = batch[local_index]
            gen.cached = False
            results[i] = gen
            self.stats.add(calls=1, prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                           cost_usd=float(gen.metadata.get("cost_usd", 0.0)))
            if self.cache is not None:
                self.cache.put(keys[i], self.name, prompts[i], params, gen)
            if on_result is not None:
                on_result(i, gen)
            bar.update(1)

        t0 = time.perf_counter()
        try:
            if _supports_on_result(self.backend):
                self.backend.generate([prompts[i] for i in todo], params,
                                      on_result=lambda j, g: store(j, g, todo))
            else:
                for start in range(0, len(todo), self.chunk_size):
                    batch = todo[start:start + self.chunk_size]
                    gens = self.backend.generate([prompts[i] for i in batch], params)
                    if len(gens) != len(batch):
                        raise LLMError(f"backend {self.name} returned {len(gens)} answers for {len(batch)} prompts")
                    for j, gen in enumerate(gens):
                        store(j, gen, batch)
        except BaseException:
            missing = sum(1 for i in todo if results[i] is None)
            self.stats.add(failures=missing)
            logger.warning("%s: %d of %d prompts unanswered; the %d answers received are %s", self.name,
                           missing, len(todo), len(todo) - missing,
                           "cached" if self.cache is not None else "NOT cached (no cache configured)")
            raise
        finally:
            self.stats.add(seconds=time.perf_counter() - t0)
            bar.close()
        unanswered = [i for i in todo if results[i] is None]
        if unanswered:
            raise LLMError(f"backend {self.name} left {len(unanswered)} of {len(todo)} prompts unanswered")

    def summary(self) -> dict[str, Any]:
        """Counters of this wrapper, plus the backend's transport counters (requests, retries)."""
        out = self.stats.to_dict()
        inner = getattr(self.backend, "stats", None)
        if isinstance(inner, LLMStats):
            d = inner.to_dict()
            out["requests"] = d["requests"]
            out["retries"] = d["retries"]
        return out

    def close(self) -> None:
        """Release the backend (if it can be closed) and the cache connection."""
        close = getattr(self.backend, "close", None)
        if callable(close):
            close()
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> CachedLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CachedLLM({self.name!r}, cache={self.cache!r})"
