"""The server-sent events of ``stream: true`` requests to ``reasonir llm-serve`` (OpenAI's chunk format).

The backends return whole generations, so a streamed answer is sent once generation has finished
(its first chunk comes no earlier than the whole answer of a non-streamed request), cut into pieces:
the generated tokens where the backend reported them (``metadata["tokens"]`` that spell the text),
otherwise words with their trailing spaces. The events follow OpenAI's wire format, so any OpenAI
client with ``stream=True`` reads them:

* chat: ``chat.completion.chunk`` objects; the first delta carries ``role: "assistant"``, then one
  ``content`` delta per piece, then an empty delta with ``finish_reason``;
* completions: ``text_completion`` objects, one ``text`` piece at a time per choice ``index``, then
  an empty ``text`` with ``finish_reason`` per choice;
* with ``stream_options: {"include_usage": true}``, a last chunk with empty ``choices`` and ``usage``;
* finally ``data: [DONE]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .base import Generation

_PIECE = re.compile(r"\s*\S+\s*|\s+")

__all__ = ["chat_events", "completion_events", "pieces", "sse"]


def pieces(gen: Generation) -> list[str]:
    """The text of ``gen`` cut into streamable pieces (its tokens when they spell it, else words)."""
    tokens = gen.metadata.get("tokens") if isinstance(gen.metadata, dict) else None
    if tokens and all(isinstance(t, str) for t in tokens) and "".join(tokens) == gen.text:
        return [t for t in tokens if t]
    return _PIECE.findall(gen.text)


def sse(obj: Any) -> bytes:
    """One server-sent event carrying ``obj`` as JSON (or the literal ``[DONE]``)."""
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


def _usage(gens: list[Generation]) -> dict[str, int]:
    p = sum(g.prompt_tokens for g in gens)
    c = sum(g.completion_tokens for g in gens)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def chat_events(gen: Generation, head: dict[str, Any], include_usage: bool,
                logprobs: dict[str, Any] | None) -> Iterator[bytes]:
    """The events of a streamed chat completion.

    Args:
        gen: the finished generation.
        head: ``id``, ``created`` and ``model``, shared by every chunk.
        include_usage: send the usage chunk before ``[DONE]``.
        logprobs: the chat ``logprobs`` object of the whole answer (sent with the first content piece).
    """
    def chunk(delta: dict[str, Any], finish: str | None = None, lp: Any = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": lp, "finish_reason": finish}
        return sse({**head, "object": "chat.completion.chunk", "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    parts = pieces(gen)
    for i, piece in enumerate(parts):
        yield chunk({"content": piece}, lp=logprobs if i == 0 else None)
    yield chunk({}, gen.finish_reason or "stop", None if parts else logprobs)
    if include_usage:
        yield sse({**head, "object": "chat.completion.chunk", "choices": [], "usage": _usage([gen])})
    yield sse("[DONE]")


def completion_events(gens: list[Generation], head: dict[str, Any], include_usage: bool,
                      logprobs: list[dict[str, Any] | None]) -> Iterator[bytes]:
    """The events of a streamed text completion (one choice per prompt, each streamed in turn).

    Args:
        gens: the finished generations, one per prompt.
        head: ``id``, ``created`` and ``model``, shared by every chunk.
        include_usage: send the usage chunk before ``[DONE]``.
        logprobs: each choice's completion ``logprobs`` object (sent with its first piece).
    """
    def chunk(index: int, text: str, finish: str | None = None, lp: Any = None) -> bytes:
        choice = {"index": index, "text": text, "logprobs": lp, "finish_reason": finish}
        return sse({**head, "object": "text_completion", "choices": [choice]})

    for index, gen in enumerate(gens):
        parts = pieces(gen)
        for i, piece in enumerate(parts):
            yield chunk(index, piece, lp=logprobs[index] if i == 0 else None)
        yield chunk(index, "", gen.finish_reason or "stop", None if parts else logprobs[index])
    if include_usage:
        yield sse({**head, "object": "text_completion", "choices": [], "usage": _usage(gens)})
    yield sse("[DONE]")
