"""One LLM step of the synthesizer: send prompts, validate answers, retry failures, account usage.

Every attempt uses fixed, deterministic sampling parameters (attempt 0: the configured ones;
attempt ``k``: the retry temperature and ``seed + k``), so each attempt's answer is a pure function
of (model, prompt, parameters). Behind the response-cached LLM layer a killed run therefore resumes
where it stopped, retries included, and a finished run re-runs without a single backend call.

Prompts go to ``LLM.generate`` in chunks of ``batch_size`` (0: all pending prompts in one call,
which suits batch APIs); concurrency inside a chunk is the backend's business (e.g. the HTTP
backend's ``concurrency`` option).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from ..llm.base import LLM, Generation, GenerationParams, LLMConnectionError, LLMError, Prompt
from .parsing import ParseError

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class Usage:
    """LLM usage of one item (or a sum of items).

    Attributes:
        prompts: answers received (one per attempt).
        calls: answers the backend produced in this run (``prompts`` minus cache hits).
        cached: answers served from the response cache.
        prompt_tokens, completion_tokens: tokens of all answers used (the data's full cost).
        new_prompt_tokens, new_completion_tokens: tokens of this run's backend calls only.
        cost_usd: backend-reported cost of this run's calls.
        parse_failures: attempts whose answer was rejected, by reason.
        failures: items that exhausted their attempts.
        truncated: answers that stopped at ``max_tokens``.
    """

    prompts: int = 0
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    new_prompt_tokens: int = 0
    new_completion_tokens: int = 0
    cost_usd: float = 0.0
    failures: int = 0
    truncated: int = 0
    parse_failures: dict[str, int] = field(default_factory=dict)

    def add_generation(self, gen: Generation) -> None:
        self.prompts += 1
        self.prompt_tokens += gen.prompt_tokens
        self.completion_tokens += gen.completion_tokens
        self.truncated += gen.finish_reason == "length"
        if gen.cached:
            self.cached += 1
        else:
            self.calls += 1
            self.new_prompt_tokens += gen.prompt_tokens
            self.new_completion_tokens += gen.completion_tokens
            self.cost_usd += float((gen.metadata or {}).get("cost_usd", 0.0) or 0.0)

    def add_failure(self, reason: str) -> None:
        self.parse_failures[reason] = self.parse_failures.get(reason, 0) + 1

    def merge(self, other: Usage | dict[str, Any]) -> Usage:
        o = other if isinstance(other, Usage) else Usage.from_dict(other)
        for name in ("prompts", "calls", "cached", "prompt_tokens", "completion_tokens", "new_prompt_tokens",
                     "new_completion_tokens", "cost_usd", "failures", "truncated"):
            setattr(self, name, getattr(self, name) + getattr(o, name))
        pf = Counter(self.parse_failures)
        pf.update(o.parse_failures)
        self.parse_failures = dict(sorted(pf.items()))
        return self

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("prompts", "calls", "cached", "prompt_tokens", "completion_tokens",
                                           "new_prompt_tokens", "new_completion_tokens", "failures", "truncated")}
        d["cost_usd"] = round(self.cost_usd, 6)
        d["parse_failures"] = dict(self.parse_failures)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Usage:
        u = cls(**{k: v for k, v in d.items() if k != "parse_failures"})
        u.parse_failures = dict(d.get("parse_failures") or {})
        return u


@dataclass
class StepResult(Generic[T]):
    """Outcome of one prompt: the validated value (``None`` if every attempt failed) and its usage."""

    value: T | None
    attempts: int
    usage: Usage
    errors: list[str]
    last_text: str = ""


Validator = Callable[[int, str], T]


class LLMStep:
    """Run prompts through an LLM with validation and deterministic retries.

    Args:
        llm: any :class:`~reasonir.llm.base.LLM` (normally the cached one from ``load_llm``).
        params: sampling parameters of the first attempt.
        max_attempts: attempts per prompt (>= 1).
        retry_temperature: temperature of attempts after the first (a greedy retry would repeat itself).
        batch_size: prompts per ``generate`` call; 0 sends all pending prompts at once.
        name: label used in logs.
    """

    def __init__(self, llm: LLM, params: GenerationParams, max_attempts: int = 3, retry_temperature: float = 0.7,
                 batch_size: int = 64, name: str = "llm"):
        self.llm = llm
        self.params = params
        self.max_attempts = max(1, int(max_attempts))
        self.retry_temperature = retry_temperature
        self.batch_size = int(batch_size)
        self.name = name

    @classmethod
    def from_config(cls, llm: LLM, cfg: Any, max_tokens: int, name: str) -> LLMStep:
        """A step with the synthesizer config's sampling, retry and batching settings."""
        return cls(llm, GenerationParams(max_tokens=max_tokens, temperature=cfg.temperature, seed=cfg.seed),
                   max_attempts=cfg.max_attempts, retry_temperature=cfg.retry_temperature,
                   batch_size=cfg.batch_size, name=name)

    def attempt_params(self, attempt: int) -> GenerationParams:
        """The parameters of attempt ``attempt`` (0-based); fixed, so answers are cacheable."""
        if attempt == 0:
            return self.params
        base_seed = self.params.seed if self.params.seed is not None else 0
        return replace(self.params, temperature=max(self.params.temperature, self.retry_temperature),
                       seed=base_seed + attempt)

    def _generate(self, prompts: list[Prompt], params: GenerationParams) -> list[Generation | None]:
        """Answers in order; ``None`` for a prompt the backend rejected (an error status for that
        request). Unreachable backends (:class:`LLMConnectionError`) abort the run, which a re-run resumes."""
        if not prompts:
            return []
        size = self.batch_size if self.batch_size > 0 else len(prompts)
        out: list[Generation | None] = []
        for start in range(0, len(prompts), size):
            chunk = prompts[start:start + size]
            try:
                gens: list[Generation | None] = list(self.llm.generate(chunk, params))
            except LLMConnectionError:
                raise
            except LLMError as exc:
                logger.warning("%s: %s; asking the %d prompts of this chunk one by one", self.name, exc, len(chunk))
                gens = [self._one(p, params) for p in chunk]
            if len(gens) != len(chunk):
                raise RuntimeError(f"{self.llm.name} returned {len(gens)} answers for {len(chunk)} prompts")
            out.extend(gens)
        return out

    def _one(self, prompt: Prompt, params: GenerationParams) -> Generation | None:
        try:
            return self.llm.generate([prompt], params)[0]
        except LLMConnectionError:
            raise
        except LLMError as exc:
            logger.debug("%s: prompt rejected by the backend: %s", self.name, exc)
            return None

    def run(self, prompts: Sequence[Prompt], validate: Validator[T]) -> list[StepResult[T]]:
        """Answer every prompt; ``validate(index, text)`` returns the value or raises :class:`ParseError`.

        Returns:
            One :class:`StepResult` per prompt, in order.
        """
        results = [StepResult[T](value=None, attempts=0, usage=Usage(), errors=[]) for _ in prompts]
        pending = list(range(len(prompts)))
        for attempt in range(self.max_attempts):
            if not pending:
                break
            gens = self._generate([prompts[i] for i in pending], self.attempt_params(attempt))
            still = []
            for i, gen in zip(pending, gens):
                res = results[i]
                res.attempts += 1
                if gen is None:
                    res.usage.add_failure("llm_error")
                    res.errors.append("llm_error")
                    still.append(i)
                    continue
                res.usage.add_generation(gen)
                res.last_text = gen.text
                try:
                    res.value = validate(i, gen.text)
                except ParseError as exc:
                    res.usage.add_failure(exc.reason)
                    res.errors.append(exc.reason)
                    still.append(i)
            if still:
                logger.debug("%s: attempt %d rejected %d of %d answers", self.name, attempt + 1,
                             len(still), len(pending))
            pending = still
        for i in pending:
            results[i].usage.failures += 1
        if pending:
            logger.info("%s: %d of %d prompts failed after %d attempts", self.name, len(pending),
                        len(prompts), self.max_attempts)
        return results
