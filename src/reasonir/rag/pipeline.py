"""Closed-book and retrieval-augmented answering of multiple-choice questions, one result row each.

:func:`evaluate_questions` runs, for a list of :class:`~reasonir.rag.questions.MCQuestion`:

1. closed-book chain-of-thought answering (also the source of "CoT as query" retrieval queries);
2. retrieval queries (question, question + options, the published MMLU format, an LLM rewrite, or
   the closed-book reasoning);
3. top-k passages from a :class:`~reasonir.rag.passages.PassageSource`;
4. retrieval-augmented answering with the passages placed before the question;
5. letter extraction, the seeded fallback letter (:class:`~reasonir.rag.extract.Fallback`), and one
   result row per question.

Prompts come from a :class:`~reasonir.prompts.rag.RagPrompts` template set (``settings.prompts``).

Result rows never contain the text of sensitive questions (GPQA): they hold the question's sha256,
the option order, passage ids/scores/text hashes, and hashes of queries and outputs instead, plus
every field :func:`reasonir.rag.stats.summarize` needs to recompute the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..llm.base import LLM, GenerationParams, Prompt
from ..prompts import rag as P
from .extract import (
    EXTRACT_VERSION,
    FALLBACK_RULES,
    ORDER_GPQA,
    ORDER_MMLU,
    Extraction,
    Fallback,
    extract_answer,
    reasoning_before_answer,
)
from .passages import Passage, PassageSource
from .questions import MCQuestion, text_sha256
from .store import Annotator, StoredGeneration, generate_resumable

logger = logging.getLogger(__name__)

QUERY_MODES = ("question", "question_options", "formatted", "rewrite", "cot")
DEFAULT_K = {"mmlu": 3, "gpqa": 5}


@dataclass
class EvalSettings:
    """How questions are answered.

    Attributes:
        conditions: ``closed`` and/or ``rag``.
        k: passages per question (``None``: 3 for MMLU, 5 for GPQA).
        query: retrieval query — one of :data:`QUERY_MODES`.
        params: sampling parameters of the answers (MMLU style also stops at ``"Question:"``).
        rewrite_params: sampling parameters of query rewriting.
        batch_size: prompts per LLM call.
        seed: seed of the random fallback letter.
        passage_words: cut each passage to this many words (``None``: full text).
        fallback: fallback rule, one of :data:`~reasonir.rag.extract.FALLBACK_RULES`.
        prompts: the prompt templates (default: the built-in ones).
    """

    conditions: tuple[str, ...] = ("closed", "rag")
    k: int | None = None
    query: str = "question"
    params: GenerationParams = field(default_factory=lambda: GenerationParams(max_tokens=2048))
    rewrite_params: GenerationParams = field(default_factory=lambda: GenerationParams(max_tokens=128))
    batch_size: int = 8
    seed: int = 12345
    passage_words: int | None = None
    fallback: str = "per_question"
    prompts: P.RagPrompts = field(default_factory=lambda: P.DEFAULT)

    def check(self) -> None:
        """Raise :class:`~reasonir.errors.ConfigError` on an invalid setting."""
        bad = [c for c in self.conditions if c not in ("closed", "rag")]
        if bad or not self.conditions:
            raise ConfigError(f"conditions {list(self.conditions)}: choose closed and/or rag")
        if self.query not in QUERY_MODES:
            raise ConfigError(f"query {self.query!r}: choose one of {', '.join(QUERY_MODES)}")
        if self.k is not None and self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}")
        if self.passage_words is not None and self.passage_words < 1:
            raise ConfigError(f"passage_words must be >= 1, got {self.passage_words}")
        if self.fallback not in FALLBACK_RULES:
            raise ConfigError(f"fallback {self.fallback!r}: choose one of {', '.join(FALLBACK_RULES)}")


@dataclass
class EvalOutcome:
    """Result rows (question order) and wall-clock timings in seconds."""

    rows: list[dict[str, Any]]
    timings: dict[str, float]
    usage: dict[str, int]


def _truncate(text: str, words: int | None) -> str:
    if not words:
        return text
    parts = text.split()
    return text if len(parts) <= words else " ".join(parts[:words])


def build_prompt(q: MCQuestion, passages: Sequence[str] | None = None, prompts: P.RagPrompts | None = None) -> Prompt:
    """The chat prompt for ``q`` in its benchmark's style; closed-book when ``passages`` is empty."""
    prompts = prompts or P.DEFAULT
    if q.benchmark == "gpqa":
        return prompts.chat(prompts.gpqa_user_message(q.question, q.options, passages))
    return prompts.chat(prompts.mmlu_user_message(q.question, q.options, q.subject, passages))


