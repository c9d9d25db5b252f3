"""LLM prompts of pointwise reranking: one (query, document) pair per call, graded 0-5.

One prompt per task family, each saying what "relevant" means there (the intents ReasonIR's reranker
uses on BRIGHT): StackExchange-style posts (the document helps answer the post, not merely shares
its topic), math competition problems (a different problem sharing a technique), theorem-based
questions (a problem solved by the same mathematical process), theorems (a theorem needed to solve
the problem), coding problems (sharing algorithms or data structures), Pony programming (any
documentation needed to write the code), plus ``general`` and ``evidence`` (claims, e.g. SciFact)
for other collections. Every prompt ends by demanding ``Relevance score: X`` with an integer X.

Each family's prompt is a template file, ``reasonir/prompts/templates/rerank/<family>.txt``, with two
placeholders:

* ``{query}`` — the query text (the selected query variant, stripped of surrounding whitespace);
* ``{document}`` — the document text (after any truncation, stripped).

Literal braces are doubled (``{{``/``}}``); one trailing newline of a file is dropped. A user
replaces a prompt without touching code (``reasonir rerank --prompt-template FILE`` for the selected
family, or ``FAMILY=FILE``; ``prompts: {FAMILY: FILE}`` in a config file); the sha256 of every
template used is written to the run's ``config.json``.

Changing a built-in template changes results: bump :data:`PROMPT_VERSION` (it names the reranker in
provenance and the prompt text keys the response cache). Replaced templates make the version
``rerank-1+user-<hash>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from .template_files import builtin_text, manifest, read_user_template, version_of

PROMPT_VERSION = "rerank-1"
PLACEHOLDERS = frozenset({"query", "document"})

Messages = list[dict[str, str]]

FAMILIES = ("general", "stackexchange", "aops", "theoremqa_questions", "theoremqa_theorems", "leetcode", "pony",
            "evidence")

#: BRIGHT's seven StackExchange tasks
STACKEXCHANGE_TASKS = ("biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
                       "sustainable_living")

#: BRIGHT task -> prompt family
TASK_FAMILY: dict[str, str] = {
    **{t: "stackexchange" for t in STACKEXCHANGE_TASKS},
    "aops": "aops", "theoremqa_questions": "theoremqa_questions", "theoremqa_theorems": "theoremqa_theorems",
    "leetcode": "leetcode", "pony": "pony",
    # BEIR collections whose queries are claims
    "scifact": "evidence", "fever": "evidence", "climate-fever": "evidence",
}

#: prompt families the StackExchange tasks may use (ReasonIR's reranker gives them its general prompt)
STACKEXCHANGE_FAMILIES = ("stackexchange", "general")


def family_for(task: str | None, stackexchange: str = "stackexchange") -> str:
    """The prompt family for a BRIGHT task or dataset name (``general`` when unknown).

    Args:
        task: a BRIGHT task (``biology``, ``bright/pony-long``) or a dataset name.
        stackexchange: the family of BRIGHT's seven StackExchange tasks (ours: ``stackexchange``;
            ReasonIR's reranker: ``general``).
    """
    if not task:
        return "general"
    key = task.lower().removeprefix("bright/").removesuffix("-long")
    family = TASK_FAMILY.get(key, "general")
    return stackexchange if family == "stackexchange" else family


class RerankPrompts:
    """The rerank prompt templates: the built-in ones, some replaced by a user's files.

    Args:
        overrides: ``{family: file path}`` of replacement templates.

    Raises:
        ConfigError: unknown family, unreadable file, or a placeholder other than ``{query}``/``{document}``.
    """

    def __init__(self, overrides: Mapping[str, str | Path] | None = None):
        self.texts = {f: builtin_text("rerank", f) for f in FAMILIES}
        self.sources = dict.fromkeys(FAMILIES, "builtin")
        for family, path in (overrides or {}).items():
            if family not in FAMILIES:
                raise ConfigError(f"unknown rerank prompt family {family!r} (file {path}); "
                                  f"choose one of {', '.join(FAMILIES)}")
            self.texts[family] = read_user_template(path, PLACEHOLDERS, f"rerank prompt template {family!r}")
            self.sources[family] = str(path)

    @property
    def version(self) -> str:
        """:data:`PROMPT_VERSION`, with a hash suffix when a template was replaced."""
        return version_of(PROMPT_VERSION, self.texts, self.sources)

    def manifest(self, families: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
        """``{family: {"sha256", "source"}}`` of the given families (default: all)."""
        names = families or FAMILIES
        return manifest({f: self.texts[f] for f in names}, {f: self.sources[f] for f in names})

    def text(self, family: str, query: str, document: str) -> str:
        """The prompt text for one pair.

        Raises:
            KeyError: for an unknown family (callers validate against :data:`FAMILIES`).
        """
        return self.texts[family].format(query=query.strip(), document=document.strip())

    def messages(self, family: str, query: str, document: str) -> Messages:
        """The prompt for one pair as a single-turn chat."""
        return [{"role": "user", "content": self.text(family, query, document)}]


DEFAULT = RerankPrompts()

rerank_text = DEFAULT.text
rerank_messages = DEFAULT.messages
