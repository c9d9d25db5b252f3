"""Text analysis for BM25: a pure-Python reimplementation of Lucene's English analysis chain.

Anserini's ``DefaultEnglishAnalyzer`` (what pyserini, and hence BRIGHT and ReasonIR, use for BM25)
runs StandardTokenizer -> EnglishPossessiveFilter -> LowerCaseFilter -> StopFilter(33 English stop
words) -> PorterStemFilter. :class:`Analyzer` reproduces that chain:

* **tokens** are runs of word characters (letters, digits, ``_``), joined across one character as
  UAX #29 word segmentation (which StandardTokenizer implements) joins them: ``. ' ‘ ’ : ·``
  between two letters (``U.S.A``, ``don't``, ``rock'n'roll``, ``foo:bar``), ``. , ; ' ’`` between
  two digits (``3.14``, ``1,000``); ``a.1`` or ``12:30`` are two tokens. Every CJK ideograph and
  Hiragana character is a token of its own; tokens longer than 255 characters are cut into
  255-character pieces (StandardTokenizer's ``maxTokenLength``); runs of ``_`` alone are no token;
* a trailing possessive ``'s`` (apostrophe ``'``, ``’`` or ``＇``, ``s`` or ``S``) is removed;
* tokens are lower-cased and Lucene's 33 English stop words are dropped;
* the **Porter stemmer as Lucene implements it** (:func:`porter_stem`): Porter's 1980 algorithm with
  the two departures of his reference implementation that Lucene keeps — ``-bli -> -ble`` instead
  of ``-abli -> -able``, and ``-logi -> -log`` — and words of one or two characters left alone.
  Snowball's ``porter`` (PyStemmer) lacks all three and also undoubles fewer consonants
  (``possibly``: Lucene ``possibl``, Snowball ``possibli``; ``psychology``: ``psycholog`` /
  ``psychologi``; ``revving``: ``rev`` / ``revv``; ``us``: ``us`` / ``u``). Words none of these can
  affect go to PyStemmer's C implementation, the rest to :func:`porter_stem`; the tests check the
  two agree everywhere else.

Known differences from Lucene (none common in English text):

* word characters are Python's ``\\w``: combining marks (text that is not NFC-normalised), some
  Indic vowel signs and emoji split or drop where UAX #29 keeps them; Katakana and Thai runs are
  not given Lucene's special treatment; superscript digits count as digits;
* a token longer than 255 characters that contains a joining ``.``/``'`` is cut at 255-character
  steps of the whole token rather than where Lucene's scanner would restart;
* lower-casing is Python's ``str.lower`` (``İ`` becomes two characters; Lucene maps per code point);
* joining rules for the rare MidLetter/MidNum characters outside the ones listed above follow
  Unicode's WordBreakProperty table as of Unicode 15.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import cast

import numpy as np
import Stemmer

#: Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET``.
LUCENE_ENGLISH_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
))

#: StandardTokenizer's default ``maxTokenLength``.
MAX_TOKEN_LENGTH = 255

# CJK ideographs (BMP blocks, compatibility block, supplementary planes) and Hiragana: one token each.
_IDEOGRAPHIC = "\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
# UAX #29 MidLetter + MidNumLet + Single_Quote (join letter-letter) and MidNum + MidNumLet +
# Single_Quote (join digit-digit).
_MID_LETTER = ".'\u2018\u2019\u2024\ufe52\uff07\uff0e:\u00b7\u0387\u055f\u05f4\u2027\ufe13\ufe55\uff1a"
_MID_NUM = (".'\u2018\u2019\u2024\ufe52\uff07\uff0e,;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044"
            "\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b")
_LETTER = r"[^\W\d_]"
#: One surface token (before the splitting of long and ideographic tokens, see :meth:`Analyzer.terms_of`).
TOKEN_RE = re.compile(
    rf"\w+(?:(?:[{re.escape(_MID_LETTER)}](?<={_LETTER}.)(?={_LETTER})"
    rf"|[{re.escape(_MID_NUM)}](?<=\d.)(?=\d))\w+)*")
_IDEO_SPLIT_RE = re.compile(rf"[{_IDEOGRAPHIC}]|[^{_IDEOGRAPHIC}]+")
_HAS_IDEOGRAPHIC = re.compile(rf"[{_IDEOGRAPHIC}]").search
_POSSESSIVE = ("'s", "\u2019s", "\uff07s")


# ----------------------------------------------------------------------------------------------
# Porter stemmer, as Lucene's PorterStemFilter applies it
# ----------------------------------------------------------------------------------------------
def _consonant(w: str, i: int) -> bool:
    """Porter's consonant test: not a/e/i/o/u, and ``y`` only after a vowel or at the start."""
    c = w[i]
    if c in "aeiou":
        return False
    if c == "y":
        return i == 0 or not _consonant(w, i - 1)
    return True


