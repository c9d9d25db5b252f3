"""The ``LLM`` protocol every backend implements, and the value types it exchanges.

A prompt is either a chat (a list of ``{"role", "content"}`` messages, rendered by the backend's chat
template) or a raw string (sent as a plain completion, as ReasonIR's reranker does). ``generate``
takes a batch of prompts and returns one :class:`Generation` per prompt, in order; given one prompt
(a string, or one chat as a list of message dicts) it returns that prompt's :class:`Generation`
(:func:`as_prompt_batch`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError, InputError, ReasonIRError

Message = dict[str, str]
Prompt = str | list[Message]


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

    @property
    def name(self) -> str:
        """Backend + model, e.g. ``openai:gpt-4o-mini``; read-only for callers."""
        ...

    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None) -> list[Generation]:
        """One :class:`Generation` per prompt, in order."""
        ...


#: called by backends that support it with ``(index_in_batch, generation)`` as soon as one answer is in
ResultCallback = Callable[[int, Generation], None]


class LLMError(ReasonIRError):
    """An LLM backend failed to answer (after its retries), or answered something unusable."""


class LLMConnectionError(LLMError):
    """The backend could not be reached (connection refused, DNS, timeouts) within the retry budget."""


class LLMResponseError(LLMError):
    """The backend answered with an error status or a body that cannot be read."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


ROLES = ("system", "user", "assistant")


def check_prompt(prompt: Any, where: str = "prompt") -> Prompt:
    """Validate one prompt: a string, or a non-empty list of ``{"role", "content"}`` messages.

    Raises:
        InputError: a prompt or message of the wrong type (naming ``where`` and the message).
        ConfigError: an empty chat, or a message with an unknown role (listing the valid roles).
    """
    if isinstance(prompt, str):
        return prompt
    if not isinstance(prompt, list):
        raise InputError(f"{where}: a prompt is a string or a non-empty list of chat messages, "
                         f"got {type(prompt).__name__}")
    if not prompt:
        raise ConfigError(f"{where}: a chat prompt needs at least one message")
    for i, msg in enumerate(prompt):
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str):
            raise InputError(f"{where}: message {i} must be a dict with a string 'content'")
        if msg.get("role") not in ROLES:
            raise ConfigError(f"{where}: message {i} has role {msg.get('role')!r}; use one of {', '.join(ROLES)}")
    return prompt


def as_prompt_batch(prompts: Any, name: str = "prompts") -> tuple[list[Prompt], bool]:
    """Normalise a prompts argument: a list of prompts, or one prompt.

    One prompt is a string or one chat (a non-empty list whose items are all message dicts); a list
    of strings and/or chats is a batch.

    Returns:
        ``(validated prompts as a list, single)``; ``single`` says one prompt was given.

    Raises:
        InputError: for bytes, ``None``, a mapping, or an item that is not a prompt (naming it).
        ConfigError: for a chat message with an unknown role.
    """
    if isinstance(prompts, str):
        return [prompts], True
    if isinstance(prompts, list) and prompts and all(isinstance(m, dict) for m in prompts):
        return [check_prompt(prompts, name)], True
    if isinstance(prompts, (bytes, bytearray, Mapping, set, frozenset)) or not isinstance(prompts, Iterable):
        raise InputError(f"{name} must be a prompt (a string or a list of chat messages) or a list of prompts, "
                         f"got {type(prompts).__name__}")
    return [check_prompt(p, f"{name}[{i}]") for i, p in enumerate(prompts)], False


def single_prompt(generate: Callable[..., list[Generation]]) -> Callable[..., Any]:
    """Decorate a backend's ``generate(self, prompts, params=None, ...)`` with the prompts rule.

    The wrapped method receives the validated list of prompts; for one prompt (a string or one chat)
    the caller gets that prompt's :class:`Generation` rather than a list of one.
    """

    @functools.wraps(generate)
    def wrapper(self: Any, prompts: Any, params: GenerationParams | None = None, *args: Any, **kwargs: Any) -> Any:
        batch, single = as_prompt_batch(prompts)
        out = generate(self, batch, params, *args, **kwargs)
        return out[0] if single else out

    return wrapper


def is_chat(prompt: Prompt) -> bool:
    """Whether ``prompt`` is a list of chat messages (else a raw completion string)."""
    return not isinstance(prompt, str)


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string (excluded); returns ``(text, stopped)``."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
