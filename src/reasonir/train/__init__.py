"""Contrastive training of bi-encoders (the ReasonIR / GritLM recipe): ``reasonir train CONFIG.yaml``.

* :mod:`~reasonir.train.loss` — InfoNCE over positives, hard negatives and in-batch passages;
* :mod:`~reasonir.train.distributed` — all-gather whose local shard keeps its gradient;
* :mod:`~reasonir.train.gradcache` — exact large-batch loss with bounded memory;
* :mod:`~reasonir.train.data` / :mod:`~reasonir.train.batching` — sources, mixing, single-source
  batches, positive/negative sampling;
* :mod:`~reasonir.train.model` — the encoder's own formatting and pooling, with grad (LoRA, bf16,
  gradient checkpointing) and export;
* :mod:`~reasonir.train.trainer` — the accelerate loop (DDP/FSDP/DeepSpeed), logs, checkpoints, resume.
"""

from importlib import import_module
from typing import Any

from .config import TrainConfig

#: public name -> submodule; imported on first use, so ``reasonir --help`` does not load torch
_LAZY = {"ContrastiveLoss": "loss", "info_nce": "loss", "TrainModel": "model", "build_train_model": "model",
         "TrainOutcome": "trainer", "train": "trainer"}

__all__ = ["ContrastiveLoss", "TrainConfig", "TrainModel", "TrainOutcome", "build_train_model", "info_nce", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
