"""Test doubles shared by the test modules: one scripted LLM and the small synthetic data files they feed.

``ScriptedLLM`` implements the ``LLM`` protocol with canned replies that are a pure function of
(prompt, parameters), like a cached real model, so runs are deterministic. It records what it was
asked: ``calls`` (prompts answered), ``prompts`` (each prompt) and ``batches`` (each ``generate``
call with its parameters). ``fail_after`` makes it raise after that many answers (a killed run).
Test modules import from here (or ``llm_fakes``, ``served_index``), never from one another.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from reasonir.llm.base import Generation, GenerationParams

Reply = Callable[[Any, GenerationParams], str]


def prompt_text(prompt: Any) -> str:
    """A prompt's text: the string itself, or a chat's message contents joined by newlines."""
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


class ScriptedLLM:
    """The ``LLM`` protocol answering ``reply(prompt, params)``.

    Args:
        reply: the reply to one prompt, given the generation parameters (defaults filled in).
        name: the LLM's name (part of response-cache keys).
        fail_after: raise ``KeyboardInterrupt`` once this many prompts were answered.
        tokens: fixed (prompt, completion) token counts per answer; default: whitespace word counts.
    """

    def __init__(self, reply: Reply, name: str = "scripted", fail_after: int | None = None,
                 tokens: tuple[int, int] | None = None):
        self.reply = reply
        self.name = name
        self.fail_after = fail_after
        self.tokens = tokens
        self.calls = 0
        self.prompts: list[Any] = []
        self.batches: list[tuple[list[Any], GenerationParams | None]] = []

    def generate(self, prompts, params: GenerationParams | None = None) -> list[Generation]:
        self.batches.append((list(prompts), params))
        filled = params or GenerationParams()
        out = []
        for p in prompts:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise KeyboardInterrupt("scripted LLM killed")
            self.calls += 1
            self.prompts.append(p)
            text = self.reply(p, filled)
            n_in, n_out = self.tokens or (len(prompt_text(p).split()), len(text.split()))
            out.append(Generation(text=text, prompt_tokens=n_in, completion_tokens=n_out, finish_reason="stop"))
        return out


GPQA_COLUMNS = ["Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3",
                "Record ID", "High-level domain", "Subdomain"]


def gpqa_csv(n: int = 6) -> str:
    """A GPQA-shaped CSV of ``n`` synthetic questions (alternating Physics/Optics and Biology/Genetics)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=GPQA_COLUMNS)
    w.writeheader()
    for i in range(n):
        w.writerow({"Question": f"Synthetic question {i}?", "Correct Answer": f"right {i}",
                    "Incorrect Answer 1": f"wrong {i}a", "Incorrect Answer 2": f"wrong {i}b",
                    "Incorrect Answer 3": f"wrong {i}c", "Record ID": f"rec{i:03d}",
                    "High-level domain": "Biology" if i % 2 else "Physics", "Subdomain": "Genetics" if i % 2 else "Optics"})
    return buf.getvalue()
