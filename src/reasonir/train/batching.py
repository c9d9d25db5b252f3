"""Which examples form each step's batch, and which passages each query is trained against.

:class:`BatchPlan` fixes, for every optimizer step, the *global* batch (all processes together) as a
pure function of ``(seed, step)``, so a resumed run sees exactly the batches it would have seen and
each process takes its own contiguous slice without communication.

Per epoch, each source contributes ``count_s`` examples: its size when no weights are given, else
``weight_s / Σ weights × total`` (sampled without replacement when smaller than the source, repeated
when larger). With ``single_source=True`` (ReasonIR/GritLM) every source is shuffled and cut into
full batches on its own, so in-batch negatives come from the same dataset; the leftovers of all
sources are pooled into mixed batches; then batch order is shuffled. An incomplete last batch is
dropped (``drop_last``) so every step has the same shape.

:func:`make_batch` turns a process's slice into texts: for each query one positive chosen uniformly
from ``pos`` and ``group_size - 1`` negatives from ``neg`` (without repetition when there are
enough, with repetition otherwise; an example without negatives borrows positives of other examples
of its source). Passages are laid out ``[pos_i, neg_i1, ...]`` per query, the layout the loss expects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from ..types import TrainExample
from .data import DataSource

logger = logging.getLogger(__name__)

QUERY, DOCUMENT = "query", "document"


class Item(NamedTuple):
    """One text to embed: which side formats it, its instruction and its text."""

    side: str
    instruction: str
    text: str


@dataclass
class TrainBatch:
    """One process's share of a step: ``n`` queries and ``n·group_size`` grouped passages."""

    queries: list[Item]
    passages: list[Item]
    group_size: int
    sources: list[str]


def _counts(sources: Sequence[DataSource]) -> list[int]:
    sizes = [len(s.examples) for s in sources]
    if all(s.weight is None for s in sources):
        return sizes
    total = sum(sizes)
    w = np.asarray([s.weight for s in sources], dtype=np.float64)
    exact = w / w.sum() * total
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - int(counts.sum())]:   # largest remainders
        counts[i] += 1
    return [int(c) for c in counts]


