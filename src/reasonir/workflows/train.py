"""``reasonir train CONFIG.yaml``: contrastive training of an encoder (the ReasonIR recipe).

The command reads one :class:`~reasonir.train.config.TrainConfig` (a YAML/JSON file, overridden by
flags) and calls :func:`reasonir.train.train`. Launch it under ``accelerate launch`` for several
processes (DDP, FSDP, DeepSpeed): the engine comes from the accelerate config, the recipe from ours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..outputs import check_output_dir
from ..train.config import TrainConfig

if TYPE_CHECKING:
    from ..train.trainer import TrainOutcome

__all__ = ["TrainConfig", "run_train"]


def run_train(cfg: TrainConfig) -> TrainOutcome:
    """Train as ``cfg`` says; the final model is exported to ``cfg.output_dir``."""
    from ..train.trainer import train

    check_output_dir(cfg.output_dir, "the training output folder (output_dir)")
    return train(cfg)
