"""``LLMEncoder``: a decoder LM (LLaMA, Qwen2/3, Mistral) used as a bidirectional bi-encoder, as in ReasonIR.

The algorithm of the released ReasonIR-8B model:

1. text -> ``prefix + text`` with ``prefix = "<|user|>\\n{instruction}\\n<|embed|>\\n"`` when there is an
   instruction and ``"<|embed|>\\n"`` otherwise (:mod:`reasonir.prompts.instructions`);
2. tokenise with the tokenizer's special tokens (LLaMA-3 prepends BOS; for tokenizers that do not,
   ``add_bos`` prepends it), truncate to ``max_length``, pad on the right;
3. forward with bidirectional attention (``config.is_causal = False``, checked at load time);
4. mean-pool the last hidden states over the text tokens only: the first ``len(tokenize(prefix))``
   positions (BOS + prefix, tokenised alone with special tokens) are attended to but not pooled;
5. L2-normalise; score by cosine.

The checkpoint ``reasonir/ReasonIR-8B`` (``architectures: ["ReasonIRModel"]``, ``model_type: "llama"``,
bf16) loads straight into this class with :meth:`LLMEncoder.from_pretrained` as a ``LlamaModel`` —
its remote code is never executed.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataFormatError, require
from ..prompts.instructions import INSTRUCTIONS_VERSION, PROMPT_FORMATS, PromptFormat
from ..types import as_text_batch
from .attention import ROWWISE
from .base import encode_batch, similarity
from .bidirectional import check_model_type, make_bidirectional, verify_bidirectional
from .engine import TokenEncoder
from .fast_bert import cpu_forward
from .fingerprint import WeightsRevision, folder_fingerprint
from .pooling import POOLINGS
from .runtime import dtype_name, resolve_devices, resolve_dtype
from .settings import read_encoder_settings

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 2048
DEFAULT_BATCH_SIZE = 16
#: defaults per published architecture name: ReasonIR's BRIGHT evaluation embeds up to 32,768 tokens;
#: the token budget keeps a length-sorted batch of such texts within GPU memory
ARCHITECTURE_DEFAULTS: dict[str, dict[str, int]] = {
    "ReasonIRModel": {"max_length": 32768, "max_batch_tokens": 65536},
}


def _prompt_format(value: str | PromptFormat | dict[str, str]) -> PromptFormat:
    if isinstance(value, PromptFormat):
        return value
    if isinstance(value, dict):
        return PromptFormat(name=value.get("name", "custom"), with_instruction=value["with_instruction"],
                            without_instruction=value["without_instruction"])
    if value not in PROMPT_FORMATS:
        raise ConfigError(f"unknown prompt format {value!r}; choose one of {', '.join(PROMPT_FORMATS)}")
    return PROMPT_FORMATS[value]


class LLMEncoder(WeightsRevision):
    """Bidirectional, mean-pooled decoder-LM bi-encoder (ReasonIR architecture).

    Args:
        model: a ``LlamaModel``/``Qwen2Model``/``Qwen3Model``/``MistralModel`` (or the ``*ForCausalLM``
            wrapper, whose inner model is used). It is made bidirectional in place.
        tokenizer: its tokenizer.
        name: model id recorded in fingerprints (Hub id or folder).
        revision: weights identity (commit hash / folder digest); computed from the parameters if None.
        prompt_format: ``"reasonir"`` (default), ``"plain"`` or a :class:`PromptFormat`.
        pooling: ``mean`` (ReasonIR), ``lasttoken`` or ``cls``.
        max_length: tokens per text including BOS and prefix.
        batch_size: texts per forward pass.
        max_batch_tokens: optional cap on padded tokens per batch (short texts then batch wider).
        add_bos: make sure every sequence starts with the tokenizer's BOS token.
        devices: ``"auto"``, ``"cpu"``, ``"cuda:0,cuda:1"``, ... — one replica per device.
        check_bidirectional: run the load-time probe (:func:`verify_bidirectional`).
        cpu_kernels: on CPU, encode with row-wise attention over each text's real tokens
            (:mod:`reasonir.encode.attention`); calls without lengths (training) keep transformers' SDPA.
    """

    kind = "llm"

    def __init__(self, model: Any, tokenizer: Any, *, name: str = "llm", revision: str | None = None,
                 prompt_format: str | PromptFormat | dict[str, str] = "reasonir", pooling: str = "mean",
                 max_length: int = DEFAULT_MAX_LENGTH, batch_size: int = DEFAULT_BATCH_SIZE,
                 max_batch_tokens: int | None = None, add_bos: bool = True,
                 devices: str | Sequence[str] | None = None, check_bidirectional: bool = True,
                 cpu_kernels: bool = True):
        if hasattr(model, "lm_head") and hasattr(model, "model"):
            model = model.model                                  # *ForCausalLM -> its base model
        if pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if max_length < 2:
            raise ConfigError(f"max_length must be at least 2, got {max_length}")
        make_bidirectional(model)
        model.eval()
        self.name = name
        self._revision = revision
        self.prompt_format = _prompt_format(prompt_format)
        self.pooling = pooling
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.tokenizer = tokenizer
        dev_list = resolve_devices(devices) if devices is not None else [next(model.parameters()).device]
        self.model = model.to(dev_list[0])
        if check_bidirectional:
            verify_bidirectional(self.model, source=name)
        replicas = [self.model] + [copy.deepcopy(self.model).to(d) for d in dev_list[1:]]
        if cpu_kernels:
            replicas = [cpu_forward(m) for m in replicas]      # decoders: same model, row-wise attention
            if check_bidirectional and self.model.config._attn_implementation == ROWWISE:
                verify_bidirectional(self.model, source=name)  # the padded-mask fallback path, too
        self.devices = dev_list
        bos = getattr(tokenizer, "bos_token_id", None)
        self._bos = bos if add_bos and bos is not None else None
        probe = tokenizer("a", add_special_tokens=True)["input_ids"]
        self._prepend_bos = self._bos is not None and (not probe or probe[0] != self._bos)
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = bos if bos is not None else (tokenizer.eos_token_id or 0)
        self._engine = TokenEncoder(replicas, dim=int(model.config.hidden_size), pad_id=pad, pooling=pooling,
                                    batch_size=self.batch_size, max_batch_tokens=max_batch_tokens,
                                    forward_kwargs={"use_cache": False})
        self._prefix_cache: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, dtype: str = "auto", device: str | Sequence[str] = "auto",
                        max_length: int | None = None, batch_size: int | None = None, revision: str | None = None,
                        prompt_format: str | PromptFormat | None = None, pooling: str | None = None,
                        max_batch_tokens: int | None = None, check_bidirectional: bool = True,
                        cache_dir: str | None = None, attn_implementation: str = "sdpa",
                        name: str | None = None, cpu_kernels: bool = True) -> LLMEncoder:
        """Load a decoder checkpoint (Hub id or folder) as a bidirectional encoder, without remote code.

        Works for ``reasonir/ReasonIR-8B`` (its ``ReasonIRModel`` class is a ``LlamaModel`` subclass;
        the weights load into ``LlamaModel``; defaults follow the official BRIGHT evaluation: max
        length 32,768), any LLaMA/Qwen2/Qwen3/Mistral checkpoint (base or ``*ForCausalLM``), and
        folders written by :func:`reasonir.encode.export.export_encoder`. On CUDA the weights are
        loaded straight onto the first device.

        Raises:
            ConfigError: unsupported model type (lists the validated ones) or bad option.
            DataFormatError: the checkpoint's weights do not match its config (missing tensors).
        """
        transformers = require("transformers", "encode")
        from transformers.models.auto.modeling_auto import MODEL_MAPPING

        source = str(name_or_path)
        local = Path(source).is_dir()
        saved = read_encoder_settings(source) if local else {}
        devices = resolve_devices(device)
        torch_dtype = resolve_dtype(dtype, devices[0])
        hub_kw = {"revision": revision, "cache_dir": cache_dir}
        config = transformers.AutoConfig.from_pretrained(source, trust_remote_code=False, **hub_kw)
        check_model_type(config, source)
        config.is_causal = False
        arch = next((ARCHITECTURE_DEFAULTS[a] for a in (config.architectures or []) if a in ARCHITECTURE_DEFAULTS), {})
        model_cls: Any = MODEL_MAPPING[type(config)]   # a model class (typed as a tuple by transformers)
        placement = {"device_map": str(devices[0])} if devices[0].type == "cuda" else {}   # load straight to GPU
        model, info = model_cls.from_pretrained(source, config=config, dtype=torch_dtype, output_loading_info=True,
                                                attn_implementation=attn_implementation, **placement, **hub_kw)
        missing = [k for k in info.get("missing_keys", []) if "rotary" not in k]
        if missing:
            raise DataFormatError(f"{len(missing)} weights of {model_cls.__name__} are missing from the checkpoint "
                                  f"(e.g. {sorted(missing)[:3]}); is this the right model folder?", source)
        tokenizer = transformers.AutoTokenizer.from_pretrained(source, **hub_kw)
        rev = getattr(config, "_commit_hash", None) or revision
        if local:
            rev = "local:" + folder_fingerprint(source)
        return cls(model, tokenizer, name=name or saved.get("name") or source, revision=rev,
                   prompt_format=prompt_format or saved.get("prompt_format", "reasonir"),
                   pooling=pooling or saved.get("pooling", "mean"),
                   max_length=max_length or saved.get("max_length") or arch.get("max_length", DEFAULT_MAX_LENGTH),
                   batch_size=batch_size or DEFAULT_BATCH_SIZE,
                   max_batch_tokens=max_batch_tokens or arch.get("max_batch_tokens"),
                   add_bos=saved.get("add_bos", True), devices=[str(d) for d in devices],
                   check_bidirectional=check_bidirectional, cpu_kernels=cpu_kernels)

    # ------------------------------------------------------------------ encoding
    @property
    def dim(self) -> int:
        return self._engine.dim

    @property
    def stats(self) -> Any:
        """Counters of the last encode call (tokens, padding, batches)."""
        return self._engine.stats

    def tokenize(self, strings: str | Sequence[str]) -> Any:
        """Token ids of full strings (special tokens, BOS ensured, truncated to ``max_length``).

        Returns:
            One id list per string (``list[list[int]]``); one id list for a single string.
        """
        batch, single = as_text_batch(strings, "strings")
        limit = self.max_length - (1 if self._prepend_bos else 0)
        ids = self.tokenizer(batch, add_special_tokens=True, truncation=True, max_length=limit,
                             return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        if self._prepend_bos:
            ids = [[self._bos, *x] for x in ids]
        return ids[0] if single else ids

    def prefix_ids(self, instruction: str | None) -> list[int]:
        """Token ids of the prefix alone (BOS included); empty when the prefix is empty."""
        prefix = self.prompt_format.prefix(instruction)
        if not prefix:
            return []
        if prefix not in self._prefix_cache:
            self._prefix_cache[prefix] = self.tokenize([prefix])[0]
        return self._prefix_cache[prefix]

    def encode(self, texts: str | Sequence[str], instruction: str | None = None, batch_size: int | None = None,
               desc: str = "encoding") -> np.ndarray:
        """Embed ``texts`` with ``instruction`` (``None``: the instruction-less ``<|embed|>`` prefix).

        Returns:
            ``float32 [len(texts), dim]`` (``[dim]`` for a single string), L2-normalised.
        """
        return encode_batch(lambda batch: self._encode(batch, instruction, batch_size, desc), texts)

    def _encode(self, texts: list[str], instruction: str | None, batch_size: int | None, desc: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.prompt_format.prefix(instruction)
        ids = self.tokenize([prefix + t for t in texts])
        start = len(self.prefix_ids(instruction))
        if start:
            want = self.prefix_ids(instruction)
            off = sum(1 for x in ids if x[:start] != want)
            if off:
                logger.debug("%d texts tokenise across the prefix boundary; pooling skips the first %d tokens "
                             "as the released model does", off, start)
        return self._engine.run(ids, start, batch_size=batch_size, desc=desc)

    def encode_query(self, texts: str | Sequence[str], instruction: str | None = None,
                     batch_size: int | None = None) -> np.ndarray:
        """Embed queries (``[n, dim]``, ``[dim]`` for one string); pass the task's instruction (e.g. BRIGHT's)."""
        return self.encode(texts, instruction, batch_size, desc="queries")

    def encode_document(self, texts: str | Sequence[str], instruction: str | None = None,
                        batch_size: int | None = None) -> np.ndarray:
        """Embed documents (``[n, dim]``, ``[dim]`` for one string); ReasonIR documents take no instruction."""
        return self.encode(texts, instruction, batch_size, desc="documents")

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity ``[n, d] x [m, d] -> [n, m]``."""
        return similarity(a, b)

    def __repr__(self) -> str:
        devices = ",".join(str(d) for d in self.devices)
        return (f"LLMEncoder({self.name!r}, dim={self.dim}, pooling={self.pooling!r}, max_length={self.max_length}, "
                f"prompt_format={self.prompt_format.name!r}, device={devices!r}, "
                f"dtype={dtype_name(next(self.model.parameters()).dtype)!r})")

    def settings(self) -> dict[str, Any]:
        """The options that define this encoder beyond its weights (saved by export)."""
        fmt = self.prompt_format
        return {"encoder": self.kind, "name": self.name, "pooling": self.pooling, "max_length": self.max_length,
                "add_bos": self._bos is not None,
                "prompt_format": {"name": fmt.name, "with_instruction": fmt.with_instruction,
                                  "without_instruction": fmt.without_instruction}}

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the vectors: model + revision, dtype, max length, pooling, format."""
        return {**self.settings(), "model": self.name, "revision": self.revision, "bidirectional": True,
                "dtype": dtype_name(next(self.model.parameters()).dtype), "instructions_version": INSTRUCTIONS_VERSION}

    def save(self, path: str | Path) -> Path:
        """Export as a sentence-transformers-compatible folder (see :func:`reasonir.encode.export.export_encoder`)."""
        from .export import export_encoder

        return export_encoder(self, path)

