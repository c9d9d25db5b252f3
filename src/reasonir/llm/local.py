"""Local generation with Hugging Face transformers (CPU or one GPU); the embedded default is SmolLM2.

Chat prompts are rendered with the model's chat template; raw strings are tokenised as they are.
Prompts are sorted by length and generated in left-padded batches; ``stop`` strings end generation
(``stop_strings``) and are cut from the text. With ``params.logprobs = k`` each generated token comes
with its ``k`` most likely alternatives (log-softmax of the raw logits).

Generation is cancellable (:mod:`reasonir.llm.cancel`): a call whose token is set is dropped before its
next batch starts, and a running batch stops after the current token; either way the call raises
:class:`~reasonir.llm.cancel.GenerationCancelled` instead of returning truncated answers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, require
from .base import Generation, GenerationParams, Prompt, ResultCallback, apply_stop, is_chat, single_prompt
from .cancel import CancelToken, current_cancel, raise_if_cancelled
from .stats import LLMStats, deliver

logger = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2"


def smollm2_model_dir() -> Path:
    """Folder of the embedded SmolLM2-135M-Instruct (converted once from the bundled GGUF)."""
    from ..embedded import smollm2_path

    return smollm2_path()


def _model_identity(path: str) -> str:
    """A cache identity for a model: the absolute folder path, or the Hub id."""
    p = Path(path)
    return str(p.resolve()) if p.is_dir() else path


class TransformersLLM:
    """A causal LM run by transformers.

    Args:
        model: a local folder or a Hub id (``"smollm2"`` selects the embedded model).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or ``"auto"`` (GPU when available).
        dtype: ``"auto"`` (bf16 on GPU, fp32 on CPU), ``"fp32"``, ``"bf16"`` or ``"fp16"`` (bf16 is about
            twice as fast on CPUs with AVX512_BF16 or AMX; non-fp32 dtypes are part of the cache identity).
        batch_size: prompts generated together.
        revision: Hub revision (part of the cache identity).
        trust_remote_code: allow model code from the Hub (off by default).
        name: cache identity (default: ``transformers:<model>[@revision]``).
    """

    supports_on_result = True

    def __init__(self, model: str = SMOLLM2_NAME, device: str = "auto", dtype: str = "auto", batch_size: int = 8,
                 revision: str | None = None, trust_remote_code: bool = False, name: str | None = None):
        self.torch = require("torch", "encode")
        transformers = require("transformers", "encode")
        path = str(smollm2_model_dir()) if model == SMOLLM2_NAME else model
        if device == "auto":
            device = "cuda" if self.torch.cuda.is_available() else "cpu"
        dtypes = {"fp32": self.torch.float32, "bf16": self.torch.bfloat16, "fp16": self.torch.float16,
                  "auto": self.torch.bfloat16 if device.startswith("cuda") else self.torch.float32}
        if dtype not in dtypes:
            raise ConfigError(f"dtype {dtype!r}: choose one of {', '.join(dtypes)}")
        t0 = time.perf_counter()
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(path, revision=revision,
                                                                    trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = transformers.AutoModelForCausalLM.from_pretrained(
            path, revision=revision, dtype=dtypes[dtype], trust_remote_code=trust_remote_code).to(device).eval()
        logger.info("loaded %s on %s in %.1fs", path, device, time.perf_counter() - t0)
        self.device = device
        self.batch_size = max(1, batch_size)
        self.has_chat_template = bool(getattr(self.tokenizer, "chat_template", None))
        # the embedded folder's name carries the package version and file size: portable across machines
        ident = Path(path).name if model == SMOLLM2_NAME else _model_identity(path)
        # reduced precision changes the answers, so it is part of the cache identity (fp32 keeps the bare name)
        self.dtype = next(k for k, v in dtypes.items() if v == dtypes[dtype] and k != "auto")
        precision = "" if self.dtype == "fp32" else f"[{self.dtype}]"
        self.name = name or f"transformers:{ident}" + (f"@{revision}" if revision else "") + precision
        self.stats = LLMStats()
        self._lock = threading.Lock()

    def render(self, prompt: Prompt) -> str:
        """The exact text fed to the model (chat template applied to chat prompts)."""
        if not is_chat(prompt):
            return prompt  # type: ignore[return-value]
        if not self.has_chat_template:
            raise ConfigError(f"{self.name} has no chat template; send raw string prompts instead")
        return self.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)

    @single_prompt
    def generate(self, prompts: Sequence[Prompt], params: GenerationParams | None = None,
                 on_result: ResultCallback | None = None) -> list[Generation]:
        """Generate for every prompt (batched, longest first); one :class:`Generation` per prompt."""
        params = params or GenerationParams()
        texts = [self.render(p) for p in prompts]
        # chat-rendered text already holds the special tokens; raw strings get the tokenizer's defaults
        specials = [not is_chat(p) for p in prompts]
        encoded = [self.tokenizer(t, add_special_tokens=s)["input_ids"] for t, s in zip(texts, specials)]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        results: list[Generation | None] = [None] * len(prompts)
        cancel = current_cancel()
        t0 = time.perf_counter()
        with self._lock:
            for start in range(0, len(order), self.batch_size):
                raise_if_cancelled(cancel, f"{self.name}: generation")   # queued work for a gone caller
                batch = order[start:start + self.batch_size]
                for i, gen in zip(batch, self._generate_batch([encoded[i] for i in batch], params, cancel)):
                    deliver(results, i, gen, on_result, self.stats)
        self.stats.add(seconds=time.perf_counter() - t0)
        return results  # type: ignore[return-value]

    def _generate_batch(self, ids: list[list[int]], params: GenerationParams,
                        cancel: CancelToken | None = None) -> list[Generation]:
        torch = self.torch
        pad = self.tokenizer.pad_token_id
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)      # (B, T) left-padded
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, x in enumerate(ids):
            input_ids[row, width - len(x):] = torch.tensor(x, dtype=torch.long)
            mask[row, width - len(x):] = 1
        kwargs: dict[str, Any] = {"max_new_tokens": params.max_tokens, "pad_token_id": pad,
                                  "return_dict_in_generate": True, "output_logits": params.logprobs is not None}
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
            if params.seed is not None:
                torch.manual_seed(params.seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        if cancel is not None:
            kwargs["stopping_criteria"] = self._stop_when(cancel)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device),
                                      **kwargs)
        raise_if_cancelled(cancel, f"{self.name}: generation")   # stopped early: the text is truncated
        new = out.sequences[:, width:].cpu()                                   # (B, N) generated ids
        eos = set(self._eos_ids())
        gens = []
        for row in range(len(ids)):
            toks = new[row].tolist()
            n = next((j for j, t in enumerate(toks) if t in eos), len(toks))
            hit_eos = n < len(toks)
            text = self.tokenizer.decode(toks[:n], skip_special_tokens=True)
            text, stopped = apply_stop(text, params.stop)
            gen = Generation(text=text, prompt_tokens=len(ids[row]), completion_tokens=n + int(hit_eos),
                             finish_reason="stop" if (hit_eos or stopped) else "length")
            if params.logprobs is not None:
                gen.logprobs, gen.metadata["tokens"] = self._top_logprobs(out.logits, row, n, params.logprobs, toks)
            gens.append(gen)
        return gens

    def _stop_when(self, cancel: CancelToken) -> Any:
        """A transformers stopping criterion that ends every row once ``cancel`` is set."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        torch = self.torch

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool,
                                  device=input_ids.device)

        return StoppingCriteriaList([_Cancelled()])

    def _eos_ids(self) -> list[int]:
        eos = self.model.generation_config.eos_token_id
        eos = eos if isinstance(eos, list) else [eos]
        return [e for e in eos + [self.tokenizer.eos_token_id] if e is not None]

    def _top_logprobs(self, logits: Sequence[Any], row: int, n: int, k: int,
                      toks: list[int]) -> tuple[list[dict[str, float]], list[str]]:
        torch = self.torch
        out, chosen = [], []
        for step in range(n):
            lp = torch.log_softmax(logits[step][row].float(), dim=-1)          # (V,)
            values, idx = torch.topk(lp, k=max(1, k))
            alts: dict[str, float] = {}
            for v, t in zip(values.tolist(), idx.tolist()):
                piece = self.tokenizer.decode([t])
                alts[piece] = max(alts.get(piece, float("-inf")), v)
            out.append(alts)
            chosen.append(self.tokenizer.decode([toks[step]]))
        return out, chosen

    def __repr__(self) -> str:
        return f"TransformersLLM({self.name!r}, device={self.device!r}, batch_size={self.batch_size})"
