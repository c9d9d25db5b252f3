"""The synthesizer through the OpenAI Batch API backend (a fake Files/Batches server over real HTTP):
each stage attempt becomes one batch job, and a re-run submits nothing."""

from __future__ import annotations

import llm_fakes
from _synth_scripted import default_reply
from llm_fakes import FakeBatchAPI

from reasonir.llm import GenerationParams, load_llm
from reasonir.synth import SynthesizeConfig, synthesize


def _scripted_body(body):
    params = GenerationParams(max_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 16),
                              temperature=float(body.get("temperature", 0.0)), seed=body.get("seed"))
    text = default_reply(body["messages"], params)
    return {"id": "x", "object": "chat.completion", "model": body.get("model", "m"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": len(text.split())}}


def test_pipeline_over_the_batch_api(tmp_path, scifact_dir, monkeypatch):
    monkeypatch.setattr(llm_fakes, "ok_body", _scripted_body)
    cfg = SynthesizeConfig(out=str(tmp_path / "out"), input=[f"beir:{scifact_dir}"], max_input_docs=40, budget=5,
                           neg_min_words=20, mine="bm25", mine_skip=2, batch_size=0, llm="openai-batch:gpt-4o-mini")
    with FakeBatchAPI(polls_to_finish=1) as api:
        def llm():
            return load_llm("openai-batch:gpt-4o-mini", cache=str(tmp_path / "c.sqlite"), base_url=api.url,
                            api_key="k", state_dir=str(tmp_path / "state"), poll_interval=0.01)
        res = synthesize(cfg, llm=llm())
        assert len(res.examples) == 5
        assert api.calls[("POST", "/v1/batches")] == 2          # one batch for HQ, one for the negatives
        assert res.stats["llm_total"]["calls"] == 10 and res.stats["llm_total"]["cost_usd"] > 0
        again = synthesize(cfg, llm=llm())
        assert api.calls[("POST", "/v1/batches")] == 2 and again.stats["llm_total"]["calls"] == 0
