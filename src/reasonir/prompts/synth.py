"""LLM prompts of the training-data synthesizer (HQ queries, VL pairs, hard negatives, judges, expansion).

Each prompt message is a template file in ``reasonir/prompts/templates/synth/<name>.txt``
(Python ``str.format`` syntax: placeholders in braces, literal braces doubled; one trailing newline
is dropped when a file is read). A user replaces any of them without touching code
(``prompts: {NAME: FILE}`` in the YAML config, or ``--prompt-template NAME=FILE``); the sha256 of
every template a run used is written to its ``config.json`` and ``stats.json``.

Templates and the placeholders each may use (all messages of one prompt share its placeholders):

=====================================  ==================================================
``hq_system``, ``hq_user``             one-phase HQ: ``{document}``, ``{num_questions}``
``hq_reason_system``, ``hq_reason_user``  two-phase HQ, phase 1 (work step by step):
                                       ``{document}``, ``{num_questions}``
``hq_format_user``                     two-phase HQ, phase 2 (reformat as JSON
                                       ``{"hard_query": [...]}``): ``{num_questions}``
``vl_tasks_system``, ``vl_tasks_user``  VL task brainstorming: ``{examples}``, ``{num_tasks}``, ``{focus}``
``vl_pair_system``, ``vl_pair_user``   VL pair: ``{task}``, ``{query_words}``, ``{doc_words}``
``negative_system``, ``negative_user``  LLM hard negative: ``{query}``, ``{positive}``, ``{min_words}``
``neg_judge_user``                     mined-negative judge (Yes/No): ``{query}``, ``{document}``
``edu_judge_user``                     educational score (0-5): ``{document}``
``expand_reason_system``, ``expand_reason_user``  reasoning expansion of a query: ``{query}``
=====================================  ==================================================

Every prompt also has a version string, written into each generated example's provenance
(``prompt_version``); a replaced template adds its hash to the version (``hq-1+user-1a2b...``).
``tests/test_synth_prompts.py`` pins each built-in prompt's hash to its version, so changed wording
must come with a bumped version. Builders return chat messages ready for ``LLM.generate``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from .template_files import builtin_text, check_placeholders, read_user_template, sha256

Messages = list[dict[str, str]]

#: template name -> placeholders it may use
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "hq_system": frozenset({"document", "num_questions"}),
    "hq_user": frozenset({"document", "num_questions"}),
    "hq_reason_system": frozenset({"document", "num_questions"}),
    "hq_reason_user": frozenset({"document", "num_questions"}),
    "hq_format_user": frozenset({"num_questions"}),
    "vl_tasks_system": frozenset({"examples", "num_tasks", "focus"}),
    "vl_tasks_user": frozenset({"examples", "num_tasks", "focus"}),
    "vl_pair_system": frozenset({"task", "query_words", "doc_words"}),
    "vl_pair_user": frozenset({"task", "query_words", "doc_words"}),
    "negative_system": frozenset({"query", "positive", "min_words"}),
    "negative_user": frozenset({"query", "positive", "min_words"}),
    "neg_judge_user": frozenset({"query", "document"}),
    "edu_judge_user": frozenset({"document"}),
    "expand_reason_system": frozenset({"query"}),
    "expand_reason_user": frozenset({"query"}),
}
TEMPLATE_NAMES = tuple(PLACEHOLDERS)



def builtin_template(name: str) -> str:
    """The text of built-in template ``name``.

    Raises:
        ConfigError: unknown name (the message lists the valid ones).
    """
    if name not in PLACEHOLDERS:
        raise ConfigError(f"unknown synthesizer prompt template {name!r}; valid names: {', '.join(TEMPLATE_NAMES)}")
    return builtin_text("synth", name)


def check_template(text: str, name: str, origin: str) -> None:
    """Check that ``text`` parses as a format string using only ``name``'s placeholders.

    Raises:
        ConfigError: naming ``origin``, the bad placeholder and the valid ones.
    """
    check_placeholders(text, PLACEHOLDERS[name], f"template {name!r}", origin)


def read_template_file(path: str | Path, name: str) -> str:
    """A user's replacement for template ``name``, checked (see :func:`check_template`).

    Raises:
        ConfigError: unknown name, unreadable file, or bad placeholders.
    """
    if name not in PLACEHOLDERS:
        raise ConfigError(f"unknown synthesizer prompt template {name!r} (file {path}); "
                          f"valid names: {', '.join(TEMPLATE_NAMES)}")
    return read_user_template(path, PLACEHOLDERS[name], f"template {name!r}")



# --------------------------------------------------------------------------------------------------
# data that is not a template file: VL seed tasks and brainstorming foci, JSON fields, versions
# --------------------------------------------------------------------------------------------------
HQ_KEY = "hard_query"
VL_SEED_TASKS: tuple[str, ...] = (
    "Given an argumentative essay, retrieve essays that argue for the opposite position.",
    "Given a business proposal, retrieve analyses of competitive strategies that bear on it.",
    "Given a question posted on a science discussion forum, retrieve background material with the "
    "STEM knowledge needed to answer it.",
    "Given a math or programming problem, retrieve textbook sections that demonstrate the technique "
    "that solves it.",
)
#: one focus per brainstorming call, so repeated calls explore different regions instead of repeating
VL_FOCUS: tuple[str, ...] = (
    "the natural sciences and medicine", "law, policy and public administration",
    "business, finance and economics", "software engineering and computer science",
    "mathematics and formal reasoning", "history, philosophy and the humanities",
    "engineering and applied technology", "education, psychology and the social sciences",
)
VL_PAIR_FIELDS: dict[str, tuple[str, ...]] = {
    "query": ("input", "query", "query_document", "user_query"),
    "positive": ("positive_document", "positive", "positive_doc", "document", "pos"),
}
NEGATIVE_FIELDS: dict[str, tuple[str, ...]] = {
    "negative": ("hard_negative_document", "negative_document", "hard_negative", "negative", "document"),
}

#: prompt -> (version, its template files); the version is pinned to the built-in texts by tests
PROMPTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hq": ("hq-1", ("hq_system", "hq_user")),
    "hq_reason": ("hq-reason-1", ("hq_reason_system", "hq_reason_user", "hq_format_user")),
    "vl_tasks": ("vl-tasks-1", ("vl_tasks_system", "vl_tasks_user")),
    "vl_pair": ("vl-pair-1", ("vl_pair_system", "vl_pair_user")),
    "negative": ("neg-1", ("negative_system", "negative_user")),
    "neg_judge": ("negjudge-1", ("neg_judge_user",)),
    "edu_judge": ("edujudge-1", ("edu_judge_user",)),
    "expand_reason": ("expand-reason-1", ("expand_reason_system", "expand_reason_user")),
}


class SynthPrompts:
    """The synthesizer's prompt templates: the built-in ones, some replaced by a user's files.

    Args:
        overrides: ``{template name: file path}`` of replacement templates.

    Raises:
        ConfigError: unknown template name, unreadable file, bad placeholders.
    """

    def __init__(self, overrides: Mapping[str, str | Path] | None = None):
        self.texts = {name: builtin_template(name) for name in TEMPLATE_NAMES}
        self.sources = dict.fromkeys(TEMPLATE_NAMES, "builtin")
        for name, path in (overrides or {}).items():
            self.texts[name] = read_template_file(path, name)
            self.sources[name] = str(path)

    def version(self, prompt: str) -> str:
        """The provenance version of ``prompt`` (with a hash suffix when a template was replaced)."""
        base, names = PROMPTS[prompt]
        if all(self.sources[n] == "builtin" for n in names):
            return base
        return f"{base}+user-{sha256(chr(0).join(self.texts[n] for n in names))[:12]}"

    def manifest(self, prompts: list[str]) -> dict[str, dict[str, str]]:
        """``{template: {"sha256", "source"}}`` for every template of ``prompts`` (for the run's records)."""
        names = [n for p in prompts for n in PROMPTS[p][1]]
        return {n: {"sha256": sha256(self.texts[n]), "source": self.sources[n]} for n in dict.fromkeys(names)}

    def _pair(self, system: str | None, user: str, **values: object) -> Messages:
        msgs = [{"role": "system", "content": self.texts[system].format(**values)}] if system else []
        return [*msgs, {"role": "user", "content": self.texts[user].format(**values)}]

    def hq_messages(self, document: str, num_questions: int) -> Messages:
        """One-phase HQ: ask for ``num_questions`` questions grounded in ``document``, as JSON."""
        return self._pair("hq_system", "hq_user", document=document, num_questions=num_questions)

    def hq_reason_messages(self, document: str, num_questions: int) -> Messages:
        """Two-phase HQ, phase 1: work step by step towards ``num_questions`` questions (free text)."""
        return self._pair("hq_reason_system", "hq_reason_user", document=document, num_questions=num_questions)

    def hq_format_messages(self, phase1: Messages, reply: str, num_questions: int) -> Messages:
        """Two-phase HQ, phase 2: the phase-1 conversation, its reply, and the request to reformat as JSON."""
        ask = self.texts["hq_format_user"].format(num_questions=num_questions)
        return [*phase1, {"role": "assistant", "content": reply}, {"role": "user", "content": ask}]

    def vl_tasks_messages(self, num_tasks: int, focus: str, seed_tasks: tuple[str, ...] = VL_SEED_TASKS) -> Messages:
        """Ask for ``num_tasks`` long-query retrieval tasks, steering towards ``focus``."""
        examples = "\n".join(f"- {t}" for t in seed_tasks)
        return self._pair("vl_tasks_system", "vl_tasks_user", examples=examples, num_tasks=num_tasks, focus=focus)

    def vl_pair_messages(self, task: str, query_words: int, doc_words: int) -> Messages:
        """Ask for one long (input, positive_document) pair for ``task`` with the given minimum lengths."""
        return self._pair("vl_pair_system", "vl_pair_user", task=task, query_words=query_words, doc_words=doc_words)

    def negative_messages(self, query: str, positive: str, min_words: int) -> Messages:
        """Ask for a hard negative for ``query`` that superficially resembles ``positive``."""
        return self._pair("negative_system", "negative_user", query=query, positive=positive, min_words=min_words)

    def negative_judge_messages(self, query: str, document: str) -> Messages:
        """Ask whether a mined candidate negative actually answers ``query`` (then it is a false negative)."""
        return self._pair(None, "neg_judge_user", query=query, document=document)

    def edu_judge_messages(self, document: str) -> Messages:
        """Ask for a 0-5 educational-value score of ``document``."""
        return self._pair(None, "edu_judge_user", document=document)

    def expand_reason_messages(self, query: str) -> Messages:
        """Ask the LLM to reason about ``query`` (essential problem, what relevant documents contain, draft)."""
        return self._pair("expand_reason_system", "expand_reason_user", query=query)


DEFAULT = SynthPrompts()

# the built-in texts and versions under their historical names
HQ_SYSTEM, HQ_USER = DEFAULT.texts["hq_system"], DEFAULT.texts["hq_user"]
VL_TASKS_SYSTEM, VL_TASKS_USER = DEFAULT.texts["vl_tasks_system"], DEFAULT.texts["vl_tasks_user"]
VL_PAIR_SYSTEM, VL_PAIR_USER = DEFAULT.texts["vl_pair_system"], DEFAULT.texts["vl_pair_user"]
NEGATIVE_SYSTEM, NEGATIVE_USER = DEFAULT.texts["negative_system"], DEFAULT.texts["negative_user"]
NEG_JUDGE_USER, EDU_JUDGE_USER = DEFAULT.texts["neg_judge_user"], DEFAULT.texts["edu_judge_user"]
HQ_VERSION, HQ_REASON_VERSION = PROMPTS["hq"][0], PROMPTS["hq_reason"][0]
VL_TASKS_VERSION, VL_PAIR_VERSION = PROMPTS["vl_tasks"][0], PROMPTS["vl_pair"][0]
NEGATIVE_VERSION, NEG_JUDGE_VERSION = PROMPTS["negative"][0], PROMPTS["neg_judge"][0]
EDU_JUDGE_VERSION, EXPAND_REASON_VERSION = PROMPTS["edu_judge"][0], PROMPTS["expand_reason"][0]

hq_messages = DEFAULT.hq_messages
vl_tasks_messages = DEFAULT.vl_tasks_messages
vl_pair_messages = DEFAULT.vl_pair_messages
negative_messages = DEFAULT.negative_messages
negative_judge_messages = DEFAULT.negative_judge_messages
edu_judge_messages = DEFAULT.edu_judge_messages

#: every built-in prompt, by name, with its version and the texts the version pins (tests pin the hash)
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    name: (version, tuple(DEFAULT.texts[n] for n in names)
           + ((*VL_SEED_TASKS, *VL_FOCUS) if name == "vl_tasks" else ()))
    for name, (version, names) in PROMPTS.items()
}


def template_hash(name: str) -> str:
    """Short sha256 of a built-in prompt's texts (what the version pins)."""
    _, texts = TEMPLATES[name]
    return hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:16]
