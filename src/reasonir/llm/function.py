"""``FunctionLLM``: a Python function as an LLM backend (custom models, scripted answers, tests).

The function receives one prompt and the parameters and returns the text (or a full
:class:`Generation`). With ``concurrency > 1`` prompts are answered on a thread pool, which suits
functions that wait on I/O (a remote service, a simulated latency).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from .base import Generation, GenerationParams, Prompt, ResultCallback, single_prompt
from .stats import LLMStats, deliver

AnswerFn = Callable[[Prompt, GenerationParams], "str | Generation"]


def _rough_tokens(prompt: Prompt) -> int:
    text = prompt if isinstance(prompt, str) else " ".join(m["content"] for m in prompt)
    return len(text.split())


class FunctionLLM:
    """Wrap ``fn(prompt, params) -> str | Generation``.

    Args:
        fn: the answering function.
        name: cache identity; change it whenever ``fn``'s behaviour changes.
        concurrency: threads answering at once.

    Token counts of plain-string answers are whitespace word counts.
    """

    supports_on_result = True

    def __init__(self, fn: AnswerFn, name: str, concurrency: int = 1):
        self.fn = fn
        self.name = name
        self.concurrency = max(1, concurrency)
        self.stats = LLMStats()

    def __repr__(self) -> str:
        fn = getattr(self.fn, "__qualname__", type(self.fn).__name__)
        return f"FunctionLLM({self.name!r}, fn={fn}, concurrency={self.concurrency})"

    def _answer(self, prompt: Prompt, params: GenerationParams) -> Generation:
        out = self.fn(prompt, params)
        if isinstance(out, Generation):
            return out
        words = str(out).split()
        text = " ".join(words[:params.max_tokens]) if len(words) > params.max_tokens else str(out)
        return Generation(text=text, prompt_tokens=_rough_tokens(prompt),
                          completion_tokens=min(len(words), params.max_tokens),
                          finish_reason="length" if len(words) > params.max_tokens else "stop")

    @single_prompt
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: ResultCallback | None = None) -> list[Generation]:
        """One :class:`Generation` per prompt, in order (for one prompt, its :class:`Generation`).

        Raises:
            InputError: ``prompts`` is neither a prompt nor a list of prompts.
        """
        params = params or GenerationParams()
        t0 = time.perf_counter()
        results: list[Generation | None] = [None] * len(prompts)

        def work(i: int) -> None:
            gen = self._answer(prompts[i], params)
            deliver(results, i, gen, on_result, self.stats)

        if self.concurrency == 1:
            for i in range(len(prompts)):
                work(i)
        else:
            with ThreadPoolExecutor(self.concurrency) as pool:
                for f in [pool.submit(work, i) for i in range(len(prompts))]:
                    f.result()
        self.stats.add(seconds=time.perf_counter() - t0)
        return results  # type: ignore[return-value]