def answer_params(q_benchmark: str, params: GenerationParams) -> GenerationParams:
    """MMLU-style answers also stop when the model starts a new ``Question:``."""
    if q_benchmark == "gpqa":
        return params
    return replace(params, stop=tuple(dict.fromkeys((*params.stop, *P.MMLU_STOP))))


def _base_row(q: MCQuestion) -> dict[str, Any]:
    row: dict[str, Any] = {"id": q.id, "benchmark": q.benchmark, "subject": q.subject, "group": q.group,
                           "gold": q.gold, "letters": q.letters, "question_sha256": q.digest()}
    if "option_order" in q.metadata:
        row["option_order"] = q.metadata["option_order"]
    if not q.sensitive:
        row["question"] = q.question
        row["options"] = list(q.options)
    return row


def _extract(q: MCQuestion, text: str) -> Extraction:
    return extract_answer(text, q.letters, ORDER_GPQA if q.benchmark == "gpqa" else ORDER_MMLU)


def _answer_record(q: MCQuestion, gen: StoredGeneration, condition: str, fallback: Fallback) -> dict[str, Any]:
    if gen.text is None:
        # a reused checkpoint line of a sensitive benchmark: the letter was extracted when the text
        # was generated (the store reuses such lines only when the extraction version matches)
        note = gen.annotation or {}
        if note.get("version") != EXTRACT_VERSION:
            raise RuntimeError(f"question {q.id}: no output text and no current extraction to score")
        ext = Extraction(note.get("letter"), note.get("method"))
    else:
        ext = _extract(q, gen.text)
    fb = fallback.letter(q.id, condition, q.letters)
    rec: dict[str, Any] = {
        "pred": ext.letter, "method": ext.method, "fallback": fb,
        "correct": ext.letter == q.gold, "correct_with_fallback": (ext.letter or fb) == q.gold,
        "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
        "finish_reason": gen.finish_reason, "cached": gen.cached, "key": gen.key,
        "output_sha256": gen.text_sha256}
    if not q.sensitive:
        rec["output"] = gen.text
    return rec


def _stage(llm: LLM, questions: Sequence[MCQuestion], prompts: Sequence[Prompt], params: GenerationParams,
           settings: EvalSettings, out_dir: Path | None, stage: str, need_text: bool = False,
           answers: bool = True) -> dict[str, StoredGeneration]:
    """Generate one output per question, resumably; for sensitive questions the checkpoint keeps
    the extracted answer letter (``answers``) instead of the text."""
    sensitive = any(q.sensitive for q in questions)
    annotate = None
    if sensitive and answers:
        by_id = {q.id: q for q in questions}

        def letter_of(qid: str, text: str) -> dict[str, Any]:
            ext = _extract(by_id[qid], text)
            return {"letter": ext.letter, "method": ext.method}

        annotate = Annotator(EXTRACT_VERSION, letter_of)
    return generate_resumable(
        llm, [q.id for q in questions], prompts, params,
        checkpoint=(out_dir / f"generations.{stage}.jsonl") if out_dir else None,
        keep_text=not sensitive, need_text=need_text, batch_size=settings.batch_size, annotate=annotate,
        desc=stage)


def retrieval_queries(questions: Sequence[MCQuestion], mode: str, llm: LLM | None = None,
                      closed: Mapping[str, StoredGeneration] | None = None,
                      settings: EvalSettings | None = None, out_dir: Path | None = None) -> dict[str, str]:
    """One retrieval query per question id.

    ``question``: the question; ``question_options``: the question and its lettered options;
    ``formatted``: the published MMLU evaluation's retrieval query (subject header, question,
    lettered options, ``Answer:``; MMLU only, see :func:`reasonir.prompts.rag.paper_query`);
    ``rewrite``: an LLM-written search query (falls back to the question when empty); ``cot``: the
    reasoning part of the closed-book chain of thought (``closed`` must hold those generations).
    """
    if mode == "question":
        return {q.id: q.question for q in questions}
    if mode == "question_options":
        return {q.id: f"{q.question}\n{P.format_options(q.options)}" for q in questions}
    if mode == "formatted":
        other = sorted({q.benchmark for q in questions} - {"mmlu"})
        if other:
            raise ConfigError(f"query mode 'formatted' is the published MMLU query format; for {', '.join(other)} "
                              f"use one of {', '.join(m for m in QUERY_MODES if m != 'formatted')}")
        return {q.id: P.paper_query(q.question, q.options, q.subject) for q in questions}
    if mode == "rewrite":
        if llm is None:
            raise ConfigError("query mode 'rewrite' needs an LLM")
        settings = settings or EvalSettings()
        tpl = settings.prompts
        prompts = [tpl.chat(tpl.rewrite_user_message(q.question, q.options)) for q in questions]
        gens = _stage(llm, questions, prompts, settings.rewrite_params, settings, out_dir, "rewrite",
                      need_text=True, answers=False)
        out = {}
        for q in questions:
            lines = [ln.strip() for ln in (gens[q.id].text or "").splitlines() if ln.strip()]
            out[q.id] = lines[0] if lines else q.question
        return out
    if mode == "cot":
        if closed is None:
            raise ConfigError("query mode 'cot' needs the closed-book generations")
        return {q.id: reasoning_before_answer(closed[q.id].text or "") or q.question for q in questions}
    raise ConfigError(f"query {mode!r}: choose one of {', '.join(QUERY_MODES)}")


