"""Row-wise unpadded attention for bidirectional encoders on CPU.

On CPU, torch's fused attention kernel is slow for the small head sizes of sentence encoders (MiniLM:
12 heads of 32) and runs bf16 no faster than fp32: measured at batch 32 x 256 tokens it takes about
twice as long as the plain product -> softmax -> product done one sequence at a time, because one
sequence's ``[heads, n, n]`` score block stays in cache and the products run at near-peak speed.
Doing it row by row also removes padding from attention entirely: each sequence attends over exactly
its own ``n`` tokens, so no mask is built or read.

The function is registered with transformers' ``AttentionInterface`` under :data:`ROWWISE` and used
when the caller passes ``row_lengths`` (the encoding engine does, one true length per row, right
padding). Without ``row_lengths`` — training, a caller that did not opt in — it falls back to
transformers' SDPA path with the usual padding mask, so installing it never changes a result.

Only for bidirectional (non-causal) models: every token attends to every real token of its row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

ROWWISE = "reasonir_rowwise"
# Model families whose attention is plain scaled dot-product over all tokens (validated by tests).
ROWWISE_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "llama", "qwen2", "qwen3", "mistral")
# Attention variants the row-wise path does not implement: calls with these fall back to SDPA.
_UNSUPPORTED_KWARGS = ("sliding_window", "softcap", "s_aux", "position_bias")
_registered = False


def rowwise(query: Any, key: Any, value: Any, row_lengths: Sequence[int], scale: float,
            out: Any = None) -> Any:
    """Bidirectional attention one row at a time over each row's first ``row_lengths[i]`` tokens.

    Args:
        query: ``[B, H, L, d]``; key / value: ``[B, H_kv, L, d]`` / ``[B, H_kv, L, d_v]`` (any strides;
            grouped-query heads allowed: query head ``j`` uses key/value head ``j // (H / H_kv)``).
        row_lengths: real tokens per row (right padding).
        scale: multiplies the scores (usually ``d ** -0.5``).
        out: optional ``[B, L, H, d_v]`` buffer to write into; positions past a row's length are
            left untouched (zeros in a new buffer).

    Returns:
        ``out``, ``[B, L, H, d_v]``.
    """
    import torch

    b, h, length, d = query.shape
    h_kv, d_v = key.shape[1], value.shape[-1]
    if len(row_lengths) != b:
        raise ValueError(f"row_lengths has {len(row_lengths)} entries for a batch of {b}")
    if h % h_kv:
        raise ValueError(f"{h} query heads cannot share {h_kv} key/value heads")
    groups = h // h_kv
    if out is None:
        out = query.new_zeros(b, length, h, d_v)                               # [B, L, H, d_v]
    for i, n in enumerate(row_lengths):
        n = min(int(n), length)
        if n <= 0:
            continue
        q = torch.mul(query[i, :, :n], scale, out=query.new_empty(h, n, d))     # [H, n, d], contiguous
        q = q.view(h_kv, groups * n, d)                                          # [H_kv, g*n, d]
        scores = torch.matmul(q, key[i, :, :n].transpose(-1, -2))               # [H_kv, g*n, n]
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, value[i, :, :n])                              # [H_kv, g*n, d_v]
        out[i, :n] = ctx.view(h, n, d_v).transpose(0, 1)                        # [n, H, d_v]
    return out


def padded(query: Any, key: Any, value: Any, row_lengths: Sequence[int], scale: float) -> Any:
    """Bidirectional attention over the whole padded batch in one fused call, padding keys masked out.

    The fp32 counterpart of :func:`rowwise`: one ``scaled_dot_product_attention`` call per layer, so
    the whole batch is one parallel region. :func:`rowwise` runs four small products per row, each a
    parallel region of its own whose end waits for every thread; beside another busy process one
    descheduled thread stalls every region. Measured on 2 AVX2 cores (MiniLM, 400 SciFact documents,
    benchmarks/results/encode_minilm_avx2*.md): the attention alone 7x faster at 256 tokens, the
    whole forward 1.04x idle and 1.19x beside a spinning process (62.3 -> 50.9 CPU seconds).
    Row-wise stays the bf16 path, where torch's fused kernel has no bf16 advantage.

    Args:
        query: ``[B, H, L, d]``; key / value: ``[B, H, L, d]`` / ``[B, H, L, d_v]`` (any strides).
        row_lengths: real tokens per row (right padding); rows shorter than ``L`` get a key mask.
        scale: multiplies the scores (usually ``d ** -0.5``).

    Returns:
        ``[B, L, H, d_v]`` (a transposed view); positions past a row's length are not meaningful.
    """
    import torch
    import torch.nn.functional as F

    b, h, length, _ = query.shape
    if len(row_lengths) != b:
        raise ValueError(f"row_lengths has {len(row_lengths)} entries for a batch of {b}")
    if key.shape[1] != h:
        raise ValueError(f"padded attention needs as many key/value heads as query heads ({key.shape[1]} vs {h})")
    lengths = torch.tensor([max(1, min(int(n), length)) for n in row_lengths])          # [B]
    mask = None
    if int(lengths.min()) < length:
        mask = (torch.arange(length)[None, :] < lengths[:, None])[:, None, None, :]      # [B, 1, 1, L]
    ctx = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scale)  # [B, H, L, d_v]
    return ctx.transpose(1, 2)


def rowwise_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                      dropout: float = 0.0, scaling: float | None = None,
                      row_lengths: Sequence[int] | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers attention function: :func:`rowwise` when ``row_lengths`` is given, SDPA otherwise.

    Returns:
        ``([B, L, H, d_v], None)`` as transformers' attention functions do; padded positions are 0.
    """
    if (row_lengths is None or (module.training and dropout > 0.0)
            or any(kwargs.get(k) is not None for k in _UNSUPPORTED_KWARGS)):
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    if kwargs.get("is_causal") is True:
        raise ValueError(f"{ROWWISE} attention is bidirectional only; it was asked for causal attention")
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return rowwise(query, key, value, row_lengths, scale), None


def register() -> str:
    """Register :func:`rowwise_attention` (and SDPA's mask builder for its fallback) with transformers."""
    global _registered
    if not _registered:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

        AttentionInterface.register(ROWWISE, rowwise_attention)
        AttentionMaskInterface.register(ROWWISE, sdpa_mask)
        _registered = True
    return ROWWISE


def use_rowwise(model: Any) -> bool:
    """Switch ``model`` (a transformers model on CPU) to row-wise attention; False when not applicable."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) not in ("sdpa", "eager", ROWWISE):
        return False
    if getattr(config, "model_type", None) not in ROWWISE_MODEL_TYPES:
        return False
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False                                     # windowed attention: keep transformers' masks
    try:
        device = next(model.parameters()).device
    except StopIteration:
        return False
    if device.type != "cpu" or not hasattr(model, "set_attn_implementation"):
        return False
    register()
    try:
        model.set_attn_implementation(ROWWISE)
    except (ValueError, NotImplementedError, AttributeError, KeyError) as exc:   # model without the interface
        logger.debug("row-wise attention not available for %s: %s", type(model).__name__, exc)
        return False
    return True
