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

    Windows start at word boundaries; ties go to the earliest window. Ellipses mark cut ends. A word
    longer than ``width`` makes a window of its own, cut to its first ``width`` characters;
    ``width <= 0`` gives an empty snippet.

    Args:
        text: the document text.
        query: the query whose terms the window should cover.
        width: the most characters of ``text`` shown (ellipses not counted).

    Returns:
        The snippet, whitespace-collapsed.
    """
    if width <= 0:
        return ""
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= width:
        return text
    an = _analyzer()
    terms = set(an(query))
    # (start, end, query terms the word carries); a long token can carry several terms
    words = [(m.start(), m.end(), tuple(t for t in set(an.terms_of(m.group(0))) if t in terms))
             for m in TOKEN_RE.finditer(text)]
    best_start, best_score = 0, 0
    j = 0                                     # words[i:j] are the words counted in the current window
    counts: dict[str, int] = {}
    distinct = 0
    for i, (start, _, _) in enumerate(words):   # two-pointer sweep over word-aligned windows
        j = max(j, i)
        while j < len(words) and words[j][1] - start <= width:
            for t in words[j][2]:
                counts[t] = counts.get(t, 0) + 1
                distinct += counts[t] == 1
            j += 1
        # a word longer than the window fills it alone (cut): score it by its own terms
        score = distinct if j > i else len(words[i][2])
        if score > best_score:
            best_start, best_score = start, score
        if j > i:                             # word i was counted: slide it out of the window
            for t in words[i][2]:
                counts[t] -= 1
                distinct -= counts[t] == 0
    window = text[best_start:best_start + width]
    end = best_start + width
    if end < len(text) and text[end] != " " and (cut := window.rfind(" ")) > width // 2:
        window = window[:cut]                  # do not end inside a word
    return ("…" if best_start > 0 else "") + window.strip() + ("…" if best_start + len(window) < len(text) else "")
