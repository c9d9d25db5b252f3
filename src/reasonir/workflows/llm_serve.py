"""``reasonir llm-serve SPEC``: serve any LLM backend over an OpenAI-compatible HTTP API."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..llm.batching import MicroBatchingLLM
from ..llm.server import DEFAULT_MAX_TOKENS_CAP, LLMServer
from ._llm import open_llm

logger = logging.getLogger(__name__)


@dataclass
class LLMServeConfig:
    """Options of ``reasonir llm-serve``."""

    llm: str = field(default="smollm2", metadata={
        "positional": True, "help": "LLM spec: smollm2, transformers:PATH, vllm:PATH, http://HOST:PORT/v1#MODEL, ..."})
    host: str = field(default="127.0.0.1", metadata={"help": "interface to bind (0.0.0.0 exposes it to the network)"})
    port: int = field(default=8001, metadata={
        "help": "TCP port (0: any free port; `reasonir serve` defaults to 8000, so both can run side by side)"})
    model_name: str | None = field(default=None, metadata={"help": "model id clients send (default: the spec)"})
    api_key: str | None = field(default=None, metadata={
        "help": "require this key (Authorization: Bearer KEY); default: $REASONIR_API_KEY, else none"})
    max_body_bytes: int = field(default=8 * 2 ** 20, metadata={"help": "largest request body accepted (bytes)"})
    max_tokens_cap: int = field(default=DEFAULT_MAX_TOKENS_CAP, metadata={
        "help": "largest max_tokens a request may ask for; larger requests get HTTP 400 naming the limit"})
    llm_cache: str | None = field(default="off", metadata={
        "help": "answer from / store into this response cache (SQLite path; default off)"})
    batch_size: int | None = field(default=None, metadata={"help": "local backends: prompts per batch"})
    llm_device: str | None = field(default=None, metadata={
        "aliases": ("device",), "help": "local LLM device: cpu, cuda, cuda:1, auto"})
    llm_dtype: str | None = field(default=None, metadata={
        "aliases": ("dtype",), "help": "local LLM compute dtype (transformers, vLLM; auto: fp32 on CPU, bf16 on GPU)",
        "choices": ("auto", "fp32", "bf16", "fp16")})
    concurrency: int | None = field(default=None, metadata={"help": "HTTP backends (proxying): requests in flight"})
    timeout: float | None = field(default=None, metadata={"help": "HTTP backends (proxying): seconds per request"})
    max_retries: int | None = field(default=None, metadata={"help": "HTTP backends (proxying): retries"})
    micro_batch: int | None = field(default=None, metadata={
        "help": "answer concurrent requests together, up to N prompts per model call (default: the local "
                "backend's batch size, 64 for vLLM; 0 = off; proxies never batch)"})
    micro_batch_wait: float = field(default=0.01, metadata={"help": "seconds a request waits for company"})


def check_config(cfg: LLMServeConfig) -> None:
    """Refuse option values the server cannot run with (before the model is loaded).

    Raises:
        ConfigError: naming the option and its valid range.
    """
    for name in ("max_tokens_cap", "max_body_bytes"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
    wait = cfg.micro_batch_wait
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not math.isfinite(wait) or wait < 0:
        raise ConfigError(f"--micro-batch-wait must be a finite number of seconds >= 0, got {wait!r}")
    if cfg.micro_batch is not None and (isinstance(cfg.micro_batch, bool) or not isinstance(cfg.micro_batch, int)
                                        or cfg.micro_batch < 0):
        raise ConfigError(f"--micro-batch must be an integer >= 0, got {cfg.micro_batch!r}")


def build_server(cfg: LLMServeConfig) -> LLMServer:
    """Load the LLM (micro-batched when it is a local model) and bind the server (not yet serving).

    Raises:
        ConfigError: for invalid options (see :func:`check_config`).
    """
    check_config(cfg)
    llm = open_llm(cfg)
    size = cfg.micro_batch
    if size is None:
        size = getattr(llm.backend, "batch_size", None) or (64 if llm.name.startswith("vllm:") else 0)
    if size and size > 1 and not hasattr(llm.backend, "client"):       # HTTP proxies have their own pool
        llm.backend = MicroBatchingLLM(llm.backend, max_batch=size, max_wait=cfg.micro_batch_wait)
        logger.info("micro-batching up to %d prompts per model call", size)
    api_key = cfg.api_key or os.environ.get("REASONIR_API_KEY") or None
    if api_key is None and cfg.host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s without an API key: anyone who can reach this port can use the model "
                       "(set --api-key or REASONIR_API_KEY)", cfg.host)
    return LLMServer(llm, host=cfg.host, port=cfg.port, model_name=cfg.model_name or cfg.llm, api_key=api_key,
                     max_body_bytes=cfg.max_body_bytes, max_tokens_cap=cfg.max_tokens_cap)


def run_llm_serve(cfg: LLMServeConfig, on_ready=None) -> None:
    """Serve until interrupted. ``on_ready(server)`` is called once the port is bound."""
    server = build_server(cfg)
    logger.info("serving %s at %s (model %r)", server.llm.name, server.url, server.model_name)
    if on_ready is not None:
        on_ready(server)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        close = getattr(server.llm, "close", None)
        if callable(close):
            close()
