"""Test-time query rewriting: an LLM reasons about each query, and its output becomes the query.

ReasonIR's strongest retrieval numbers come from retrieving with such reasoning texts instead of the
raw queries (``replace``, its default), with longer budgets helping up to 2048 tokens. ``append``
keeps the original text and adds the reasoning after it. Identical query texts are rewritten once;
every answer goes through the LLM response cache, so a re-run costs no LLM calls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ConfigError
from .llm.base import LLM, GenerationParams
from .prompts.rewrite import DEFAULT, TEMPLATE_NAMES, RewritePrompts
from .prompts.template_files import split_overrides
from .query_variants import REWRITE_MODES, combine_query  # re-exported: the modes belong to variants
from .types import Queries, as_queries

logger = logging.getLogger(__name__)



@dataclass
class RewrittenQuery:
    """One rewritten query (a row of ``reasonir rewrite``'s JSONL output).

    Attributes:
        id: query id.
        query: the text to retrieve with (per ``mode``).
        original: the original query.
        reasoning: the LLM's output.
        mode: ``replace`` or ``append``.
        completion_tokens, finish_reason: as the backend reported them (``length`` = hit the budget).
        cached: answered from the response cache.
        fallback: the LLM answered nothing, so ``query`` is the original.
    """

    id: str
    query: str
    original: str
    reasoning: str
    mode: str
    completion_tokens: int = 0
    finish_reason: str | None = None
    cached: bool = False
    fallback: bool = False

    def to_row(self, **provenance: Any) -> dict[str, Any]:
        return {**asdict(self), **provenance}


class QueryRewriter:
    """Rewrite queries with an LLM.

    Args:
        llm: any :class:`~reasonir.llm.base.LLM`.
        max_tokens: output budget (a hard cap, and announced in the prompt when ``length_clause``).
        mode: ``replace`` or ``append``.
        temperature, top_p, seed: sampling (default greedy).
        length_clause: tell the model its budget.
        separator: between original and reasoning in ``append`` mode.
        prompts: the prompt templates (default: the built-in ones; see :mod:`reasonir.prompts.rewrite`).
    """

    def __init__(self, llm: LLM, max_tokens: int = 512, mode: str = "replace", temperature: float = 0.0,
                 top_p: float = 1.0, seed: int | None = None, length_clause: bool = True, separator: str = "\n\n",
                 prompts: RewritePrompts | None = None):
        if mode not in REWRITE_MODES:
            raise ConfigError(f"unknown rewrite mode {mode!r}; choose one of {', '.join(REWRITE_MODES)}")
        if max_tokens <= 0:
            raise ConfigError(f"max_tokens must be positive, got {max_tokens}")
        self.llm = llm
        self.max_tokens = max_tokens
        self.mode = mode
        self.length_clause = length_clause
        self.separator = separator
        self.prompts = prompts or DEFAULT
        self.params = GenerationParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)

    def provenance(self) -> dict[str, Any]:
        """Fields that say how the rewrites were made (written into every output row)."""
        return {"llm": self.llm.name, "prompt_version": self.prompts.version, "max_tokens": self.max_tokens}

    def rewrite(self, queries: Queries) -> dict[str, RewrittenQuery]:
        """Rewrite every query; ``{qid: RewrittenQuery}`` in the input order.

        Raises:
            InputError: ``queries`` is not a mapping ``{query_id: text}`` of strings (for one text:
                ``rewrite({"q": text})``).
        """
        queries = as_queries(queries, allow_empty=True)
        texts = list(dict.fromkeys(queries.values()))
        prompts = [self.prompts.messages(t, self.max_tokens if self.length_clause else None) for t in texts]
        gens = dict(zip(texts, self.llm.generate(prompts, self.params))) if prompts else {}
        out: dict[str, RewrittenQuery] = {}
        empty = 0
        for qid, text in queries.items():
            gen = gens[text]
            reasoning = gen.text.strip()
            fallback = not reasoning
            empty += fallback
            query = text if fallback else combine_query(text, reasoning, self.mode, self.separator)
            out[qid] = RewrittenQuery(id=qid, query=query, original=text, reasoning=reasoning, mode=self.mode,
                                      completion_tokens=gen.completion_tokens, finish_reason=gen.finish_reason,
                                      cached=gen.cached, fallback=fallback)
        if empty:
            logger.warning("%d of %d rewrites came back empty; those queries keep their original text",
                           empty, len(queries))
        return out


def rewrite_prompts(prompts: Mapping[str, str] | None = None, entries: Sequence[str] = ()) -> RewritePrompts:
    """The rewrite prompt templates a configuration names.

    Args:
        prompts: ``{template name: file}`` (a config file's ``prompts:`` section).
        entries: ``--prompt-template`` values: ``NAME=FILE``, or a bare ``FILE`` for the ``user`` template
            (they win over ``prompts``).

    Raises:
        ConfigError: unknown template name, unreadable file, or bad placeholders.
    """
    overrides = dict(prompts or {})
    overrides.update(split_overrides(entries, TEMPLATE_NAMES, bare="user"))
    return RewritePrompts(overrides)