def evaluate_questions(questions: Sequence[MCQuestion], llm: LLM, source: PassageSource | None,
                       settings: EvalSettings, out_dir: str | Path | None = None) -> EvalOutcome:
    """Answer every question closed-book and/or with retrieved passages.

    Args:
        questions: the questions (one benchmark).
        llm: the reader.
        source: passage source (required for the ``rag`` condition).
        settings: see :class:`EvalSettings`.
        out_dir: folder for the resumable generation checkpoints (``None``: none).

    Returns:
        :class:`EvalOutcome` with one row per question, in order.
    """
    settings.check()
    if not questions:
        raise ConfigError("no questions to evaluate (check --subjects / --limit)")
    if "rag" in settings.conditions and source is None:
        raise ConfigError("the rag condition needs a passage source (--index, --run or --corpus)")
    benchmark = questions[0].benchmark
    k = settings.k or DEFAULT_K.get(benchmark, 3)
    params = answer_params(benchmark, settings.params)
    out = Path(out_dir) if out_dir else None
    rows = {q.id: _base_row(q) for q in questions}
    timings: dict[str, float] = {}
    gens_all: list[StoredGeneration] = []
    fallback = Fallback(settings.fallback, settings.seed)     # one per run

    closed = None
    if "closed" in settings.conditions or settings.query == "cot":
        t0 = time.perf_counter()
        closed_prompts = [build_prompt(q, None, settings.prompts) for q in questions]
        closed = _stage(llm, questions, closed_prompts, params, settings, out, "closed",
                        need_text=settings.query == "cot" and "rag" in settings.conditions)
        timings["closed_generation"] = time.perf_counter() - t0
        gens_all.extend(closed.values())
        if "closed" in settings.conditions:
            for q in questions:
                rows[q.id]["closed"] = _answer_record(q, closed[q.id], "closed", fallback)

    if "rag" in settings.conditions:
        assert source is not None  # checked above
        t0 = time.perf_counter()
        queries = retrieval_queries(questions, settings.query, llm, closed, settings, out)
        timings["query_building"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        found = source.search(queries, k)
        timings["retrieval"] = time.perf_counter() - t0
        prompts = []
        for q in questions:
            ranked: list[Passage] = found.get(q.id, [])[:k]
            texts = [_truncate(p.text, settings.passage_words) for p in ranked]
            prompts.append(build_prompt(q, texts, settings.prompts))
        t0 = time.perf_counter()
        rag = _stage(llm, questions, prompts, params, settings, out, "rag")
        timings["rag_generation"] = time.perf_counter() - t0
        gens_all.extend(rag.values())
        for q in questions:
            rec = _answer_record(q, rag[q.id], "rag", fallback)
            query = queries[q.id]
            rec["query_sha256"] = text_sha256(query)
            if not q.sensitive:
                rec["query"] = query
            rec["passages"] = [{"doc_id": p.doc_id, "score": p.score, "text_sha256": text_sha256(p.text)}
                               for p in found.get(q.id, [])[:k]]
            rows[q.id]["rag"] = rec
    usage = {"generations": len(gens_all), "cached": sum(g.cached for g in gens_all),
             "prompt_tokens": sum(g.prompt_tokens for g in gens_all),
             "completion_tokens": sum(g.completion_tokens for g in gens_all)}
    return EvalOutcome(rows=[rows[q.id] for q in questions], timings=timings, usage=usage)
