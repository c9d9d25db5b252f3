"""Both servers against the official ``openai`` client (and LangChain's ``OpenAIEmbeddings``) on 127.0.0.1.

``reasonir serve``: ``/v1/models``, the ``#query`` model suffix, token-array inputs decoded with
tiktoken, ``usage`` in the encoder's own tokens. ``reasonir llm-serve``: ``stream=True`` for chat and
completions, and cancellation of a streamed request whose client left.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import numpy as np
import pytest
from served_index import RunningServer

from reasonir.analysis import Analyzer
from reasonir.index import Index, IndexOptions, build_index
from reasonir.io import write_corpus
from reasonir.llm import FunctionLLM, Generation, GenerationParams, load_llm
from reasonir.llm.cancel import GenerationCancelled, current_cancel
from reasonir.llm.server import LLMServer
from reasonir.types import Document

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")

from reasonir.serve import create_app, openai_compat  # noqa: E402

WAIT = 60.0          # generous bound on waiting for a thread (never a speed assertion)
TEXTS = ["insulin and the glucose in blood", "black holes bend light"]


# ------------------------------------------------------------------------------------------------
# reasonir serve
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index(tmp_path_factory):
    root = tmp_path_factory.mktemp("oai")
    docs = [Document(f"d{i}", t) for i, t in enumerate(TEXTS + ["plants turn light into sugar"])]
    write_corpus(root / "c.jsonl", docs)
    build_index(str(root / "c.jsonl"), str(root / "idx"), IndexOptions(model="hash"))
    return Index.open(root / "idx")


@pytest.fixture(scope="module")
def served(index):
    srv = RunningServer(create_app(index, api_key="k3y"))
    yield srv, openai.OpenAI(base_url=srv.url + "/v1", api_key="k3y", max_retries=0, timeout=WAIT)
    srv.stop()


def _vectors(resp) -> np.ndarray:
    return np.asarray([d.embedding for d in resp.data], dtype=np.float32)


def test_models_lists_the_encoder_and_its_query_and_document_names(served, index):
    srv, client = served
    ids = [m.id for m in client.models.list().data]
    assert ids == ["hash", "hash#query", "hash#document"] and index.info()["model"] == "hash"
    assert httpx.get(srv.url + "/v1/models/hash", headers={"Authorization": "Bearer k3y"}).json()["id"] == "hash"
    assert httpx.get(srv.url + "/v1/models/other", headers={"Authorization": "Bearer k3y"}).status_code == 404
    assert httpx.get(srv.url + "/v1/models").status_code == 401                   # the key guards it


def test_query_suffix_gives_query_embeddings_to_a_plain_openai_client(served, index, monkeypatch):
    srv, client = served
    # the hash encoder embeds both sides alike: mark the query side to see which one answered
    real = index.encode_queries
    monkeypatch.setattr(index, "encode_queries", lambda texts, instruction=None: -real(texts, instruction))
    query = _vectors(client.embeddings.create(model="hash#query", input=TEXTS))
    docs = _vectors(client.embeddings.create(model="hash", input=TEXTS))
    named = _vectors(client.embeddings.create(model="hash#document", input=TEXTS))
    np.testing.assert_allclose(query, -real(TEXTS), atol=1e-6)
    np.testing.assert_allclose(docs, index.encode_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(named, docs, atol=1e-6)
    with pytest.raises(openai.UnprocessableEntityError, match="#query"):
        client.embeddings.create(model="hash#queries", input="x")
    with pytest.raises(openai.UnprocessableEntityError, match="contradicts"):
        client.embeddings.create(model="hash#query", input="x", extra_body={"input_type": "document"})


def test_usage_counts_the_encoders_tokens_not_words(served):
    _, client = served
    usage = client.embeddings.create(model="hash", input=TEXTS).usage
    terms = sum(len(Analyzer()(t)) for t in TEXTS)           # what the hash encoder hashes: no stop words
    assert usage.prompt_tokens == usage.total_tokens == terms
    assert terms != sum(len(t.split()) for t in TEXTS)


class FakeTokenizer:
    """A transformers-style tokenizer: one id per character plus [CLS]/[SEP]."""

    def __call__(self, texts, add_special_tokens=True, truncation=False, max_length=None):
        ids = [[1] + [ord(c) for c in t] + [2] for t in texts]
        return {"input_ids": [x[:max_length] if truncation else x for x in ids]}


def test_count_tokens_uses_the_tokenizer_through_wrappers():
    from reasonir.encode.cache import CachedEncoder

    class TokenizedEncoder:
        tokenizer = FakeTokenizer()
        max_length = 6

    assert openai_compat.count_tokens(TokenizedEncoder(), ["abc", "abcdefgh"]) == 5 + 6       # truncated at 6
    assert openai_compat.count_tokens(CachedEncoder(TokenizedEncoder()), ["abc"]) == 5


def _tiny_encoding():
    tiktoken = pytest.importorskip("tiktoken")
    ranks = {bytes([i]): i for i in range(256)}
    for i, pair in enumerate([b"in", b"th", b"he", b"an", b"ol", b"ht"]):
        ranks[pair] = 256 + i
    return tiktoken.Encoding("tiny_base", pat_str=r"\s?\S+|\s+", mergeable_ranks=ranks, special_tokens={})


def test_token_arrays_are_decoded_with_tiktoken(served, index, monkeypatch):
    srv, client = served
    tiny = _tiny_encoding()
    asked = []
    monkeypatch.setattr(openai_compat, "_load_encoding", lambda name: asked.append(name) or tiny)
    arrays = [tiny.encode(t) for t in TEXTS]
    got = _vectors(client.embeddings.create(model="hash", input=arrays))
    np.testing.assert_allclose(got, index.encode_documents(TEXTS), atol=1e-6)
    one = _vectors(client.embeddings.create(model="hash", input=arrays[1]))             # a single token array
    np.testing.assert_allclose(one[0], got[1], atol=1e-6)
    assert asked == ["cl100k_base", "cl100k_base"]                  # tiktoken's rule for names it does not know
    for bad in ([[tiny.n_vocab + 5]], [[]], [tiny.encode("   ")]):
        with pytest.raises(openai.UnprocessableEntityError):
            client.embeddings.create(model="hash", input=bad)
    r = httpx.post(srv.url + "/v1/embeddings", json={"input": [[1, "a"]]}, headers={"Authorization": "Bearer k3y"})
    assert r.status_code == 422 and "input" in r.json()["error"]["message"]


def test_token_arrays_get_a_422_saying_how_to_send_text_when_tiktoken_cannot_load(served, monkeypatch):
    _, client = served
    monkeypatch.setattr(openai_compat, "_load_encoding", lambda name: "no tiktoken file here")
    with pytest.raises(openai.UnprocessableEntityError) as err:
        client.embeddings.create(model="hash", input=[[10, 11]])
    message = str(err.value)                                        # OpenAI's error shape: the client shows it
    assert "no tiktoken file here" in message and "check_embedding_ctx_length=False" in message


def test_langchain_openai_embeddings_with_its_defaults(served, index, monkeypatch):
    lc = pytest.importorskip("langchain_openai")
    tiktoken = pytest.importorskip("tiktoken")
    srv, _ = served
    tiny = _tiny_encoding()
    # offline: the cl100k_base file cannot be fetched, so client and server both get the same tiny encoding
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: tiny)
    monkeypatch.setattr(openai_compat, "_load_encoding", lambda name: tiktoken.get_encoding(name))
    sent = []
    hook = {"request": [lambda req: sent.append(json.loads(req.content))]}
    docs = lc.OpenAIEmbeddings(model="hash", base_url=srv.url + "/v1", api_key="k3y",
                               http_client=httpx.Client(event_hooks=hook))
    queries = lc.OpenAIEmbeddings(model="hash#query", base_url=srv.url + "/v1", api_key="k3y",
                                  check_embedding_ctx_length=False)
    got = np.asarray(docs.embed_documents(TEXTS), dtype=np.float32)
    assert all(isinstance(x, list) and all(isinstance(i, int) for i in x) for x in sent[0]["input"])   # token ids
    np.testing.assert_allclose(got, index.encode_documents(TEXTS), atol=1e-6)
    np.testing.assert_allclose(queries.embed_query(TEXTS[0]), index.encode_queries(TEXTS[:1])[0], atol=1e-6)


# ------------------------------------------------------------------------------------------------
# reasonir llm-serve: stream=True
# ------------------------------------------------------------------------------------------------
def echo(prompt, params):
    text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
    return Generation(text=f"you said: {text}", prompt_tokens=len(text.split()), completion_tokens=3,
                      finish_reason="stop")


@pytest.fixture()
def llm_server():
    with LLMServer(load_llm(FunctionLLM(echo, "echo", concurrency=2), cache=None), model_name="tiny") as srv:
        yield srv, openai.OpenAI(base_url=srv.url, api_key="unused", max_retries=0, timeout=WAIT)


def test_openai_client_streams_chat(llm_server):
    _, client = llm_server
    msgs = [{"role": "user", "content": "hello streaming world"}]
    chunks = list(client.chat.completions.create(model="tiny", messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}))
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(content) == "you said: hello streaming world" and len(content) > 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 3 + 3
    plain = client.chat.completions.create(model="tiny", messages=msgs, stream=True)
    assert all(c.usage is None for c in plain)                       # usage only when asked for


def test_openai_client_streams_completions_one_choice_per_prompt(llm_server):
    _, client = llm_server
    stream = client.completions.create(model="tiny", prompt=["a b", "c"], stream=True, max_tokens=5)
    texts = {0: "", 1: ""}
    finished = {}
    for chunk in stream:
        assert chunk.object == "text_completion"
        for choice in chunk.choices:
            texts[choice.index] += choice.text
            if choice.finish_reason:
                finished[choice.index] = choice.finish_reason
    assert texts == {0: "you said: a b", 1: "you said: c"} and finished == {0: "stop", 1: "stop"}


def test_stream_wire_format_and_keep_alive(llm_server):
    srv, _ = llm_server
    with httpx.Client(timeout=WAIT) as http:
        r = http.post(srv.url + "/chat/completions",
                      json={"messages": [{"role": "user", "content": "x"}], "stream": True})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.text.split("\n\n") if line]
        assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
        assert json.loads(events[0][6:])["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        again = http.post(srv.url + "/completions", json={"prompt": "y"})        # same connection, still usable
        assert again.json()["choices"][0]["text"] == "you said: y"
        for bad, param in (({"stream": "yes"}, "stream"), ({"stream_options": {"include_usage": True}}, "stream_options"),
                           ({"stream": True, "stream_options": {"include_usage": "y"}}, "stream_options")):
            r = http.post(srv.url + "/completions", json={"prompt": "y", **bad})
            assert r.status_code == 400 and r.json()["error"]["param"] == param


def test_streamed_request_of_a_gone_client_is_cancelled():
    started, steps = threading.Event(), []

    def slow(prompt, params):
        token = current_cancel()
        for step in range(params.max_tokens):
            started.set()
            if token is not None and token.is_set():
                steps.append(step)
                raise GenerationCancelled("stopped")
            time.sleep(0.01)
        return Generation(text="done", completion_tokens=params.max_tokens)

    with LLMServer(load_llm(FunctionLLM(slow, "slow"), cache=None), model_name="slow", max_tokens_cap=10000) as srv:
        body = json.dumps({"prompt": "long", "max_tokens": 10000, "stream": True}).encode()
        sock = socket.create_connection(srv.server_address[:2], timeout=WAIT)
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert started.wait(WAIT)
        sock.close()
        deadline = time.monotonic() + WAIT
        while srv.cancelled == 0:
            assert time.monotonic() < deadline, "the streamed request was not cancelled"
            time.sleep(0.01)
        assert steps and steps[0] < 10000
        client = openai.OpenAI(base_url=srv.url, api_key="unused", max_retries=0, timeout=WAIT)
        out = client.completions.create(model="slow", prompt="short", max_tokens=2, stream=True)
        assert "".join(c.choices[0].text for c in out if c.choices) == "done"


def test_generation_params_reach_the_backend_when_streaming(llm_server):
    seen: list[GenerationParams] = []

    def spy(prompt, params):
        seen.append(params)
        return "ok"

    with LLMServer(FunctionLLM(spy, "spy"), model_name="spy") as srv:
        client = openai.OpenAI(base_url=srv.url, api_key="unused", max_retries=0, timeout=WAIT)
        list(client.completions.create(model="spy", prompt="p", stream=True, max_tokens=7, temperature=0.5))
    assert (seen[0].max_tokens, seen[0].temperature) == (7, 0.5)
