"""Which loaded transformers models the fused CPU BERT forwards can run.

:class:`~reasonir.encode.fast_bert.FastBert` and :class:`~reasonir.encode.openvino_bert.OpenVINOBert`
both run the plain ``BertModel`` graph (exact GELU, absolute positions, encoder only, on CPU); the
check lives here so that each imports it without importing the other.
"""

from __future__ import annotations

from typing import Any

_EXACT_GELU = ("gelu",)


def supports(model: Any) -> str | None:
    """``None`` when the fused BERT forwards can run ``model``; otherwise the reason they cannot."""
    config = getattr(model, "config", None)
    if type(model).__name__ != "BertModel" or getattr(config, "model_type", None) != "bert":
        return f"not a BertModel ({type(model).__name__})"
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "decoder / cross-attention BERT"
    if getattr(config, "hidden_act", None) not in _EXACT_GELU:
        return f"activation {getattr(config, 'hidden_act', None)!r}"
    position = getattr(config, "position_embedding_type", "absolute")
    if position not in (None, "absolute"):
        return f"position embeddings {position!r}"
    try:
        device = next(model.parameters()).device
    except StopIteration:
        return "no parameters"
    if device.type != "cpu":
        return f"device {device}"
    return None
