"""Stopping generation whose answer nobody will read (e.g. the HTTP client went away).

A caller runs ``generate`` inside :func:`cancel_scope` with a token: any object with ``is_set()``
(a :class:`threading.Event`, or ``reasonir llm-serve``'s probe of the client's connection). Backends
that can stop early read :func:`current_cancel`: the local transformers backend checks it before each
batch and after every generated token; :class:`~reasonir.llm.batching.MicroBatchingLLM` drops queued
calls whose token is set and stops a running batch once every caller in it is gone. A cancelled call
raises :class:`GenerationCancelled`; it never returns (nor caches) a truncated answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, runtime_checkable

from .base import LLMError


@runtime_checkable
class CancelToken(Protocol):
    """Anything that says whether the work should stop (``threading.Event`` is one)."""

    def is_set(self) -> bool:
        """True once the work's result is no longer wanted."""
        ...


class GenerationCancelled(LLMError):
    """Generation stopped because its caller cancelled it (no answer is returned or cached)."""


_CURRENT: ContextVar[CancelToken | None] = ContextVar("reasonir_llm_cancel", default=None)


@contextmanager
def cancel_scope(token: CancelToken | None) -> Iterator[CancelToken | None]:
    """Make ``token`` the cancellation signal of every ``generate`` call made inside the block.

    Args:
        token: checked by the backends; ``None`` clears any enclosing token.
    """
    reset = _CURRENT.set(token)
    try:
        yield token
    finally:
        _CURRENT.reset(reset)


def current_cancel() -> CancelToken | None:
    """The token of the innermost :func:`cancel_scope` of this thread/context (``None``: not cancellable)."""
    return _CURRENT.get()


def raise_if_cancelled(token: CancelToken | None, what: str = "generation") -> None:
    """Raise :class:`GenerationCancelled` when ``token`` is set.

    Args:
        token: the token to check (``None`` never cancels).
        what: names the work in the exception message.
    """
    if token is not None and token.is_set():
        raise GenerationCancelled(f"{what} cancelled: the caller no longer waits for the answer")


class AllOf:
    """A token that is set once every one of ``tokens`` is set (a batch shared by several callers)."""

    def __init__(self, tokens: Iterable[CancelToken]):
        self.tokens = list(tokens)

    def is_set(self) -> bool:
        return bool(self.tokens) and all(t.is_set() for t in self.tokens)


def all_of(tokens: Iterable[CancelToken | None]) -> CancelToken | None:
    """The token of work shared by several callers: ``None`` when any caller cannot cancel."""
    tokens = list(tokens)
    if not tokens or any(t is None for t in tokens):
        return None
    return tokens[0] if len(tokens) == 1 else AllOf(t for t in tokens if t is not None)
