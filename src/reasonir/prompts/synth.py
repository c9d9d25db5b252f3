"""LLM prompts of the training-data synthesizer (HQ queries, VL pairs, hard negatives, judges).

Every prompt is a template plus a version string. The version is written into each generated
example's provenance (``prompt_version``) and is part of every resume key, so a changed template must
come with a bumped version; ``tests/test_synth_prompts.py`` pins each template's hash to its version.

Builders return chat messages (``[{"role", "content"}, ...]``) ready for ``LLM.generate``.
"""

from __future__ import annotations

import hashlib

Messages = list[dict[str, str]]

# --------------------------------------------------------------------------------------------------
# HQ: reasoning-intensive questions grounded in a document
# --------------------------------------------------------------------------------------------------
HQ_VERSION = "hq-1"
HQ_KEY = "hard_query"
HQ_SYSTEM = """\
You write difficult search questions that are used to train a retrieval system for reasoning-heavy \
queries.

You will be shown a document. Write {num_questions} question(s) that a thoughtful person could \
realistically ask, for which this document would be valuable background, but which cannot be \
answered by looking up a single fact in it.

Every question must:
- open with a concrete, self-contained situation (who is involved, what is happening, what is at \
stake) and only then ask something about it;
- call for analysis, evaluation or synthesis: applying the principles behind the document to the \
situation, not recalling what the document says;
- be fully understandable by someone who has never seen the document;
- use the concepts and vocabulary that people working in the document's field use naturally;
- be a question whose good answer would draw on the ideas the document explains.

Every question must not:
- mention "the document", "the passage", "the text", "the article" or "the author";
- quote or closely paraphrase sentences of the document;
- ask for a definition, a date, a number or a name;
- be a reading-comprehension question, or need details that exist only in this document;
- leave the field the document belongs to.

Reply with only a JSON object of this form:
{{"hard_query": ["<first question>", "<second question>"]}}"""
HQ_USER = """\
<document>
{document}
</document>

Write {num_questions} question(s) following the rules. Reply with the JSON object only."""


def hq_messages(document: str, num_questions: int) -> Messages:
    """Ask for ``num_questions`` reasoning-intensive questions grounded in ``document``."""
    return [{"role": "system", "content": HQ_SYSTEM.format(num_questions=num_questions)},
            {"role": "user", "content": HQ_USER.format(document=document, num_questions=num_questions)}]


# --------------------------------------------------------------------------------------------------
# VL: brainstorm long-query retrieval tasks, then write (query, positive) pairs for each
# --------------------------------------------------------------------------------------------------
VL_TASKS_VERSION = "vl-tasks-1"
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
VL_TASKS_SYSTEM = """\
You design text-retrieval tasks in which the query is itself a long document (several paragraphs) \
and the goal is to find other long documents that help with it."""
VL_TASKS_USER = """\
Examples of such tasks:
{examples}

Brainstorm {num_tasks} new tasks of this kind. Vary the fields and, above all, the relation between \
the query and the documents to find (supporting evidence, counter-argument, background theory, \
worked example, transferable method, precedent, critique, ...). Give special attention to tasks \
from {focus}. Write each task as one sentence phrased as a retrieval instruction that starts with \
"Given".

Reply with only a JSON list of strings."""


def vl_tasks_messages(num_tasks: int, focus: str, seed_tasks: tuple[str, ...] = VL_SEED_TASKS) -> Messages:
    """Ask for ``num_tasks`` long-query retrieval tasks, steering towards ``focus``."""
    examples = "\n".join(f"- {t}" for t in seed_tasks)
    return [{"role": "system", "content": VL_TASKS_SYSTEM},
            {"role": "user", "content": VL_TASKS_USER.format(examples=examples, num_tasks=num_tasks, focus=focus)}]


VL_PAIR_VERSION = "vl-pair-1"
VL_PAIR_SYSTEM = "You write realistic documents that serve as training data for a retrieval system."
VL_PAIR_USER = """\
Retrieval task: {task}

Write one example for this task as a JSON object with two string fields:
- "input": the query, a document of the kind the task starts from, at least {query_words} words long;
- "positive_document": a document that a good retrieval system should return for that input, at \
least {doc_words} words long.

Requirements:
- both are complete, realistic documents in English, written the way such documents are written, \
not summaries or descriptions of them;
- the positive document genuinely helps with the input, yet reads as an independent text: it does \
not refer to the input and reuses as few of its words as possible;
- neither mentions the task, the other text or these instructions.

Reply with only the JSON object."""


