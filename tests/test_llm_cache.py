"""The SQLite response cache and the caching wrapper: keys, counters, crashes, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import threading

import pytest

from reasonir.llm import (
    CachedLLM,
    FunctionLLM,
    Generation,
    GenerationParams,
    LLMError,
    ResponseCache,
    cache_key,
    load_llm,
)

P = GenerationParams(max_tokens=8)


def upper(prompt, params):
    text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
    return text.upper()


def test_key_depends_on_backend_prompt_and_every_parameter():
    base = cache_key("a", "hello", P)
    assert cache_key("a", "hello", P) == base
    assert cache_key("b", "hello", P) != base
    assert cache_key("a", "hello!", P) != base
    assert cache_key("a", [{"role": "user", "content": "hello"}], P) != base
    for change in ({"max_tokens": 9}, {"temperature": 0.5}, {"top_p": 0.9}, {"stop": ("x",)}, {"seed": 1},
                   {"logprobs": 5}):
        assert cache_key("a", "hello", GenerationParams(**{**P.to_dict(), "stop": (), **change})) != base


def test_round_trip_keeps_every_field(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    gen = Generation(text="hi", prompt_tokens=3, completion_tokens=1, finish_reason="length",
                     logprobs=[{"hi": -0.1, "yo": -2.0}], metadata={"tokens": ["hi"]})
    cache.put("k", "m", "p", P, gen)
    got = cache.get("k")
    assert got is not None and got.cached
    assert (got.text, got.prompt_tokens, got.completion_tokens, got.finish_reason) == ("hi", 3, 1, "length")
    assert got.logprobs == [{"hi": -0.1, "yo": -2.0}] and got.metadata == {"tokens": ["hi"]}
    assert cache.get("other") is None
    cache.close()
    assert len(ResponseCache(tmp_path / "c.sqlite")) == 1        # persisted


def test_second_run_makes_zero_backend_calls(tmp_path):
    prompts = [f"q{i}" for i in range(50)] + ["q0"]             # one duplicate inside the batch
    llm = load_llm(FunctionLLM(upper, "upper-v1"), cache=tmp_path / "c.sqlite")
    first = llm.generate(prompts, P)
    assert llm.stats.calls == 50 and llm.backend.stats.calls == 50
    assert llm.stats.cache_hits == 1 and first[-1].cached and not first[0].cached
    assert [g.text for g in first] == [p.upper() for p in prompts]

    again = load_llm(FunctionLLM(upper, "upper-v1"), cache=tmp_path / "c.sqlite")
    second = again.generate(prompts, P)
    assert again.stats.calls == 0 and again.backend.stats.calls == 0
    assert again.stats.cache_hits == 51 and all(g.cached for g in second)
    assert [g.text for g in second] == [g.text for g in first]
    assert again.stats.prompt_tokens == 0                       # cache hits cost nothing


def test_other_parameters_or_backend_miss_the_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    load_llm(FunctionLLM(upper, "upper-v1"), cache=path).generate(["a"], P)
    other_params = load_llm(FunctionLLM(upper, "upper-v1"), cache=path)
    other_params.generate(["a"], GenerationParams(max_tokens=9))
    other_backend = load_llm(FunctionLLM(upper, "upper-v2"), cache=path)
    other_backend.generate(["a"], P)
    assert other_params.stats.calls == 1 and other_backend.stats.calls == 1


def test_crash_mid_job_loses_nothing_already_answered(tmp_path):
    calls: list[str] = []

    def flaky(prompt, params):
        calls.append(prompt)
        if prompt == "q7":
            raise LLMError("backend died")
        return prompt + "!"

    prompts = [f"q{i}" for i in range(12)]
    llm = load_llm(FunctionLLM(flaky, "flaky"), cache=tmp_path / "c.sqlite")
    with pytest.raises(LLMError, match="backend died"):
        llm.generate(prompts, P)
    assert llm.stats.failures == 5 and len(llm.cache) == 7     # q0..q6 stored before the crash

    calls.clear()
    healed = load_llm(FunctionLLM(lambda p, _: p + "!", "flaky"), cache=tmp_path / "c.sqlite")
    out = healed.generate(prompts, P)
    assert healed.stats.calls == 5 and healed.stats.cache_hits == 7
    assert [g.text for g in out] == [p + "!" for p in prompts]


def test_backend_without_on_result_is_stored_chunk_by_chunk(tmp_path):
    class Plain:
        name = "plain"

        def __init__(self):
            self.batches = []

        def generate(self, prompts, params=None):
            self.batches.append(len(prompts))
            if len(self.batches) == 3:
                raise RuntimeError("boom")
            return [Generation(text=p) for p in prompts]

    plain = Plain()
    llm = CachedLLM(plain, ResponseCache(tmp_path / "c.sqlite"), chunk_size=4)
    with pytest.raises(RuntimeError):
        llm.generate([str(i) for i in range(10)], P)
    assert plain.batches == [4, 4, 2] and len(llm.cache) == 8


def test_no_cache_still_counts(tmp_path):
    llm = load_llm(FunctionLLM(upper, "u"), cache=None)
    llm.generate(["a", "b"], P)
    llm.generate(["a", "b"], P)
    assert llm.cache is None and llm.stats.calls == 4 and llm.stats.cache_hits == 0


def test_concurrent_threads_share_one_cache(tmp_path):
    llm = load_llm(FunctionLLM(upper, "u", concurrency=8), cache=tmp_path / "c.sqlite")
    threads = [threading.Thread(target=llm.generate, args=([f"t{t}-{i}" for i in range(40)], P)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(llm.cache) == 160 and llm.stats.calls == 160


def _writer(path: str, worker: int) -> None:
    llm = load_llm(FunctionLLM(upper, "u"), cache=path)
    for i in range(0, 60, 3):                                  # small batches: many separate commits
        llm.generate([f"w{worker}-{j}" for j in range(i, i + 3)] + ["shared"], P)


def test_concurrent_processes_write_the_same_file(tmp_path):
    path = str(tmp_path / "c.sqlite")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 3 * 60 + 1
    key = cache_key("u", "w2-59", P)
    assert cache.get(key).text == "W2-59"
