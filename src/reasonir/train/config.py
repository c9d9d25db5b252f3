"""The options of ``reasonir train``: one dataclass, accepted as a YAML/JSON file and as flags.

Defaults follow the ReasonIR-8B recipe where it does not depend on the hardware (InfoNCE τ = 0.02,
one positive + one hard negative per query, cross-device negatives, lr 2e-5 constant after 6 %
warm-up, single-source batches, AdamW without weight decay, gradient clipping at 1.0, GritLM's
mean of the processes' gradients); the batch size, number of steps and lengths default to values a
single machine can run. ``--preset paper`` (``src/reasonir/prompts/presets/paper/train.yaml``) and
``examples/train_reasonir_8b.yaml`` hold the full recipe, ``examples/train_cpu_demo.yaml`` the CPU demo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ConfigError

SCHEDULERS = ("constant_with_warmup", "constant", "linear", "cosine")
DTYPES = ("auto", "fp32", "bf16", "fp16")
PRECISIONS = ("no", "bf16", "fp16")
#: how the processes' gradients combine with cross-device negatives (see reasonir.train.loss)
CROSS_DEVICE_GRADIENTS = ("mean", "sum")


@dataclass
class TrainConfig:
    """Options of ``reasonir train``."""

    #: the file of a preset folder that holds this command's settings (``<preset>/train.yaml``)
    PRESET_SECTION: ClassVar[str] = "train"

    train_data: list[str | dict[str, Any]] = field(metadata={
        "help": "training sources: JSONL files/folders (GritLM/ReasonIR, sentence-transformers or Tevatron "
                "rows) or beir:PATH qrels; in YAML a source may be a mapping {path, weight, split, negatives, "
                "num_negatives, query_instruction}"})
    output_dir: str = field(metadata={"flag": "--out", "aliases": ("output_dir",),
                                      "help": "folder for checkpoints, logs and the final model"})
    model: str = field(default="smollm2", metadata={
        "help": "encoder to train: smollm2, minilm, a Hub id or a local model folder"})
    dtype: str = field(default="auto", metadata={"help": "weight dtype", "choices": DTYPES})
    mixed_precision: str = field(default="no", metadata={"help": "autocast precision", "choices": PRECISIONS})
    query_max_length: int = field(default=256, metadata={"help": "max tokens per query (ReasonIR: 2048)"})
    passage_max_length: int = field(default=256, metadata={"help": "max tokens per passage (ReasonIR: 2048)"})
    temperature: float = field(default=0.02, metadata={"help": "InfoNCE temperature"})
    similarity: str = field(default="cos", metadata={"help": "score function", "choices": ("cos", "dot")})
    group_size: int = field(default=2, metadata={"help": "passages per query: 1 positive + group_size-1 negatives"})
    batch_size: int = field(default=16, metadata={
        "help": "queries per optimizer step over all processes (ReasonIR: 2048)"})
    cross_device: bool = field(default=True, metadata={"help": "use other processes' passages as negatives"})
    cross_device_gradient: str = field(default="mean", metadata={
        "help": "with cross-device negatives, how the processes' gradients combine: mean = GritLM/ReasonIR (the "
                "engine averages each process's gradient of the global loss, i.e. the global-batch gradient / "
                "number of processes, then clips); sum = the single-process gradient of the global batch",
        "choices": CROSS_DEVICE_GRADIENTS})
    gradcache: bool = field(default=False, metadata={
        "help": "GradCache: exact large-batch loss with memory bounded by chunk_size"})
    chunk_size: int = field(default=8, metadata={"help": "texts per forward pass in GradCache mode"})
    single_source: bool = field(default=True, metadata={"help": "draw each batch from one data source"})
    learning_rate: float = field(default=2e-5, metadata={"help": "peak learning rate"})
    lr_scheduler: str = field(default="constant_with_warmup", metadata={"help": "schedule", "choices": SCHEDULERS})
    warmup_ratio: float = field(default=0.06, metadata={"help": "share of steps spent warming up"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1"})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2"})
    adam_epsilon: float = field(default=1e-8, metadata={"help": "AdamW epsilon"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping (0: off)"})
    max_steps: int | None = field(default=None, metadata={
        "help": "optimizer steps (default: epochs x steps per epoch)"})
    epochs: float = field(default=1.0, metadata={"help": "passes over the data when max_steps is not set"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "recompute activations in backward"})
    lora: bool = field(default=False, metadata={"help": "train LoRA adapters instead of all weights (needs peft)"})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: list[str] | None = field(default=None, metadata={
        "help": "module names to adapt (default: attention and MLP projections)"})
    seed: int = field(default=42, metadata={"help": "seed for data order, sampling and dropout"})
    logging_steps: int = field(default=10, metadata={"help": "log every N steps"})
    save_steps: int = field(default=0, metadata={"help": "write a resumable checkpoint every N steps (0: end only)"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept (oldest removed; 0: keep all)"})
    resume: str = field(default="auto", metadata={
        "help": "auto (latest checkpoint in output_dir), never, or a checkpoint folder"})
    report_to: list[str] = field(default_factory=list, metadata={
        "help": "experiment trackers for accelerate (tensorboard, wandb, ...)"})
    cpu: bool = field(default=False, metadata={"help": "train on CPU even when a GPU is present"})
    preset: str | None = field(default=None, metadata={
        "help": "settings profile: paper = ReasonIR's published settings; or a folder of <command>.yaml files"})

    def check(self) -> None:
        """Validate value ranges.

        Raises:
            ConfigError: naming the bad option and its valid range.
        """
        positive = {"batch_size": self.batch_size, "group_size": self.group_size, "chunk_size": self.chunk_size,
                    "query_max_length": self.query_max_length, "passage_max_length": self.passage_max_length,
                    "logging_steps": self.logging_steps}
        for name, number in positive.items():
            if not isinstance(number, int) or number <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {number!r}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be positive, got {self.temperature}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ConfigError(f"max_steps must be positive, got {self.max_steps}")
        if self.max_steps is None and self.epochs <= 0:
            raise ConfigError(f"epochs must be positive, got {self.epochs}")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        for name, value, choices in (("lr_scheduler", self.lr_scheduler, SCHEDULERS), ("dtype", self.dtype, DTYPES),
                                     ("mixed_precision", self.mixed_precision, PRECISIONS),
                                     ("cross_device_gradient", self.cross_device_gradient, CROSS_DEVICE_GRADIENTS)):
            if value not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        if isinstance(self.train_data, (str, dict)):
            self.train_data = [self.train_data]
        for i, source in enumerate(self.train_data):
            if not isinstance(source, (str, dict)):
                raise ConfigError(f"train_data[{i}] must be a path/spec string or a mapping {{path, weight, ...}}, "
                                  f"got {type(source).__name__} {source!r}")

    def total_steps(self, steps_per_epoch: int) -> int:
        """Optimizer steps of the run: ``max_steps`` or ``ceil(epochs x steps_per_epoch)``."""
        return self.max_steps if self.max_steps is not None else max(1, math.ceil(self.epochs * steps_per_epoch))

    def warmup_steps(self, total: int) -> int:
        """Warm-up steps: ``ceil(warmup_ratio x total)`` (ReasonIR: 60 of 1,000)."""
        return math.ceil(self.warmup_ratio * total)

    def to_record(self) -> dict[str, Any]:
        """JSON-serialisable copy of the options."""
        from ..config import to_dict

        return to_dict(self)
