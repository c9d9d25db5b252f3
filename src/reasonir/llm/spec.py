"""One spec string selects an LLM backend; :func:`load_llm` wraps it with the cache and counters.

Specs:

==============================  ===========================================================
``smollm2``                     the embedded SmolLM2-135M-Instruct, local transformers (CPU)
``transformers:PATH_OR_ID``     any causal LM through transformers (``hf:`` also accepted)
``openai:MODEL``                OpenAI's API (``$OPENAI_API_KEY``), e.g. ``openai:gpt-4o-mini``
``openai-batch:MODEL``          OpenAI's Batch API (half price, hours of latency, resumable)
``http://HOST:PORT/v1#MODEL``   any OpenAI-compatible server (vLLM, SGLang, llama.cpp, ours);
                                without ``#MODEL`` the server's only model is used
``vllm:PATH_OR_ID``             offline vLLM on local GPUs (``reasonir[vllm]``)
==============================  ===========================================================
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import LLM
from .cache import ResponseCache
from .cached import CachedLLM
from .transport import RetryPolicy

logger = logging.getLogger(__name__)

SPEC_FORMS = ("smollm2", "transformers:PATH_OR_ID", "openai:MODEL", "openai-batch:MODEL",
              "http(s)://HOST:PORT/v1#MODEL", "vllm:PATH_OR_ID")

#: options each backend kind understands (other known options are ignored for that kind)
_OPTIONS = {
    "transformers": {"device", "dtype", "batch_size", "revision", "trust_remote_code", "name"},
    "http": {"concurrency", "timeout", "max_retries", "backoff", "api_key", "price_in", "price_out", "name"},
    "openai-batch": {"timeout", "max_retries", "backoff", "api_key", "price_in", "price_out", "name",
                     "poll_interval", "max_wait", "state_dir", "base_url"},
    "vllm": {"tensor_parallel_size", "dtype", "max_model_len", "gpu_memory_utilization", "seed",
             "trust_remote_code", "name"},
}
_ALL_OPTIONS = set().union(*_OPTIONS.values())


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


#: ``load_llm``'s default cache: ``$REASONIR_LLM_CACHE`` or ``<cache dir>/llm/responses.sqlite``
DEFAULT_CACHE: Any = _Default()


def default_cache_path() -> Path | None:
    """Where answers are cached by default (``$REASONIR_LLM_CACHE``; ``off`` disables caching)."""
    env = os.environ.get("REASONIR_LLM_CACHE")
    if env:
        return None if env.lower() in ("off", "none", "0", "false") else Path(env)
    from ..embedded import cache_dir

    return cache_dir() / "llm" / "responses.sqlite"


def spec_kind(spec: str) -> tuple[str, str]:
    """Split a spec into ``(kind, target)``; kind is one of transformers/http/openai-batch/vllm.

    Raises:
        ConfigError: for an unknown form, listing the accepted ones.
    """
    spec = spec.strip()
    if spec == "smollm2":
        return "transformers", "smollm2"
    if spec.startswith(("http://", "https://")):
        return "http", spec
    scheme, sep, rest = spec.partition(":")
    if sep and rest:
        if scheme in ("transformers", "hf"):
            return "transformers", rest
        if scheme == "openai":
            return "http", f"https://api.openai.com/v1#{rest}"
        if scheme == "openai-batch":
            return "openai-batch", rest
        if scheme == "vllm":
            return "vllm", rest
    raise ConfigError(f"unknown LLM spec {spec!r}; use one of: {', '.join(SPEC_FORMS)}")


def _policy(kw: dict[str, Any]) -> RetryPolicy:
    base = RetryPolicy()
    return RetryPolicy(max_retries=int(kw.get("max_retries", base.max_retries)),
                       backoff=float(kw.get("backoff", base.backoff)), timeout=float(kw.get("timeout", base.timeout)))


def _price(kw: dict[str, Any]) -> tuple[float, float] | None:
    if kw.get("price_in") is None and kw.get("price_out") is None:
        return None
    return float(kw.get("price_in") or 0.0), float(kw.get("price_out") or 0.0)


def build_backend(spec: str, **kw: Any) -> LLM:
    """The bare backend a spec names (no cache). Options: see :func:`load_llm`."""
    kind, target = spec_kind(spec)
    unknown = sorted(set(kw) - _ALL_OPTIONS)
    if unknown:
        raise ConfigError(f"unknown LLM option(s) {', '.join(unknown)}; known: {', '.join(sorted(_ALL_OPTIONS))}")
    ignored = sorted(k for k in kw if k not in _OPTIONS[kind])
    if ignored:
        logger.debug("options %s do not apply to %s backends; ignored", ignored, kind)
    kw = {k: v for k, v in kw.items() if k in _OPTIONS[kind]}
    if kind == "transformers":
        from .local import TransformersLLM

        return TransformersLLM(target, **kw)
    if kind == "http":
        from .openai_compat import OpenAICompatibleLLM

        url, _, model = target.partition("#")
        return OpenAICompatibleLLM(url, model or None, api_key=kw.get("api_key"),
                                   concurrency=int(kw.get("concurrency", 8)), policy=_policy(kw), price=_price(kw),
                                   name=kw.get("name"))
    if kind == "openai-batch":
        from .batch_api import OpenAIBatchLLM
        from .openai_compat import OPENAI_BASE_URL

        return OpenAIBatchLLM(target, base_url=kw.get("base_url") or OPENAI_BASE_URL, api_key=kw.get("api_key"),
                              state_dir=kw.get("state_dir"), poll_interval=float(kw.get("poll_interval", 30.0)),
                              max_wait=kw.get("max_wait"), policy=_policy(kw), price=_price(kw), name=kw.get("name"))
    from .vllm_offline import VLLMOfflineLLM

    return VLLMOfflineLLM(target, **kw)


def open_cache(cache: Any) -> ResponseCache | None:
    """Resolve ``load_llm``'s ``cache`` argument to a :class:`ResponseCache` (or ``None``)."""
    if cache is DEFAULT_CACHE:
        path = default_cache_path()
        return ResponseCache(path) if path is not None else None
    if cache is None or cache is False:
        return None
    if isinstance(cache, ResponseCache):
        return cache
    if isinstance(cache, (str, os.PathLike)):
        if str(cache).lower() in ("off", "none", ""):
            return None
        return ResponseCache(cache)
    raise ConfigError(f"cache must be a path, a ResponseCache, None or False; got {type(cache).__name__}")


