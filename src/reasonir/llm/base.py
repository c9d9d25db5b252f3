"""The ``LLM`` protocol every backend implements, and the value types it exchanges.

A prompt is either a chat (a list of ``{"role", "content"}`` messages, rendered by the backend's chat
template) or a raw string (sent as a plain completion, as ReasonIR's reranker does). ``generate``
takes a batch of prompts and returns one :class:`Generation` per prompt, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

Message = dict[str, str]
Prompt = Union[str, list[Message]]


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters (OpenAI semantics).

    Attributes:
        max_tokens: cap on generated tokens.
        temperature: 0 = greedy.
        top_p: nucleus sampling mass.
        stop: strings that end generation (not included in the output).
        seed: sampling seed where the backend supports one.
        logprobs: number of top alternatives to return per generated token (``None``: no logprobs).
    """

    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "stop": list(self.stop), "seed": self.seed, "logprobs": self.logprobs}


@dataclass
class Generation:
    """One completion.

    Attributes:
        text: the generated text.
        prompt_tokens, completion_tokens: token counts as reported by the backend.
        finish_reason: ``"stop"``, ``"length"``, ... when known.
        logprobs: per generated token, ``{token: logprob}`` of the top alternatives (when requested
            and offered by the backend).
        cached: served from the response cache (no backend call).
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    logprobs: list[dict[str, float]] | None = None
    cached: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LLM(Protocol):
    """A text generator. ``name`` identifies backend + model (it keys the response cache)."""

    name: str

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        """One :class:`Generation` per prompt, in order."""
        ...
