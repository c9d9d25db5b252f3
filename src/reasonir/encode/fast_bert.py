"""A faster CPU inference forward for BERT-family encoders (all-MiniLM-L6-v2, BGE, E5, GTE, ...).

It runs the parameters of a transformers ``BertModel`` with fewer, larger and fused operations:

* the query, key and value projections as **one** ``[3D, D]`` matrix product;
* on CPUs where oneDNN is available, weights **pre-packed** once in oneDNN's blocked layout, with
  the bias, the GELU and the residual additions fused into the matrix products (the same kernels
  ``torch.compile(freezing=True)`` selects, without the compile time);
* attention over each row's real tokens: in bf16 **row-wise** (:func:`reasonir.encode.attention.rowwise`:
  no padding mask, score blocks that stay in cache); in fp32 **one fused call per layer** over the
  length-sorted, hardly padded batch (:func:`reasonir.encode.attention.padded`): on AVX2 it is
  several times faster than the row-wise loop, and one parallel region per layer instead of four
  per row does not stall when another process takes a core;
* no pooler, no dropout, no attention-mask construction.

The output equals ``BertModel(...).last_hidden_state`` at the real tokens (fp32: to ~1e-6; bf16:
to bf16 rounding); rows at padded positions are not meaningful. The packed weights are rebuilt
when a parameter changes in place (training in the same process), so the forward never runs stale
weights. Built only for models it supports (:func:`supports`); everything else keeps the
transformers forward.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from .bert_support import supports

logger = logging.getLogger(__name__)

ATTENTIONS = ("rowwise", "padded")     # bf16 default / fp32 default (see the module docstring)


def _onednn_ok(dtype: Any) -> bool:
    """Whether oneDNN's packed linear (with GELU / add fusion) runs and matches ``F.linear`` here."""
    import torch
    import torch.nn.functional as F

    if dtype != torch.bfloat16 or not torch.backends.mkldnn.is_available():
        return False                       # fp32: MKL's sgemm through F.linear is as fast
    try:
        ops = torch.ops.mkldnn
        g = torch.Generator().manual_seed(0)
        x = torch.randn(8, 16, generator=g).to(dtype)
        w = torch.randn(24, 16, generator=g).to(dtype)
        b = torch.randn(24, generator=g).to(dtype)
        r = torch.randn(8, 24, generator=g).to(dtype)
        pw = ops._reorder_linear_weight(w, 8)
        ref = F.linear(x, w, b).float()
        ok = (torch.allclose(ops._linear_pointwise(x, pw, b, "none", [], "").float(), ref, atol=0.1, rtol=0.02)
              and torch.allclose(ops._linear_pointwise(x, pw, b, "gelu", [], "none").float(), F.gelu(ref),
                                 atol=0.1, rtol=0.02)
              and torch.allclose(ops._linear_pointwise.binary(x, r, pw, b, "add").float(), ref + r.float(),
                                 atol=0.1, rtol=0.02))
    except (RuntimeError, AttributeError) as exc:       # op missing or unsupported on this build / CPU
        logger.debug("oneDNN packed linear unavailable: %s", exc)
        return False
    return bool(ok)


class _Linear:
    """One linear layer, packed for oneDNN or kept for ``F.linear``."""

    def __init__(self, weight: Any, bias: Any, packed: bool, rows_hint: int):
        import torch

        self.bias = bias.detach().contiguous()
        self.packed = packed
        self.weight = (torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), rows_hint)
                       if packed else weight.detach().contiguous())

    def __call__(self, x: Any, post: str = "none", residual: Any = None) -> Any:
        import torch
        import torch.nn.functional as F

        if self.packed:
            ops = torch.ops.mkldnn
            if residual is not None:
                return ops._linear_pointwise.binary(x, residual, self.weight, self.bias, "add")
            if post == "gelu":
                return ops._linear_pointwise(x, self.weight, self.bias, "gelu", [], "none")
            return ops._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        y = F.linear(x, self.weight, self.bias)
        if residual is not None:
            return y.add_(residual)
        return F.gelu(y) if post == "gelu" else y


