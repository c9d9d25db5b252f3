"""LLM prompts of retrieval-augmented multiple-choice QA (MMLU, GPQA), as replaceable template files.

Two answer formats, one per benchmark family:

* MMLU style: the question with lettered options, a request to reason step by step and to end with
  ``the answer is (X)``; retrieved passages are prepended under a "background" heading.
* GPQA style: numbered passages (``Passage 1:`` ...) before the question, a request to reason step
  by step and to give the final letter as ``\\boxed{X}``.

Closed-book prompts are the same prompts without the passage block, so the only difference between
the two conditions is the retrieved text. The query-rewriting prompt turns a question into a search
query.

Each prompt message is a template file in ``reasonir/prompts/templates/rag/<name>.txt`` (Python
``str.format`` syntax: placeholders in braces, literal braces doubled as in ``\\boxed{{X}}``; one
trailing newline is dropped when a file is read). A user replaces any of them without touching code
(``prompts: {NAME: FILE}`` in the YAML config, or ``--prompt-template NAME=FILE``); the sha256 of
every template a run used is written to its ``config.json`` and ``report.json``.

======================  =====================================================================
template                placeholders
======================  =====================================================================
``system``              none (the system message of every prompt)
``mmlu_rag_user``       ``{passages}`` (rendered ``mmlu_passage`` blocks, rank order),
                        ``{subject}`` (``college biology``), ``{question}``, ``{options}``
``mmlu_closed_user``    ``{subject}``, ``{question}``, ``{options}``
``mmlu_passage``        ``{number}`` (1-based rank), ``{text}``
``gpqa_rag_user``       ``{passages}`` (rendered ``gpqa_passage`` blocks), ``{question}``, ``{options}``
``gpqa_closed_user``    ``{question}``, ``{options}``
``gpqa_passage``        ``{number}``, ``{text}``
``rewrite_user``        ``{question}`` (the question, then its lettered options, one per line)
======================  =====================================================================

``{options}`` is ``A. first`` ... one option per line. :data:`PROMPT_VERSION` pins the built-in
texts (``tests/test_rag_prompts.py``); a run with replaced templates reports
``rag-1+user-<hash>``. The retrieval query formats (:func:`paper_query`) are settings of the
published evaluation, not wording, so they are code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ConfigError
from .template_files import builtin_text, check_placeholders, read_user_template, sha256

PROMPT_VERSION = "rag-1"

#: template name -> placeholders it may use
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "mmlu_rag_user": frozenset({"passages", "subject", "question", "options"}),
    "mmlu_closed_user": frozenset({"subject", "question", "options"}),
    "mmlu_passage": frozenset({"number", "text"}),
    "gpqa_rag_user": frozenset({"passages", "question", "options"}),
    "gpqa_closed_user": frozenset({"question", "options"}),
    "gpqa_passage": frozenset({"number", "text"}),
    "rewrite_user": frozenset({"question"}),
}
TEMPLATE_NAMES = tuple(PLACEHOLDERS)

#: generation stops here: a model that starts a new exam item has finished its answer
MMLU_STOP = ("Question:",)




def builtin_template(name: str) -> str:
    """The text of built-in template ``name``.

    Raises:
        ConfigError: unknown name (the message lists the valid ones).
    """
    if name not in PLACEHOLDERS:
        raise ConfigError(f"unknown RAG prompt template {name!r}; valid names: {', '.join(TEMPLATE_NAMES)}")
    return builtin_text("rag", name)


def check_template(text: str, name: str, origin: str) -> None:
    """Check that ``text`` is a format string that uses only ``name``'s placeholders.

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
        raise ConfigError(f"unknown RAG prompt template {name!r} (file {path}); "
                          f"valid names: {', '.join(TEMPLATE_NAMES)}")
    return read_user_template(path, PLACEHOLDERS[name], f"template {name!r}")


def format_options(options: Sequence[str], letters: str = "ABCDEFGHIJ") -> str:
    """``A. first\\nB. second ...`` (one option per line)."""
    return "\n".join(f"{letters[i]}. {opt}" for i, opt in enumerate(options))


