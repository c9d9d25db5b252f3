"""Canned synthesizer replies for :class:`fakes.ScriptedLLM`: prompt-dependent, valid and malformed.

``default_reply`` answers every synthesizer prompt (HQ, VL, negatives, judges, educational score,
expansion) as a pure function of (prompt, parameters), like a cached real model, so runs are deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re

from fakes import prompt_text

from reasonir.llm.base import GenerationParams


def _h(s: str) -> int:
    return int(hashlib.sha1(s.encode()).hexdigest()[:8], 16)


FILLER = ("river delta sediment budget lattice enzyme contract tariff compiler theorem proof harbor "
          "glacier voltage audit ledger protocol mortgage orbit catalyst syntax neuron").split()


def words_text(seed: str, n: int) -> str:
    """``n`` pseudo-random words (deterministic in ``seed``)."""
    h = _h(seed)
    return " ".join(FILLER[(h + i * 7 + i * i) % len(FILLER)] + str((h >> (i % 16)) % 97) for i in range(n))


def doc_of(prompt_text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", prompt_text, re.S)
    return m.group(1) if m else ""


def default_reply(prompt, params: GenerationParams) -> str:
    """Valid replies for every synthesizer prompt (shape chosen by the prompt's content)."""
    t = prompt_text(prompt)
    if "<document>" in t and "hard_query" in t:
        doc = doc_of(t, "document")
        topic = " ".join(doc.split()[:4])
        n = int(re.search(r"Write (\d+) question", t).group(1))
        qs = [f"A lab team studying {topic} sees result {i} in a field trial; how should they revise their "
              f"model to explain it?" for i in range(n)]
        return "Here you go:\n```json\n" + json.dumps({"hard_query": qs}) + "\n```"
    if "Brainstorm" in t:
        focus = re.search(r"tasks from (.*?)\. Write", t, re.S).group(1)
        n = int(re.search(r"Brainstorm (\d+)", t).group(1))
        return json.dumps([f"Given a long report about {focus}, retrieve documents with method {i} that help" for i in range(n)])
    if "Retrieval task:" in t:
        qw = int(re.search(r"at least (\d+) words long;", t).group(1))
        dw = int(re.search(r"at least (\d+) words long\.", t).group(1))
        task = re.search(r"Retrieval task: (.*)", t).group(1)
        return json.dumps({"input": words_text("q" + task, qw), "positive_document": words_text("p" + task, dw)})
    if "<positive_document>" in t:
        q = doc_of(t, "input")
        n = int(re.search(r"at least (\d+) words", t).group(1))
        return json.dumps({"hard_negative_document": words_text("neg" + q, n + 5)})
    if "Yes or No" in t:
        return "No"
    if "Educational score" in t:
        doc = doc_of(t, "text")
        return f"Educational score: {min(5, len(doc.split()) // 10)}"
    if "essential problem" in t:
        return "The essential problem is X. Relevant: Y. Draft: Z."
    return "unrecognised prompt"
