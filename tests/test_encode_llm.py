"""LLMEncoder against an independent re-implementation of ReasonIR's encode algorithm (tiny random LLaMA)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from encode_tiny import tiny_model, tiny_tokenizer  # noqa: E402

from reasonir.encode import LLMEncoder  # noqa: E402
from reasonir.errors import ConfigError  # noqa: E402

INSTRUCTION = "Given a biology post, retrieve relevant passages that help answer the post"
TEXTS = [
    "Photosynthesis",
    "The mitochondrion is the powerhouse of the cell and makes ATP. " * 6,
    "BM25 ranks documents",
    "Stock markets fell sharply on Monday as investors worried about interest rates, " * 3,
    "a",
]


def reference_encode(model, tokenizer, texts, instruction, max_length=512, explicit_mask=False):
    """ReasonIR's algorithm written out: prompt format, prefix tokenised separately (with special tokens)
    and masked from the mean, bidirectional forward, mean, normalise.

    The forward is bidirectional either per call (``is_causal=False``) or, with ``explicit_mask``, through
    a hand-built 4D additive mask that only hides padded keys, so the comparison does not rest on how
    transformers interprets ``is_causal``."""
    prefix = f"<|user|>\n{instruction}\n<|embed|>\n" if instruction else "<|embed|>\n"
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = "right"
    batch = tokenizer([prefix + t for t in texts], padding=True, truncation=True, max_length=max_length,
                      add_special_tokens=True, return_tensors="pt")
    n_prefix = len(tokenizer(prefix, add_special_tokens=True)["input_ids"])
    with torch.no_grad():
        if explicit_mask:
            keys = batch["attention_mask"].bool()[:, None, None, :]                   # [B, 1, 1, L]
            full = keys.expand(-1, 1, keys.shape[-1], -1)                            # [B, 1, L, L]
            additive = torch.zeros(full.shape).masked_fill(~full, torch.finfo(torch.float32).min)
            hidden = model(input_ids=batch["input_ids"], attention_mask=additive).last_hidden_state
        else:
            hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           is_causal=False).last_hidden_state
        hidden = hidden.double().numpy()
    mask = batch["attention_mask"].numpy()
    out = []
    for row in range(len(texts)):
        keep = [j for j in range(mask.shape[1]) if mask[row, j] and j >= n_prefix]
        vec = hidden[row, keep].mean(axis=0)
        out.append(vec / np.linalg.norm(vec))
    return np.stack(out)


@pytest.fixture(scope="module")
def tiny():
    model = tiny_model("llama", seed=0)
    reference_model = copy.deepcopy(model)          # stays causal by config; bidirectional per call
    encoder = LLMEncoder(model, tiny_tokenizer(), name="tiny-llama", max_length=512, batch_size=3)
    return encoder, reference_model


@pytest.mark.parametrize("instruction", [None, INSTRUCTION])
def test_matches_reference_batched(tiny, instruction):
    encoder, ref_model = tiny
    ours = encoder.encode_query(TEXTS, instruction=instruction)
    ref = reference_encode(ref_model, encoder.tokenizer, TEXTS, instruction)
    assert ours.shape == (len(TEXTS), 32) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5)


@pytest.mark.parametrize("instruction", [None, INSTRUCTION])
def test_matches_reference_with_explicit_bidirectional_mask(tiny, instruction):
    encoder, ref_model = tiny
    ours = encoder.encode_query(TEXTS, instruction=instruction)
    ref = reference_encode(ref_model, encoder.tokenizer, TEXTS, instruction, explicit_mask=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    causal = reference_encode(ref_model, encoder.tokenizer, TEXTS, instruction, explicit_mask=False)
    np.testing.assert_allclose(ref, causal, atol=1e-5)       # both references agree with each other
    with torch.no_grad():                                      # and a causal forward would not match
        ids = encoder.tokenize(["<|embed|>\n" + TEXTS[1]])
        causal_h = ref_model(input_ids=torch.tensor(ids)).last_hidden_state
        bidir_h = ref_model(input_ids=torch.tensor(ids), is_causal=False).last_hidden_state
    assert (causal_h[0, 0] - bidir_h[0, 0]).abs().max() > 1e-4


@pytest.mark.parametrize("instruction", [None, INSTRUCTION])
def test_batch_invariance_alone_vs_mixed_lengths(tiny, instruction):
    encoder, ref_model = tiny
    batched = encoder.encode_query(TEXTS, instruction=instruction, batch_size=5)
    for i, text in enumerate(TEXTS):
        alone = encoder.encode_query([text], instruction=instruction)
        ref_alone = reference_encode(ref_model, encoder.tokenizer, [text], instruction)
        np.testing.assert_allclose(alone[0], batched[i], atol=1e-5)
        np.testing.assert_allclose(alone[0], ref_alone[0], atol=1e-5)


def test_documents_use_embed_prefix_and_instruction_changes_query(tiny):
    encoder, _ = tiny
    docs = encoder.encode_document(TEXTS[:2])
    plain = encoder.encode_query(TEXTS[:2])
    np.testing.assert_allclose(docs, plain, atol=1e-6)          # same "<|embed|>\n" format without instruction
    instructed = encoder.encode_query(TEXTS[:2], instruction=INSTRUCTION)
    assert np.abs(instructed - plain).max() > 1e-3               # the instruction is attended to
    np.testing.assert_allclose(np.linalg.norm(instructed, axis=1), 1.0, atol=1e-5)


def test_prefix_excluded_from_pool_but_bos_and_prefix_counted(tiny):
    encoder, _ = tiny
    assert encoder.prefix_ids(None)[0] == encoder.tokenizer.bos_token_id
    ids = encoder.tokenize(["<|embed|>\nhello"])[0]
    assert ids[: len(encoder.prefix_ids(None))] == encoder.prefix_ids(None)
    encoder.encode_document(["hello", "x"])
    assert encoder.stats.texts == 2 and encoder.stats.tokens >= 2 * len(encoder.prefix_ids(None))


def test_bidirectional_attention_is_active(tiny):
    encoder, _ = tiny
    a = encoder.encode_document(["alpha beta gamma delta"])
    b = encoder.encode_document(["alpha beta gamma sigma"])
    # with causal attention the first text token would not see the changed last token;
    # compare the first pooled position via a single-token-pooled encoder on the same weights
    assert np.abs(a - b).max() > 0
    from reasonir.encode.bidirectional import first_token_sensitivity

    assert first_token_sensitivity(encoder.model) > 0


def test_truncation_respects_max_length():
    enc = LLMEncoder(tiny_model(), tiny_tokenizer(), max_length=16, check_bidirectional=False)
    long_text = "word " * 200
    assert len(enc.tokenize([long_text])[0]) == 16
    v = enc.encode_document([long_text, "short"])
    assert np.isfinite(v).all() and enc.stats.tokens <= 32


def test_prefix_longer_than_max_length_gives_zero_vector_and_warns(caplog):
    enc = LLMEncoder(tiny_model(), tiny_tokenizer(), max_length=4, check_bidirectional=False)
    v = enc.encode_query(["text"], instruction=INSTRUCTION)
    assert np.all(v == 0) and "no tokens left to pool" in caplog.text


def test_tokenizer_without_bos_gets_bos_prepended():
    enc = LLMEncoder(tiny_model(), tiny_tokenizer(add_bos=False), max_length=32)
    with_bos = LLMEncoder(tiny_model(), tiny_tokenizer(add_bos=True), max_length=32)
    ids = enc.tokenize(["hello world"])[0]
    assert ids[0] == enc.tokenizer.bos_token_id and ids == with_bos.tokenize(["hello world"])[0]
    np.testing.assert_allclose(enc.encode_document(TEXTS), with_bos.encode_document(TEXTS), atol=1e-6)
    assert len(enc.tokenize(["word " * 100])[0]) == 32


def test_bf16_on_cpu_is_close_to_fp32():
    fp32 = LLMEncoder(tiny_model(), tiny_tokenizer())
    bf16 = LLMEncoder(tiny_model().to(torch.bfloat16), tiny_tokenizer())
    a, b = fp32.encode_document(TEXTS), bf16.encode_document(TEXTS)
    assert b.dtype == np.float32
    cos = (a * b).sum(1)
    assert cos.min() > 0.99
    assert fp32.fingerprint()["dtype"] == "fp32" and bf16.fingerprint()["dtype"] == "bf16"


def test_two_cpu_replicas_give_identical_vectors():
    one = LLMEncoder(tiny_model(), tiny_tokenizer(), batch_size=2)
    two = LLMEncoder(tiny_model(), tiny_tokenizer(), batch_size=2, devices="cpu,cpu")
    assert len(two._engine.models) == 2
    np.testing.assert_allclose(one.encode_document(TEXTS), two.encode_document(TEXTS), atol=1e-6)


def test_fingerprint_changes_with_everything_that_changes_vectors():
    base = LLMEncoder(tiny_model(seed=0), tiny_tokenizer(), name="m").fingerprint()
    other_weights = LLMEncoder(tiny_model(seed=1), tiny_tokenizer(), name="m").fingerprint()
    other_len = LLMEncoder(tiny_model(seed=0), tiny_tokenizer(), name="m", max_length=64).fingerprint()
    other_pool = LLMEncoder(tiny_model(seed=0), tiny_tokenizer(), name="m", pooling="lasttoken").fingerprint()
    assert base["revision"] != other_weights["revision"]
    assert base != other_len and base != other_pool
    same = LLMEncoder(tiny_model(seed=0), tiny_tokenizer(), name="m")
    assert same.fingerprint() == base
    with torch.no_grad():
        same.model.norm.weight.add_(1.0)             # weights changed in place ...
    same.revision = None                             # ... so the identity is recomputed
    assert same.fingerprint()["revision"] != base["revision"]


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError, match="pooling"):
        LLMEncoder(tiny_model(), tiny_tokenizer(), pooling="max")
    with pytest.raises(ConfigError, match="prompt format"):
        LLMEncoder(tiny_model(), tiny_tokenizer(), prompt_format="chatml")
    enc = LLMEncoder(tiny_model(), tiny_tokenizer())
    assert enc.encode_document("one text").shape == (32,)    # a single string is one text -> one vector
    with pytest.raises(ConfigError, match="texts"):
        enc.encode_document(b"not text")
    assert enc.encode_document([]).shape == (0, 32)
