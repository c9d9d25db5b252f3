"""HQ stage: reasoning-intensive questions written from each seed document.

Two modes (``hq_mode``):

* ``one-phase``: one request asks for the questions as JSON;
* ``two-phase`` (ReasonIR's pipeline): the LLM first works step by step (the document's field, its
  key concepts, the problems people solve with them, a situation per question) and writes its
  questions in free text; a second turn of the same conversation, which carries that reply, asks
  for the questions reformatted as JSON. A phase-1 reply is produced once (retried only when
  empty); a phase-2 reply that does not parse is retried with the next sampling parameters.

The JSON reply must hold ``{"hard_query": [...]}`` (other list keys, bare lists, lists of
``{"scenario", "question"}`` objects, fenced or truncated JSON are recovered by
:mod:`reasonir.synth.parsing`). Each question is then checked: long enough, and not referring to
"the document" (such questions cannot stand alone). An attempt without one acceptable question is
retried with the next deterministic sampling parameters.
"""

from __future__ import annotations

import re
from typing import Any

from ..llm.base import LLM
from ..prompts.synth import HQ_KEY, Messages
from .config import SynthesizeConfig
from .llmstep import LLMStep
from .parsing import ParseError, parse_string_list
from .pool import truncate_words, word_count
from .records import Record, add_usage, drop, live_records, new_item

STAGE = "hq"
REASON_STAGE = "hq_reason"
LIST_KEYS = (HQ_KEY, "hard_queries", "questions", "queries")
_DOC_REF_RE = re.compile(
    r"\b(?:the|this|above|given|provided)\s+(?:document|passage|text|article|excerpt|paper|abstract|snippet)\b"
    r"|\baccording to the\b|\bthe author(?:s)?\b", re.I)
_TAG_RE = re.compile(r"^\s*<[A-Za-z_ ]{1,20}>\s*|\s*</?[A-Za-z_ ]{1,20}>\s*$")
_LEAD_RE = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|Q\d*[:.)]|Question\s*\d*\s*[:.)])\s*", re.I)


def check_query(text: str, min_words: int) -> str | None:
    """Why a generated question is unacceptable (``None``: acceptable)."""
    if word_count(text) < min_words:
        return "query_too_short"
    if _DOC_REF_RE.search(text):
        return "query_mentions_document"
    return None


def question_lines(text: str) -> list[str]:
    """Lenient fallback for replies without JSON: the lines (or sentences) that end with ``?``."""
    out = []
    for line in text.splitlines():
        line = _LEAD_RE.sub("", line).strip().strip('"').strip()
        if line.endswith("?"):
            out.append(line)
    return list(dict.fromkeys(out))


def parse_hq_reply(text: str, want: int, min_words: int, lenient: bool = False) -> tuple[list[str], dict[str, int]]:
    """Acceptable questions of one reply (at most ``want``) and the count of rejected ones by reason.

    Raises:
        ParseError: when the reply yields no acceptable question (reason of the first rejection,
            or the parse failure).
    """
    try:
        items, _partial = parse_string_list(text, LIST_KEYS)
    except ParseError:
        if not lenient:
            raise
        items = question_lines(text)
        if not items:
            raise
    rejected: dict[str, int] = {}
    good: list[str] = []
    for q in dict.fromkeys(_TAG_RE.sub("", " ".join(i.split())) for i in items):
        why = check_query(q, min_words)
        if why:
            rejected[why] = rejected.get(why, 0) + 1
        elif len(good) < want:
            good.append(q)
    if not good:
        raise ParseError(next(iter(rejected)) if rejected else "empty")
    return good, rejected


def check_reasoning(text: str) -> str:
    """A phase-1 reply (any non-empty text); raises :class:`ParseError` ``empty_reasoning`` otherwise."""
    if not text.strip():
        raise ParseError("empty_reasoning")
    return text


class HQStage:
    """Fill each live HQ record's ``items`` with generated questions (the document is the positive)."""

    name = STAGE

    def __init__(self, cfg: SynthesizeConfig, llm: LLM):
        self.cfg = cfg
        self.prompts = cfg.prompt_set()
        self.two_phase = cfg.hq_mode == "two-phase"
        self.step = LLMStep.from_config(llm, cfg, cfg.hq_max_tokens, STAGE)
        self.reason_step = LLMStep.from_config(llm, cfg, cfg.hq_max_tokens, REASON_STAGE)
        self.version = self.prompts.version("hq_reason" if self.two_phase else "hq")

    def _requests(self, todo: list[Record]) -> list[Messages | None]:
        """The JSON requests: one-phase prompts, or phase-2 conversations (``None`` where phase 1 failed)."""
        cfg, p = self.cfg, self.prompts
        docs = [truncate_words(r["positive"], cfg.doc_max_words) for r in todo]
        if not self.two_phase:
            return [p.hq_messages(d, cfg.hq_per_doc) for d in docs]
        phase1 = [p.hq_reason_messages(d, cfg.hq_per_doc) for d in docs]
        out: list[Messages | None] = []
        for rec, msgs, res in zip(todo, phase1, self.reason_step.run(phase1, lambda _i, t: check_reasoning(t))):
            add_usage(rec, REASON_STAGE, res.usage)
            out.append(None if res.value is None else p.hq_format_messages(msgs, res.value, cfg.hq_per_doc))
        return out

    def __call__(self, records: list[Record]) -> list[Record]:
        todo = [r for r in live_records(records, "hq") if not r["items"]]
        if not todo:
            return records
        cfg = self.cfg
        requests = self._requests(todo)
        for rec, req in zip(todo, requests):
            if req is None:
                rec["prompt_version"] = self.version
                drop(rec, REASON_STAGE, "no_reasoning")
        todo = [r for r, req in zip(todo, requests) if req is not None]
        prompts = [req for req in requests if req is not None]
        rejected: list[dict[str, int]] = [{} for _ in todo]

        def validate(i: int, text: str) -> list[str]:
            good, rej = parse_hq_reply(text, cfg.hq_per_doc, cfg.hq_min_words, cfg.lenient)
            rejected[i] = rej
            return good

        for rec, res, rej in zip(todo, self.step.run(prompts, validate), rejected):
            add_usage(rec, STAGE, res.usage)
            rec["prompt_version"] = self.version
            if res.value is None:
                drop(rec, STAGE, "no_valid_query")
                continue
            rec["items"] = [new_item(q, rec["positive"]) for q in res.value]
            if rej:
                rec.setdefault("rejected_queries", {}).update(rej)
        return records


def hq_summary(records: list[Record]) -> dict[str, Any]:
    """Counts of rejected questions over HQ records (for the statistics)."""
    out: dict[str, int] = {}
    for r in records:
        for k, v in (r.get("rejected_queries") or {}).items():
            out[k] = out.get(k, 0) + v
    return out
