"""A scripted LLM for the synthesizer tests: canned, prompt-dependent replies (valid and malformed).

Replies are pure functions of (prompt, parameters), like a cached real model, so runs are
deterministic. ``ScriptedLLM.calls`` counts prompts answered; ``fail_after`` makes it raise after
that many answers (a killed run).
"""

from __future__ import annotations

import hashlib
import json
import re

from reasonir.llm.base import Generation, GenerationParams


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)


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
    t = _text(prompt)
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


class ScriptedLLM:
    """Implements the ``LLM`` protocol with ``reply(prompt, params) -> str``."""

    def __init__(self, reply=default_reply, name: str = "scripted", fail_after: int | None = None):
        self.reply = reply
        self.name = name
        self.fail_after = fail_after
        self.calls = 0
        self.prompts: list = []

    def generate(self, prompts, params=None):
        params = params or GenerationParams()
        out = []
        for p in prompts:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise KeyboardInterrupt("scripted LLM killed")
            self.calls += 1
            self.prompts.append(p)
            text = self.reply(p, params)
            out.append(Generation(text=text, prompt_tokens=len(_text(p).split()), completion_tokens=len(text.split()),
                                  finish_reason="stop"))
        return out
