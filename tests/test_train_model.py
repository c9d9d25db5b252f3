"""The trainable encoder: training forward == inference encoding, GradCache on a real transformer, LoRA, export."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from encode_tiny import tiny_model, tiny_tokenizer  # noqa: E402

from reasonir.encode import LLMEncoder, load_encoder  # noqa: E402
from reasonir.errors import ConfigError  # noqa: E402
from reasonir.train.batching import DOCUMENT, QUERY, Item  # noqa: E402
from reasonir.train.gradcache import full_batch_step, gradcache_step  # noqa: E402
from reasonir.train.loss import ContrastiveLoss  # noqa: E402
from reasonir.train.model import TrainModel  # noqa: E402

INSTR = "Given a biology post, retrieve relevant passages that help answer the post"
TEXTS = ["Photosynthesis converts light energy into chemical energy stored in sugars.",
         "The mitochondrion is the powerhouse of the cell and makes ATP. " * 4,
         "BM25 ranks documents", "a"]


def tiny_llm(seed: int = 0) -> LLMEncoder:
    return LLMEncoder(tiny_model("llama", seed=seed), tiny_tokenizer(), name="tiny-llama", max_length=256)


def embed_items(model: TrainModel, items) -> np.ndarray:
    with torch.no_grad():
        out = model.module(**model.features(items))
    return torch.nn.functional.normalize(out.float(), dim=-1).numpy()


def test_llm_training_forward_equals_inference_encoding():
    enc = tiny_llm()
    tm = TrainModel(enc, query_max_length=256, passage_max_length=256)
    q = embed_items(tm, [Item(QUERY, INSTR, t) for t in TEXTS])
    d = embed_items(tm, [Item(DOCUMENT, "", t) for t in TEXTS])
    np.testing.assert_allclose(q, enc.encode_query(TEXTS, instruction=INSTR), atol=2e-5)
    np.testing.assert_allclose(d, enc.encode_document(TEXTS), atol=2e-5)
    assert not np.allclose(q, d, atol=1e-3)                       # the instruction prefix matters
    ids, starts = tm.token_ids([Item(QUERY, INSTR, TEXTS[0])])
    assert ids[0][0] == enc.tokenizer.bos_token_id                 # the real BOS token
    assert starts[0] == len(enc.prefix_ids(INSTR)) > 1             # BOS + instruction prefix not pooled


def test_side_specific_max_lengths_truncate_and_restore_the_encoder_setting():
    enc = tiny_llm()
    tm = TrainModel(enc, query_max_length=12, passage_max_length=20)
    long = "word " * 200
    (q_ids, p_ids), _ = tm.token_ids([Item(QUERY, "", long), Item(DOCUMENT, "", long)])
    assert len(q_ids) == 12 and len(p_ids) == 20
    assert enc.max_length == 256


def test_sentence_transformer_forward_equals_inference_encoding():
    enc = load_encoder("minilm", device="cpu", dtype="fp32")
    tm = TrainModel(enc, query_max_length=256, passage_max_length=256)
    q = embed_items(tm, [Item(QUERY, "Retrieve scientific papers", t) for t in TEXTS])
    d = embed_items(tm, [Item(DOCUMENT, "", t) for t in TEXTS])
    np.testing.assert_allclose(q, enc.encode_query(TEXTS, instruction="Retrieve scientific papers"), atol=2e-5)
    np.testing.assert_allclose(d, enc.encode_document(TEXTS), atol=2e-5)


def test_untrainable_encoder_is_rejected():
    with pytest.raises(ConfigError, match="cannot train"):
        TrainModel(load_encoder("hash"), query_max_length=8, passage_max_length=8)


def _grads(module):
    return {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}


def test_gradcache_equals_full_batch_on_a_transformer():
    """Same tiny LLaMA, same batch: GradCache (chunks of 3, length-bucketed) vs one full-batch backward.
    Tolerance: max |Δg| <= 1e-6 + 1e-4·max|g| per parameter tensor (float32)."""
    tm = TrainModel(tiny_llm(seed=1), query_max_length=64, passage_max_length=64)
    tm.module.train()
    queries = [Item(QUERY, INSTR if i % 2 else "", f"{TEXTS[i % 4]} q{i}") for i in range(5)]
    passages = [Item(DOCUMENT, "", f"{TEXTS[(i + 1) % 4]} p{i}") for i in range(10)]
    loss_fn = ContrastiveLoss(temperature=0.05)
    embed = lambda items: tm.module(**tm.features(items))                    # noqa: E731
    ref = full_batch_step(embed, queries, passages, loss_fn)
    ref_grads = _grads(tm.module)
    tm.module.zero_grad()
    out = gradcache_step(embed, queries, passages, loss_fn, chunk_size=3,
                         query_lengths=[tm.length(x) for x in queries], passage_lengths=[tm.length(x) for x in passages])
    got = _grads(tm.module)
    assert out.loss.item() == pytest.approx(ref.loss.item(), rel=1e-5)
    assert set(got) == set(ref_grads) and len(got) > 10
    for name, g in ref_grads.items():
        assert float((got[name] - g).abs().max()) <= 1e-6 + 1e-4 * float(g.abs().max()), name


def test_lora_trains_adapters_only_and_export_merges_them(tmp_path):
    pytest.importorskip("peft")
    tm = TrainModel(tiny_llm(seed=2), query_max_length=256, passage_max_length=256,
                    lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": None})
    trainable = [n for n, p in tm.module.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():                                    # make the adapters do something
        for n, p in tm.module.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    items = [Item(QUERY, INSTR, t) for t in TEXTS]
    live = embed_items(tm, items)
    tm.export(tmp_path / "m")
    loaded = load_encoder(tmp_path / "m", device="cpu", dtype="fp32")
    assert loaded.kind == "llm"
    np.testing.assert_allclose(loaded.encode_query(TEXTS, instruction=INSTR), live, atol=2e-5)
    assert any("lora_" in n for n, _ in tm.module.named_parameters())        # live model still has adapters
    with pytest.raises(ConfigError, match="not found"):
        TrainModel(tiny_llm(), query_max_length=8, passage_max_length=8,
                   lora={"r": 2, "alpha": 4, "dropout": 0.0, "target_modules": ["nope"]})


def test_export_from_a_gathered_state_dict_equals_live_export(tmp_path):
    """The sharded-engine path (weights from a full state dict loaded into a CPU copy) writes the same model."""
    tm = TrainModel(tiny_llm(seed=3), query_max_length=256, passage_max_length=256)
    with torch.no_grad():
        for p in tm.module.parameters():
            p.add_(0.01)
    tm.export(tmp_path / "live")
    state = {k: v.clone() for k, v in tm.module.state_dict().items()}
    tm.export(tmp_path / "from_state", state_dict=state)
    a = load_encoder(tmp_path / "live", device="cpu", dtype="fp32").encode_document(TEXTS)
    b = load_encoder(tmp_path / "from_state", device="cpu", dtype="fp32").encode_document(TEXTS)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, embed_items(tm, [Item(DOCUMENT, "", t) for t in TEXTS]), atol=2e-5)


def test_lora_export_from_a_gathered_state_dict(tmp_path):
    pytest.importorskip("peft")
    tm = TrainModel(tiny_llm(seed=4), query_max_length=256, passage_max_length=256,
                    lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    with torch.no_grad():
        for n, p in tm.module.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    state = {k: v.clone() for k, v in tm.module.state_dict().items()}
    tm.export(tmp_path / "m", state_dict=state)
    got = load_encoder(tmp_path / "m", device="cpu", dtype="fp32").encode_document(TEXTS)
    np.testing.assert_allclose(got, embed_items(tm, [Item(DOCUMENT, "", t) for t in TEXTS]), atol=2e-5)


@pytest.mark.parametrize("kind", ["llm", "minilm"])
def test_every_trainable_parameter_gets_a_gradient(kind):
    """DDP waits for a gradient of every trainable parameter; BERT's unused pooler must be frozen."""
    enc = tiny_llm() if kind == "llm" else load_encoder("minilm", device="cpu", dtype="fp32")
    tm = TrainModel(enc, query_max_length=32, passage_max_length=32)
    out = tm.module(**tm.features([Item(QUERY, "", t) for t in TEXTS]))
    out.sum().backward()
    missing = [n for n, p in tm.module.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing
    if kind == "minilm":
        assert any(".pooler." in n and not p.requires_grad for n, p in tm.module.named_parameters())