def load_llm(spec: str | LLM, cache: Any = DEFAULT_CACHE, **kw: Any) -> CachedLLM:
    """Build the backend a spec names and wrap it with the response cache and counters.

    Args:
        spec: a spec string (see the module docstring) or an already built backend object.
        cache: a SQLite path, a :class:`ResponseCache`, ``None``/``False``/``"off"`` for no cache, or
            the default (``$REASONIR_LLM_CACHE``, else ``~/.cache/reasonir/llm/responses.sqlite``).
        **kw: backend options: ``concurrency``, ``timeout``, ``max_retries``, ``backoff``,
            ``api_key``, ``price_in``/``price_out`` (USD per 1M tokens) for HTTP backends;
            ``device``, ``dtype``, ``batch_size``, ``revision`` for transformers; ``poll_interval``,
            ``max_wait``, ``state_dir`` for the Batch API; ``tensor_parallel_size``,
            ``max_model_len``, ``gpu_memory_utilization`` for vLLM; ``name`` overrides the cache
            identity. ``None`` values are ignored.

    Returns:
        A :class:`CachedLLM`: ``generate(prompts, params)``, ``stats`` (``calls``, ``cache_hits``,
        tokens, ``cost_usd``), ``summary()``, ``backend``.

    Examples:
        A Python function as the backend (real ones: ``load_llm("smollm2")``,
        ``load_llm("openai:gpt-4o-mini")``, ``load_llm("http://localhost:8000/v1#MODEL")``):

        >>> from reasonir.llm import FunctionLLM
        >>> llm = load_llm(FunctionLLM(lambda prompt, params: "Yes.", name="always-yes"), cache=None)
        >>> llm
        CachedLLM('always-yes', cache=None)
        >>> llm.generate("Does ice float?").text
        'Yes.'
        >>> [g.text for g in llm.generate(["Does ice float?", "Does iron float?"])]
        ['Yes.', 'Yes.']
    """
    kw = {k: v for k, v in kw.items() if v is not None}
    backend = build_backend(spec, **kw) if isinstance(spec, str) else spec
    if not isinstance(spec, str) and kw:
        raise ConfigError(f"options {sorted(kw)} apply to spec strings only, not to a built backend")
    return CachedLLM(backend, open_cache(cache))
