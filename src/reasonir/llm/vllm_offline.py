"""Offline vLLM generation on local GPUs (``pip install 'reasonir[vllm]'``).

Raw string prompts go through ``vllm.LLM.generate`` (no chat template, as ReasonIR's reranker sends
them); chat prompts through ``vllm.LLM.chat`` (the model's template). vLLM schedules the whole batch
itself, so a batch is handed over in one call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import require
from .base import Generation, GenerationParams, Prompt, ResultCallback, is_chat, single_prompt
from .stats import LLMStats, deliver

logger = logging.getLogger(__name__)


class VLLMOfflineLLM:
    """A model served in-process by vLLM.

    Args:
        model: local folder or Hub id.
        tensor_parallel_size: GPUs to shard over (default: all visible GPUs).
        dtype: vLLM dtype string (``"auto"``, ``"bfloat16"``, ``"float16"``).
        max_model_len: context length cap (ReasonIR's reranker uses 16384).
        gpu_memory_utilization: fraction of GPU memory vLLM may take.
        seed: engine seed.
        trust_remote_code: allow model code from the Hub (off by default).
        name: cache identity (default: ``vllm:<model>``).
        engine_kwargs: anything else for ``vllm.LLM``.
    """

    supports_on_result = True

    def __init__(self, model: str, tensor_parallel_size: int | None = None, dtype: str = "auto",
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.9, seed: int = 0,
                 trust_remote_code: bool = False, name: str | None = None, **engine_kwargs: Any):
        self.vllm = require("vllm", "vllm")
        if tensor_parallel_size is None:
            torch = require("torch", "encode")
            tensor_parallel_size = max(1, torch.cuda.device_count())
        kwargs = {"model": model, "tensor_parallel_size": tensor_parallel_size, "dtype": dtype, "seed": seed,
                  "gpu_memory_utilization": gpu_memory_utilization, "trust_remote_code": trust_remote_code,
                  **engine_kwargs}
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        t0 = time.perf_counter()
        self.engine = self.vllm.LLM(**kwargs)
        logger.info("vLLM loaded %s (tp=%d) in %.1fs", model, tensor_parallel_size, time.perf_counter() - t0)
        ident = str(Path(model).resolve()) if Path(model).is_dir() else model
        self.name = name or f"vllm:{ident}"
        self.stats = LLMStats()

    def sampling_params(self, params: GenerationParams) -> Any:
        """``vllm.SamplingParams`` equivalent to ``params``."""
        kw: dict[str, Any] = {"max_tokens": params.max_tokens, "temperature": params.temperature,
                              "top_p": params.top_p if params.top_p > 0 else 1.0}
        if params.stop:
            kw["stop"] = list(params.stop)
        if params.seed is not None:
            kw["seed"] = params.seed
        if params.logprobs is not None:
            kw["logprobs"] = params.logprobs
        return self.vllm.SamplingParams(**kw)

    def __repr__(self) -> str:
        return f"VLLMOfflineLLM({self.name!r})"

    @single_prompt
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: ResultCallback | None = None) -> list[Generation]:
        """Generate for every prompt in one vLLM call per prompt kind (raw / chat)."""
        params = params or GenerationParams()
        sp = self.sampling_params(params)
        results: list[Generation | None] = [None] * len(prompts)
        t0 = time.perf_counter()
        raw = [i for i, p in enumerate(prompts) if not is_chat(p)]
        chat = [i for i, p in enumerate(prompts) if is_chat(p)]
        for idx, call in ((raw, self.engine.generate), (chat, self.engine.chat)):
            if not idx:
                continue
            outputs = call([prompts[i] for i in idx], sp, use_tqdm=False)
            for i, out in zip(idx, outputs):
                gen = to_generation(out)
                deliver(results, i, gen, on_result, self.stats)
        self.stats.add(seconds=time.perf_counter() - t0)
        return results  # type: ignore[return-value]


def to_generation(out: Any) -> Generation:
    """Convert a ``vllm.RequestOutput`` into a :class:`Generation`."""
    comp = out.outputs[0]
    gen = Generation(text=comp.text, prompt_tokens=len(out.prompt_token_ids or []),
                     completion_tokens=len(comp.token_ids or []), finish_reason=comp.finish_reason)
    if comp.logprobs:
        steps, chosen = [], []
        for tok_id, alts in zip(comp.token_ids, comp.logprobs):
            steps.append({(lp.decoded_token or str(t)): float(lp.logprob) for t, lp in alts.items()})
            chosen.append(alts[tok_id].decoded_token if tok_id in alts else "")
        gen.logprobs = steps
        gen.metadata["tokens"] = chosen
    return gen
