"""LLM backends behind one protocol, with a persistent response cache.

``load_llm(spec)`` is the entry point: it builds the backend a spec string names (``smollm2``,
``transformers:PATH``, ``openai:MODEL``, ``openai-batch:MODEL``, ``http://HOST:PORT/v1#MODEL``,
``vllm:PATH``) and wraps it in a :class:`CachedLLM` (SQLite response cache + call, token and cost
counters). Every LLM-using stage (query rewriting, reranking, synthesis, RAG) goes through it.
"""

from .base import (
    LLM,
    Generation,
    GenerationParams,
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    Message,
    Prompt,
    ResultCallback,
    check_prompt,
    is_chat,
)
from .batching import MicroBatchingLLM
from .cache import ResponseCache, cache_key
from .cached import CachedLLM
from .function import FunctionLLM
from .spec import DEFAULT_CACHE, SPEC_FORMS, build_backend, default_cache_path, load_llm, spec_kind
from .stats import LLMStats
from .transport import RetryPolicy

__all__ = [
    "DEFAULT_CACHE", "LLM", "SPEC_FORMS", "CachedLLM", "FunctionLLM", "Generation", "GenerationParams",
    "LLMConnectionError", "LLMError", "LLMResponseError", "LLMStats", "Message", "MicroBatchingLLM", "Prompt",
    "ResponseCache",
    "ResultCallback", "RetryPolicy", "build_backend", "cache_key", "check_prompt", "default_cache_path",
    "is_chat", "load_llm", "spec_kind",
]