def _measure(w: str) -> int:
    """Porter's *m*: the number of vowel-consonant sequences in ``[C](VC){m}[V]``."""
    m, after_vowel = 0, False
    for i in range(len(w)):
        cons = _consonant(w, i)
        if cons and after_vowel:
            m += 1
        after_vowel = not cons
    return m


def _has_vowel(w: str) -> bool:
    return any(not _consonant(w, i) for i in range(len(w)))


def _double_consonant(w: str) -> bool:
    return len(w) >= 2 and w[-1] == w[-2] and _consonant(w, len(w) - 1)


def _cvc(w: str) -> bool:
    """Ends consonant-vowel-consonant, the last not w/x/y (restores the ``e`` of hop(e), lov(e))."""
    n = len(w)
    return (n >= 3 and _consonant(w, n - 1) and not _consonant(w, n - 2) and _consonant(w, n - 3)
            and w[-1] not in "wxy")


# Step 2 and step 4 rules are grouped by the word's penultimate letter, step 3 rules by its last
# letter; within a group the first suffix that matches decides (even when its condition fails).
_STEP2 = {
    "a": (("ational", "ate"), ("tional", "tion")),
    "c": (("enci", "ence"), ("anci", "ance")),
    "e": (("izer", "ize"),),
    "l": (("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous")),
    "o": (("ization", "ize"), ("ation", "ate"), ("ator", "ate")),
    "s": (("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous")),
    "t": (("aliti", "al"), ("iviti", "ive"), ("biliti", "ble")),
    "g": (("logi", "log"),),
}
_STEP3 = {
    "e": (("icate", "ic"), ("ative", ""), ("alize", "al")),
    "i": (("iciti", "ic"),),
    "l": (("ical", "ic"), ("ful", "")),
    "s": (("ness", ""),),
}
_STEP4 = {
    "a": ("al",), "c": ("ance", "ence"), "e": ("er",), "i": ("ic",), "l": ("able", "ible"),
    "n": ("ant", "ement", "ment", "ent"), "o": ("ion", "ou"), "s": ("ism",), "t": ("ate", "iti"),
    "u": ("ous",), "v": ("ive",), "z": ("ize",),
}


def _replace(w: str, rules: tuple[tuple[str, str], ...], min_m: int) -> str:
    for suffix, repl in rules:
        if w.endswith(suffix):
            stem = w[: len(w) - len(suffix)]
            return stem + repl if _measure(stem) > min_m else w
    return w


def porter_stem(word: str) -> str:
    """Stem one lower-case word exactly as Lucene's ``PorterStemmer`` does.

    Porter (1980), steps 1a-5b, with the reference implementation's ``bli -> ble`` and
    ``logi -> log`` rules; words shorter than three characters are returned unchanged.
    """
    w = word
    if len(w) <= 2:
        return w
    # step 1a: plurals
    if w.endswith("s"):
        if w.endswith("sses") or w.endswith("ies"):
            w = w[:-2]
        elif not w.endswith("ss"):
            w = w[:-1]
    # step 1b: -eed, -ed, -ing
    if w.endswith("eed"):
        if _measure(w[:-3]) > 0:
            w = w[:-1]
    else:
        stem = w[:-2] if w.endswith("ed") else w[:-3] if w.endswith("ing") else None
        if stem is not None and _has_vowel(stem):
            w = stem
            if w.endswith(("at", "bl", "iz")):
                w += "e"
            elif _double_consonant(w):
                if w[-1] not in "lsz":
                    w = w[:-1]
            elif _measure(w) == 1 and _cvc(w):
                w += "e"
    # step 1c: y -> i after a vowel in the stem
    if w.endswith("y") and _has_vowel(w[:-1]):
        w = w[:-1] + "i"
    # steps 2-3: double suffixes, -ic-, -full, -ness
    if len(w) > 1:
        w = _replace(w, _STEP2.get(w[-2], ()), 0)
    w = _replace(w, _STEP3.get(w[-1], ()), 0) if w else w
    # step 4: -ant, -ence, ... in context m > 1
    if len(w) > 1:
        for suffix in _STEP4.get(w[-2], ()):
            if w.endswith(suffix):
                stem = w[: len(w) - len(suffix)]
                if suffix == "ion" and not (stem and stem[-1] in "st"):
                    continue
                if _measure(stem) > 1:
                    w = stem
                break
    # step 5: final -e, -ll
    if w.endswith("e"):
        m = _measure(w)
        if m > 1 or (m == 1 and not _cvc(w[:-1])):
            w = w[:-1]
    if w.endswith("ll") and _measure(w) > 1:
        w = w[:-1]
    return w


