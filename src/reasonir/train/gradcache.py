"""GradCache: a contrastive batch bounded by compute, not memory (Gao et al., 2021).

The InfoNCE loss couples every query with every passage, so the usual micro-batching (gradient
accumulation) changes the loss. GradCache keeps the loss exact in three passes:

1. embed all texts **without** autograd, in chunks of ``chunk_size`` (activations freed per chunk);
2. compute the loss on the cached embeddings (leaf tensors that require grad) and back-propagate it
   to them only, giving ``dL/de`` for every embedding ``e``;
3. re-embed each chunk **with** autograd and back-propagate the surrogate ``Σ e · dL/de`` (whose
   parameter gradient equals the chain rule ``dL/de · de/dθ``), one chunk at a time.

Peak activation memory is one chunk's, whatever the batch size; the cost is one extra forward pass.
The random state (dropout) captured before each chunk's first forward is restored for its second,
so both passes see the same network. In data-parallel runs, every chunk but the last is run inside
``no_sync`` so the gradient all-reduce happens once per step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from ..errors import ConfigError
from .loss import LossOutput

T = TypeVar("T")
EmbedFn = Callable[[Sequence[Any]], torch.Tensor]


class RngState:
    """The CPU and CUDA random states at construction; :meth:`restored` replays them."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        cuda_live = torch.cuda.is_available() and torch.cuda.is_initialized()
        self.cuda = torch.cuda.get_rng_state_all() if cuda_live else None

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        """Run the block with the captured random state; the surrounding state is preserved."""
        devices = list(range(torch.cuda.device_count())) if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state_all(self.cuda)
            yield


def chunk_indices(n: int, chunk_size: int, lengths: Sequence[int] | None = None) -> list[np.ndarray]:
    """Split ``range(n)`` into chunks of at most ``chunk_size``.

    With ``lengths``, indices are sorted by decreasing length first so each chunk pads to similar
    lengths (the caller scatters results back by index).
    """
    if chunk_size <= 0:
        raise ConfigError(f"chunk size must be positive, got {chunk_size}")
    order = np.arange(n) if lengths is None else np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i:i + chunk_size] for i in range(0, n, chunk_size)]


def _take(items: Sequence[T], idx: np.ndarray) -> list[T]:
    return [items[int(i)] for i in idx]


def _scatter(chunks: list[torch.Tensor], plan: list[np.ndarray], n: int) -> torch.Tensor:
    """Reassemble chunk outputs into input order: ``[n, d]``."""
    first = chunks[0]
    out = first.new_empty((n, *first.shape[1:]))
    for emb, idx in zip(chunks, plan):
        out[torch.as_tensor(idx, device=out.device)] = emb
    return out


def embed_in_chunks(embed: EmbedFn, items: Sequence[Any], chunk_size: int,
                    lengths: Sequence[int] | None = None) -> tuple[torch.Tensor, list[np.ndarray], list[RngState]]:
    """First pass: embed ``items`` chunk by chunk without autograd.

    Returns:
        ``(embeddings [n, d], chunk plan, random state before each chunk)``.
    """
    plan = chunk_indices(len(items), chunk_size, lengths)
    states, outs = [], []
    with torch.no_grad():
        for idx in plan:
            states.append(RngState())
            outs.append(embed(_take(items, idx)))
    return _scatter(outs, plan, len(items)), plan, states


def gradcache_step(embed: EmbedFn, queries: Sequence[Any], passages: Sequence[Any],
                   loss_fn: Callable[[torch.Tensor, torch.Tensor], LossOutput], chunk_size: int, *,
                   query_lengths: Sequence[int] | None = None, passage_lengths: Sequence[int] | None = None,
                   backward: Callable[[torch.Tensor], None] | None = None,
                   no_sync: Callable[[], contextlib.AbstractContextManager] | None = None) -> LossOutput:
    """Accumulate into ``.grad`` the exact parameter gradient of ``loss_fn(embed(queries), embed(passages))``.

    Args:
        embed: maps a list of items to ``[len, d]`` embeddings (differentiable when grad is enabled).
        queries: the step's query items (``n``).
        passages: the step's passage items (``n·G``, grouped per query).
        loss_fn: loss on ``([n, d], [n·G, d])`` embeddings, e.g. :class:`~reasonir.train.loss.ContrastiveLoss`.
        chunk_size: items per forward pass.
        query_lengths, passage_lengths: optional lengths to bucket chunks by.
        backward: how to back-propagate a scalar (default ``Tensor.backward``; e.g. ``accelerator.backward``).
        no_sync: context manager factory that defers data-parallel gradient synchronisation; used for
            every chunk but the last.

    Returns:
        The loss output computed on the cached embeddings (its ``objective`` already back-propagated).
    """
    backward = backward or (lambda t: t.backward())
    q_emb, q_plan, q_states = embed_in_chunks(embed, queries, chunk_size, query_lengths)
    p_emb, p_plan, p_states = embed_in_chunks(embed, passages, chunk_size, passage_lengths)
    q_leaf = q_emb.detach().requires_grad_(True)
    p_leaf = p_emb.detach().requires_grad_(True)
    out = loss_fn(q_leaf, p_leaf)
    out.objective.backward()                       # gradients w.r.t. the cached embeddings only
    q_grad, p_grad = q_leaf.grad, p_leaf.grad
    if q_grad is None or p_grad is None:
        raise RuntimeError("loss_fn's objective does not depend on both the query and the passage embeddings")
    grads = ((queries, q_plan, q_states, q_grad), (passages, p_plan, p_states, p_grad))
    jobs = [(items, idx, state, grad) for items, plan, states, grad in grads for idx, state in zip(plan, states)]
    for k, (items, idx, state, grad) in enumerate(jobs):
        last = k == len(jobs) - 1
        ctx = no_sync() if (no_sync is not None and not last) else contextlib.nullcontext()
        with ctx, state.restored():
            emb = embed(_take(items, idx))                                         # [c, d], with grad
            g = grad[torch.as_tensor(idx, device=grad.device)].to(emb.dtype)       # [c, d]
            backward((emb * g).sum())                # surrogate: d/dθ Σ e·g = g · de/dθ
    return LossOutput(objective=out.objective.detach(), loss=out.loss, accuracy=out.accuracy,
                      num_queries=out.num_queries)


def full_batch_step(embed: EmbedFn, queries: Sequence[Any], passages: Sequence[Any],
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], LossOutput], *,
                    backward: Callable[[torch.Tensor], None] | None = None) -> LossOutput:
    """The plain step: embed all queries and all passages with autograd, back-propagate the loss once."""
    backward = backward or (lambda t: t.backward())
    out = loss_fn(embed(list(queries)), embed(list(passages)))
    backward(out.objective)
    return LossOutput(objective=out.objective.detach(), loss=out.loss, accuracy=out.accuracy,
                      num_queries=out.num_queries)
