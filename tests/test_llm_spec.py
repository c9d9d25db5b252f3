"""Spec strings, ``load_llm`` options, default cache location, prices, and the vLLM adapter."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import pytest

from reasonir.errors import ConfigError, DependencyError
from reasonir.llm import FunctionLLM, GenerationParams, default_cache_path, load_llm, spec_kind
from reasonir.llm.stats import lookup_price, token_cost


@pytest.mark.parametrize("spec,kind,target", [
    ("smollm2", "transformers", "smollm2"),
    ("transformers:/models/x", "transformers", "/models/x"),
    ("hf:org/model", "transformers", "org/model"),
    ("openai:gpt-4o-mini", "http", "https://api.openai.com/v1#gpt-4o-mini"),
    ("openai-batch:gpt-4o", "openai-batch", "gpt-4o"),
    ("http://127.0.0.1:8000/v1#Qwen/Qwen2.5-7B", "http", "http://127.0.0.1:8000/v1#Qwen/Qwen2.5-7B"),
    ("vllm:/ckpt", "vllm", "/ckpt"),
])
def test_spec_kinds(spec, kind, target):
    assert spec_kind(spec) == (kind, target)


@pytest.mark.parametrize("bad", ["gpt4", "openai:", "ftp://x", ""])
def test_unknown_specs_list_the_accepted_forms(bad):
    with pytest.raises(ConfigError, match="openai:MODEL"):
        spec_kind(bad)


def test_unknown_option_is_rejected_and_foreign_options_ignored():
    with pytest.raises(ConfigError, match="unknown LLM option.*concurrencyy"):
        load_llm("http://127.0.0.1:9/v1#m", cache=None, concurrencyy=3)
    llm = load_llm("http://127.0.0.1:9/v1#m", cache=None, concurrency=3, batch_size=4, device=None)
    assert llm.backend.concurrency == 3


def test_cache_argument_forms(tmp_path, monkeypatch):
    fn = FunctionLLM(lambda p, _: "x", "f")
    assert load_llm(fn, cache=None).cache is None
    assert load_llm(fn, cache=False).cache is None
    assert load_llm(fn, cache="off").cache is None
    assert load_llm(fn, cache=tmp_path / "a.sqlite").cache.path == tmp_path / "a.sqlite"
    monkeypatch.setenv("REASONIR_LLM_CACHE", str(tmp_path / "env.sqlite"))
    assert default_cache_path() == tmp_path / "env.sqlite"
    assert load_llm(fn).cache.path == tmp_path / "env.sqlite"
    monkeypatch.setenv("REASONIR_LLM_CACHE", "off")
    assert load_llm(fn).cache is None
    monkeypatch.delenv("REASONIR_LLM_CACHE")
    monkeypatch.setenv("REASONIR_CACHE_DIR", str(tmp_path / "root"))
    assert default_cache_path() == tmp_path / "root" / "llm" / "responses.sqlite"
    with pytest.raises(ConfigError, match="apply to spec strings only"):
        load_llm(fn, cache=None, concurrency=2)


def test_prices():
    assert lookup_price("gpt-4o-mini") == (0.15, 0.60)
    assert lookup_price("gpt-4o-mini-2024-07-18") == (0.15, 0.60)       # dated snapshot -> its family
    assert lookup_price("gpt-4o-2024-08-06") == (2.50, 10.00)
    assert lookup_price("my-local-model") is None
    assert token_cost(1_000_000, 1_000_000, (0.15, 0.60)) == pytest.approx(0.75)
    assert token_cost(10, 10, None) == 0.0


def test_vllm_is_import_guarded(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)                     # "not installed"
    with pytest.raises(DependencyError, match=r"reasonir\[vllm\]"):
        load_llm("vllm:/some/model", cache=None)


# ---- the vLLM adapter against a stand-in module with vLLM's interface -------------------------------
@dataclass
class _Logprob:
    logprob: float
    decoded_token: str


@dataclass
class _Completion:
    text: str
    token_ids: list[int]
    finish_reason: str
    logprobs: list[dict[int, _Logprob]] | None = None


@dataclass
class _RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[_Completion] = field(default_factory=list)


class _Engine:
    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.calls = []

    def _answer(self, items, sp):
        out = []
        for item in items:
            text = item if isinstance(item, str) else item[-1]["content"]
            lps = [{7: _Logprob(-0.1, " 4"), 8: _Logprob(-2.5, " 3")}] if sp.logprobs else None
            out.append(_RequestOutput([1, 2, 3], [_Completion(f"<{text}>", [7], "stop", lps)]))
        return out

    def generate(self, prompts, sp, use_tqdm=False):
        self.calls.append(("generate", len(prompts)))
        return self._answer(prompts, sp)

    def chat(self, messages, sp, use_tqdm=False):
        self.calls.append(("chat", len(messages)))
        return self._answer(messages, sp)


def test_vllm_adapter_maps_prompts_params_and_logprobs(monkeypatch):
    fake = types.ModuleType("vllm")
    fake.LLM = _Engine
    fake.SamplingParams = lambda **kw: types.SimpleNamespace(**{"logprobs": None, **kw})
    monkeypatch.setitem(sys.modules, "vllm", fake)
    llm = load_llm("vllm:org/model", cache=None, tensor_parallel_size=2, max_model_len=16384)
    engine = llm.backend.engine
    assert engine.kwargs["tensor_parallel_size"] == 2 and engine.kwargs["max_model_len"] == 16384
    assert engine.kwargs["trust_remote_code"] is False and llm.name == "vllm:org/model"
    out = llm.generate(["raw", [{"role": "user", "content": "chat"}], "raw2"],
                       GenerationParams(max_tokens=3, logprobs=2, stop=("x",)))
    assert [g.text for g in out] == ["<raw>", "<chat>", "<raw2>"]
    assert engine.calls == [("generate", 2), ("chat", 1)]
    assert out[0].prompt_tokens == 3 and out[0].completion_tokens == 1
    assert out[1].logprobs == [{" 4": -0.1, " 3": -2.5}] and out[1].metadata["tokens"] == [" 4"]
    sp = llm.backend.sampling_params(GenerationParams(max_tokens=3, top_p=0.0, seed=5))
    assert sp.top_p == 1.0 and sp.seed == 5 and not hasattr(sp, "stop")
