"""Backend for any OpenAI-compatible HTTP server: OpenAI, vLLM, SGLang, llama.cpp server, ours.

Chat prompts go to ``/chat/completions``, raw strings to ``/completions``. Requests run on a pool
of ``concurrency`` threads with keep-alive connections; every answer is handed to ``on_result`` as
soon as it arrives (the cache stores it then). Transient failures are retried by
:class:`~reasonir.llm.transport.JSONClient`; a prompt that still fails stops the scheduling of the
remaining ones, lets the in-flight ones finish, and raises.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from .base import (
    Generation,
    GenerationParams,
    LLMError,
    LLMResponseError,
    Prompt,
    ResultCallback,
    is_chat,
    single_prompt,
)
from .stats import LLMStats, deliver, lookup_price, token_cost
from .transport import JSONClient, RetryPolicy

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def chat_payload(model: str, messages: list[dict[str, str]], params: GenerationParams,
                 max_tokens_key: str = "max_tokens") -> dict[str, Any]:
    """The JSON body of a ``/chat/completions`` request."""
    body: dict[str, Any] = {"model": model, "messages": messages, max_tokens_key: params.max_tokens,
                            "temperature": params.temperature, "top_p": params.top_p}
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    if params.logprobs is not None:
        body["logprobs"] = True
        body["top_logprobs"] = params.logprobs
    return body


def completion_payload(model: str, prompt: str, params: GenerationParams) -> dict[str, Any]:
    """The JSON body of a ``/completions`` request."""
    body: dict[str, Any] = {"model": model, "prompt": prompt, "max_tokens": params.max_tokens,
                            "temperature": params.temperature, "top_p": params.top_p}
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    if params.logprobs is not None:
        body["logprobs"] = params.logprobs
    return body


def parse_choice(obj: Any, chat: bool) -> Generation:
    """Turn a (chat) completion response object into a :class:`Generation`.

    Raises:
        LLMResponseError: when the object has no usable first choice.
    """
    try:
        choice = obj["choices"][0]
        text = (choice["message"].get("content") or "") if chat else choice["text"]
    except (KeyError, IndexError, TypeError, AttributeError):
        raise LLMResponseError(f"response has no usable choices[0]: {str(obj)[:200]}") from None
    usage = obj.get("usage") or {}
    logprobs, tokens = None, None
    lp = choice.get("logprobs")
    if chat and isinstance(lp, dict) and isinstance(lp.get("content"), list):
        tokens = [t.get("token", "") for t in lp["content"]]
        logprobs = [{a["token"]: float(a["logprob"]) for a in (t.get("top_logprobs") or [])} or
                    {t.get("token", ""): float(t.get("logprob", 0.0))} for t in lp["content"]]
    elif not chat and isinstance(lp, dict) and isinstance(lp.get("top_logprobs"), list):
        tokens = list(lp.get("tokens") or [])
        logprobs = [{k: float(v) for k, v in (d or {}).items()} for d in lp["top_logprobs"]]
    meta: dict[str, Any] = {}
    if tokens is not None:
        meta["tokens"] = tokens
    if obj.get("model"):
        meta["model"] = obj["model"]
    return Generation(text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0),
                      finish_reason=choice.get("finish_reason"), logprobs=logprobs, metadata=meta)


class OpenAICompatibleLLM:
    """An OpenAI-compatible server.

    Args:
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model's name; ``None`` asks ``/models`` and takes the only one served.
        api_key: bearer token (default: ``$OPENAI_API_KEY`` for api.openai.com, else none).
        concurrency: requests in flight at once.
        policy: retries, backoff and timeout.
        price: (input, output) USD per 1M tokens for cost accounting (default: list price if known).
        name: cache identity (default: ``openai:MODEL`` for OpenAI, else ``BASE_URL#MODEL``).
    """

    supports_on_result = True

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, concurrency: int = 8,
                 policy: RetryPolicy | None = None, price: tuple[float, float] | None = None,
                 name: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.is_openai = self.base_url.startswith(OPENAI_BASE_URL)
        if api_key is None and self.is_openai:
            api_key = os.environ.get("OPENAI_API_KEY")
            if not api_key:
                raise LLMError("OPENAI_API_KEY is not set; export it or pass api_key=")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.stats = LLMStats()
        self.client = JSONClient(self.base_url, headers, policy, self.stats)
        self.concurrency = max(1, int(concurrency))
        self.model = model or self._discover_model()
        self.price = price if price is not None else lookup_price(self.model)
        self.max_tokens_key = "max_completion_tokens" if self.is_openai and \
            self.model.startswith(_REASONING_PREFIXES) else "max_tokens"
        self.name = name or (f"openai:{self.model}" if self.is_openai else f"{self.base_url}#{self.model}")
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _discover_model(self) -> str:
        listing = self.client.request("GET", "/models")
        ids: list[str] = [m["id"] for m in (listing.get("data") or []) if isinstance(m, dict) and m.get("id")]
        if len(ids) != 1:
            raise LLMError(f"{self.base_url} serves {len(ids)} models ({', '.join(ids[:10]) or 'none'}); "
                           f"name one in the spec: {self.base_url}#MODEL")
        return ids[0]

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="reasonir-llm")
            return self._pool

    def generate_one(self, prompt: Prompt, params: GenerationParams) -> Generation:
        """Send one prompt (with retries) and return its answer."""
        chat = is_chat(prompt)
        if chat:
            body = chat_payload(self.model, prompt, params, self.max_tokens_key)  # type: ignore[arg-type]
            obj = self.client.request("POST", "/chat/completions", body)
        else:
            obj = self.client.request("POST", "/completions", completion_payload(self.model, prompt, params))  # type: ignore[arg-type]
        gen = parse_choice(obj, chat)
        cost = token_cost(gen.prompt_tokens, gen.completion_tokens, self.price)
        gen.metadata["cost_usd"] = cost
        self.stats.count(gen, cost)
        return gen

    @single_prompt
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: ResultCallback | None = None) -> list[Generation]:
        """Answer ``prompts`` concurrently; one :class:`Generation` per prompt, in order.

        Raises:
            LLMError: the first permanent failure (after the in-flight requests finished); answers
                received before it were already passed to ``on_result``.
        """
        params = params or GenerationParams()
        results: list[Generation | None] = [None] * len(prompts)
        abort = threading.Event()
        errors: list[tuple[int, BaseException]] = []
        lock = threading.Lock()
        t0 = time.perf_counter()

        def work(i: int) -> None:
            if abort.is_set():
                return
            try:
                gen = self.generate_one(prompts[i], params)
            except BaseException as exc:        # noqa: BLE001 - re-raised below in the caller's thread
                with lock:
                    errors.append((i, exc))
                abort.set()
                return
            deliver(results, i, gen, on_result)          # counted (with its cost) by generate_one

        if self.concurrency == 1 or len(prompts) == 1:
            for i in range(len(prompts)):
                work(i)
        else:
            futures = [self._executor().submit(work, i) for i in range(len(prompts))]
            for f in futures:
                f.result()
        self.stats.add(seconds=time.perf_counter() - t0)
        if errors:
            errors.sort(key=lambda e: e[0])
            i, exc = errors[0]
            self.stats.add(failures=sum(r is None for r in results))
            done = sum(r is not None for r in results)
            if isinstance(exc, LLMError):
                wrapped = type(exc)(f"{exc} [prompt {i}; {done}/{len(prompts)} answered]")
                if isinstance(exc, LLMResponseError) and isinstance(wrapped, LLMResponseError):
                    wrapped.status = exc.status
                raise wrapped from exc
            raise exc
        return cast("list[Generation]", results)      # no None left: any failed prompt raised above

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.client.close()

    def __repr__(self) -> str:
        return f"OpenAICompatibleLLM({self.name!r}, concurrency={self.concurrency})"