class BatchPlan:
    """The deterministic sequence of global batches (lists of ``(source, example)`` indices).

    Args:
        sources: training sources.
        batch_size: global batch size (queries per optimizer step over all processes).
        seed: shuffling seed.
        single_source: draw each batch from one source when possible.
        drop_last: drop an epoch's incomplete final batch.

    Raises:
        ConfigError: when an epoch holds fewer examples than one batch.
    """

    def __init__(self, sources: Sequence[DataSource], batch_size: int, seed: int = 42,
                 single_source: bool = True, drop_last: bool = True):
        if batch_size <= 0:
            raise ConfigError(f"batch size must be positive, got {batch_size}")
        self.sources = list(sources)
        self.batch_size = batch_size
        self.seed = seed
        self.single_source = single_source
        self.drop_last = drop_last
        self.counts = _counts(self.sources)
        self._cache: tuple[int, list[list[tuple[int, int]]]] | None = None
        self.steps_per_epoch = len(self.epoch(0))
        if self.steps_per_epoch == 0:
            raise ConfigError(f"the global batch size {batch_size} exceeds the {sum(self.counts)} training "
                              "examples of an epoch; lower batch_size or add data")

    def _selection(self, epoch: int, s: int) -> np.ndarray:
        n, count = len(self.sources[s].examples), self.counts[s]
        rng = np.random.default_rng([self.seed, epoch, s])
        reps = -(-count // n) if n else 0
        picks = np.concatenate([rng.permutation(n) for _ in range(reps)]) if reps else np.zeros(0, int)
        return picks[:count]

    def epoch(self, epoch: int) -> list[list[tuple[int, int]]]:
        """All global batches of ``epoch`` in training order."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        B = self.batch_size
        rng = np.random.default_rng([self.seed, epoch, 1 << 20])
        chosen = [[(s, int(i)) for i in self._selection(epoch, s)] for s in range(len(self.sources))]
        batches: list[list[tuple[int, int]]] = []
        if self.single_source:
            leftovers: list[tuple[int, int]] = []
            for items in chosen:
                full = len(items) // B * B
                batches.extend(items[i:i + B] for i in range(0, full, B))
                leftovers.extend(items[full:])
            pool = [leftovers[i] for i in rng.permutation(len(leftovers))]
        else:
            flat = [x for items in chosen for x in items]
            pool = [flat[i] for i in rng.permutation(len(flat))]
        batches.extend(pool[i:i + B] for i in range(0, len(pool), B))
        if batches and len(batches[-1]) < B and self.drop_last:
            batches.pop()
        batches = [batches[i] for i in rng.permutation(len(batches))]
        self._cache = (epoch, batches)
        return batches

    def global_batch(self, step: int) -> list[tuple[int, int]]:
        """The global batch of optimizer step ``step`` (0-based, counted across epochs)."""
        epoch, k = divmod(step, self.steps_per_epoch)
        return self.epoch(epoch)[k]

    def local_batch(self, step: int, rank: int, world_size: int) -> list[tuple[int, int]]:
        """Process ``rank``'s contiguous slice of step ``step``'s global batch.

        Raises:
            ConfigError: when the global batch does not split evenly over ``world_size`` processes.
        """
        batch = self.global_batch(step)
        if len(batch) % world_size:
            raise ConfigError(f"a batch of {len(batch)} queries does not split over {world_size} processes; "
                              "use drop_last or a batch size divisible by the number of processes")
        per = len(batch) // world_size
        return batch[rank * per:(rank + 1) * per]


def _instruction(ex: TrainExample, key: str, j: int) -> str:
    per_item = (ex.metadata or {}).get(key)
    if isinstance(per_item, list) and j < len(per_item) and isinstance(per_item[j], str):
        return per_item[j]
    return ex.doc_instruction


def sample_group(ex: TrainExample, group_size: int, rng: np.random.Generator,
                 borrow: Sequence[TrainExample] = ()) -> list[Item]:
    """``[positive, negative_1, ..., negative_{group_size-1}]`` for one example.

    Args:
        ex: the example.
        group_size: passages per query (1 = positive only, in-batch negatives only).
        rng: random generator (seeded per step and position by the caller).
        borrow: examples whose positives may serve as negatives when ``ex`` has none.

    Raises:
        ConfigError: when negatives are needed and none can be found.
    """
    j = int(rng.integers(len(ex.pos)))
    group = [Item(DOCUMENT, _instruction(ex, "pos_instructions", j), ex.pos[j])]
    need = group_size - 1
    if need <= 0:
        return group
    if ex.neg:
        replace = len(ex.neg) < need
        for k in rng.choice(len(ex.neg), need, replace=replace):
            group.append(Item(DOCUMENT, _instruction(ex, "neg_instructions", int(k)), ex.neg[int(k)]))
        return group
    own = set(ex.pos)
    tries = 0
    while len(group) < group_size and borrow and tries < 100 * need:   # O(need), whatever the source size
        tries += 1
        other = borrow[int(rng.integers(len(borrow)))]
        if other is not ex and other.pos and other.pos[0] not in own:
            group.append(Item(DOCUMENT, ex.doc_instruction, other.pos[0]))
    if len(group) < group_size:
        raise ConfigError(f"group_size={group_size} needs hard negatives but an example (query {ex.query[:60]!r}) "
                          "has none and its source has no other positives to borrow; add negatives or use "
                          "group_size: 1")
    return group


def make_batch(plan: BatchPlan, step: int, group_size: int, rank: int = 0, world_size: int = 1) -> TrainBatch:
    """The texts process ``rank`` embeds at step ``step`` (deterministic in ``plan.seed`` and ``step``)."""
    if group_size < 1:
        raise ConfigError(f"group_size must be at least 1 (the positive), got {group_size}")
    local = plan.local_batch(step, rank, world_size)
    offset = rank * len(local)
    queries, passages, names = [], [], []
    for pos, (s, i) in enumerate(local):
        source = plan.sources[s]
        ex = source.examples[i]
        rng = np.random.default_rng([plan.seed, step, offset + pos, 7])
        queries.append(Item(QUERY, ex.query_instruction, ex.query))
        passages.extend(sample_group(ex, group_size, rng, source.examples))
        names.append(source.name)
    return TrainBatch(queries=queries, passages=passages, group_size=group_size, sources=names)
