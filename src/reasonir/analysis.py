"""Text analysis for BM25: a pure-Python approximation of Lucene's English analyzer.

Lucene's ``EnglishAnalyzer`` (what Anserini/pyserini and hence BRIGHT and ReasonIR use) runs
StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter -> PorterStemFilter.
:class:`Analyzer` reproduces that chain:

* tokens are runs of word characters (letters, digits, ``_``) that may contain ``.``, ``'`` or
  ``’`` between word characters (``U.S.A``, ``don't``, ``3.14``) or ``,`` between digits
  (``1,000``) — UAX#29 word segmentation's MidLetter/MidNum rules, which StandardTokenizer follows;
* a trailing possessive ``'s`` / ``’s`` is removed;
* tokens are lower-cased, Lucene's 33 English stop words are dropped;
* the original Porter stemmer (Snowball's ``porter`` via PyStemmer) is applied.

Known differences from Lucene: ideographic (CJK) characters stay joined instead of becoming one token
each; tokens longer than 255 characters are not split; emoji and some rare scripts are segmented by
Python's ``\\w`` instead of the full UAX#29 tables. None of these occur often in English corpora.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import Stemmer

#: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``.
LUCENE_ENGLISH_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
))

TOKEN_RE = re.compile(r"\w+(?:(?:[.'’]\w+)|(?:(?<=\d),\d+))*")
_POSSESSIVE = ("'s", "’s", "‘s")


class Analyzer:
    """Turns text into index terms (see the module docstring for the exact chain).

    Args:
        stopwords: ``"lucene"`` (default), ``None`` for none, or an iterable of words.
        stemmer: a PyStemmer algorithm name (``"porter"``, ``"english"``) or ``None``.
        lowercase: lower-case tokens (Lucene does).

    The per-surface-form results are cached, so analysing a large corpus costs one dictionary
    lookup per token after the first occurrence of each word.
    """

    def __init__(self, stopwords: str | Iterable[str] | None = "lucene", stemmer: str | None = "porter",
                 lowercase: bool = True):
        if stopwords == "lucene":
            self.stopwords = LUCENE_ENGLISH_STOPWORDS
            self._stop_name = "lucene"
        elif stopwords is None:
            self.stopwords = frozenset()
            self._stop_name = None
        else:
            self.stopwords = frozenset(stopwords)
            self._stop_name = sorted(self.stopwords)
        self.stemmer_name = stemmer
        self._stemmer = Stemmer.Stemmer(stemmer) if stemmer else None
        self.lowercase = lowercase
        self._cache: dict[str, str] = {}

    def config(self) -> dict:
        """A JSON-serialisable description that :meth:`from_config` turns back into this analyzer."""
        return {"stopwords": self._stop_name, "stemmer": self.stemmer_name, "lowercase": self.lowercase}

    @classmethod
    def from_config(cls, cfg: dict) -> Analyzer:
        return cls(stopwords=cfg.get("stopwords"), stemmer=cfg.get("stemmer"), lowercase=cfg.get("lowercase", True))

    def term(self, token: str) -> str:
        """Map one surface token to its index term ('' when it is dropped)."""
        word = token
        if word[-2:].lower() in _POSSESSIVE:
            word = word[:-2]
        if self.lowercase:
            word = word.lower()
        if not word or word in self.stopwords:
            term = ""
        else:
            term = self._stemmer.stemWord(word) if self._stemmer else word
        self._cache[token] = term
        return term

    def __call__(self, text: str) -> list[str]:
        """Analyse one text into its list of terms (in order, duplicates kept)."""
        cache = self._cache
        terms = []
        for tok in TOKEN_RE.findall(text):
            term = cache.get(tok)
            if term is None:
                term = self.term(tok)
            if term:
                terms.append(term)
        return terms

    def analyze_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Analyse many texts."""
        return [self(t) for t in texts]