# Words on which Snowball's porter and Lucene's can differ: the ``bli``/``logi`` rules need ``bl`` /
# ``log``; Snowball undoubles only bb dd ff gg mm nn pp rr tt (Lucene any doubled consonant but
# l s z, e.g. ``revving`` -> ``rev``); Snowball lower-cases a literal ``Y``.
_NOT_SNOWBALL = re.compile(r"bl|log|Y|([^bdfgmnprtlszaeiou])\1").search


class LucenePorterStemmer:
    """Lucene's Porter stemmer, fast: PyStemmer's C ``porter`` wherever it agrees with Lucene.

    Words of <= 2 characters are kept; words matching ``_NOT_SNOWBALL`` go to :func:`porter_stem`
    (the tests check the split against :func:`porter_stem` on random strings).
    """

    def __init__(self) -> None:
        self._snowball = Stemmer.Stemmer("porter")

    def stem(self, word: str) -> str:
        if len(word) <= 2:
            return word
        if _NOT_SNOWBALL(word):
            return porter_stem(word)
        return self._snowball.stemWord(word)


# ----------------------------------------------------------------------------------------------
# the analyzer
# ----------------------------------------------------------------------------------------------
class Analyzer:
    """Turns text into index terms (see the module docstring for the exact chain).

    Args:
        stopwords: ``"lucene"`` (default), ``None`` for none, or an iterable of words.
        stemmer: ``"porter"`` (Lucene's Porter stemmer, default), another PyStemmer algorithm name
            (``"english"`` = Snowball English), or ``None``.
        lowercase: lower-case tokens (Lucene does).

    Results are cached per surface token, so analysing a large corpus costs one dictionary
    lookup per token after the first occurrence of each word.
    """

    def __init__(self, stopwords: str | Iterable[str] | None = "lucene", stemmer: str | None = "porter",
                 lowercase: bool = True):
        if stopwords == "lucene":
            self.stopwords = LUCENE_ENGLISH_STOPWORDS
            self._stop_name: str | list[str] | None = "lucene"
        elif stopwords is None:
            self.stopwords = frozenset()
            self._stop_name = None
        else:
            self.stopwords = frozenset(stopwords)
            self._stop_name = sorted(self.stopwords)
        self.stemmer_name = stemmer
        self._stem: Callable[[str], str] | None
        if stemmer == "porter":
            self._stem = LucenePorterStemmer().stem
        elif stemmer:
            self._stem = Stemmer.Stemmer(stemmer).stemWord
        else:
            self._stem = None
        self.lowercase = lowercase
        self._cache: dict[str, str | tuple[str, ...]] = {}
        self._stems: dict[str, str] = {}     # lower-cased word -> stem ("The"/"the" stem once)

    def config(self) -> dict:
        """A JSON-serialisable description that :meth:`from_config` turns back into this analyzer."""
        return {"stopwords": self._stop_name, "stemmer": self.stemmer_name, "lowercase": self.lowercase}

    @classmethod
    def from_config(cls, cfg: dict) -> Analyzer:
        return cls(stopwords=cfg.get("stopwords"), stemmer=cfg.get("stemmer"), lowercase=cfg.get("lowercase", True))

    def _word_term(self, word: str) -> str:
        """Possessive, lower-case, stop word, stem for one final token ('' when dropped)."""
        if word[-2:].lower() in _POSSESSIVE:
            word = word[:-2]
        if self.lowercase:
            word = word.lower()
        if not word or word in self.stopwords or not word.strip("_"):
            return ""
        if not self._stem:
            return word
        stem = self._stems.get(word)
        if stem is None:
            stem = self._stems[word] = self._stem(word)
        return stem

    def terms_of(self, token: str) -> tuple[str, ...]:
        """All terms of one surface token from :data:`TOKEN_RE` (usually one; none when dropped)."""
        if len(token) <= MAX_TOKEN_LENGTH and not _HAS_IDEOGRAPHIC(token):
            term = self._word_term(token)
            return (term,) if term else ()
        pieces = [p for part in _IDEO_SPLIT_RE.findall(token)
                  for p in (part[i:i + MAX_TOKEN_LENGTH] for i in range(0, len(part), MAX_TOKEN_LENGTH))]
        return tuple(t for t in map(self._word_term, pieces) if t)

    def term(self, token: str) -> str:
        """The term of one surface token ('' when dropped; the first one when it splits into several)."""
        value = self._cache.get(token)
        if value is None:
            value = self._lookup(token)
        return value if value.__class__ is str else value[0]

    def _lookup(self, token: str) -> str | tuple[str, ...]:
        terms = self.terms_of(token)
        value = terms[0] if len(terms) == 1 else (terms if terms else "")
        self._cache[token] = value
        return value

    def __call__(self, text: str) -> list[str]:
        """Analyse one text into its list of terms (in order, duplicates kept)."""
        get = self._cache.get
        terms: list[str] = []
        for tok in TOKEN_RE.findall(text):
            term = get(tok)
            if term is None:
                term = self._lookup(tok)
            if term:
                if term.__class__ is str:
                    terms.append(term)
                else:
                    terms.extend(term)
        return terms

    def analyze_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Analyse many texts."""
        return [self(t) for t in texts]


class TermIdEncoder:
    """Maps texts straight to term ids of a vocabulary, for indexing and batched querying.

    Args:
        analyzer: the analysis chain.
        vocab: ``{term: id}``; with ``grow=True`` new terms are added to it (ids ``len(vocab)``,
            ``len(vocab) + 1``, ...), otherwise terms outside it are dropped.
        grow: whether to extend ``vocab``.

    Surface tokens are cached to their ids, so the per-token cost is one dictionary lookup.
    """

    def __init__(self, analyzer: Analyzer, vocab: dict[str, int], grow: bool = False):
        self.analyzer = analyzer
        self.vocab = vocab
        self.grow = grow
        self._ids: dict[str, int] = {}       # surface token -> id; -1 dropped; <= -2 several terms
        self._multi: list[list[int]] = []    # code -2-i -> its term ids

    def _resolve(self, token: str) -> int:
        ids = []
        for term in self.analyzer.terms_of(token):
            tid = self.vocab.get(term)
            if tid is None and self.grow:
                tid = self.vocab[term] = len(self.vocab)
            if tid is not None:
                ids.append(tid)
        if len(ids) == 1:
            code = ids[0]
        elif not ids:
            code = -1
        else:
            code = -2 - len(self._multi)
            self._multi.append(ids)
        self._ids[token] = code
        return code

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Term ids of ``texts``: ``(ids [total] int32, lengths [len(texts)] int64)``, text after text."""
        get, findall, resolve = self._ids.get, TOKEN_RE.findall, self._resolve
        buf = array("i")
        counts = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            toks = findall(text)
            ids = list(map(get, toks))
            if None in ids:
                ids = [resolve(t) if c is None else c for t, c in zip(toks, ids)]
            buf.extend(cast("list[int]", ids))      # no None left: unknown tokens were resolved
            counts[i] = len(ids)
        flat = np.frombuffer(buf, dtype=np.int32) if len(buf) else np.zeros(0, dtype=np.int32)
        if flat.size and flat.min() < 0:
            flat, counts = self._expand(flat, counts)
        return flat, counts

    def _expand(self, flat: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drop the ``-1`` codes (stop words, unknown terms) and expand multi-term codes."""
        owner = np.repeat(np.arange(counts.size), counts)          # [total] text of each code
        special = np.flatnonzero(flat <= -2)
        if special.size == 0:
            keep = flat >= 0
            return flat[keep], np.bincount(owner[keep], minlength=counts.size).astype(np.int64)
        reps = (flat >= 0).astype(np.int64)
        multi = [self._multi[-2 - int(c)] for c in flat[special]]
        reps[special] = [len(m) for m in multi]
        out = np.repeat(flat, reps)
        owner = np.repeat(owner, reps)
        starts = np.cumsum(reps) - reps
        for pos, ids in zip(starts[special].tolist(), multi):
            out[pos:pos + len(ids)] = ids
        return out, np.bincount(owner, minlength=counts.size).astype(np.int64)
