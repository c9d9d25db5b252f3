"""A NumPy forward for BERT sentence-transformers encoders: one query in milliseconds, no torch.

A one-off search (``reasonir search INDEX "query"``) spends seconds importing torch, transformers
and sentence-transformers and a few milliseconds encoding the query. For BERT-family
sentence-transformers folders (the embedded all-MiniLM-L6-v2, BGE, E5, GTE...) this module encodes
queries with NumPy alone: the tokenizer from ``tokenizer.json`` (the ``tokenizers`` package), the
weights from ``model.safetensors`` (``safetensors.numpy``), and the folder's own settings — max
length, pooling (``mean`` / ``cls``), ``include_prompt``, ``do_lower_case``, prompts. It computes what
:class:`~reasonir.encode.st.SentenceTransformerEncoder` computes in float32 (to ~1e-6), and its
:meth:`~NumpyBertEncoder.fingerprint` is built the same way, so an index accepts it only when it is
the encoder that built it.

:func:`numpy_bert_unsupported` says why a folder cannot run here (then the caller loads the torch
encoder): not a ``BertModel``, no ``model.safetensors`` or ``tokenizer.json``, other modules than
Transformer -> Pooling [-> Normalize], another pooling or activation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..prompts.instructions import INSTRUCTIONS_VERSION
from .base import encode_batch, l2_normalize, similarity
from .fingerprint import folder_fingerprint
from .settings import SentenceTransformerSettings, read_json, read_model_config, read_st_settings

_POOLINGS = ("mean", "cls")
DEFAULT_BATCH_SIZE = 32
#: batches of at most this many tokens (padded) run with single-threaded BLAS
_SMALL_BATCH_TOKENS = 2048


def numpy_bert_unsupported(path: str | Path) -> str | None:
    """``None`` when :class:`NumpyBertEncoder` can run the sentence-transformers folder ``path``, else why not."""
    root = Path(path)
    st = read_st_settings(root)
    if st is None:
        return "no modules.json (not a sentence-transformers folder)"
    if st.modules[:2] != ("Transformer", "Pooling") or any(m != "Normalize" for m in st.modules[2:]):
        return f"modules {' -> '.join(st.modules)} (supported: Transformer -> Pooling [-> Normalize])"
    if st.pooling not in _POOLINGS:
        return f"pooling {st.pooling!r} (supported: {', '.join(_POOLINGS)})"
    model_dir = st.transformer_dir
    for name in ("model.safetensors", "tokenizer.json"):
        if not (model_dir / name).is_file():
            return f"no {name}"
    cfg = read_model_config(model_dir)
    if cfg.get("model_type") != "bert" or cfg.get("architectures", ["BertModel"]) != ["BertModel"]:
        return f"model type {cfg.get('model_type')!r} / {cfg.get('architectures')} (supported: BertModel)"
    if cfg.get("hidden_act", "gelu") != "gelu":
        return f"activation {cfg.get('hidden_act')!r} (supported: gelu)"
    if cfg.get("position_embedding_type", "absolute") != "absolute" or cfg.get("is_decoder"):
        return "relative positions or a decoder BERT"
    return None


def _gelu(h: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU in float32, erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), mostly in place.

    With ``z = |h| / sqrt(2)`` and ``r = (1 - erf(z)) / 2 = poly(t) * exp(-z^2) / 2``:
    ``gelu(h) = h * (1 - r)`` for ``h >= 0`` and ``h * r`` below zero.
    """
    z = np.abs(h) * np.float32(1 / math.sqrt(2))
    t = z * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z
    poly *= 0.5                                                               # r
    return h * np.where(h >= 0, 1.0 - poly, poly)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)                                       # [B, L, 1]
    var = np.square(x - mu).mean(axis=-1, keepdims=True)                      # [B, L, 1]
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyBert:
    """The ``BertModel`` forward (no pooler) on NumPy float32 weights read from ``model.safetensors``."""

    def __init__(self, model_dir: str | Path):
        from safetensors.numpy import load_file

        cfg = read_model_config(model_dir)
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.max_positions = int(cfg.get("max_position_embeddings", 512))
        raw = load_file(str(Path(model_dir) / "model.safetensors"))
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in raw else ""
        self.w = {k[len(prefix):]: np.asarray(v, dtype=np.float32) for k, v in raw.items() if k.startswith(prefix)}
        for i in range(self.layers):                   # one [D, 3D] projection for query, key and value
            p = f"encoder.layer.{i}.attention.self."
            self.w[p + "qkv.weight"] = np.concatenate([self.w[p + n + ".weight"] for n in ("query", "key", "value")]).T
            self.w[p + "qkv.bias"] = np.concatenate([self.w.pop(p + n + ".bias") for n in ("query", "key", "value")])
            for n in ("query", "key", "value"):
                del self.w[p + n + ".weight"]
        for name in [k for k in self.w if k.endswith("dense.weight")]:
            self.w[name] = self.w[name].T              # [in, out] for x @ W: a transposed view, BLAS reads it as is
        self.dim = int(self.w["embeddings.word_embeddings.weight"].shape[1])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Hidden states ``[B, L, D]`` of token ids ``[B, L]`` (right-padded; ``mask`` 1 at real tokens)."""
        w, (B, L), D, H = self.w, ids.shape, self.dim, self.heads
        x = (w["embeddings.word_embeddings.weight"][ids]                       # [B, L, D]
             + w["embeddings.position_embeddings.weight"][:L][None]            # [1, L, D]
             + w["embeddings.token_type_embeddings.weight"][0])                # [D]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)  # [B,1,1,L]
        scale = 1.0 / math.sqrt(D // H)
        x = x.reshape(B * L, D)                        # 2-D products: one BLAS call each, not B small ones
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            qkv = x @ w[p + "attention.self.qkv.weight"] + w[p + "attention.self.qkv.bias"]  # [B*L, 3D]
            # contiguous heads: NumPy's matmul falls back to a slow loop on strided operands
            q, k, v = np.ascontiguousarray(qkv.reshape(B, L, 3, H, D // H).transpose(2, 0, 3, 1, 4))  # [B, H, L, Dh]
            scores = (q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2))) * scale + bias  # [B, H, L, L]
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(B * L, D)          # [B, H, L, Dh] -> [B*L, D]
            attn = ctx @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(attn + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"]  # [B*L, 4D]
            h = _gelu(h)
            out = h @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]            # [B*L, D]
            x = _layer_norm(out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        return x.reshape(B, L, D)


class NumpyBertEncoder:
    """A BERT sentence-transformers folder as an :class:`~reasonir.encode.base.Encoder`, on NumPy.

    Built by :meth:`from_folder`; settings and fingerprint mirror
    :class:`~reasonir.encode.st.SentenceTransformerEncoder` (fp32), whose vectors it reproduces.
    """

    kind = "sentence-transformers"

    def __init__(self, model: NumpyBert, tokenizer: Any, st: SentenceTransformerSettings, *, name: str,
                 revision: str, max_length: int, query_prompt: str | None = None,
                 document_prompt: str | None = None, instruction_template: str = "{instruction}\n",
                 include_prompt: bool | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        self.model, self.tokenizer, self.name, self.revision = model, tokenizer, name, revision
        self.max_length = int(max_length)
        self.do_lower_case = st.do_lower_case
        self.pooling = str(st.pooling)
        self.include_prompt = st.include_prompt if include_prompt is None else bool(include_prompt)
        self.query_prompt = query_prompt if query_prompt is not None else (st.prompts.get("query") or None)
        self.document_prompt = document_prompt if document_prompt is not None else (
            st.prompts.get("document") or st.prompts.get("passage") or None)
        self.instruction_template = instruction_template
        self.batch_size = int(batch_size)
        self._special = {i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
        self._prompt_len: dict[str, int] = {}

    @classmethod
    def from_folder(cls, path: str | Path, *, name: str | None = None, max_length: int | None = None,
                    batch_size: int | None = None, **settings: Any) -> NumpyBertEncoder:
        """Load the folder ``path`` (check it first with :func:`numpy_bert_unsupported`).

        Args:
            path: a sentence-transformers folder of a ``BertModel``.
            name: model id for fingerprints (default: ``path``).
            max_length: max tokens (default: the folder's ``max_seq_length``).
            batch_size: texts per forward pass.
            **settings: ``query_prompt``, ``document_prompt``, ``instruction_template``, ``include_prompt``.
        """
        from tokenizers import Tokenizer

        st = read_st_settings(path)
        if st is None:
            raise FileNotFoundError(f"{path}: no modules.json (not a sentence-transformers folder)")
        model = NumpyBert(st.transformer_dir)
        tok_cfg = read_json(st.transformer_dir / "tokenizer_config.json") or {}
        limit = max_length or st.max_seq_length or min(model.max_positions,
                                                       int(tok_cfg.get("model_max_length") or model.max_positions))
        tokenizer = Tokenizer.from_file(str(st.transformer_dir / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(int(limit))
        return cls(model, tokenizer, st, name=name or str(path), revision="local:" + folder_fingerprint(path),
                   max_length=int(limit), batch_size=batch_size or DEFAULT_BATCH_SIZE, **settings)

    @property
    def dim(self) -> int:
        return self.model.dim

    def prompt_length(self, prompt: str) -> int:
        """Tokens of ``prompt`` alone, without a trailing special token (sentence-transformers' rule)."""
        if prompt not in self._prompt_len:
            ids = self.tokenizer.encode(prompt).ids
            self._prompt_len[prompt] = len(ids) - (1 if ids and ids[-1] in self._special else 0)
        return self._prompt_len[prompt]

    def _prompt(self, instruction: str | None, default: str | None) -> str:
        return self.instruction_template.format(instruction=instruction) if instruction else (default or "")

    def _encode(self, texts: list[str], prompt: str, batch_size: int | None) -> np.ndarray:
        full = [prompt + t for t in texts]
        if self.do_lower_case:
            full = [t.lower() for t in full]
        ids = [e.ids for e in self.tokenizer.encode_batch(full)]
        start = self.prompt_length(prompt) if (prompt and not self.include_prompt) else 0
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))            # little padding per batch
        step = batch_size or self.batch_size
        for b in range(0, len(order), step):
            rows = order[b:b + step]
            L = max(len(ids[i]) for i in rows)
            tokens = np.zeros((len(rows), L), dtype=np.int64)                  # [B, L], 0-padded
            mask = np.zeros((len(rows), L), dtype=np.float32)                  # [B, L]
            for r, i in enumerate(rows):
                tokens[r, :len(ids[i])] = ids[i]
                mask[r, :len(ids[i])] = 1.0
            hidden = self._forward(tokens, mask)                                # [B, L, D]
            keep = mask.copy()
            keep[:, :start] = 0.0                                               # prompt tokens are not pooled
            if self.pooling == "mean":
                count = np.maximum(keep.sum(axis=1, keepdims=True), 1.0)        # [B, 1]
                out[rows] = np.einsum("bl,bld->bd", keep, hidden) / count       # [B, D]
            else:                                                               # cls: first pooled token
                first = np.minimum(start, np.asarray([len(ids[i]) for i in rows]) - 1)
                out[rows] = np.where(keep.sum(axis=1, keepdims=True) > 0, hidden[np.arange(len(rows)), first], 0.0)
        return l2_normalize(out)

    def _forward(self, tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The model on one batch; BLAS on one thread for small batches, where waking a thread pool costs
        more than it saves (and, on a busy machine, up to a second per query)."""
        if tokens.size > _SMALL_BATCH_TOKENS:
            return self.model(tokens, mask)
        from .runtime import blas_threads

        with blas_threads(1):
            return self.model(tokens, mask)

    def encode(self, texts: str | Sequence[str], prompt: str = "", batch_size: int | None = None) -> np.ndarray:
        """Embed ``texts`` with ``prompt`` prepended; ``float32 [n, dim]`` (``[dim]`` for one string), L2-normalised."""
        return encode_batch(lambda batch: self._encode(batch, prompt, batch_size), texts)

    def encode_query(self, texts: str | Sequence[str], instruction: str | None = None,
                     batch_size: int | None = None) -> np.ndarray:
        """Query vectors ``[n, dim]`` (``[dim]`` for a single string)."""
        return self.encode(texts, self._prompt(instruction, self.query_prompt), batch_size)

    def encode_document(self, texts: str | Sequence[str], instruction: str | None = None,
                        batch_size: int | None = None) -> np.ndarray:
        """Document vectors ``[n, dim]`` (``[dim]`` for a single string)."""
        return self.encode(texts, self._prompt(instruction, self.document_prompt), batch_size)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Cosine similarity ``[n, d] x [m, d] -> [n, m]``."""
        return similarity(a, b)

    def settings(self) -> dict[str, Any]:
        return {"encoder": self.kind, "name": self.name, "pooling": self.pooling, "max_length": self.max_length,
                "include_prompt": self.include_prompt, "query_prompt": self.query_prompt,
                "document_prompt": self.document_prompt, "instruction_template": self.instruction_template}

    def fingerprint(self) -> dict[str, Any]:
        """As :meth:`SentenceTransformerEncoder.fingerprint` for the same folder loaded in float32."""
        return {**self.settings(), "model": self.name, "revision": self.revision, "dtype": "fp32",
                "instructions_version": INSTRUCTIONS_VERSION}

    def __repr__(self) -> str:
        return (f"NumpyBertEncoder({self.name!r}, dim={self.dim}, pooling={self.pooling!r}, "
                f"max_length={self.max_length})")
