"""Local transformers generation: a tiny random Llama for the mechanics, the embedded SmolLM2 for real."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from reasonir.llm import GenerationParams, load_llm  # noqa: E402
from reasonir.llm.local import TransformersLLM  # noqa: E402
from reasonir.llm.server import LLMServer  # noqa: E402


@pytest.fixture(scope="module")
def smollm2_dir():
    from reasonir.embedded import smollm2_path
    from reasonir.errors import DependencyError

    try:
        return smollm2_path()
    except DependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, smollm2_dir):
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template."""
    tok = transformers.AutoTokenizer.from_pretrained(smollm2_dir)
    cfg = transformers.LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, bos_token_id=tok.bos_token_id,
                                   eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return TransformersLLM(str(tiny_dir), device="cpu", batch_size=3)


CHATS = [[{"role": "user", "content": "hi"}],
         [{"role": "system", "content": "be brief"}, {"role": "user", "content": "a much longer question " * 5}],
         "a raw completion prompt",
         [{"role": "user", "content": "medium length question here"}]]


def test_batched_greedy_equals_one_by_one(tiny):
    p = GenerationParams(max_tokens=6)
    batched = tiny.generate(CHATS, p)
    single = [tiny.generate([c], p)[0] for c in CHATS]
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in single]
    assert all(g.completion_tokens <= 6 and g.finish_reason in ("stop", "length") for g in batched)
    rendered = tiny.render(CHATS[0])
    assert "<|im_start|>user\nhi<|im_end|>" in rendered and rendered.endswith("<|im_start|>assistant\n")
    assert batched[0].prompt_tokens == len(tiny.tokenizer(rendered, add_special_tokens=False)["input_ids"])


def test_logprobs_cover_every_generated_token(tiny):
    g = tiny.generate([CHATS[0]], GenerationParams(max_tokens=5, logprobs=3))[0]
    assert len(g.logprobs) == len(g.metadata["tokens"]) == g.completion_tokens
    for tok, alts in zip(g.metadata["tokens"], g.logprobs):
        assert 1 <= len(alts) <= 3 and all(v <= 0 for v in alts.values())
        assert tok in alts                                     # greedy: the chosen token is the top one
        assert alts[tok] == max(alts.values())


def test_stop_strings_cut_the_text(tiny):
    full = tiny.generate(["x"], GenerationParams(max_tokens=8))[0].text
    assert len(full) > 2
    stop = full[2]
    cut = tiny.generate(["x"], GenerationParams(max_tokens=8, stop=(stop,)))[0]
    assert cut.text == full[: full.index(stop)] and cut.finish_reason == "stop"


def test_sampling_is_seeded(tiny):
    p = GenerationParams(max_tokens=6, temperature=1.0, seed=7)
    assert tiny.generate(["x"], p)[0].text == tiny.generate(["x"], p)[0].text


def test_reduced_precision_is_part_of_the_cache_identity(tiny_dir, tiny):
    bf16 = TransformersLLM(str(tiny_dir), device="cpu", dtype="bf16", batch_size=2)
    assert bf16.dtype == "bf16" and bf16.name == tiny.name + "[bf16]" and tiny.dtype == "fp32"
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    g = bf16.generate(CHATS[:2], GenerationParams(max_tokens=4))
    assert all(0 < x.completion_tokens <= 4 for x in g)
    with pytest.raises(Exception, match="dtype 'int8'"):
        TransformersLLM(str(tiny_dir), device="cpu", dtype="int8")


def test_embedded_smollm2_end_to_end_through_http(tmp_path):
    """The real model behind our server, queried by our client, answers and is cached."""
    local = load_llm("smollm2", cache=None, batch_size=2)
    assert local.name.startswith("transformers:smollm2-135m-instruct")
    with LLMServer(local, model_name="smollm2") as srv:
        client = load_llm(srv.spec, cache=tmp_path / "c.sqlite")
        q = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
        g = client.generate([q], GenerationParams(max_tokens=6))[0]
        assert "Paris" in g.text and 0 < g.completion_tokens <= 6 and g.prompt_tokens > 10
        again = client.generate([q], GenerationParams(max_tokens=6))[0]
    assert again.cached and again.text == g.text and client.stats.calls == 1 and local.stats.calls == 1
