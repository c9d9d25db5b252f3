"""Query-biased snippets: the passage window that mentions most of the query's terms."""

from __future__ import annotations

import re
from functools import lru_cache

from ..analysis import TOKEN_RE, Analyzer

_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _analyzer() -> Analyzer:
    return Analyzer()


def make_snippet(text: str, query: str, width: int = 280) -> str:
    """A window of about ``width`` characters of ``text`` covering the most distinct query terms.

    Windows start at word boundaries; ties go to the earliest window. Ellipses mark cut ends.
    """
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= width:
        return text
    an = _analyzer()
    terms = set(an(query))
    words = [(m.start(), m.end(), an.term(m.group(0))) for m in TOKEN_RE.finditer(text)]
    best_start, best_score = 0, -1
    j = 0
    counts: dict[str, int] = {}
    distinct = 0
    for i, (start, _, _) in enumerate(words):   # two-pointer sweep over word-aligned windows
        while j < len(words) and words[j][1] - start <= width:
            t = words[j][2]
            if t in terms:
                counts[t] = counts.get(t, 0) + 1
                distinct += counts[t] == 1
            j += 1
        if distinct > best_score:
            best_start, best_score = start, distinct
        t = words[i][2]
        if t in terms:
            counts[t] -= 1
            distinct -= counts[t] == 0
    if best_score <= 0:
        best_start = 0
    window = text[best_start:best_start + width]
    end = best_start + width
    if end < len(text) and text[end] != " " and (cut := window.rfind(" ")) > width // 2:
        window = window[:cut]                  # do not end inside a word
    return ("…" if best_start > 0 else "") + window.strip() + ("…" if best_start + len(window) < len(text) else "")
