"""Cross-device negatives: a differentiable all-gather in which the local shard keeps its gradient.

Every process embeds its own queries and passages; to use all of them as negatives, each process
gathers everyone's embeddings. ``torch.distributed.all_gather`` returns tensors cut off from the
autograd graph, so :func:`gather_with_grad` puts the *live* local tensor back at this process's
position in the gathered list: the loss computed on the concatenation back-propagates into the local
shard only (the other shards are constants here; their own processes differentiate them).

Because every process then computes the **same** full-batch loss ``L`` but differentiates only its own
shard, process ``r`` obtains ``g_r = dL/dx_r · dx_r/dθ``; data-parallel engines (DDP, FSDP, DeepSpeed)
*average* parameter gradients over the ``W`` processes, giving ``mean_r g_r = ∇L / W``. That mean is
what GritLM (and so ReasonIR-8B) trains with, and the default of
:class:`~reasonir.train.loss.ContrastiveLoss`; its ``gradient="sum"`` multiplies the loss by ``W``
(:func:`world_size` tells it how much) to recover the single-process gradient ``sum_r g_r = ∇L``.
The order of the concatenation is rank-major, so a per-process layout
``[pos_i, neg_i1, ..., neg_i(G-1)]`` for query ``i`` stays ``[pos, negs]`` per global query ``i`` and
the target of global query ``i`` is passage ``i·G`` (gathering passages per column instead, then
indexing as if they were grouped, trains queries towards their hard negatives).

Shards may differ in size (e.g. the last, smaller batch): sizes are gathered first and shards padded
to the largest, then trimmed.
"""

from __future__ import annotations

import torch


def is_distributed() -> bool:
    """Whether a ``torch.distributed`` process group is initialised with more than one process."""
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


def world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return torch.distributed.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank in the default group (0 when not distributed)."""
    return torch.distributed.get_rank() if is_distributed() else 0


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """All-gather ``x`` along dim 0 from every process; the local slice stays differentiable.

    Args:
        x: ``[n_r, ...]`` on this process (``n_r`` may differ between processes).

    Returns:
        ``[sum_r n_r, ...]``: the shards of ranks ``0..W-1`` concatenated in rank order, where this
        process's slice *is* ``x`` (gradient flows into it) and the others are detached copies.
        Without a process group, ``x`` itself.
    """
    if not is_distributed():
        return x
    ws, me = world_size(), rank()
    n = torch.tensor([x.shape[0]], device=x.device, dtype=torch.long)
    sizes = [torch.zeros_like(n) for _ in range(ws)]
    torch.distributed.all_gather(sizes, n)
    counts = [int(s.item()) for s in sizes]
    biggest = max(counts)
    local = x.detach()
    if local.shape[0] < biggest:
        pad = local.new_zeros((biggest - local.shape[0], *local.shape[1:]))
        local = torch.cat([local, pad], dim=0)                                    # [biggest, ...]
    buffers = [torch.empty_like(local) for _ in range(ws)]
    torch.distributed.all_gather(buffers, local.contiguous())
    shards = [buf[:c] for buf, c in zip(buffers, counts)]
    shards[me] = x                                                                # keep the live tensor
    return torch.cat(shards, dim=0)                                               # [sum_r n_r, ...]