def vl_pair_messages(task: str, query_words: int, doc_words: int) -> Messages:
    """Ask for one long (input, positive_document) pair for ``task`` with the given minimum lengths."""
    return [{"role": "system", "content": VL_PAIR_SYSTEM},
            {"role": "user", "content": VL_PAIR_USER.format(task=task, query_words=query_words,
                                                             doc_words=doc_words)}]


VL_PAIR_FIELDS: dict[str, tuple[str, ...]] = {
    "query": ("input", "query", "query_document", "user_query"),
    "positive": ("positive_document", "positive", "positive_doc", "document", "pos"),
}

# --------------------------------------------------------------------------------------------------
# hard negatives, written in a separate turn conditioned on the query and its positive
# --------------------------------------------------------------------------------------------------
NEGATIVE_VERSION = "neg-1"
NEGATIVE_SYSTEM = "You write realistic documents that serve as training data for a retrieval system."
NEGATIVE_USER = """\
Here is a search input and a document that helps with it.

<input>
{query}
</input>

<positive_document>
{positive}
</positive_document>

Write a different document that seems related to the input at first sight (it shares some topic \
words, the setting or other surface features) but does not actually help to address it, and is \
clearly less useful than the positive document. It must be a complete, realistic document in \
English of at least {min_words} words, must not copy sentences from either text, and must not \
mention the input, the positive document or these instructions. Be inventive.

Reply with only a JSON object: {{"hard_negative_document": "<the document>"}}"""
NEGATIVE_FIELDS: dict[str, tuple[str, ...]] = {
    "negative": ("hard_negative_document", "negative_document", "hard_negative", "negative", "document"),
}


def negative_messages(query: str, positive: str, min_words: int) -> Messages:
    """Ask for a hard negative for ``query`` that superficially resembles ``positive``."""
    return [{"role": "system", "content": NEGATIVE_SYSTEM},
            {"role": "user", "content": NEGATIVE_USER.format(query=query, positive=positive, min_words=min_words)}]


# --------------------------------------------------------------------------------------------------
# judges
# --------------------------------------------------------------------------------------------------
NEG_JUDGE_VERSION = "negjudge-1"
NEG_JUDGE_USER = """\
Decide whether a document helps to answer a search query.

<query>
{query}
</query>

<document>
{document}
</document>

Does the document contain information that directly helps to answer or address the query? Merely \
sharing the topic does not count. Answer with one word: Yes or No."""


def negative_judge_messages(query: str, document: str) -> Messages:
    """Ask whether a mined candidate negative actually answers ``query`` (then it is a false negative)."""
    return [{"role": "user", "content": NEG_JUDGE_USER.format(query=query, document=document)}]


EDU_JUDGE_VERSION = "edujudge-1"
EDU_JUDGE_USER = """\
Rate how useful the following text would be for teaching, from primary school to university level.

<text>
{document}
</text>

Scale:
0 - no educational value: advertising, spam, navigation menus, boilerplate, chit-chat.
1 - a few facts, but mostly not educational.
2 - touches on an educational subject superficially, or mixes it with a lot of unrelated material.
3 - coherent and informative; someone could learn the basics of a topic from it.
4 - clearly educational: a well-organised explanation of concepts taught in schools or universities.
5 - excellent teaching material: deep, clear and rigorous.

Reply with one line: "Educational score: N" where N is an integer from 0 to 5."""


def edu_judge_messages(document: str) -> Messages:
    """Ask for a 0-5 educational-value score of ``document``."""
    return [{"role": "user", "content": EDU_JUDGE_USER.format(document=document)}]


#: every template, by name, with its version (pinned by tests)
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "hq": (HQ_VERSION, (HQ_SYSTEM, HQ_USER)),
    "vl_tasks": (VL_TASKS_VERSION, (VL_TASKS_SYSTEM, VL_TASKS_USER, *VL_SEED_TASKS, *VL_FOCUS)),
    "vl_pair": (VL_PAIR_VERSION, (VL_PAIR_SYSTEM, VL_PAIR_USER)),
    "negative": (NEGATIVE_VERSION, (NEGATIVE_SYSTEM, NEGATIVE_USER)),
    "neg_judge": (NEG_JUDGE_VERSION, (NEG_JUDGE_USER,)),
    "edu_judge": (EDU_JUDGE_VERSION, (EDU_JUDGE_USER,)),
}


def template_hash(name: str) -> str:
    """Short sha256 of a template's texts (what the version pins)."""
    _, texts = TEMPLATES[name]
    return hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:16]
