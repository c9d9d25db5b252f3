"""Retries, errors and the cache against a fault-injecting HTTP server (and a dead endpoint)."""

from __future__ import annotations

import socket

import pytest
from llm_fakes import FaultServer

from reasonir.llm import GenerationParams, LLMConnectionError, LLMError, LLMResponseError, load_llm
from reasonir.llm.transport import RetryPolicy

P = GenerationParams(max_tokens=4)
FAST = {"backoff": 0.01, "timeout": 1.0}


@pytest.mark.parametrize("fault", ["429", "500", "503", "timeout", "truncate", "nonjson", "close"])
def test_transient_faults_are_retried(fault):
    with FaultServer([fault, fault], hang=2.0) as srv:
        llm = load_llm(f"{srv.url}#fault-model", cache=None, max_retries=3, **FAST)
        out = llm.generate([[{"role": "user", "content": "hello"}]], P)
    assert out[0].text == "echo:hello"
    assert srv.actions[fault] == 2 and srv.actions["ok"] == 1
    assert llm.backend.stats.retries == 2 and llm.backend.stats.requests == 3


def test_retry_budget_is_bounded_and_the_error_says_what_happened():
    with FaultServer(["500"] * 10) as srv:
        llm = load_llm(f"{srv.url}#fault-model", cache=None, max_retries=2, **FAST)
        with pytest.raises(LLMResponseError, match=r"failed after 3 attempts.*HTTP 500.*injected 500") as err:
            llm.generate(["x"], P)
    assert err.value.status == 500 and srv.actions["500"] == 3


def test_client_errors_are_not_retried():
    with FaultServer(["400"]) as srv:
        llm = load_llm(f"{srv.url}#fault-model", cache=None, max_retries=5, **FAST)
        with pytest.raises(LLMResponseError, match="HTTP 400: injected 400"):
            llm.generate(["x"], P)
    assert srv.actions["400"] == 1 and llm.backend.stats.retries == 0


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]          # closed again: nothing listens there


def test_dead_endpoint_fails_clearly_after_bounded_retries(tmp_path, monkeypatch):
    waits = []
    backoff = RetryPolicy.wait

    def recorded(self, *args):
        waits.append(backoff(self, *args))
        return waits[-1]

    monkeypatch.setattr(RetryPolicy, "wait", recorded)
    url = f"http://127.0.0.1:{_dead_port()}/v1#some-model"
    llm = load_llm(url, cache=tmp_path / "c.sqlite", max_retries=3, backoff=0.05, timeout=1.0)
    with pytest.raises(LLMConnectionError) as err:
        llm.generate(["a", "b"], P)
    msg = str(err.value)
    assert "no answer after 4 attempts" in msg and "Connection" in msg and "server is running" in msg
    # each prompt sent (the second may be skipped once the first failed) made exactly 4 attempts, 3 of them retries
    stats = llm.backend.stats
    assert stats.requests in (4, 8) and stats.retries == stats.requests // 4 * 3 == len(waits)
    # and waited 0.05, 0.1, 0.2 s (+-25 % jitter) between them: the backoff doubles from `backoff`
    assert sorted(waits) == pytest.approx(sorted([0.05, 0.1, 0.2] * (stats.requests // 4)), rel=0.25)
    assert llm.stats.failures == 2 and len(llm.cache) == 0


def test_dead_endpoint_without_model_name_fails_at_load():
    with pytest.raises(LLMConnectionError, match="no answer after 2 attempts"):
        load_llm(f"http://127.0.0.1:{_dead_port()}/v1", cache=None, max_retries=1, backoff=0.01, timeout=1.0)


def test_permanent_failures_lose_nothing_and_rerun_asks_only_for_the_rest(tmp_path):
    prompts = [f"prompt {i}" for i in range(30)] + ["POISON pill"]
    cache = tmp_path / "c.sqlite"
    with FaultServer(poison="POISON") as srv:
        llm = load_llm(f"{srv.url}#fault-model", cache=cache, concurrency=4, max_retries=1, **FAST)
        with pytest.raises(LLMError, match="HTTP 500"):
            llm.generate(prompts, P)
        answered = llm.stats.calls
    assert answered >= 1 and len(llm.cache) == answered        # every answer received is stored
    with FaultServer() as healthy:
        again = load_llm(f"{healthy.url}#fault-model", cache=cache, name=llm.name, concurrency=4, **FAST)
        out = again.generate(prompts, P)
    assert [g.text for g in out] == ["echo:" + p for p in prompts]
    assert again.stats.cache_hits == answered and again.stats.calls == len(prompts) - answered
    assert len(healthy.seen) == len(prompts) - answered
    # third run: everything cached, the server is not even needed
    third = load_llm(f"http://127.0.0.1:{_dead_port()}/v1#fault-model", cache=cache, name=llm.name)
    assert [g.text for g in third.generate(prompts, P)] == [g.text for g in out]
    assert third.stats.calls == 0 and third.backend.stats.requests == 0


def test_mixed_faults_under_concurrency_all_recover():
    script = ["429", "500", "truncate", "nonjson", "503", "close"] * 3
    with FaultServer(script) as srv:
        llm = load_llm(f"{srv.url}#fault-model", cache=None, concurrency=6, max_retries=6, **FAST)
        out = llm.generate([f"q{i}" for i in range(24)], P)
    assert [g.text for g in out] == [f"echo:q{i}" for i in range(24)]
    stats = llm.backend.stats
    assert stats.requests == 24 + len(script)          # each injected fault cost exactly one extra request
    # a connection dropped after keep-alive reuse is re-sent at once, without a counted (backed-off) retry
    assert len(script) - script.count("close") <= stats.retries <= len(script)
