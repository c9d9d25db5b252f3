"""InfoNCE over a query's positive, its hard negatives and every other passage in the (global) batch.

Layout (GritLM / ReasonIR): ``n`` queries and ``n·G`` passages where ``G`` is the group size; the
passages of query ``i`` are rows ``i·G .. i·G+G-1`` ordered ``[pos_i, neg_i1, ..., neg_i(G-1)]``.
With cosine similarity ``s`` and temperature ``τ``::

    L = -1/n · Σ_i log( exp(s(q_i, p_{i·G}) / τ) / Σ_{j < n·G} exp(s(q_i, p_j) / τ) )

i.e. cross-entropy over the ``[n, n·G]`` score matrix with target ``i·G``. Every other query's
positive and negatives are negatives too; there are no query-query or passage-passage terms and no
false-negative masking, as in the ReasonIR recipe (τ = 0.02, ``G`` = 2).

With ``cross_device=True`` the embeddings of all processes are gathered first
(:func:`reasonir.train.distributed.gather_with_grad`): every process computes the same global-batch
loss ``L`` and differentiates it through its own shard. How the processes' gradients then combine
is ``gradient`` (see :data:`CROSS_DEVICE_GRADIENTS`):

* ``"mean"`` (default; GritLM and so ReasonIR-8B): the objective is ``L`` itself; the data-parallel
  engine averages, so the synchronised gradient is the mean over the ``W`` processes of the
  per-process gradients of ``L``, i.e. ``∇L / W``. Gradient clipping (1.0 in the recipe) acts on
  that mean, as in the published training;
* ``"sum"``: the objective is ``W · L``, so the averaged gradient is ``∇L``, the gradient of one
  process holding the whole global batch (the same trajectory on any number of processes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .config import CROSS_DEVICE_GRADIENTS
from .distributed import gather_with_grad, is_distributed, world_size

SIMILARITIES = ("cos", "dot")


def group_size_of(num_queries: int, num_passages: int) -> int:
    """``G`` such that ``num_passages == num_queries · G``.

    Raises:
        ConfigError: when the passages do not come in whole groups.
    """
    if num_queries <= 0 or num_passages % num_queries:
        raise ConfigError(f"{num_passages} passages for {num_queries} queries: each query needs the same "
                          "number of passages (1 positive + group_size-1 negatives)")
    return num_passages // num_queries


def score_matrix(q: torch.Tensor, p: torch.Tensor, temperature: float, similarity: str = "cos") -> torch.Tensor:
    """Similarities divided by the temperature, computed in float32.

    Args:
        q: ``[n, d]`` query embeddings.
        p: ``[m, d]`` passage embeddings.
        temperature: τ > 0.
        similarity: ``"cos"`` (L2-normalise first) or ``"dot"`` (embeddings used as given).

    Returns:
        ``[n, m]`` scores.
    """
    if similarity not in SIMILARITIES:
        raise ConfigError(f"unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITIES)}")
    if temperature <= 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    q, p = q.float(), p.float()
    if similarity == "cos":
        q, p = F.normalize(q, dim=-1), F.normalize(p, dim=-1)
    return q @ p.T / temperature                                                  # [n, d] x [d, m] -> [n, m]


def info_nce(q: torch.Tensor, p: torch.Tensor, temperature: float = 0.02, similarity: str = "cos",
             reduction: str = "mean") -> torch.Tensor:
    """InfoNCE of queries against grouped passages (see the module docstring for the layout).

    Args:
        q: ``[n, d]`` query embeddings.
        p: ``[n·G, d]`` passage embeddings, ``[pos_i, negs_i]`` per query.
        temperature: τ (ReasonIR: 0.02).
        similarity: ``"cos"`` or ``"dot"``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per query, ``[n]``).

    Returns:
        The loss (a scalar, or ``[n]`` with ``reduction="none"``).
    """
    g = group_size_of(q.shape[0], p.shape[0])
    scores = score_matrix(q, p, temperature, similarity)                         # [n, n·G]
    target = torch.arange(q.shape[0], device=scores.device) * g                   # [n]: index of pos_i
    return F.cross_entropy(scores, target, reduction=reduction)


@dataclass
class LossOutput:
    """What one loss evaluation returns.

    Attributes:
        objective: the tensor to back-propagate: the loss, times the world size when gathering with
            ``gradient="sum"``.
        loss: the global-batch InfoNCE value (detached), identical on every process.
        accuracy: fraction of global queries whose positive scores highest (detached).
        num_queries: global number of queries the loss averaged over.
    """

    objective: torch.Tensor
    loss: torch.Tensor
    accuracy: torch.Tensor
    num_queries: int


class ContrastiveLoss:
    """InfoNCE with optional cross-device negatives.

    Args:
        temperature: τ (default 0.02, ReasonIR).
        cross_device: gather queries and passages from every process (no effect without a process
            group).
        similarity: ``"cos"`` (default) or ``"dot"``.
        gradient: ``"mean"`` (GritLM / ReasonIR: the engine's average of every process's gradient of
            the global loss) or ``"sum"`` (the single-process gradient of the global batch); only
            matters when gathering across processes (see the module docstring).
    """

    def __init__(self, temperature: float = 0.02, cross_device: bool = True, similarity: str = "cos",
                 gradient: str = "mean"):
        if temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        if similarity not in SIMILARITIES:
            raise ConfigError(f"unknown similarity {similarity!r}; choose one of {', '.join(SIMILARITIES)}")
        if gradient not in CROSS_DEVICE_GRADIENTS:
            raise ConfigError(f"unknown cross-device gradient {gradient!r}; choose one of "
                              f"{', '.join(CROSS_DEVICE_GRADIENTS)}")
        self.gradient = gradient
        self.temperature = float(temperature)
        self.cross_device = bool(cross_device)
        self.similarity = similarity

    def __call__(self, q: torch.Tensor, p: torch.Tensor) -> LossOutput:
        """Loss of local ``q [n, d]`` against local ``p [n·G, d]`` (plus all other processes' when gathering)."""
        group_size_of(q.shape[0], p.shape[0])         # validate the local layout before communicating
        scale = 1
        if self.cross_device and is_distributed():
            q, p = gather_with_grad(q), gather_with_grad(p)
            scale = world_size() if self.gradient == "sum" else 1
        g = group_size_of(q.shape[0], p.shape[0])
        scores = score_matrix(q, p, self.temperature, self.similarity)           # [N, N·G]
        target = torch.arange(q.shape[0], device=scores.device) * g               # [N]
        loss = F.cross_entropy(scores, target)
        with torch.no_grad():
            accuracy = (scores.argmax(dim=1) == target).float().mean()
        return LossOutput(objective=loss * scale, loss=loss.detach(), accuracy=accuracy,
                          num_queries=int(q.shape[0]))
