"""Pointwise LLM reranking as ReasonIR does it: one prompt per pair, a 0-5 grade, score = grade / 5.

Two ways to read the grade:

* ``parse`` (default): :func:`~reasonir.rerank.grades.parse_grade` on the answer text;
* ``expected``: the expected grade under the model's distribution over the digits 0-5 at the
  grade position (needs a backend that returns logprobs); falls back to the parsed grade where the
  logprobs show no grade position (counted).

The text is read by ``parse_rule``: ``lenient`` (ours, :func:`~reasonir.rerank.grades.parse_grade`) or
``strict`` (the reference's two characters after ``Relevance score:``). Failures (no grade found) get
``score=None``; :mod:`reasonir.rerank.combine` decides what they count as.

Documents are cut at ``max_doc_words`` words (ours: 1500) and/or, with ``context_tokens``, only where the
prompt would not fit the LLM's context (:class:`~reasonir.rerank.context.ContextFitter`, ReasonIR's
behaviour); the counters say how many pairs each rule cut.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..llm.base import LLM, GenerationParams
from ..prompts.rerank import DEFAULT, FAMILIES, RerankPrompts
from .base import PairScore, as_pair_batch
from .context import ContextFitter
from .grades import MAX_GRADE, PARSE_RULES, GradeParse, expected_grade, read_grade

logger = logging.getLogger(__name__)

GRADE_MODES = ("parse", "expected")


def truncate_words(text: str, max_words: int) -> str:
    """The first ``max_words`` whitespace-separated words of ``text`` (all of it when ``max_words <= 0``)."""
    if max_words <= 0:
        return text
    words = text.split()
    return text if len(words) <= max_words else " ".join(words[:max_words])


@dataclass
class GradeCounters:
    """What happened to the grades of the pairs scored so far."""

    pairs: int = 0
    parse_failures: int = 0
    clamped: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    expected_used: int = 0
    expected_fallback: int = 0
    truncated_words: int = 0
    truncated_context: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "parse_failures": self.parse_failures,
                "parse_failure_rate": self.parse_failures / self.pairs if self.pairs else 0.0,
                "clamped": self.clamped, "methods": dict(self.methods), "expected_used": self.expected_used,
                "expected_fallback": self.expected_fallback, "truncated_words": self.truncated_words,
                "truncated_context": self.truncated_context}


class LLMReranker:
    """Grade pairs with an LLM.

    Args:
        llm: any :class:`~reasonir.llm.base.LLM` (usually from :func:`reasonir.llm.load_llm`).
        family: prompt family (see :data:`reasonir.prompts.rerank.FAMILIES`).
        grade_mode: ``parse`` or ``expected``.
        max_tokens: answer budget (ReasonIR: 32).
        temperature, top_p, seed: sampling (ReasonIR samples at 0.6 / 0.9; the default is greedy).
        logprobs: top alternatives requested per token in ``expected`` mode.
        max_doc_words, max_query_words: truncate long texts (0: never).
        chat: send a chat prompt (instruction-tuned models) rather than a raw completion string.
        prompts: the prompt templates (default: the built-in ones).
        parse_rule: ``lenient`` (ours) or ``strict`` (the reference's rule).
        context_tokens: cut documents only where prompt + answer would exceed this many tokens
            (``None``: no context cut).
    """

    def __init__(self, llm: LLM, family: str = "general", grade_mode: str = "parse", max_tokens: int = 32,
                 temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None, logprobs: int = 10,
                 max_doc_words: int = 1500, max_query_words: int = 0, chat: bool = True,
                 prompts: RerankPrompts | None = None, parse_rule: str = "lenient",
                 context_tokens: int | None = None):
        if family not in FAMILIES:
            raise ConfigError(f"unknown rerank prompt family {family!r}; choose one of {', '.join(FAMILIES)}")
        if grade_mode not in GRADE_MODES:
            raise ConfigError(f"unknown grade mode {grade_mode!r}; choose one of {', '.join(GRADE_MODES)}")
        if parse_rule not in PARSE_RULES:
            raise ConfigError(f"unknown parse rule {parse_rule!r}; choose one of {', '.join(PARSE_RULES)}")
        self.llm = llm
        self.family = family
        self.grade_mode = grade_mode
        self.params = GenerationParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed,
                                       logprobs=logprobs if grade_mode == "expected" else None)
        self.max_doc_words = max_doc_words
        self.max_query_words = max_query_words
        self.chat = chat
        self.prompts = prompts or DEFAULT
        self.parse_rule = parse_rule
        self.fitter = ContextFitter(llm, context_tokens, max_tokens) if context_tokens else None
        rule = "" if parse_rule == "lenient" else f"|{parse_rule}"
        self.name = f"llm:{llm.name}|{family}|{self.prompts.version}|{grade_mode}{rule}"
        self.counters = GradeCounters()
        self._lock = threading.Lock()

    def _build(self, query: str, document: str) -> Any:
        if self.chat:
            return self.prompts.messages(self.family, query, document)
        return self.prompts.text(self.family, query, document)

    def _prepare(self, query: str, document: str) -> tuple[Any, bool, bool]:
        """``(prompt, cut by max_doc_words, cut to fit the context)`` for one pair."""
        q = truncate_words(query, self.max_query_words)
        d = truncate_words(document, self.max_doc_words)
        words_cut = d != document
        if self.fitter is None:
            return self._build(q, d), words_cut, False
        prompt, context_cut = self.fitter.fit(lambda doc: self._build(q, doc), d)
        return prompt, words_cut, context_cut

    def prompt(self, query: str, document: str) -> Any:
        """The prompt sent for one pair (a chat, or a raw string with ``chat=False``)."""
        return self._prepare(query, document)[0]

    def score(self, pairs: Sequence[tuple[str, str]] | tuple[str, str]) -> Any:
        """Grade every pair (one LLM call each, all sent as one batch).

        Returns:
            One :class:`PairScore` per pair; for a single ``(query, document)`` pair, its PairScore.
        """
        batch, single = as_pair_batch(pairs)
        out = self._score(batch)
        return out[0] if single else out

    def _score(self, pairs: list[tuple[str, str]]) -> list[PairScore]:
        if not pairs:
            return []
        prepared = [self._prepare(q, d) for q, d in pairs]
        with self._lock:
            self.counters.truncated_words += sum(w for _, w, _ in prepared)
            self.counters.truncated_context += sum(c for _, _, c in prepared)
        gens = self.llm.generate([p for p, _, _ in prepared], self.params)
        out = []
        for gen in gens:
            parsed = read_grade(gen.text, self.parse_rule)
            grade, method, extra = parsed.grade, parsed.method, {}
            if self.grade_mode == "expected":
                exp = expected_grade(gen.logprobs, gen.metadata.get("tokens"))
                if exp is not None:
                    grade, method = exp[0], "expected"
                    extra["digit_mass"] = round(exp[1], 6)
            self._count(parsed, method)
            out.append(PairScore(score=None if grade is None else grade / MAX_GRADE, grade=grade, method=method,
                                 text=gen.text, extra=extra))
        return out

    def _count(self, parsed: GradeParse, method: str) -> None:
        with self._lock:
            c = self.counters
            c.pairs += 1
            c.methods[method] = c.methods.get(method, 0) + 1
            if method == "expected":
                c.expected_used += 1
            else:
                if self.grade_mode == "expected":
                    c.expected_fallback += 1
                if parsed.grade is None:
                    c.parse_failures += 1
                c.clamped += int(parsed.clamped)
