"""LLM prompts of retrieval-augmented multiple-choice QA (MMLU, GPQA).

Two answer formats, one per benchmark family:

* MMLU style: the question with lettered options, a request to reason step by step and to end with
  ``the answer is (X)``; retrieved passages are prepended under a "background" heading.
* GPQA style: numbered passages (``Passage 1:`` ...) before the question, a request to reason step
  by step and to give the final letter as ``\\boxed{X}``.

Closed-book prompts are the same prompts without the passage block, so the only difference between
the two conditions is the retrieved text. The query-rewriting prompt turns a question into a search
query. Every template is plain data; :data:`PROMPT_VERSION` changes whenever any text here changes.
"""

from __future__ import annotations

from collections.abc import Sequence

PROMPT_VERSION = "rag-1"

SYSTEM = "You are a careful expert who answers exam questions accurately."

# --- MMLU style -----------------------------------------------------------------------------------
MMLU_BACKGROUND_HEADER = "Background information that may help:\n"
MMLU_INSTRUCTION = (
    "Below is a multiple-choice question about {subject}. Reason through it step by step, then "
    "state your choice on the last line as \"the answer is (X)\", where X is the letter of the "
    "correct option.\n\n"
)
MMLU_QUESTION = "Question:\n{question}\nOptions:\n{options}\nAnswer: Let's reason step by step."
#: generation stops here: a model that starts a new exam item has finished its answer
MMLU_STOP = ("Question:",)

# --- GPQA style -----------------------------------------------------------------------------------
GPQA_PASSAGES_HEADER = "Here are some documents that may be relevant:\n\n"
GPQA_PASSAGE = "Passage {number}:\n{text}\n\n"
GPQA_QUESTION = (
    "Answer the following multiple-choice question. Think it through step by step, using the "
    "documents above where they help. End with your final choice written as \\boxed{{X}}, where X "
    "is the letter of the correct option.\n\n"
    "Question:\n{question}\n\nOptions:\n{options}\n"
)
GPQA_QUESTION_CLOSED = (
    "Answer the following multiple-choice question. Think it through step by step. End with your "
    "final choice written as \\boxed{{X}}, where X is the letter of the correct option.\n\n"
    "Question:\n{question}\n\nOptions:\n{options}\n"
)

# --- query rewriting ------------------------------------------------------------------------------
REWRITE_INSTRUCTION = (
    "Write a search query for finding background material that would help answer the question "
    "below. Name the key concepts, facts or formulas needed; do not answer the question. Reply with "
    "the query only, on one line.\n\nQuestion:\n{question}\n\nSearch query:"
)


def format_options(options: Sequence[str], letters: str = "ABCDEFGHIJ") -> str:
    """``A. first\\nB. second ...`` (one option per line)."""
    return "\n".join(f"{letters[i]}. {opt}" for i, opt in enumerate(options))


def subject_words(subject: str) -> str:
    """``college_biology`` -> ``college biology`` (how a subject is named inside a prompt)."""
    return subject.replace("_", " ").strip()


def mmlu_user_message(question: str, options: Sequence[str], subject: str,
                      passages: Sequence[str] | None = None) -> str:
    """The user turn of an MMLU-style prompt; ``passages`` (in rank order) are prepended when given."""
    head = ""
    if passages:
        head = MMLU_BACKGROUND_HEADER + "".join(f"{p.strip()}\n\n" for p in passages)
    return (head + MMLU_INSTRUCTION.format(subject=subject_words(subject))
            + MMLU_QUESTION.format(question=question.strip(), options=format_options(options)))


def gpqa_user_message(question: str, options: Sequence[str], passages: Sequence[str] | None = None) -> str:
    """The user turn of a GPQA-style prompt: numbered passages first (when given), then the question."""
    if not passages:
        return GPQA_QUESTION_CLOSED.format(question=question.strip(), options=format_options(options))
    block = GPQA_PASSAGES_HEADER + "".join(
        GPQA_PASSAGE.format(number=i, text=p.strip()) for i, p in enumerate(passages, start=1))
    return block + GPQA_QUESTION.format(question=question.strip(), options=format_options(options))


def rewrite_user_message(question: str, options: Sequence[str] | None = None) -> str:
    """The user turn asking for a retrieval query (options appended to the question when given)."""
    text = question.strip()
    if options:
        text += "\n" + format_options(options)
    return REWRITE_INSTRUCTION.format(question=text)


def chat(user: str) -> list[dict[str, str]]:
    """A two-turn chat: the shared system message and ``user``."""
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
