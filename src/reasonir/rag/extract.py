"""Answer-letter extraction from free-form chain-of-thought outputs.

Four rules, tried in a benchmark-specific order (the format the prompt asks for comes first):

* ``boxed`` — the last ``\\boxed{...}`` holding a letter (``\\boxed{B}``, ``\\boxed{(B)}``,
  ``\\boxed{\\text{B}}``, ``\\boxed{B) 3.2 eV}``);
* ``answer_is`` — "the answer is (X)", "the correct option is X", "answer would be **X**";
* ``answer_colon`` — "Answer: X", "**Final answer:** (X)";
* ``trailing_letter`` — the output ends with a lone letter: a last line that is just ``C`` /
  ``(C)`` / ``**C.**``, or an ending such as "... option C." or "... (C)."

Within a rule the last occurrence wins (models revise themselves). The letter may be bracketed,
quoted or in TeX math (``(B)``, ``[B]``, ``'B'``, ``"B"``, ``$B$``, ``\\(B\\)``). A bare capital ``A``
or ``I`` followed by a lowercase word or a contraction ("the answer is a bit ...", "Answer: A lot
...", "Answer: I think ...", "Answer: I'm unsure") is read as a word, not a letter. When the
winning occurrence names a letter outside the question's options (``(E)`` for four options) the
output counts as unparseable (method ``invalid_<rule>``) instead of falling through to weaker rules.
Unparseable outputs are reported as such; :class:`Fallback` supplies the seeded random guess used by
the "with fallback" accuracy, by one of :data:`FALLBACK_RULES`:

* ``per_question`` — a letter drawn per question from a generator seeded with the run seed, the
  question id and the condition (:func:`fallback_letter`): independent of question order and subset;
* ``per_run`` — the published evaluation's rule: Python's ``random`` seeded with the run seed
  (12345 there) draws ``randint(0, n_options - 1)``, and the official code re-seeds before every
  draw, so every unparseable output of a run gets the same letter (``D`` for four options and
  seed 12345).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

import numpy as np

from .questions import item_seed

#: changes whenever a rule changes (stored with letters extracted from outputs that are not kept)
EXTRACT_VERSION = "extract-2"
RULES = ("boxed", "answer_is", "answer_colon", "trailing_letter")
ORDER_MMLU = ("answer_is", "answer_colon", "boxed", "trailing_letter")
ORDER_GPQA = ("boxed", "answer_is", "answer_colon", "trailing_letter")

_OPT_WORD = r"(?i:option|choice|letter)"
#: what may follow a cue: markdown, colon, an option word, an opening bracket, the letter, a closer
_LETTER_AFTER_CUE = re.compile(
    r"[\s:*_]*(?P<word>" + _OPT_WORD + r"\s*)?[\s:*_]*(?P<open>[(\[])?(?P<quote>[$'\"`\u2018\u201c]|\\\()?"
    r"[\s*_]*(?P<letter>[A-Za-z])(?![A-Za-z0-9])(?(quote)(?:[$'\"`\u2019\u201d]|\\\)))[*_]*(?P<close>[)\]])?"
    r"(?P<after>[^\n]{0,24})")
_ANSWER_IS = re.compile(
    r"(?i:\banswer(?:\s+[a-z]+)?\s+(?:is|be)\b|\b(?:option|choice)\s+is\b)")
_ANSWER_COLON = re.compile(r"(?i:\banswer)\s*(?:\*\*|__)?\s*:")
_BOXED = re.compile(r"\\boxed\s*\{")
_TEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|mbox)\s*\{([^{}]*)\}")
_BOXED_LETTER = re.compile(r"^[\s$(\[]*([A-Za-z])(?![A-Za-z0-9])[\s$)\].:,]*(?:$|[\s)].*)", re.S)
_LAST_LINE = re.compile(r"^[\s*_>#-]*(?:" + _OPT_WORD + r"\s*)?[(\[]?\s*([A-J])\s*[)\]]?[\s.*_]*$")
_ENDING = re.compile(r"(?:\b" + _OPT_WORD + r"\s+\(?([A-J])\)?|\(([A-J])\))[\s.*_!]*$")
#: words after a bare "A" that still read as the letter ("the answer is A because ...")
_CONNECTIVES = {"because", "since", "as", "is", "was", "and", "or", "which", "with", "for", "given",
                "due", "from", "in", "on", "here", "there", "so", "then", "it"}


@dataclass(frozen=True)
class Extraction:
    """The letter read from an output (``None`` when unparseable) and the rule that produced it."""

    letter: str | None
    method: str | None

    @property
    def parsed(self) -> bool:
        return self.letter is not None


def _letter_after(text: str, pos: int) -> str | None:
    """The option letter right after a cue ending at ``pos``, or ``None`` when there is none."""
    m = _LETTER_AFTER_CUE.match(text, pos)
    if not m:
        return None
    letter = m.group("letter")
    marked = bool(m.group("open") or m.group("close") or m.group("word") or m.group("quote"))
    if letter.islower():
        return letter.upper() if marked else None
    if letter in "AI" and not marked:
        after = m.group("after")
        if re.match(r"['\u2019][a-z]", after):
            return None      # "Answer: I'm not sure" — a contraction
        nxt = re.match(r" +([a-z][a-z']*)", after)
        if nxt and nxt.group(1) not in _CONNECTIVES:
            return None      # "the answer is a ..." / "A lot" / "Answer: I think" — a word, not an option
    return letter


def _boxed_contents(text: str) -> list[str]:
    """The contents of every ``\\boxed{...}`` (balanced braces), in order."""
    out = []
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            out.append(text[m.end(): i - 1])
    return out


def _boxed_letters(text: str) -> list[str]:
    letters = []
    for content in _boxed_contents(text):
        prev = None
        while prev != content:           # unwrap nested \text{\textbf{B}}
            prev, content = content, _TEX_WRAP.sub(r"\1", content)
        m = _BOXED_LETTER.match(content.strip())
        if m:
            letters.append(m.group(1).upper())
    return letters


def _cue_letters(text: str, cue: re.Pattern[str]) -> list[str]:
    return [letter for m in cue.finditer(text) if (letter := _letter_after(text, m.end()))]


def _trailing_letters(text: str) -> list[str]:
    body = text.rstrip()
    if not body:
        return []
    last_line = body.rsplit("\n", 1)[-1]
    m = _LAST_LINE.match(last_line)
    if m:
        return [m.group(1)]
    m = _ENDING.search(body)
    return [m.group(1) or m.group(2)] if m else []


_FINDERS = {
    "boxed": _boxed_letters,
    "answer_is": lambda t: _cue_letters(t, _ANSWER_IS),
    "answer_colon": lambda t: _cue_letters(t, _ANSWER_COLON),
    "trailing_letter": _trailing_letters,
}


def extract_answer(text: str, letters: str = "ABCD", order: tuple[str, ...] = ORDER_MMLU) -> Extraction:
    """Read the chosen option letter from a model output.

    Args:
        text: the generated text.
        letters: the valid letters, e.g. ``"ABCD"``.
        order: rules to try, first hit wins (see the module docstring).

    Returns:
        ``Extraction(letter, rule)``; ``Extraction(None, None)`` when no rule fires and
        ``Extraction(None, "invalid_<rule>")`` when the winning rule names a letter not offered.
    """
    unknown = [r for r in order if r not in _FINDERS]
    if unknown:
        raise ValueError(f"unknown extraction rule(s) {unknown}; choose from {RULES}")
    for rule in order:
        found = _FINDERS[rule](text or "")
        if found:
            letter = found[-1]
            return Extraction(letter, rule) if letter in letters else Extraction(None, f"invalid_{rule}")
    return Extraction(None, None)


def fallback_letter(seed: int, question_id: str, condition: str, letters: str = "ABCD") -> str:
    """A seeded random letter for an unparseable output, independent of question order."""
    rng = np.random.default_rng(item_seed(seed, "fallback", condition, question_id))
    return letters[int(rng.integers(len(letters)))]


FALLBACK_RULES = ("per_question", "per_run")


@dataclass
class Fallback:
    """The random letter given to unparseable outputs of one run (see the module docstring).

    Args:
        rule: one of :data:`FALLBACK_RULES`.
        seed: the run's fallback seed (recorded in the run's report).

    Raises:
        ValueError: unknown rule.
    """

    rule: str = "per_question"
    seed: int = 12345
    _drawn: dict[int, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rule not in FALLBACK_RULES:
            raise ValueError(f"unknown fallback rule {self.rule!r}; choose one of {', '.join(FALLBACK_RULES)}")

    def letter(self, question_id: str, condition: str, letters: str = "ABCD") -> str:
        """The fallback letter of one question under one condition."""
        if self.rule == "per_question":
            return fallback_letter(self.seed, question_id, condition, letters)
        n = len(letters)
        if n not in self._drawn:           # one seeded generator per run (and option count)
            self._drawn[n] = random.Random(self.seed).randint(0, n - 1)
        return letters[self._drawn[n]]


_ANSWER_CUES = re.compile(_ANSWER_IS.pattern + "|" + _ANSWER_COLON.pattern + r"|\\boxed\s*\{")


def reasoning_before_answer(text: str) -> str:
    """The reasoning part of a chain of thought: the text before its final answer statement.

    Used to turn a closed-book chain of thought into a retrieval query. The cut is made at the start
    of the sentence holding the last answer cue ("the answer is", "Answer:", ``\\boxed``); when that
    sentence is the whole output, just before the cue; with no cue, the whole output is kept.
    """
    last = None
    for m in _ANSWER_CUES.finditer(text or ""):
        last = m
    if last is None:
        return (text or "").strip()
    head = text[: last.start()]
    cut = max(head.rfind("\n"), head.rfind(". "), head.rfind("? "), head.rfind("! "))
    sentences = head[: cut + 1].strip() if cut >= 0 else ""
    return sentences or head.strip() or text.strip()
