"""``SentenceTransformerEncoder``: sentence-transformers models behind the :class:`Encoder` protocol.

For the common architecture — ``Transformer -> Pooling(mean | cls | lasttoken) [-> Normalize]`` on
text — the forward pass runs through the shared length-sorted engine (:mod:`reasonir.encode.engine`)
on the model's own transformer and tokenizer, which gives the same vectors as
``SentenceTransformer.encode`` (prompts and ``include_prompt`` included) with less overhead. Any other
module stack (dense projections, custom modules) falls back to ``SentenceTransformer.encode``.

Instructions are prompts: ``encode_query(texts, instruction=X)`` prepends
``instruction_template.format(instruction=X)``; without an instruction the model's own ``query`` /
``document`` prompt (from ``config_sentence_transformers.json``) is used, if any.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, require
from ..prompts.instructions import INSTRUCTIONS_VERSION
from .base import encode_batch, l2_normalize, similarity
from .engine import TokenEncoder
from .fast_bert import cpu_forward
from .fingerprint import WeightsRevision, folder_fingerprint
from .runtime import dtype_name, resolve_devices, resolve_dtype

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 32
_FAST_POOLING = {"mean": "mean", "cls": "cls", "lasttoken": "lasttoken"}


class SentenceTransformerEncoder(WeightsRevision):
    """A sentence-transformers model as an :class:`~reasonir.encode.base.Encoder`.

    Args:
        model: a loaded ``SentenceTransformer``.
        name: model id for fingerprints.
        revision: weights identity (computed from the parameters when None).
        query_prompt / document_prompt: prompts used when no instruction is given (default: the
            model's ``query`` / ``document`` (or ``passage``) prompts).
        instruction_template: how an instruction becomes a prompt (``{instruction}`` placeholder).
        include_prompt: pool over prompt tokens too (default: the model's Pooling setting).
        batch_size: texts per batch.
        max_length: max tokens (default: the model's ``max_seq_length``).
        max_batch_tokens: optional cap on padded tokens per batch.
        fast: use the shared engine when the module stack allows it.
        devices: extra replicas per device (fast path only).
        cpu_kernels: on CPU, run BERT models through :class:`~reasonir.encode.fast_bert.FastBert`
            (fused, pre-packed, row-wise attention) and others with row-wise attention (fast path only).
    """

    kind = "sentence-transformers"

    def __init__(self, model: Any, *, name: str = "sentence-transformer", revision: str | None = None,
                 query_prompt: str | None = None, document_prompt: str | None = None,
                 instruction_template: str = "{instruction}\n", include_prompt: bool | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE, max_length: int | None = None,
                 max_batch_tokens: int | None = None, fast: bool = True,
                 devices: str | Sequence[str] | None = None, cpu_kernels: bool = True):
        if "{instruction}" not in instruction_template:
            raise ConfigError(f"instruction_template must contain '{{instruction}}', got {instruction_template!r}")
        self.model = model.eval()
        self.name = name
        self._revision = revision
        prompts = dict(getattr(model, "prompts", None) or {})
        self.query_prompt = query_prompt if query_prompt is not None else (prompts.get("query") or None)
        self.document_prompt = document_prompt if document_prompt is not None else (
            prompts.get("document") or prompts.get("passage") or None)
        self.instruction_template = instruction_template
        self.batch_size = int(batch_size)
        if max_length is not None:
            model.max_seq_length = int(max_length)
        self.max_length = int(model.max_seq_length) if model.max_seq_length else None
        modules = list(model)
        pooling_mod = next((m for m in modules if type(m).__name__ == "Pooling"), None)
        self.include_prompt = (include_prompt if include_prompt is not None
                               else bool(getattr(pooling_mod, "include_prompt", True)))
        if pooling_mod is not None and include_prompt is not None:
            pooling_mod.include_prompt = include_prompt
        self.pooling = self._pooling_mode(pooling_mod)
        self._fast = fast and self._fast_compatible(modules)
        self._dim = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                        else model.get_sentence_embedding_dimension())
        self._engine: TokenEncoder | None = None
        self.tokenizer: Any = getattr(model, "tokenizer", None)     # a transformers tokenizer
        if self._fast:
            import copy

            # _fast_compatible accepts only the _FAST_POOLING modes and models with a fast tokenizer
            assert self.pooling is not None and self.tokenizer is not None
            transformer = modules[0].auto_model
            dev_list = resolve_devices(devices) if devices is not None else [next(transformer.parameters()).device]
            transformer.to(dev_list[0])
            replicas = [transformer] + [copy.deepcopy(transformer).to(d) for d in dev_list[1:]]
            if cpu_kernels:
                replicas = [cpu_forward(m) for m in replicas]
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            self._engine = TokenEncoder(replicas, dim=self._dim, pad_id=pad, pooling=self.pooling,
                                        batch_size=self.batch_size, max_batch_tokens=max_batch_tokens)
        self._prompt_len: dict[str, int] = {}

    @staticmethod
    def _pooling_mode(pooling_mod: Any) -> str | None:
        if pooling_mod is None:
            return None
        mode = getattr(pooling_mod, "pooling_mode", None)
        if isinstance(mode, str):
            return mode
        cfg = pooling_mod.get_config_dict() if hasattr(pooling_mod, "get_config_dict") else {}
        return cfg.get("pooling_mode")

    def _fast_compatible(self, modules: list[Any]) -> bool:
        names = [type(m).__name__ for m in modules]
        if len(names) < 2 or names[0] != "Transformer" or names[1] != "Pooling":
            return False
        if any(n != "Normalize" for n in names[2:]):
            return False
        if self.pooling not in _FAST_POOLING:
            return False
        tok = getattr(self.model, "tokenizer", None)
        return tok is not None and getattr(tok, "is_fast", False) and hasattr(modules[0], "auto_model")

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, dtype: str = "auto", device: str | Sequence[str] = "auto",
                        max_length: int | None = None, batch_size: int | None = None, revision: str | None = None,
                        trust_remote_code: bool = False, cache_dir: str | None = None, name: str | None = None,
                        **kwargs: Any) -> SentenceTransformerEncoder:
        """Load a sentence-transformers model (Hub id or folder) with the given dtype and device(s)."""
        st = require("sentence_transformers", "encode", package="sentence-transformers")
        devices = resolve_devices(device)
        torch_dtype = resolve_dtype(dtype, devices[0])
        source = str(name_or_path)
        model = st.SentenceTransformer(source, device=str(devices[0]), revision=revision, cache_folder=cache_dir,
                                       trust_remote_code=trust_remote_code,
                                       model_kwargs={"dtype": torch_dtype})
        model.to(torch_dtype)
        rev = revision
        if Path(source).is_dir():
            rev = "local:" + folder_fingerprint(source)
        return cls(model, name=name or source, revision=rev, batch_size=batch_size or DEFAULT_BATCH_SIZE,
                   max_length=max_length, devices=[str(d) for d in devices], **kwargs)

    # ------------------------------------------------------------------ encoding
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def stats(self) -> Any:
        return self._engine.stats if self._engine is not None else None

    def _prompt(self, instruction: str | None, default: str | None) -> str:
        if instruction:
            return self.instruction_template.format(instruction=instruction)
        return default or ""

    def prompt_length(self, prompt: str) -> int:
        """Tokens of ``prompt`` alone, without a trailing special token (sentence-transformers' rule)."""
        if prompt not in self._prompt_len:
            ids = self.tokenizer([prompt], add_special_tokens=True)["input_ids"][0]
            n = len(ids)
            if ids and ids[-1] in set(self.tokenizer.all_special_ids):
                n -= 1
            self._prompt_len[prompt] = n
        return self._prompt_len[prompt]

    def encode(self, texts: str | Sequence[str], prompt: str = "", batch_size: int | None = None,
               desc: str = "encoding") -> np.ndarray:
        """Embed ``texts`` with ``prompt`` prepended; ``float32 [n, dim]`` (``[dim]`` for one string), L2-normalised."""
        return encode_batch(lambda batch: self._encode(batch, prompt, batch_size, desc), texts)

    def _encode(self, texts: list[str], prompt: str, batch_size: int | None, desc: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._engine is None:
            out = self.model.encode(texts, prompt=prompt or None, batch_size=batch_size or self.batch_size,
                                    convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
            return l2_normalize(np.asarray(out, dtype=np.float32))
        ids = self.tokenizer([prompt + t for t in texts], add_special_tokens=True, truncation=True,
                             max_length=self.max_length, return_attention_mask=False,
                             return_token_type_ids=False)["input_ids"]
        start = self.prompt_length(prompt) if (prompt and not self.include_prompt) else 0
        return self._engine.run(ids, start, batch_size=batch_size, desc=desc)

    def encode_query(self, texts: str | Sequence[str], instruction: str | None = None,
                     batch_size: int | None = None) -> np.ndarray:
        """Query vectors ``[n, dim]`` (``[dim]`` for a single string)."""
        return self.encode(texts, self._prompt(instruction, self.query_prompt), batch_size, desc="queries")

    def encode_document(self, texts: str | Sequence[str], instruction: str | None = None,
                        batch_size: int | None = None) -> np.ndarray:
        """Document vectors ``[n, dim]`` (``[dim]`` for a single string)."""
        return self.encode(texts, self._prompt(instruction, self.document_prompt), batch_size, desc="documents")

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity ``[n, d] x [m, d] -> [n, m]``."""
        return similarity(a, b)

    def __repr__(self) -> str:
        param = next(self.model.parameters())
        return (f"SentenceTransformerEncoder({self.name!r}, dim={self.dim}, pooling={self.pooling!r}, "
                f"max_length={self.max_length}, device={str(param.device)!r}, dtype={dtype_name(param.dtype)!r})")

    def settings(self) -> dict[str, Any]:
        return {"encoder": self.kind, "name": self.name, "pooling": self.pooling, "max_length": self.max_length,
                "include_prompt": self.include_prompt, "query_prompt": self.query_prompt,
                "document_prompt": self.document_prompt, "instruction_template": self.instruction_template}

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the vectors: model + revision, dtype, max length, pooling, prompts."""
        dtype = next(self.model.parameters()).dtype
        return {**self.settings(), "model": self.name, "revision": self.revision, "dtype": dtype_name(dtype),
                "instructions_version": INSTRUCTIONS_VERSION}

    def save(self, path: str | Path) -> Path:
        """Export as a sentence-transformers folder plus encoder settings (see :mod:`reasonir.encode.export`)."""
        from .export import export_encoder

        return export_encoder(self, path)
