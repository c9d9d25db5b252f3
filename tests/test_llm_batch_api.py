"""The OpenAI Batch API backend against a fake Files/Batches server over real HTTP."""

from __future__ import annotations

import json

import pytest
from llm_fakes import FakeBatchAPI

from reasonir.llm import GenerationParams, LLMError, load_llm
from reasonir.llm.batch_api import OpenAIBatchLLM

P = GenerationParams(max_tokens=8)
CHAT = [[{"role": "user", "content": f"question {i}"}] for i in range(5)]


def test_submit_poll_gather_in_order_with_costs(tmp_path):
    with FakeBatchAPI(polls_to_finish=2) as api:
        llm = load_llm("openai-batch:gpt-4o-mini", cache=tmp_path / "c.sqlite", base_url=api.url, api_key="k",
                       state_dir=tmp_path / "state", poll_interval=0.01)
        out = llm.generate(CHAT + ["raw prompt"], P)
    assert [g.text for g in out] == [f"echo:question {i}" for i in range(5)] + ["echo:raw prompt"]
    assert api.calls[("POST", "/v1/files")] == 2 and api.calls[("POST", "/v1/batches")] == 2  # chat + raw
    endpoints = sorted(b["endpoint"] for b in api.batches.values())
    assert endpoints == ["/v1/chat/completions", "/v1/completions"]
    # gpt-4o-mini list price (0.15, 0.60) per 1M tokens, halved for batches
    expected = sum(0.5 * (g.prompt_tokens * 0.15 + g.completion_tokens * 0.60) / 1e6 for g in out)
    assert llm.stats.cost_usd == pytest.approx(expected) and llm.stats.cost_usd > 0
    assert list((tmp_path / "state").glob("*.json")) == []          # finished batches leave no state


def test_interrupted_wait_resumes_the_same_batch(tmp_path):
    with FakeBatchAPI(polls_to_finish=3) as api:
        impatient = OpenAIBatchLLM("gpt-4o-mini", base_url=api.url, api_key="k", state_dir=tmp_path / "state",
                                   poll_interval=0.01, max_wait=0.0)
        with pytest.raises(LLMError, match="run the same job again to resume"):
            impatient.generate(CHAT, P)
        states = list((tmp_path / "state").glob("*.json"))
        assert len(states) == 1
        batch_id = json.loads(states[0].read_text())["batch_id"]
        patient = OpenAIBatchLLM("gpt-4o-mini", base_url=api.url, api_key="k", state_dir=tmp_path / "state",
                                 poll_interval=0.01)
        out = patient.generate(CHAT, P)
    assert [g.text for g in out] == [f"echo:question {i}" for i in range(5)]
    assert api.calls[("POST", "/v1/batches")] == 1 and api.calls[("POST", "/v1/files")] == 1   # no second batch
    assert all(g.metadata["batch_id"] == batch_id for g in out)


def test_failed_requests_are_reported_and_the_rest_kept(tmp_path):
    prompts = CHAT + [[{"role": "user", "content": "POISON"}]]
    with FakeBatchAPI(poison="POISON") as api:
        llm = load_llm("openai-batch:gpt-4o-mini", cache=tmp_path / "c.sqlite", base_url=api.url, api_key="k",
                       state_dir=tmp_path / "state", poll_interval=0.01)
        with pytest.raises(LLMError, match="1 of 6 batch requests failed"):
            llm.generate(prompts, P)
        assert len(llm.cache) == 5
        api.poison = None
        again = load_llm("openai-batch:gpt-4o-mini", cache=tmp_path / "c.sqlite", base_url=api.url, api_key="k",
                         state_dir=tmp_path / "state", poll_interval=0.01)
        out = again.generate(prompts, P)
    assert again.stats.calls == 1 and again.stats.cache_hits == 5 and out[-1].text == "echo:POISON"
    assert api.calls[("POST", "/v1/batches")] == 2


def test_missing_key_for_openai_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        load_llm("openai-batch:gpt-4o-mini", cache=None)
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        load_llm("openai:gpt-4o-mini", cache=None)
