"""Helpers shared by the LLM-using commands (``rewrite``, ``rerank``): open the LLM from a config,
pick a reproducible sample of queries, report LLM counters."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..llm import CachedLLM, load_llm
from ..types import Queries

logger = logging.getLogger(__name__)

#: config field -> ``load_llm`` backend option (``None`` values are left out)
LLM_OPTION_FIELDS = {"concurrency": "concurrency", "timeout": "timeout", "max_retries": "max_retries",
                     "batch_size": "batch_size", "llm_device": "device", "llm_dtype": "dtype"}
_VLLM_DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


@dataclass
class LLMBackendFields:
    """The LLM backend options of an LLM-using command: the response cache and :data:`LLM_OPTION_FIELDS`.

    A command's config lists it before its own trailing fields (``class C(LLMBackendFields, _Fields)``),
    so the flags keep their place in ``--help`` and config files: after the fields of ``_Fields``.
    """

    llm_cache: str | None = field(default=None, metadata={
        "help": "LLM response cache: a SQLite path, or 'off' (default: $REASONIR_LLM_CACHE or the user cache)"})
    concurrency: int | None = field(default=None, metadata={"help": "HTTP backends: requests in flight"})
    timeout: float | None = field(default=None, metadata={"help": "HTTP backends: seconds per request"})
    max_retries: int | None = field(default=None, metadata={"help": "HTTP backends: retries per request"})
    batch_size: int | None = field(default=None, metadata={"help": "local backends: prompts per batch"})
    llm_device: str | None = field(default=None, metadata={
        "aliases": ("device",), "help": "local LLM device: cpu, cuda, cuda:1, auto"})
    llm_dtype: str | None = field(default=None, metadata={
        "aliases": ("dtype",), "help": "local LLM compute dtype (transformers, vLLM; auto: fp32 on CPU, bf16 on GPU)",
        "choices": ("auto", "fp32", "bf16", "fp16")})


def open_llm(cfg: Any, spec: str | None = None) -> CachedLLM:
    """``load_llm`` with the config's spec, cache (``llm_cache``: path, ``off``, or default) and options."""
    kw = {option: getattr(cfg, name) for name, option in LLM_OPTION_FIELDS.items()
          if getattr(cfg, name, None) is not None}
    spec = spec or cfg.llm
    if "dtype" in kw and spec.startswith("vllm:"):   # vLLM spells its dtypes out
        kw["dtype"] = _VLLM_DTYPES.get(kw["dtype"], kw["dtype"])
    cache = getattr(cfg, "llm_cache", None)
    return load_llm(spec, **({} if cache is None else {"cache": cache}), **kw)


def sample_queries(queries: Queries, n: int, seed: int = 0) -> Queries:
    """A reproducible sample of ``n`` queries (all when ``n <= 0`` or ``n >= len``), in the input order.

    The sample depends only on the set of query ids, ``n`` and ``seed``.
    """
    if n < 0:
        raise ConfigError(f"sample size must be >= 0, got {n}")
    if n == 0 or n >= len(queries):
        return dict(queries)
    chosen = set(random.Random(seed).sample(sorted(queries), n))
    return {q: t for q, t in queries.items() if q in chosen}


def llm_report(llm: CachedLLM) -> dict[str, Any]:
    """The LLM's identity and counters, for ``*.config.json`` files and CLI summaries."""
    return {"llm": llm.name, **llm.summary()}
