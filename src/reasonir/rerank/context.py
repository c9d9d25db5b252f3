"""Fitting a rerank prompt into the LLM's context: documents are cut only where the prompt would not fit.

ReasonIR's reranker sends whole documents and is limited only by its model's context
(``max_model_len=16384``). :class:`ContextFitter` does the same explicitly: it counts the prompt's
tokens (plus the answer budget) and, only when they exceed the context, drops tokens from the end of
the document until the prompt fits; callers count the pairs so cut.

The token count uses the backend's own tokenizer when it has one (a local transformers model, offline
vLLM) and the backend's chat template for chat prompts; for other backends (HTTP servers, functions)
it estimates one token per :data:`CHARS_PER_TOKEN` characters, which overestimates the tokens of
English prose, so an estimated cut errs on the safe side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)

#: the estimate's characters per token (backends without a tokenizer)
CHARS_PER_TOKEN = 3
#: tokens given up per extra attempt when a cut document re-tokenises longer than expected
_SLACK = 8


def backend_of(llm: Any) -> Any:
    """The innermost backend of an LLM wrapped by the cache / micro-batching layers."""
    seen = 0
    while getattr(llm, "backend", None) is not None and seen < 8:
        llm, seen = llm.backend, seen + 1
    return llm


def context_length(llm: Any) -> int | None:
    """The context length (tokens) the backend announces, or ``None`` when it does not say.

    Offline vLLM: its engine's ``max_model_len``; a local transformers model: its configuration's
    ``max_position_embeddings``.
    """
    backend = backend_of(llm)
    engine = getattr(backend, "engine", None)
    if engine is not None:
        model_config = getattr(getattr(engine, "llm_engine", None), "model_config", None)
        length = getattr(model_config, "max_model_len", None)
        if isinstance(length, int) and length > 0:
            return length
    config = getattr(getattr(backend, "model", None), "config", None)
    length = getattr(config, "max_position_embeddings", None)
    return length if isinstance(length, int) and length > 0 else None


def _tokenizer(backend: Any) -> Any:
    tok = getattr(backend, "tokenizer", None)
    engine = getattr(backend, "engine", None)
    if tok is None and engine is not None and hasattr(engine, "get_tokenizer"):
        tok = engine.get_tokenizer()
    return tok


@dataclass
class _Codec:
    """Token counting and cutting: a real tokenizer, or the character estimate."""

    encode: Callable[[str], list[Any]]
    decode: Callable[[list[Any]], str]
    render: Callable[[Any], str]
    method: str


def _codec(llm: Any) -> _Codec:
    backend = backend_of(llm)
    tok = _tokenizer(backend)
    if tok is None:
        def chunks(text: str) -> list[str]:
            return [text[i:i + CHARS_PER_TOKEN] for i in range(0, len(text), CHARS_PER_TOKEN)]

        def flat(prompt: Any) -> str:
            return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)

        return _Codec(chunks, "".join, flat, f"estimate ({CHARS_PER_TOKEN} characters per token)")

    def render(prompt: Any) -> str:
        if isinstance(prompt, str):
            return prompt
        if hasattr(backend, "render"):
            return backend.render(prompt)
        return tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)

    return _Codec(lambda t: list(tok(t, add_special_tokens=False)["input_ids"]),
                  lambda ids: tok.decode(ids, skip_special_tokens=True), render, "tokenizer")


class ContextFitter:
    """Cut documents so that prompt + answer budget fit ``context_tokens``.

    Args:
        llm: the LLM the prompts go to (its tokenizer counts tokens, when it has one).
        context_tokens: the context length in tokens.
        answer_tokens: the answer budget reserved in the context.

    Raises:
        ConfigError: a context that leaves no room beyond the answer budget.
    """

    def __init__(self, llm: Any, context_tokens: int, answer_tokens: int):
        if context_tokens <= answer_tokens:
            raise ConfigError(f"an LLM context of {context_tokens} tokens leaves no room for a prompt beside the "
                              f"answer budget of {answer_tokens} tokens")
        self.context_tokens = context_tokens
        self.budget = context_tokens - answer_tokens
        self.codec = _codec(llm)
        # a few tokens of headroom: BOS and other special tokens the backend adds
        self.headroom = 4 if self.codec.method == "tokenizer" else 0

    def count(self, prompt: Any) -> int:
        """Tokens of ``prompt`` as the backend would see it (chat template applied)."""
        return len(self.codec.encode(self.codec.render(prompt))) + self.headroom

    def fit(self, build: Callable[[str], Any], document: str) -> tuple[Any, bool]:
        """The prompt ``build(document)``, with the document cut from the end if it would not fit.

        Returns:
            ``(prompt, cut)``; ``cut`` says the document was shortened. A prompt whose query alone
            overflows keeps an empty document (and is still too long: the backend decides).
        """
        prompt = build(document)
        over = self.count(prompt) - self.budget
        if over <= 0:
            return prompt, False
        ids = self.codec.encode(document)
        keep = len(ids) - over
        for _ in range(6):
            keep = max(0, keep)
            prompt = build(self.codec.decode(ids[:keep]))
            over = self.count(prompt) - self.budget
            if over <= 0 or keep == 0:
                break
            keep -= over + _SLACK
        if over > 0:
            logger.warning("a rerank prompt is %d tokens over the context of %d even without its document",
                           over, self.context_tokens)
        return prompt, True
