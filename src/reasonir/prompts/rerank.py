"""LLM prompts of pointwise reranking: one (query, document) pair per call, graded 0-5.

One prompt per task family, each saying what "relevant" means there (the intents ReasonIR's reranker
uses on BRIGHT): StackExchange-style posts (the document helps answer the post, not merely shares
its topic), math competition problems (a different problem sharing a technique), theorem-based
questions (a problem solved by the same mathematical process), theorems (a theorem needed to solve
the problem), coding problems (sharing algorithms or data structures), Pony programming (any
documentation needed to write the code), plus ``general`` and ``evidence`` (claims, e.g. SciFact)
for other collections. Every prompt ends by demanding ``Relevance score: X`` with an integer X.

Changing a template changes results: bump :data:`PROMPT_VERSION` (it names the reranker in provenance
and the prompt text keys the response cache).
"""

from __future__ import annotations

PROMPT_VERSION = "rerank-1"

Messages = list[dict[str, str]]

SCALE = ("Grade the relevance of the document on a scale from 0 to 5, where 0 means it is completely "
         "irrelevant and 5 means it is highly relevant and fully addresses what the query needs.")
OUTPUT = ("Answer with one line in exactly this form and nothing else:\n"
          "Relevance score: X\n"
          "where X is a whole number from 0 to 5.")

CRITERIA: dict[str, str] = {
    "general": (
        "A document is relevant when it contains information that helps to answer or address the query. "
        "A document that only touches on similar topics, without helping to answer, is not relevant."),
    "stackexchange": (
        "The query is a post from a question-and-answer forum. A document is relevant when it contains "
        "information that helps to answer the post or solve its problem. A document that merely mentions "
        "the same topics or keywords, without helping to answer, is not relevant."),
    "aops": (
        "The query is a competition math problem. The document is a different math problem with its "
        "solution. The document is relevant when its problem involves the same kind of mathematical "
        "objects (for example the same class of functions or structures) and its solution shares at least "
        "one technique that is useful for solving the query problem."),
    "theoremqa_questions": (
        "The query is a math or science problem. The document is another problem with its solution. The "
        "document is relevant when solving it uses the same mathematical method, theorem or process that "
        "is needed to solve the query problem."),
    "theoremqa_theorems": (
        "The query is a math or science problem. The document states a theorem, law or definition. The "
        "document is relevant when that theorem, law or definition is a step in solving the query problem."),
    "leetcode": (
        "The query is a coding problem. The document is another coding problem, possibly with a solution. "
        "The document is relevant when both problems rely on similar algorithms or data structures (for "
        "example depth-first search, dynamic programming, sorting, two pointers, tree traversal), so that "
        "they would appear in the same algorithms textbook, even if in different chapters."),
    "pony": (
        "The query asks for code written in the Pony programming language. The document is a page of "
        "Pony documentation. The document is relevant when it documents any part of the language or its "
        "standard library, however basic, that is needed to write the requested code."),
    "evidence": (
        "The query is a claim. A document is relevant when it reports findings that support or refute the "
        "claim, so that it could serve as evidence when checking it. A document that is merely on the same "
        "subject is not relevant."),
}
FAMILIES = tuple(CRITERIA)

#: BRIGHT task -> prompt family
TASK_FAMILY: dict[str, str] = {
    **{t: "stackexchange" for t in ("biology", "earth_science", "economics", "psychology", "robotics",
                                   "stackoverflow", "sustainable_living")},
    "aops": "aops", "theoremqa_questions": "theoremqa_questions", "theoremqa_theorems": "theoremqa_theorems",
    "leetcode": "leetcode", "pony": "pony",
    # BEIR collections whose queries are claims
    "scifact": "evidence", "fever": "evidence", "climate-fever": "evidence",
}

TEMPLATE = """\
{criteria}

<query>
{query}
</query>

<document>
{document}
</document>

{scale}
{output}"""


def family_for(task: str | None) -> str:
    """The prompt family for a BRIGHT task or dataset name (``general`` when unknown)."""
    if not task:
        return "general"
    key = task.lower().removeprefix("bright/").removesuffix("-long")
    return TASK_FAMILY.get(key, "general")


def rerank_text(family: str, query: str, document: str) -> str:
    """The prompt text for one pair.

    Raises:
        KeyError: for an unknown family (callers validate against :data:`FAMILIES`).
    """
    return TEMPLATE.format(criteria=CRITERIA[family], query=query.strip(), document=document.strip(),
                           scale=SCALE, output=OUTPUT)


def rerank_messages(family: str, query: str, document: str) -> Messages:
    """The prompt for one pair as a single-turn chat."""
    return [{"role": "user", "content": rerank_text(family, query, document)}]
