"""The Lucene-English analysis chain: tokenizer rules, possessives, stop words, Porter as Lucene has it."""

from __future__ import annotations

import numpy as np
import pytest
import Stemmer
from hypothesis import given, settings
from hypothesis import strategies as st

from reasonir.analysis import (LUCENE_ENGLISH_STOPWORDS, MAX_TOKEN_LENGTH, Analyzer, LucenePorterStemmer,
                               TermIdEncoder, porter_stem)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def test_possessives_are_removed_before_lowercasing(analyzer):
    assert analyzer("John's car, JOHN'S CAR and James’s dog") == ["john", "car", "john", "car", "jame", "dog"]
    assert analyzer("Johns' books") == ["john", "book"]          # a trailing apostrophe is no token
    assert analyzer("the O’Neil's case") == ["o’neil", "case"]


def test_lucene_stop_words(analyzer):
    assert len(LUCENE_ENGLISH_STOPWORDS) == 33
    assert analyzer("The AND their Into such them") == ["them"]   # "them" is not a Lucene stop word
    assert Analyzer(stopwords=None)("The cat") == ["the", "cat"]
    assert Analyzer(stopwords=["cat"])("The cat") == ["the"]


PORTER_PAPER = (  # Porter (1980)'s own examples: word -> stem
    "caresses caress ponies poni ties ti caress caress cats cat feed feed agreed agre plastered plaster "
    "motoring motor sing sing conflated conflat troubled troubl sized size hopping hop tanned tan falling fall "
    "hissing hiss fizzed fizz failing fail filing file happy happi sky sky relational relat conditional condit "
    "rational ration valenci valenc hesitanci hesit digitizer digit conformabli conform radicalli radic "
    "differentli differ vileli vile analogousli analog vietnamization vietnam predication predic operator oper "
    "feudalism feudal decisiveness decis hopefulness hope callousness callous formaliti formal sensitiviti "
    "sensit sensibiliti sensibl triplicate triplic formative form formalize formal electriciti electr "
    "electrical electr hopeful hope goodness good revival reviv allowance allow inference infer airliner airlin "
    "gyroscopic gyroscop adjustable adjust defensible defens irritant irrit replacement replac adjustment "
    "adjust dependent depend adoption adopt homologou homolog communism commun activate activ angulariti "
    "angular homologous homolog effective effect bowdlerize bowdler probate probat rate rate cease ceas "
    "controll control roll roll").split()


@pytest.mark.parametrize("word,stem", list(zip(PORTER_PAPER[::2], PORTER_PAPER[1::2])))
def test_porter_paper_examples(word, stem):
    assert porter_stem(word) == stem
    assert LucenePorterStemmer().stem(word) == stem


def test_lucene_departures_from_snowball_porter(analyzer):
    snowball = Stemmer.Stemmer("porter")
    # Lucene keeps the reference implementation's bli->ble and logi->log rules, undoubles any
    # consonant but l/s/z, and leaves words of two letters alone; Snowball's porter does none of it
    cases = {"possibly": "possibl", "sensibly": "sensibl", "psychology": "psycholog", "apology": "apolog",
             "revving": "rev", "trekking": "trek", "us": "us", "biology": "biologi"}
    for word, lucene in cases.items():
        assert porter_stem(word) == lucene, word
        assert analyzer(word) == [lucene], word
    assert [snowball.stemWord(w) for w in ("possibly", "psychology", "revving", "us")] == [
        "possibli", "psychologi", "revv", "u"]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="aeiouybcdlgmnrstvwxzhkYS.'0é", max_size=14),
       st.sampled_from(["", "s", "ed", "ing", "ly", "ies", "ational", "bli", "logi", "ness", "ement", "ion",
                        "ful", "ible", "ize", "e", "ll", "eed"]))
def test_fast_stemmer_equals_reference_implementation(stem, suffix):
    word = stem + suffix
    assert LucenePorterStemmer().stem(word) == porter_stem(word)


def test_numbers(analyzer):
    assert analyzer("3.14 1,000,000 12:30 v2.0 1;2") == ["3.14", "1,000,000", "12", "30", "v2.0", "1;2"]
    assert analyzer("x.1 1.x") == ["x", "1", "1", "x"]        # letter-dot-digit is no join (UAX #29)


def test_dotted_and_joined_tokens(analyzer):
    assert analyzer("U.S.A. e.g. example.com Mr.Smith") == ["u.s.a", "e.g", "example.com", "mr.smith"]
    assert analyzer("don't rock'n'roll l'été foo:bar") == ["don't", "rock'n'rol", "l'été", "foo:bar"]
    assert analyzer("end. Next, word") == ["end", "next", "word"]


def test_underscores_ideographs_and_long_tokens(analyzer):
    assert analyzer("foo_bar ___ _x") == ["foo_bar", "_x"]
    assert analyzer("中文字 abc中 ひらがな") == ["中", "文", "字", "abc", "中", "ひ", "ら", "が", "な"]
    terms = analyzer("x" * 600)
    assert [len(t) for t in terms] == [MAX_TOKEN_LENGTH, MAX_TOKEN_LENGTH, 600 - 2 * MAX_TOKEN_LENGTH]
    assert analyzer.term("中文") == "中" and analyzer.term("the") == "" and analyzer.term("Cats") == "cat"


def test_config_round_trip_and_other_stemmers():
    for a in (Analyzer(), Analyzer(stopwords=None, stemmer=None, lowercase=False),
              Analyzer(stopwords=["foo"], stemmer="english")):
        b = Analyzer.from_config(a.config())
        assert b.config() == a.config()
        assert b("The Possibly running Foo") == a("The Possibly running Foo")
    assert Analyzer(stemmer=None)("Running cats") == ["running", "cats"]
    assert Analyzer(stemmer="english")("generously") == ["generous"]     # Snowball English (porter2)


def test_term_id_encoder_matches_analyzer_and_expands_multi_term_tokens():
    analyzer = Analyzer()
    texts = ["The cats' 中文 and dogs", "", "the of", "Dogs running 中" + "y" * 300]
    vocab: dict[str, int] = {}
    ids, lengths = TermIdEncoder(analyzer, vocab, grow=True)(texts)
    inverse = {i: t for t, i in vocab.items()}
    expected = [analyzer(t) for t in texts]
    assert lengths.tolist() == [len(e) for e in expected]
    assert [inverse[i] for i in ids.tolist()] == [t for e in expected for t in e]
    assert ids.dtype == np.int32
    # without growing, unknown terms are dropped and known ones keep their ids
    ids2, lengths2 = TermIdEncoder(analyzer, vocab)(["cats and birds", "zebra"])
    assert [inverse[i] for i in ids2.tolist()] == ["cat"] and lengths2.tolist() == [1, 0]
    assert len(vocab) == len(inverse)
