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

from .config import TrainConfig
from .loss import ContrastiveLoss, info_nce
from .model import TrainModel, build_train_model
from .trainer import TrainOutcome, train

__all__ = ["ContrastiveLoss", "TrainConfig", "TrainModel", "TrainOutcome", "build_train_model", "info_nce", "train"]
