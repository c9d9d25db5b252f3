"""The optional OpenVINO CPU forward for BERT encoders: equality to transformers, selection rules."""

from __future__ import annotations

import pytest

from reasonir.encode import openvino_bert
from reasonir.errors import ConfigError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _tiny_bert():
    cfg = transformers.BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    return transformers.BertModel(cfg, add_pooling_layer=False).eval()


def test_backend_selection(monkeypatch):
    monkeypatch.delenv("REASONIR_CPU_BACKEND", raising=False)
    assert openvino_bert.cpu_backend() == "torch"                   # never picked without being asked
    monkeypatch.setenv("REASONIR_CPU_BACKEND", "torch")
    assert openvino_bert.cpu_backend() == "torch"
    with pytest.raises(ConfigError, match="choose one of torch, openvino, auto"):
        openvino_bert.cpu_backend("onnx")
    monkeypatch.setattr(openvino_bert, "openvino_available", lambda: True)
    monkeypatch.setenv("REASONIR_CPU_BF16", "0")                    # AVX2-like CPU: auto takes openvino
    assert openvino_bert.cpu_backend("auto") == "openvino"
    monkeypatch.setenv("REASONIR_CPU_BACKEND", "auto")
    assert openvino_bert.cpu_backend() == "openvino"
    monkeypatch.setenv("REASONIR_CPU_BF16", "1")                    # native bf16: the torch forward
    assert openvino_bert.cpu_backend() == "torch"
    monkeypatch.delenv("REASONIR_CPU_BACKEND")
    monkeypatch.setattr(openvino_bert, "openvino_available", lambda: False)
    with pytest.raises(ConfigError, match="not installed"):
        openvino_bert.cpu_backend("openvino")
    monkeypatch.setenv("REASONIR_CPU_BF16", "0")
    assert openvino_bert.cpu_backend("auto") == "torch"             # auto never fails for a missing package


def test_openvino_forward_equals_transformers_at_real_tokens(monkeypatch):
    pytest.importorskip("openvino")
    from reasonir.encode.fast_bert import cpu_forward

    model = _tiny_bert()
    monkeypatch.setenv("REASONIR_CPU_BACKEND", "openvino")
    fast = cpu_forward(model)
    assert isinstance(fast, openvino_bert.OpenVINOBert)
    ids = torch.randint(1, 60, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=mask).last_hidden_state
    got = fast(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()
    assert got.shape == ref.shape
    assert torch.allclose(got[real], ref[real], atol=1e-4, rtol=1e-4)
    with torch.no_grad():                                            # weights change in place -> reconverted
        model.encoder.layer[0].output.dense.weight.mul_(0.5)
        ref2 = model(input_ids=ids, attention_mask=mask).last_hidden_state
    got2 = fast(input_ids=ids, attention_mask=mask).last_hidden_state
    assert not torch.allclose(got2[real], got[real], atol=1e-3)
    assert torch.allclose(got2[real], ref2[real], atol=1e-4, rtol=1e-4)
