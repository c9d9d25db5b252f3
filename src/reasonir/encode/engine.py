"""The encoding loop shared by every transformer encoder: tokens in, L2-normalised vectors out.

What makes it fast on CPU and GPU alike:

* **length-sorted batches** — texts are processed longest first in batches of similar length, so
  padding (wasted compute) stays near zero; batches are capped by ``batch_size`` rows and optionally
  by ``max_batch_tokens`` padded tokens, which lets short texts run in larger batches;
* **no framework overhead per batch** — token ids are padded into one preallocated numpy buffer and
  handed to torch without copies (``torch.from_numpy``), the forward runs under
  ``torch.inference_mode``, pooled rows are written straight into the output array;
* **attention over real tokens only** — models that accept ``row_lengths`` (the fused BERT forward of
  :mod:`reasonir.encode.fast_bert`, or transformers models switched to
  :mod:`reasonir.encode.attention`'s row-wise attention on CPU) get each row's true length, so
  attention never touches padding and needs no mask;
* **several devices** — one model replica per device, batches dealt round-robin to one thread per
  device (torch releases the GIL inside kernels).

The output is a ``float32 [n, d]`` array in the input order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._logging import progress
from .attention import ROWWISE
from .pooling import pool, pool_mask

logger = logging.getLogger(__name__)


def _uses_rowwise(model: Any) -> bool:
    """Whether ``model`` takes ``row_lengths`` (FastBert, or a model switched to row-wise attention)."""
    if getattr(model, "accepts_row_lengths", False):
        return True
    return getattr(getattr(model, "config", None), "_attn_implementation", None) == ROWWISE


def length_sorted_batches(lengths: Sequence[int] | np.ndarray, batch_size: int,
                          max_batch_tokens: int | None = None) -> list[np.ndarray]:
    """Split indices into batches of similar length, longest first.

    Args:
        lengths: token count per text.
        batch_size: at most this many texts per batch.
        max_batch_tokens: if set, also at most this many *padded* tokens (rows x longest) per batch
            (a single text longer than the budget still forms its own batch).

    Returns:
        Index arrays, one per batch; together a permutation of ``range(len(lengths))``.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        longest = int(lengths[order[start]])                  # sorted: the first row is the longest
        rows = batch_size
        if max_batch_tokens:
            rows = max(1, min(rows, max_batch_tokens // max(longest, 1)))
        batches.append(order[start:start + rows])
        start += rows
    return batches


@dataclass
class EncodeStats:
    """Counters of the last :meth:`TokenEncoder.run` (for logs and benchmarks)."""

    texts: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    batches: int = 0
    empty: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.tokens / self.padded_tokens if self.padded_tokens else 0.0


class TokenEncoder:
    """Runs transformer replicas over token-id lists and pools them.

    Args:
        models: one model per device (``model(input_ids, attention_mask, **forward_kwargs)`` must
            return an object with ``last_hidden_state [B, L, D]``).
        dim: output dimension ``D``.
        pad_id: id used for padding (masked out, so its value does not matter).
        pooling: ``mean`` | ``cls`` | ``lasttoken``.
        batch_size: rows per batch.
        max_batch_tokens: optional cap on padded tokens per batch.
        forward_kwargs: extra keyword arguments for every forward (e.g. ``use_cache=False``).
        normalize: L2-normalise the pooled vectors.
    """

    def __init__(self, models: Sequence[Any], dim: int, pad_id: int, pooling: str = "mean",
                 batch_size: int = 32, max_batch_tokens: int | None = None,
                 forward_kwargs: dict[str, Any] | None = None, normalize: bool = True):
        if not models:
            raise ValueError("at least one model replica is required")
        self.models = list(models)
        self.dim = dim
        self.pad_id = int(pad_id)
        self.pooling = pooling
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens
        self.forward_kwargs = dict(forward_kwargs or {})
        self.normalize = normalize
        self.stats = EncodeStats()

    def _device(self, model: Any) -> Any:
        return next(model.parameters()).device

    def _run_batch(self, model: Any, ids: list[list[int]], starts: np.ndarray, rows: np.ndarray) -> np.ndarray:
        import torch

        lens = np.fromiter((len(ids[i]) for i in rows), dtype=np.int64, count=len(rows))
        width = int(lens.max())
        buf = np.full((len(rows), width), self.pad_id, dtype=np.int64)                # [B, L]
        for j, i in enumerate(rows):
            buf[j, :lens[j]] = ids[i]
        mask = (np.arange(width)[None, :] < lens[:, None]).astype(np.int64)            # [B, L]
        device = self._device(model)
        input_ids = torch.from_numpy(buf).to(device, non_blocking=True)
        attention = torch.from_numpy(mask).to(device, non_blocking=True)
        kwargs = self.forward_kwargs
        if _uses_rowwise(model):                       # attention over each row's real tokens only
            kwargs = {**kwargs, "row_lengths": lens.tolist()}
        out = model(input_ids=input_ids, attention_mask=attention, **kwargs)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]   # [B, L, D]
        pm = pool_mask(attention, torch.from_numpy(starts[rows]).to(device))          # [B, L]
        vec = pool(hidden, pm, self.pooling)                                            # [B, D] float32
        return vec.cpu().numpy()

    def run(self, ids: list[list[int]], starts: Sequence[int] | np.ndarray | int = 0,
            batch_size: int | None = None, desc: str = "encoding") -> np.ndarray:
        """Encode token-id lists; ``starts`` gives each row's first pooled position (prefix length).

        Returns:
            ``float32 [n, dim]``, L2-normalised if ``normalize`` (all-zero for rows with nothing to pool).
        """
        import torch

        n = len(ids)
        out = np.zeros((n, self.dim), dtype=np.float32)                                # [n, D]
        if n == 0:
            return out
        starts_arr = np.broadcast_to(np.asarray(starts, dtype=np.int64), (n,)).copy()
        lens = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        batches = length_sorted_batches(lens, batch_size or self.batch_size, self.max_batch_tokens)
        padded = sum(len(b) * int(lens[b].max()) for b in batches)
        self.stats = EncodeStats(texts=n, tokens=int(lens.sum()), padded_tokens=padded, batches=len(batches),
                                 empty=int((lens <= starts_arr).sum()))
        if self.stats.empty:
            logger.warning("%d of %d texts have no tokens left to pool after the prefix (empty or "
                           "truncated away); their vectors are zero", self.stats.empty, n)
        bar = progress(total=n, desc=desc, unit="text")
        lock = threading.Lock()

        def work(model: Any, my_batches: list[np.ndarray]) -> None:
            with torch.inference_mode():
                for rows in my_batches:
                    out[rows] = self._run_batch(model, ids, starts_arr, rows)
                    with lock:
                        bar.update(len(rows))

        try:
            if len(self.models) == 1:
                work(self.models[0], batches)
            else:
                shares = [batches[k::len(self.models)] for k in range(len(self.models))]
                errors: list[BaseException] = []

                def guarded(model: Any, share: list[np.ndarray]) -> None:
                    try:
                        work(model, share)
                    except BaseException as exc:   # noqa: BLE001 - re-raised in the caller's thread below
                        errors.append(exc)

                threads = [threading.Thread(target=guarded, args=(m, s), daemon=True)
                           for m, s in zip(self.models, shares)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                if errors:
                    raise errors[0]
        finally:
            bar.close()
        if self.normalize:                                   # in place: no second [n, D] array
            norms = np.linalg.norm(out, axis=1, keepdims=True)                         # [n, 1]
            np.divide(out, np.maximum(norms, 1e-12), out=out)
        return out
