"""Pooling token states into one vector per text, with a prefix (BOS + instruction) left out.

``pool_mask`` turns the attention mask into the *pooling* mask: positions before each row's
``start`` (the prefix: BOS, instruction, ``<|embed|>`` marker) are attended to by the model but do not
enter the mean. Sums are taken in float32 whatever the model dtype.
"""

from __future__ import annotations

from typing import Any

POOLINGS = ("mean", "cls", "lasttoken")


def pool_mask(attention_mask: Any, starts: Any) -> Any:
    """``attention_mask [B, L]`` with positions ``< starts[b]`` zeroed (right padding assumed).

    Args:
        attention_mask: ``[B, L]`` 0/1 tensor.
        starts: ``[B]`` first pooled position per row.
    """
    import torch

    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)   # [L]
    keep = positions[None, :] >= starts[:, None]                                     # [B, L]
    return attention_mask * keep.to(attention_mask.dtype)


def pool(hidden: Any, mask: Any, method: str = "mean") -> Any:
    """Pool ``hidden [B, L, D]`` over ``mask [B, L]`` into float32 ``[B, D]``.

    * ``mean``: average of the masked positions (rows with an empty mask give zeros);
    * ``cls``: the first masked position;
    * ``lasttoken``: the last masked position (right padding).
    """
    import torch

    if method == "mean":
        h = hidden.float()                                                     # no copy when already fp32
        m = mask.to(h.dtype)[:, None, :]                                       # [B, 1, L]
        summed = torch.bmm(m, h)[:, 0]                                         # [B, 1, L] x [B, L, D] -> [B, D]
        count = mask.sum(dim=1, keepdim=True).clamp(min=1).float()             # [B, 1]
        return summed / count
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    if method == "cls":
        first = mask.float().argmax(dim=1)                                     # [B] first kept position
        return hidden[rows, first].float()
    if method == "lasttoken":
        L = mask.shape[1]
        last = L - 1 - mask.flip(dims=[1]).float().argmax(dim=1)              # [B] last kept position
        return hidden[rows, last].float()
    raise ValueError(f"unknown pooling {method!r}; choose one of {', '.join(POOLINGS)}")
