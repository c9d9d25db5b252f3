"""LLM prompt of test-time query rewriting (a reasoning expansion of the query before retrieval).

Intent, as in BRIGHT's GPT-4 reasoning queries and ReasonIR's rewriting: make the model (1) name the
essential problem, (2) reason step by step about what information would help to address it, and (3)
draft an answer; the whole output then replaces (or is appended to) the query. The optional length
clause tells the model its token budget (ReasonIR scales this budget up to 2048 tokens).

The prompt is a two-turn chat built from three template files in
``reasonir/prompts/templates/rewrite/``:

=================  ===============================================================================
template           placeholders
=================  ===============================================================================
``system``         none (the system message)
``user``           ``{query}`` (the query, line breaks flattened to spaces by default, stripped),
                   ``{length_clause}`` (the rendered ``length_clause``, or empty without a budget)
``length_clause``  ``{max_tokens}`` (the output budget announced to the model)
=================  ===============================================================================

Literal braces are doubled (``{{``/``}}``); one trailing newline of a file is dropped (the built-in
``length_clause`` starts with a line break). A user replaces any of them without touching code
(``reasonir rewrite --prompt-template FILE`` replaces ``user``; ``NAME=FILE`` any of them;
``prompts: {NAME: FILE}`` in a config file); the sha256 of every template is written to the output's
``config.json``.

Changing the built-in wording changes results: bump :data:`PROMPT_VERSION` (it is written into every
output row and is part of the response-cache key through the prompt text). Replaced templates make
the version ``rewrite-1+user-<hash>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..errors import ConfigError
from .template_files import builtin_text, manifest, read_user_template, version_of

PROMPT_VERSION = "rewrite-1"

Messages = list[dict[str, str]]

#: template name -> placeholders it may use
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "user": frozenset({"query", "length_clause"}),
    "length_clause": frozenset({"max_tokens"}),
}
TEMPLATE_NAMES = tuple(PLACEHOLDERS)


class RewritePrompts:
    """The rewrite prompt templates: the built-in ones, some replaced by a user's files.

    Args:
        overrides: ``{template name: file path}`` of replacement templates.

    Raises:
        ConfigError: unknown template name, unreadable file, bad placeholders.
    """

    def __init__(self, overrides: Mapping[str, str | Path] | None = None):
        self.texts = {n: builtin_text("rewrite", n) for n in TEMPLATE_NAMES}
        self.sources = dict.fromkeys(TEMPLATE_NAMES, "builtin")
        for name, path in (overrides or {}).items():
            if name not in PLACEHOLDERS:
                raise ConfigError(f"unknown rewrite prompt template {name!r} (file {path}); "
                                  f"valid names: {', '.join(TEMPLATE_NAMES)}")
            self.texts[name] = read_user_template(path, PLACEHOLDERS[name], f"rewrite prompt template {name!r}")
            self.sources[name] = str(path)

    @property
    def version(self) -> str:
        """:data:`PROMPT_VERSION`, with a hash suffix when a template was replaced."""
        return version_of(PROMPT_VERSION, self.texts, self.sources)

    def manifest(self) -> dict[str, dict[str, str]]:
        """``{template: {"sha256", "source"}}`` for every template."""
        return manifest(self.texts, self.sources)

    def messages(self, query: str, max_tokens: int | None = None, flatten_newlines: bool = True) -> Messages:
        """Chat messages asking for a reasoning rewrite of ``query``.

        Args:
            query: the original query (a post, a problem, a claim).
            max_tokens: the output budget to announce in the prompt (``None``: no length clause).
            flatten_newlines: replace line breaks in the query by spaces (as BRIGHT's rewriting does).
        """
        text = " ".join(query.split("\n")) if flatten_newlines else query
        clause = self.texts["length_clause"].format(max_tokens=max_tokens) if max_tokens else ""
        return [{"role": "system", "content": self.texts["system"]},
                {"role": "user", "content": self.texts["user"].format(query=text.strip(), length_clause=clause)}]


DEFAULT = RewritePrompts()

SYSTEM = DEFAULT.texts["system"]
USER = DEFAULT.texts["user"]
LENGTH_CLAUSE = DEFAULT.texts["length_clause"]

rewrite_messages = DEFAULT.messages