def subject_words(subject: str) -> str:
    """``college_biology`` -> ``college biology`` (how a subject is named inside a prompt)."""
    return subject.replace("_", " ").strip()


#: the MMLU retrieval query of the published evaluation (``mmlu_cot/evaluate_from_local_mmlu.py``:
#: the key its retrieval results are stored under): the classic MMLU header, the question, the
#: lettered options and ``Answer:``
PAPER_MMLU_QUERY = ("The following are multiple choice questions (with answers) about {subject}.\n\n"
                    "{question}\n{options}\nAnswer:")


def paper_query(question: str, options: Sequence[str], subject: str) -> str:
    """The formatted MMLU question the published evaluation retrieves with.

    Example:
        >>> paper_query(" Q? ", ["x", "y"], "astronomy")
        'The following are multiple choice questions (with answers) about astronomy.\\n\\nQ?\\nA. x\\nB. y\\nAnswer:'
    """
    return PAPER_MMLU_QUERY.format(subject=" ".join(subject.split("_")), question=question.strip(),
                                   options=format_options(options))


class RagPrompts:
    """The RAG prompt templates: the built-in ones, some replaced by a user's files.

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

    @property
    def version(self) -> str:
        """:data:`PROMPT_VERSION`, with a hash suffix when a template was replaced."""
        if all(src == "builtin" for src in self.sources.values()):
            return PROMPT_VERSION
        return f"{PROMPT_VERSION}+user-{sha256(chr(0).join(self.texts[n] for n in TEMPLATE_NAMES))[:12]}"

    def manifest(self) -> dict[str, dict[str, str]]:
        """``{template: {"sha256", "source"}}`` for every template (for the run's records)."""
        return {n: {"sha256": sha256(self.texts[n]), "source": self.sources[n]} for n in TEMPLATE_NAMES}

    def _passages(self, name: str, passages: Sequence[str]) -> str:
        return "".join(self.texts[name].format(number=i, text=p.strip()) for i, p in enumerate(passages, start=1))

    def mmlu_user_message(self, question: str, options: Sequence[str], subject: str,
                          passages: Sequence[str] | None = None) -> str:
        """The user turn of an MMLU-style prompt; ``passages`` (rank order) come first when given."""
        values = {"subject": subject_words(subject), "question": question.strip(), "options": format_options(options)}
        if not passages:
            return self.texts["mmlu_closed_user"].format(**values)
        return self.texts["mmlu_rag_user"].format(passages=self._passages("mmlu_passage", passages), **values)

    def gpqa_user_message(self, question: str, options: Sequence[str],
                          passages: Sequence[str] | None = None) -> str:
        """The user turn of a GPQA-style prompt: numbered passages first (when given), then the question."""
        values = {"question": question.strip(), "options": format_options(options)}
        if not passages:
            return self.texts["gpqa_closed_user"].format(**values)
        return self.texts["gpqa_rag_user"].format(passages=self._passages("gpqa_passage", passages), **values)

    def rewrite_user_message(self, question: str, options: Sequence[str] | None = None) -> str:
        """The user turn asking for a retrieval query (options appended to the question when given)."""
        text = question.strip()
        if options:
            text += "\n" + format_options(options)
        return self.texts["rewrite_user"].format(question=text)

    def chat(self, user: str) -> list[dict[str, str]]:
        """A two-turn chat: the system template and ``user``."""
        return [{"role": "system", "content": self.texts["system"]}, {"role": "user", "content": user}]


DEFAULT = RagPrompts()

SYSTEM = DEFAULT.texts["system"]
#: the text before the passages in the built-in retrieval-augmented prompts
MMLU_BACKGROUND_HEADER = DEFAULT.texts["mmlu_rag_user"].split("{passages}", 1)[0]
GPQA_PASSAGES_HEADER = DEFAULT.texts["gpqa_rag_user"].split("{passages}", 1)[0]

mmlu_user_message = DEFAULT.mmlu_user_message
gpqa_user_message = DEFAULT.gpqa_user_message
rewrite_user_message = DEFAULT.rewrite_user_message
chat = DEFAULT.chat
