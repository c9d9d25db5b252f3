"""Reading a 0-5 relevance grade out of an LLM answer: from its text, or from token log-probabilities.

:func:`parse_grade` tries, in order: the last ``Relevance score: X`` (any case, markdown, ``=``/``is``,
``X/5``, ``X out of 10``, number words), the last ``score|grade|rating: X``, the last ``X/5`` or
``X out of N``, an answer that is only a number, and a lone number in a short answer. Grades outside
0-5 are clamped (and flagged). Anything else is a parse failure (``grade=None``), counted by callers.
The reference implementation read the two characters after the marker; this handles ``4.5``,
``**Relevance score:** 4``, ``four`` and answers without the marker.

:func:`parse_grade_strict` is that reference rule, offered for exact reproduction (``--parse-rule
strict``): the last ``Relevance score:`` (case as written), ``float()`` of the two characters right after
it, no clamping; no marker gives grade 0, an unreadable pair of characters is a parse failure (the
reference then scores the pair -1: ``--failure-score -1``).

:func:`expected_grade` computes ``sum_d d * p(d) / sum_d p(d)`` over the grade digits 0-5 among the
top alternatives at the position where the model writes its grade.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

MAX_GRADE = 5.0
#: how an answer's text becomes a grade: ours (:func:`parse_grade`) or the reference's (:func:`parse_grade_strict`)
PARSE_RULES = ("lenient", "strict")
STRICT_MARKER = "Relevance score:"
#: a lone number is taken as the grade only in answers of at most this many words
LONE_MAX_WORDS = 20

_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
          "nine": 9, "ten": 10}
_NUM = r"(?P<num>[-+]?\d+(?:\.\d+)?|(?:" + "|".join(_WORDS) + r")\b)"
_SCALE = r"(?:\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?"
_SEP = r"[\s*_`\"'\]\)]*(?:(?:is|of|[:=\-])[\s*_`\"'\[\(]*)?"
_MARKER = re.compile(r"relevance[\s_]*score" + _SEP + _NUM + _SCALE, re.IGNORECASE)
_GENERIC = re.compile(r"\b(?:score|grade|rating)" + _SEP + _NUM + _SCALE, re.IGNORECASE)
_FRACTION = re.compile(r"(?<![\w.])" + r"(?P<num>\d+(?:\.\d+)?)" + r"\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?)",
                       re.IGNORECASE)
_BARE = re.compile(r"^[\s*_`\"'(\[]*" + _NUM + _SCALE + r"[\s*_`\"'.)\]!]*$", re.IGNORECASE)
_LONE = re.compile(r"(?<![\w.\-])(\d+(?:\.\d+)?)(?![\w]|\.\d)")
_GRADE_TOKEN = re.compile(r"^\s*([0-5])\s*$")
_CONTEXT = re.compile(r"(?:score|grade|rating)\W*$", re.IGNORECASE)


@dataclass(frozen=True)
class GradeParse:
    """A parsed grade.

    Attributes:
        grade: the grade in [0, 5], or ``None`` when no grade could be read.
        method: ``marker``, ``generic``, ``fraction``, ``bare``, ``lone`` or ``failed``.
        clamped: the stated grade was outside [0, 5] and was clamped.
    """

    grade: float | None
    method: str
    clamped: bool = False


def _value(match: re.Match[str]) -> float | None:
    raw = match.group("num").lower()
    num = float(_WORDS[raw]) if raw in _WORDS else float(raw)
    den = match.groupdict().get("den")
    if den:
        d = float(den)
        if d <= 0:
            return None
        if d != MAX_GRADE:
            num = num / d * MAX_GRADE
    return num


def _result(value: float | None, method: str) -> GradeParse:
    if value is None or math.isnan(value):
        return GradeParse(None, "failed")
    clamped = min(MAX_GRADE, max(0.0, value))
    return GradeParse(clamped, method, clamped != value)


def parse_grade(text: str) -> GradeParse:
    """Read a 0-5 grade from an LLM answer (see the module docstring for the rules)."""
    if not text or not text.strip():
        return GradeParse(None, "failed")
    for method, pattern in (("marker", _MARKER), ("generic", _GENERIC)):
        matches = list(pattern.finditer(text))
        if matches:
            return _result(_value(matches[-1]), method)
    bare = _BARE.match(text)
    if bare:
        return _result(_value(bare), "bare")
    fractions = list(_FRACTION.finditer(text))
    if fractions:
        return _result(_value(fractions[-1]), "fraction")
    lone = _LONE.findall(text)
    if len(lone) == 1 and len(text.split()) <= LONE_MAX_WORDS and 0 <= float(lone[0]) <= MAX_GRADE:
        return _result(float(lone[0]), "lone")
    return GradeParse(None, "failed")


def parse_grade_strict(text: str) -> GradeParse:
    """The reference reranker's rule: ``float()`` of the two characters after the last ``Relevance score:``.

    Returns:
        method ``strict`` with the value as read (not clamped: ``Relevance score: 10`` reads ``" 1"``);
        ``strict-absent`` with grade 0 when the marker is absent; ``failed`` (grade ``None``) when the
        two characters are not a number.

    Example:
        >>> parse_grade_strict("Relevance score: 4.").grade, parse_grade_strict("Relevance score: 4.5").grade
        (4.0, 4.0)
    """
    at = (text or "").rfind(STRICT_MARKER)
    if at < 0:
        return GradeParse(0.0, "strict-absent")
    start = at + len(STRICT_MARKER)
    try:
        return GradeParse(float(text[start:start + 2]), "strict")
    except ValueError:
        return GradeParse(None, "failed")


def read_grade(text: str, rule: str = "lenient") -> GradeParse:
    """The grade of an answer under ``rule`` (one of :data:`PARSE_RULES`)."""
    return parse_grade_strict(text) if rule == "strict" else parse_grade(text)


def expected_grade(logprobs: list[dict[str, float]] | None,
                   tokens: list[str] | None = None) -> tuple[float, float] | None:
    """Expected grade from per-token top log-probabilities.

    The grade position is the first generated token that is a digit 0-5 and either follows a
    ``score``/``grade``/``rating`` marker or is the first word of the answer. Probabilities of the
    digit alternatives at that position (``"4"``, ``" 4"``, ... summed) are renormalised.

    Args:
        logprobs: per generated token, ``{token: logprob}`` of its top alternatives.
        tokens: the generated tokens (default: the most likely alternative at each step).

    Returns:
        ``(expected grade, probability mass on the digits)``, or ``None`` when no grade position was
        found.
    """
    if not logprobs:
        return None
    so_far = ""
    for step, alts in enumerate(logprobs):
        tok = tokens[step] if tokens and step < len(tokens) else (max(alts, key=lambda t: alts[t]) if alts else "")
        at_start = not re.search(r"\w", so_far)
        if _GRADE_TOKEN.match(tok) and (at_start or _CONTEXT.search(so_far)):
            mass: dict[int, float] = {}
            for alt, lp in alts.items():
                m = _GRADE_TOKEN.match(alt)
                if m:
                    mass[int(m.group(1))] = mass.get(int(m.group(1)), 0.0) + math.exp(lp)
            total = sum(mass.values())
            if total <= 0:
                return None
            return sum(d * p for d, p in mass.items()) / total, total
        so_far += tok
    return None
