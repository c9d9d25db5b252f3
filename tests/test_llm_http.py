"""The OpenAI-compatible server and client, talking over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from reasonir.llm import FunctionLLM, Generation, GenerationParams, LLMError, LLMResponseError, load_llm
from reasonir.llm.openai_compat import OpenAICompatibleLLM
from reasonir.llm.server import LLMServer


def scripted(prompt, params):
    """Echo the last message; attach fake logprobs when asked (like a backend that offers them)."""
    text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
    gen = Generation(text=f"re:{text}", prompt_tokens=len(text.split()), completion_tokens=2, finish_reason="stop")
    if params.logprobs:
        gen.logprobs = [{"re": -0.1, "x": -2.3}, {":": -0.01}]
        gen.metadata["tokens"] = ["re", ":"]
    return gen


@pytest.fixture()
def server():
    with LLMServer(load_llm(FunctionLLM(scripted, "scripted", concurrency=4), cache=None),
                   model_name="tiny") as srv:
        yield srv


def _post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_server_speaks_the_openai_wire_format(server):
    models = json.loads(urllib.request.urlopen(server.url + "/models", timeout=10).read())
    assert [m["id"] for m in models["data"]] == ["tiny"]
    chat = _post(server.url + "/chat/completions",
                 {"model": "tiny", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5})
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": "re:hello there"}
    assert chat["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    comp = _post(server.url + "/completions", {"model": "tiny", "prompt": ["a", "b c"], "max_tokens": 5})
    assert [c["text"] for c in comp["choices"]] == ["re:a", "re:b c"] and comp["usage"]["prompt_tokens"] == 3


def test_server_rejects_bad_requests_with_openai_errors(server):
    for body, status in (({"model": "other", "messages": [{"role": "user", "content": "x"}]}, 404),
                         ({"messages": [{"role": "robot", "content": "x"}]}, 400),
                         ({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}, 400),
                         ({"prompt": 5}, 400)):
        path = "/completions" if "prompt" in body else "/chat/completions"
        with pytest.raises(urllib.error.HTTPError) as err:
            _post(server.url + path, body)
        assert err.value.code == status
        assert "message" in json.loads(err.value.read())["error"]


def test_client_round_trip_chat_raw_and_logprobs(server, tmp_path):
    llm = load_llm(server.spec, cache=tmp_path / "c.sqlite")
    assert llm.name == f"{server.url}#tiny"
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "what is up"}]
    g_chat, g_raw = llm.generate([chat, "plain prompt"], GenerationParams(max_tokens=4))
    assert (g_chat.text, g_raw.text) == ("re:what is up", "re:plain prompt")
    assert g_chat.prompt_tokens == 3 and g_chat.completion_tokens == 2 and g_chat.finish_reason == "stop"
    lp_chat, lp_raw = llm.generate([chat, "plain prompt"], GenerationParams(max_tokens=4, logprobs=2))
    for g in (lp_chat, lp_raw):
        assert g.logprobs == [{"re": -0.1, "x": -2.3}, {":": -0.01}] and g.metadata["tokens"] == ["re", ":"]
    assert llm.stats.calls == 4 and llm.stats.prompt_tokens == 2 * (3 + 2)


def test_client_discovers_the_only_model(server):
    backend = OpenAICompatibleLLM(server.url)
    assert backend.model == "tiny"


def test_client_reports_http_errors_without_retrying(server):
    backend = OpenAICompatibleLLM(server.url, model="not-served")
    with pytest.raises(LLMResponseError, match="not served") as err:
        backend.generate(["x"])
    assert err.value.status == 404 and backend.stats.requests == 1 and backend.stats.retries == 0


def test_concurrency_overlaps_requests():
    import threading

    state = threading.Condition()
    in_flight, peak, target, gave_up = 0, 0, 1, False

    def gated(prompt, params):
        """Count the requests being answered at once; hold each until ``target`` of them overlap."""
        nonlocal in_flight, peak, gave_up
        with state:
            in_flight += 1
            peak = max(peak, in_flight)
            state.notify_all()
            if not gave_up and not state.wait_for(lambda: peak >= target, timeout=20):
                gave_up = True                       # the client never sent that many at once: stop waiting
            in_flight -= 1
        return "Relevance score: 3"

    with LLMServer(FunctionLLM(gated, "gated", concurrency=16), model_name="gated") as srv:
        for conc in (1, 8):
            peak, target = 0, conc
            llm = load_llm(srv.spec, cache=None, concurrency=conc)
            out = llm.generate([f"p{i}" for i in range(16)], GenerationParams(max_tokens=4))
            assert [g.text for g in out] == ["Relevance score: 3"] * 16
            assert llm.backend.stats.requests == 16 and llm.backend.stats.retries == 0
            assert peak == conc and not gave_up, (conc, peak)   # exactly `conc` requests in flight at once
            llm.close()


def test_answers_arrive_in_prompt_order_and_errors_name_the_prompt():
    def picky(prompt, params):
        if "bad" in prompt:
            raise LLMError("cannot answer")
        time.sleep(0.01 * (hash(prompt) % 5))
        return prompt

    with LLMServer(FunctionLLM(picky, "picky", concurrency=8), model_name="picky") as srv:
        llm = load_llm(srv.spec, cache=None, concurrency=8, max_retries=0)
        prompts = [f"p{i}" for i in range(20)]
        assert [g.text for g in llm.generate(prompts)] == prompts
        with pytest.raises(LLMError, match="prompt 3"):
            llm.generate(["a", "b", "c", "bad one", "d"])


def test_micro_batching_coalesces_concurrent_callers():
    import threading

    from reasonir.llm import MicroBatchingLLM

    sizes = []

    class Recorder:
        name = "rec"

        def generate(self, prompts, params=None):
            sizes.append(len(prompts))
            if any("boom" in p for p in prompts):
                raise LLMError("backend failed")
            time.sleep(0.05)
            return [Generation(text=f"{p}|{params.max_tokens}") for p in prompts]

    mb = MicroBatchingLLM(Recorder(), max_batch=8, max_wait=0.3)
    results = {}
    start = threading.Barrier(9)

    def call(i, max_tokens):
        start.wait()
        results[i] = mb.generate([f"p{i}"], GenerationParams(max_tokens=max_tokens))[0].text

    threads = [threading.Thread(target=call, args=(i, 4 if i < 6 else 5)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"p{i}|{4 if i < 6 else 5}" for i in range(9)}   # nobody gets another's answer
    assert sum(sizes) == 9 and len(sizes) <= 5 and max(sizes) <= 8           # shared batches, params not mixed
    with pytest.raises(LLMError, match="backend failed"):
        mb.generate(["boom"])


def test_llm_serve_micro_batches_a_local_backend(monkeypatch):
    from reasonir.llm import MicroBatchingLLM
    from reasonir.workflows import llm_serve

    class Local:
        name = "local"
        batch_size = 4
        supports_on_result = False

        def generate(self, prompts, params=None):
            return [Generation(text="ok") for _ in prompts]

    monkeypatch.setattr(llm_serve, "open_llm", lambda cfg: load_llm(Local(), cache=None))
    server = llm_serve.build_server(llm_serve.LLMServeConfig(llm="local", port=0))
    try:
        assert isinstance(server.llm.backend, MicroBatchingLLM) and server.llm.backend.max_batch == 4
        assert server.model_name == "local" and server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_api_key_guards_every_route_but_health_and_the_client_sends_it():
    llm = load_llm(FunctionLLM(scripted, "scripted", concurrency=2), cache=None)
    with LLMServer(llm, model_name="tiny", api_key="s3cret") as srv:
        assert json.loads(urllib.request.urlopen(srv.url.removesuffix("/v1") + "/health", timeout=10).read()) == \
            {"status": "ok"}
        for call in (lambda: urllib.request.urlopen(srv.url + "/models", timeout=10),
                     lambda: _post(srv.url + "/completions", {"prompt": "x", "max_tokens": 2})):
            with pytest.raises(urllib.error.HTTPError) as err:
                call()
            assert err.value.code == 401 and "API key" in json.loads(err.value.read())["error"]["message"]
        client = OpenAICompatibleLLM(srv.url, "tiny", api_key="s3cret")
        assert client.generate(["hi"], GenerationParams(max_tokens=2))[0].text == "re:hi"
        wrong = OpenAICompatibleLLM(srv.url, "tiny", api_key="nope")
        with pytest.raises(LLMError, match="401"):
            wrong.generate(["hi"], GenerationParams(max_tokens=2))


def test_oversized_bodies_are_refused_with_413():
    llm = load_llm(FunctionLLM(scripted, "scripted", concurrency=2), cache=None)
    with LLMServer(llm, model_name="tiny", max_body_bytes=200) as srv:
        assert _post(srv.url + "/completions", {"prompt": "short", "max_tokens": 2})["choices"][0]["text"] == "re:short"
        with pytest.raises(urllib.error.HTTPError) as err:
            _post(srv.url + "/completions", {"prompt": "x" * 500, "max_tokens": 2})
        assert err.value.code == 413 and "0..200 bytes" in json.loads(err.value.read())["error"]["message"]
