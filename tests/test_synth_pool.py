"""Document pool: reading, duplicates, near-duplicates, length filters, selection, sharding, edu scorers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fakes import ScriptedLLM
from reasonir.errors import ConfigError, DataFormatError
from reasonir.synth.edu import (
    LLMJudgeScorer,
    RegressionEduScorer,
    cached_scores,
    fit_ridge,
    parse_edu_score,
    read_labels,
)
from reasonir.synth.parsing import ParseError
from reasonir.synth.pool import NearDuplicateFilter, clean_documents, read_documents, select, shard_of, truncate_words
from reasonir.types import Document

BASE = ("Mitochondria generate most of the chemical energy needed to power the biochemical reactions of "
        "a cell. The energy is stored in adenosine triphosphate, produced by oxidative phosphorylation "
        "along the inner membrane, where an electron transport chain pumps protons across it and ATP "
        "synthase lets them flow back. Cells with high energy demand contain thousands of them.")


def test_clean_documents_counts_every_filter():
    docs = [
        Document("a", BASE),
        Document("b", BASE.upper() + "  "),                       # exact duplicate after normalisation
        Document("c", BASE.replace("thousands", "hundreds")),     # near duplicate (one word)
        Document("d", "too short to keep"),
        Document("e", " ".join(["word"] * 500)),                   # too long
        Document("f", "   "),                                      # empty
        Document("g", "Plate tectonics explains earthquakes, volcanoes and mountain building through the slow "
                      "motion of lithospheric plates over the asthenosphere, driven by mantle convection."),
    ]
    kept, unique, counts = clean_documents(docs, dedup=True, near_dup_threshold=0.7, min_words=10, max_words=200)
    assert [d.id for d in kept] == ["a", "g"]
    assert [d.id for d in unique] == ["a", "c", "d", "e", "g"]
    assert counts == {"input": 7, "dropped_empty": 1, "dropped_exact_dup": 1, "dropped_near_dup": 1,
                      "dropped_too_short": 1, "dropped_too_long": 1, "kept": 2}
    kept, _, counts = clean_documents(docs, dedup=False, near_dup_threshold=0, min_words=0)
    assert len(kept) == 6 and counts["dropped_near_dup"] == 0


def test_duplicate_ids_rejected():
    with pytest.raises(DataFormatError, match="duplicate document id 'x'"):
        clean_documents([Document("x", "one two"), Document("x", "three four")])


def test_near_duplicate_threshold_is_exact_jaccard():
    words = [f"w{i}" for i in range(60)]
    a = " ".join(words)
    b = " ".join(words[:-10] + [f"z{i}" for i in range(10)])   # 5-gram Jaccard = 46/66 ~ 0.70
    f = NearDuplicateFilter(threshold=0.65)
    assert f.add(a) is True and f.add(b) is False
    g = NearDuplicateFilter(threshold=0.75)
    assert g.add(a) is True and g.add(b) is True


def test_near_duplicate_minhash_estimates_and_recall():
    """128 permutations estimate 5-gram Jaccard to a few hundredths, and every pair at or above the
    threshold becomes an LSH candidate (weak hashes that share one order across permutations miss some)."""
    import random

    from reasonir.synth.pool import _shingles

    rng = random.Random(7)
    vocab = [f"t{i}" for i in range(5000)]
    errors, missed = [], 0
    for _ in range(150):
        base = [rng.choice(vocab) for _ in range(rng.randint(80, 200))]
        copy = list(base)
        for _ in range(rng.randint(1, max(1, len(base) // 60))):
            copy[rng.randrange(len(copy))] = rng.choice(vocab)
        a, b = " ".join(base), " ".join(copy)
        sa, sb = _shingles(a), _shingles(b)
        true = len(sa & sb) / len(sa | sb)
        f = NearDuplicateFilter(threshold=0.8)
        est = float(np.mean(f._signature(sa) == f._signature(sb)))
        errors.append(abs(est - true))
        if true >= 0.8:
            missed += f.add(a) and f.add(b)              # True = kept, i.e. the near-duplicate was missed
    assert float(np.mean(errors)) < 0.05
    assert missed == 0


def test_select_threshold_order_budget_and_nan():
    docs = [Document(str(i), f"doc {i}") for i in range(6)]
    scores = [1.0, 3.0, float("nan"), 3.0, 4.5, 2.0]
    out, counts = select(docs, scores, threshold=2.0, budget=3)
    assert [p.doc.id for p in out] == ["4", "1", "3"]          # best first, ties by input order
    assert [p.rank for p in out] == [0, 1, 2]
    assert counts == {"dropped_low_score": 2, "dropped_budget": 1, "selected": 3}
    out, counts = select(docs, None, None, budget=2)
    assert [p.doc.id for p in out] == ["0", "1"] and out[0].score is None


def test_shard_of_is_stable_and_covers_shards():
    keys = [f"hq:{i}" for i in range(400)]
    shards = [shard_of(k, 4) for k in keys]
    assert shards == [shard_of(k, 4) for k in keys]
    assert set(shards) == {0, 1, 2, 3} and min(shards.count(s) for s in range(4)) > 60
    assert all(shard_of(k, 1) == 0 for k in keys)


def test_truncate_words():
    assert truncate_words("a b c d", 2) == "a b" and truncate_words("a b", 5) == "a b" and truncate_words("a b", None) == "a b"


def test_read_documents_forms(tmp_path, scifact_dir):
    f = tmp_path / "docs.jsonl"
    f.write_text(json.dumps({"id": "1", "text": "hello world"}) + "\n" + json.dumps({"_id": "2", "contents": "x"}) + "\n")
    assert [d.id for d in read_documents(str(f))] == ["1", "2"]
    docs = read_documents(f"beir:{scifact_dir}", limit=5)
    assert len(docs) == 5 and docs[0].title
    with pytest.raises(ConfigError, match="unknown option"):
        read_documents("hf:some/name?color=red")


# --------------------------------------------------------------------------------------------------
# educational-value scorers
# --------------------------------------------------------------------------------------------------
EDU = ["Photosynthesis converts light energy into chemical energy stored in glucose inside chloroplasts.",
       "Newton's second law states that force equals mass times acceleration for a body of constant mass.",
       "The mitochondrion produces ATP through oxidative phosphorylation along its inner membrane.",
       "Plate tectonics explains earthquakes and mountain building through the motion of lithospheric plates.",
       "A derivative measures how a function changes as its input changes, the slope of the tangent line.",
       "DNA replication is semi-conservative: each new double helix keeps one strand of the original molecule."]
SPAM = ["BUY NOW!!! cheap watches best price click here free shipping limited offer",
        "lol same here haha see you tomorrow at the party bring snacks",
        "Home | About us | Contact | Login | Cart (0) | Terms and conditions apply",
        "Hot singles in your area click here now to win a free phone prize today",
        "subscribe to my channel like and share follow for more daily vlogs",
        "Cookie settings accept all cookies privacy policy newsletter sign up"]


def _labels(tmp_path):
    path = tmp_path / "labels.jsonl"
    rows = [{"text": t, "score": 4.5} for t in EDU] + [{"text": t, "score": 0.5} for t in SPAM]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_fit_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5))
    y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 1.5
    w, b = fit_ridge(x, y, l2=1e-6)
    assert np.allclose(w, [1.0, -2.0, 0.5, 0.0, 3.0], atol=1e-4) and abs(b - 1.5) < 1e-4


def test_regression_head_train_save_load(tmp_path):
    texts, scores = read_labels(_labels(tmp_path))
    head = RegressionEduScorer.train(texts, scores, "hash", l2=0.1)
    pred = head.score(texts)
    assert pred[:6].min() > pred[6:].max()                     # separates the labelled classes
    assert ((pred >= 0) & (pred <= 5)).all()
    head.save(tmp_path / "head")
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == ["head.json", "weights.npy"]
    again = RegressionEduScorer.load(tmp_path / "head")
    assert np.allclose(again.score(texts), pred) and again.fingerprint() == head.fingerprint()
    with pytest.raises(ConfigError, match="retrain the head"):
        RegressionEduScorer.load(tmp_path / "head", encoder=__import__("reasonir.encode.hashing", fromlist=["x"]).HashingEncoder(dim=64))


def test_read_labels_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a", "score": 1}) + "\n" + json.dumps({"text": "b", "score": 7}) + "\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl:2.*score"):
        read_labels(bad)
    few = tmp_path / "few.jsonl"
    few.write_text(json.dumps({"text": "a", "score": 1}) + "\n")
    with pytest.raises(DataFormatError, match="at least 4"):
        read_labels(few)


@pytest.mark.parametrize("reply, score", [("Educational score: 4", 4.0), ("**Score**: 3.5 because", 3.5),
                                          ("I'd say 2", 2.0), ("Educational score: 1\nEducational score: 5", 5.0)])
def test_parse_edu_score(reply, score):
    assert parse_edu_score(reply) == score


def test_parse_edu_score_failure():
    with pytest.raises(ParseError):
        parse_edu_score("between 2 and 3")
    with pytest.raises(ParseError):
        parse_edu_score("no idea")


def test_llm_judge_scorer_retries_and_nan(tmp_path):
    def reply(prompt, params):
        text = prompt[0]["content"]
        if "unrateable" in text:
            return "I cannot say."
        if "flaky" in text and params.seed in (None, 0):
            return "hmm"                                        # first attempt malformed, retry works
        return "Educational score: 3"
    llm = ScriptedLLM(reply)
    scorer = LLMJudgeScorer(llm, max_attempts=2)
    s = scorer.score(["fine text", "flaky text", "unrateable text"])
    assert s[0] == 3.0 and s[1] == 3.0 and math.isnan(s[2])
    assert llm.calls == 3 + 2                                   # two retries (flaky, unrateable)
    assert scorer.usage.failures == 1 and scorer.usage.parse_failures == {"no_score": 3}


def test_cached_scores_reuse(tmp_path):
    class Counting:
        def __init__(self):
            self.n = 0

        def fingerprint(self):
            return {"scorer": "count"}

        def score(self, texts):
            self.n += len(texts)
            return np.array([float(len(t)) for t in texts])

    sc = Counting()
    path = tmp_path / "scores.json"
    a = cached_scores(sc, ["aa", "bbb"], path)
    b = cached_scores(sc, ["bbb", "aa", "c"], path)
    assert list(a) == [2.0, 3.0] and list(b) == [3.0, 2.0, 1.0] and sc.n == 3


def test_fineweb_scorer_on_a_tiny_random_classifier(tmp_path):
    transformers = pytest.importorskip("transformers")
    from reasonir.embedded import minilm_path
    from reasonir.synth.edu import FineWebEduScorer

    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(minilm_path()))
    except Exception as exc:  # pragma: no cover - the embedded MiniLM is not installed
        pytest.skip(f"no embedded tokenizer: {exc}")
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, num_labels=1)
    model = transformers.BertForSequenceClassification(cfg)
    model.save_pretrained(tmp_path / "clf")
    tok.save_pretrained(tmp_path / "clf")
    scorer = FineWebEduScorer(str(tmp_path / "clf"), batch_size=2, device="cpu")
    s = scorer.score(EDU[:3])
    assert s.shape == (3,) and ((s >= 0) & (s <= 5)).all()
    assert scorer.fingerprint()["scorer"] == "fineweb-edu"
    cfg2 = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=16, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=32, num_labels=2)
    transformers.BertForSequenceClassification(cfg2).save_pretrained(tmp_path / "clf2")
    tok.save_pretrained(tmp_path / "clf2")
    with pytest.raises(ConfigError, match="1 output"):
        FineWebEduScorer(str(tmp_path / "clf2"), device="cpu")


def test_fineweb_scorer_without_the_hub_says_what_to_do(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from reasonir.synth.edu import FineWebEduScorer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="edu_scorer=regression"):
        FineWebEduScorer(str(tmp_path / "no-such-model"), device="cpu")
