"""Call, token and cost counters shared by the backends and the caching wrapper.

Counters are thread-safe (HTTP backends update them from worker threads). Costs use per-model list
prices in USD per million tokens; a backend built with explicit prices uses those instead, and an
unknown model costs 0 (reported as such, never guessed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

from .base import Generation, ResultCallback

#: USD per 1M (input, output) tokens, OpenAI list prices for the synchronous API (mid-2025).
#: Override with ``load_llm(spec, price_in=..., price_out=...)`` when they change.
OPENAI_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}
#: the Batch API bills half the synchronous price
BATCH_DISCOUNT = 0.5


def lookup_price(model: str) -> tuple[float, float] | None:
    """List price of ``model`` (exact name, else the longest known prefix such as dated snapshots)."""
    if model in OPENAI_PRICES:
        return OPENAI_PRICES[model]
    best = max((k for k in OPENAI_PRICES if model.startswith(k + "-")), key=len, default=None)
    return OPENAI_PRICES[best] if best else None


def token_cost(prompt_tokens: int, completion_tokens: int, price: tuple[float, float] | None) -> float:
    """Cost in USD of one call at ``price`` = (input, output) USD per 1M tokens (0 when unknown)."""
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6


@dataclass
class LLMStats:
    """Counters of one LLM object.

    Attributes:
        calls: prompts answered by the backend (one per prompt, whatever the batching).
        cache_hits: prompts answered from the response cache.
        prompt_tokens, completion_tokens: tokens of the backend calls (cache hits add nothing).
        cost_usd: estimated cost of the backend calls.
        requests: HTTP requests sent (attempts, retries included); 0 for local backends.
        retries: attempts repeated after a transient failure.
        failures: prompts that failed for good.
        seconds: wall time spent inside the backend.
    """

    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: float) -> None:
        """Add to counters atomically, e.g. ``stats.add(calls=1, prompt_tokens=12)``."""
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def count(self, gen: Generation, cost_usd: float | None = None) -> None:
        """Count one prompt the backend answered: its call, its tokens and (when known) its cost."""
        extra = {} if cost_usd is None else {"cost_usd": cost_usd}
        self.add(calls=1, prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens, **extra)

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            out = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        out["cost_usd"] = round(out["cost_usd"], 6)
        out["seconds"] = round(out["seconds"], 3)
        return out

    def reset(self) -> None:
        with self._lock:
            for f in fields(self):
                if not f.name.startswith("_"):
                    setattr(self, f.name, type(getattr(self, f.name))())


def deliver(results: list[Generation | None], i: int, gen: Generation, on_result: ResultCallback | None,
            stats: LLMStats | None = None, cost_usd: float | None = None) -> None:
    """What every backend does with an answer: put it at its prompt's place ``i``, count it in ``stats``
    (when given; backends that count per request pass ``None``) and hand it to ``on_result`` at once."""
    results[i] = gen
    if stats is not None:
        stats.count(gen, cost_usd)
    if on_result is not None:
        on_result(i, gen)