class FastBert:
    """Inference forward over a ``BertModel``'s parameters (see the module docstring).

    Called like the model: ``fast(input_ids=..., attention_mask=..., row_lengths=...)`` returns an
    object with ``last_hidden_state [B, L, D]``. ``row_lengths`` (real tokens per row, right padding)
    is computed from ``attention_mask`` when not given.
    """

    accepts_row_lengths = True

    def __init__(self, model: Any, rows_hint: int = 8192, attention: str | None = None):
        reason = supports(model)
        if reason is not None:
            raise ValueError(f"FastBert cannot run this model: {reason}")
        self.model = model
        self.config = model.config
        self.rows_hint = int(rows_hint)
        if attention not in (None, *ATTENTIONS):
            raise ValueError(f"unknown attention {attention!r}; choose one of {', '.join(ATTENTIONS)}")
        self.attention_choice = attention
        self.attention = self._pick_attention(next(model.parameters()).dtype)
        self._signature: tuple[Any, ...] | None = None
        self._layers: list[SimpleNamespace] = []
        self.packed = False

    # ------------------------------------------------------------------ parameters
    def parameters(self) -> Any:
        return self.model.parameters()

    def _current_signature(self) -> tuple[Any, ...]:
        return tuple((p.data_ptr(), p._version, p.dtype) for p in self.model.parameters())

    def _pick_attention(self, dtype: Any) -> str:
        import torch

        return self.attention_choice or ("rowwise" if dtype == torch.bfloat16 else "padded")

    def _build(self) -> None:
        import torch

        dtype = next(self.model.parameters()).dtype
        self.packed = _onednn_ok(dtype)
        self.attention = self._pick_attention(dtype)
        layers = []
        with torch.no_grad():
            for layer in self.model.encoder.layer:
                sa = layer.attention.self
                qkv_w = torch.cat([sa.query.weight, sa.key.weight, sa.value.weight], dim=0)   # [3D, D]
                qkv_b = torch.cat([sa.query.bias, sa.key.bias, sa.value.bias], dim=0)         # [3D]
                ao, inter, out = layer.attention.output, layer.intermediate, layer.output
                layers.append(SimpleNamespace(
                    qkv=_Linear(qkv_w, qkv_b, self.packed, self.rows_hint),
                    attn_out=_Linear(ao.dense.weight, ao.dense.bias, self.packed, self.rows_hint),
                    ln1=ao.LayerNorm,
                    inter=_Linear(inter.dense.weight, inter.dense.bias, self.packed, self.rows_hint),
                    out=_Linear(out.dense.weight, out.dense.bias, self.packed, self.rows_hint),
                    ln2=out.LayerNorm))
        self._layers = layers
        self._signature = self._current_signature()

    def refresh(self) -> None:
        """Re-pack the weights if any parameter changed since the last pack (cheap check)."""
        if self._signature != self._current_signature():
            self._build()

    # ------------------------------------------------------------------ forward
    def __call__(self, input_ids: Any, attention_mask: Any = None, row_lengths: Any = None,
                 **_: Any) -> SimpleNamespace:
        import torch.nn.functional as F

        from .attention import padded, rowwise

        self.refresh()
        b, length = input_ids.shape
        if row_lengths is None:
            row_lengths = ([length] * b if attention_mask is None
                           else attention_mask.sum(dim=1).tolist())
        cfg = self.config
        d_model, heads = int(cfg.hidden_size), int(cfg.num_attention_heads)
        head_dim = d_model // heads
        eps = float(cfg.layer_norm_eps)
        x = self.model.embeddings(input_ids=input_ids).reshape(b * length, d_model)       # [B*L, D]
        rows = self.attention == "rowwise"
        ctx = x.new_zeros(b, length, heads, head_dim) if rows else x      # rowwise output buffer, padding 0
        for lay in self._layers:
            qkv = lay.qkv(x).view(b, length, 3, heads, head_dim)                          # [B, L, 3, H, d]
            q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))                   # [B, H, L, d]
            if rows:
                rowwise(q, k, v, row_lengths, head_dim ** -0.5, out=ctx)                  # [B, L, H, d]
                flat = ctx.view(b * length, d_model)
            else:
                flat = padded(q, k, v, row_lengths, head_dim ** -0.5).reshape(b * length, d_model)
            x = F.layer_norm(lay.attn_out(flat, residual=x), (d_model,),
                             lay.ln1.weight, lay.ln1.bias, eps)
            h = lay.inter(x, post="gelu")                                                 # [B*L, FFN]
            x = F.layer_norm(lay.out(h, residual=x), (d_model,), lay.ln2.weight, lay.ln2.bias, eps)
        return SimpleNamespace(last_hidden_state=x.view(b, length, d_model))


def cpu_forward(model: Any) -> Any:
    """The fastest CPU inference forward available for ``model``.

    A :class:`FastBert` for supported BERT models (an
    :class:`~reasonir.encode.openvino_bert.OpenVINOBert` instead for fp32 models when
    ``REASONIR_CPU_BACKEND=openvino``); otherwise the model itself, switched to row-wise attention
    when it runs on CPU through transformers' attention interface (LLaMA, Qwen2/3, Mistral, ...).
    Models on other devices are returned unchanged.
    """
    from .attention import use_rowwise
    from .openvino_bert import OpenVINOBert, cpu_backend
    from .runtime import tune_cpu_allocator

    if any(p.device.type == "cpu" for p in model.parameters()):
        tune_cpu_allocator()
    if supports(model) is None:
        if cpu_backend() == "openvino" and str(next(model.parameters()).dtype) == "torch.float32":
            return OpenVINOBert(model)
        return FastBert(model)
    use_rowwise(model)
    return model
