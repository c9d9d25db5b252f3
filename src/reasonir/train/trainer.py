"""The contrastive training loop on ``accelerate``: DDP, FSDP and DeepSpeed come from the engine.

One optimizer step = one global batch from :class:`~reasonir.train.batching.BatchPlan`: each process
embeds its slice (in one forward per side, or in GradCache chunks), the InfoNCE loss is computed on
the gathered embeddings, gradients are clipped, AdamW steps, and the schedule advances. The data
order, the negatives sampled and the dropout seed are functions of ``(seed, step)``, so a run resumed
from ``checkpoint-<step>`` continues exactly. Progress (loss, in-batch accuracy, lr, grad norm,
examples/s, peak memory) goes to the log, to ``<output_dir>/log.jsonl`` and to any accelerate tracker.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, require
from ..io import write_json
from .batching import BatchPlan, TrainBatch, make_batch
from .checkpoint import load_checkpoint, prune_checkpoints, resolve_resume, save_checkpoint
from .config import TrainConfig
from .data import describe_sources, load_sources
from .gradcache import full_batch_step, gradcache_step
from .loss import ContrastiveLoss
from .model import TrainModel, build_train_model

logger = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    """What a finished run produced."""

    model_dir: Path
    steps: int
    resumed_from: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    is_main_process: bool = True


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process: CUDA max allocated on GPU, else the resident-set high-water mark."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def preset_record(cfg: TrainConfig) -> dict[str, str] | None:
    """The settings profile a run used: ``{"name", "sha256"}`` of its ``train.yaml`` (``None`` without one)."""
    if not cfg.preset:
        return None
    from ..prompts.presets import preset_digest

    return {"name": cfg.preset, "sha256": preset_digest(cfg.preset, TrainConfig.PRESET_SECTION)}


def _accelerator(cfg: TrainConfig):
    accelerate = require("accelerate", "train")
    from accelerate.utils import DistributedType

    acc = accelerate.Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.cpu,
                                 log_with=cfg.report_to or None, project_dir=cfg.output_dir,
                                 step_scheduler_with_optimizer=False)
    sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
    if cfg.gradcache and acc.distributed_type == DistributedType.DEEPSPEED:
        raise ConfigError("gradcache is not supported under DeepSpeed (its engine steps inside backward); "
                          "use DDP or FSDP for GradCache, or gradcache: false with DeepSpeed")
    return acc, sharded


def _log_record(step: int, total: int, out, lr: float, grad_norm: float | None, n_examples: int,
                seconds: float, device: torch.device, batch_size: int) -> dict[str, Any]:
    """One log line; ``seconds`` and ``n_examples`` cover the steps since the previous line."""
    return {"step": step, "total_steps": total, "loss": round(float(out.loss), 6),
            "accuracy": round(float(out.accuracy), 4), "lr": lr,
            "grad_norm": None if grad_norm is None else round(float(grad_norm), 6),
            "examples_per_s": round(n_examples / seconds, 3) if seconds > 0 else None,
            "step_seconds": round(seconds * batch_size / n_examples, 3) if n_examples else None,
            "peak_memory_mb": round(peak_memory_mb(device), 1)}


def _append_log(path: Path, record: dict[str, Any]) -> None:
    import json

    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")


def _prepare(acc: Any, model: TrainModel, cfg: TrainConfig) -> tuple[Any, Any]:
    """Wrap the module for the engine and build AdamW on the parameters that train."""
    from accelerate.utils import DistributedType

    def adamw(module: torch.nn.Module) -> torch.optim.Optimizer:
        params = [p for p in module.parameters() if p.requires_grad]
        kw: dict[str, Any] = {"lr": cfg.learning_rate, "betas": (cfg.adam_beta1, cfg.adam_beta2),
                              "eps": cfg.adam_epsilon, "weight_decay": cfg.weight_decay}
        if params and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params):
            try:                                   # one fused kernel instead of a loop over tensors
                return torch.optim.AdamW(params, fused=True, **kw)
            except (RuntimeError, TypeError, ValueError):
                pass
        return torch.optim.AdamW(params, **kw)

    if acc.distributed_type == DistributedType.DEEPSPEED:      # DeepSpeed wants both in one call
        return acc.prepare(model.module, adamw(model.module))
    module = acc.prepare(model.module)                         # wrap first (FSDP shards), then the optimizer
    return module, acc.prepare(adamw(module))


class _Run:
    """The state of one training run: engine, wrapped module, optimizer, schedule, loss."""

    def __init__(self, cfg: TrainConfig, model: TrainModel | None):
        self.cfg = cfg
        self.out_dir = Path(cfg.output_dir)
        self.acc, self.sharded = _accelerator(cfg)
        self.world, self.rank = self.acc.num_processes, self.acc.process_index
        if cfg.batch_size % self.world:
            raise ConfigError(f"batch_size {cfg.batch_size} must be divisible by the {self.world} processes")
        self.sources = load_sources(cfg.train_data)
        self.plan = BatchPlan(self.sources, cfg.batch_size, seed=cfg.seed, single_source=cfg.single_source)
        self.total = cfg.total_steps(self.plan.steps_per_epoch)
        torch.manual_seed(cfg.seed)
        self.model = model or build_train_model(cfg, device=self.acc.device)
        self.module, self.optimizer = _prepare(self.acc, self.model, cfg)
        from transformers import get_scheduler

        self.scheduler = get_scheduler(cfg.lr_scheduler, self.optimizer, num_warmup_steps=cfg.warmup_steps(self.total),
                                       num_training_steps=self.total)
        self.loss_fn = ContrastiveLoss(cfg.temperature, cross_device=cfg.cross_device, similarity=cfg.similarity,
                                       gradient=cfg.cross_device_gradient)
        self.record = {"config": cfg.to_record(), "sources": describe_sources(self.sources),
                       "model": self.model.describe(), "world_size": self.world,
                       "steps_per_epoch": self.plan.steps_per_epoch, "total_steps": self.total, "seed": cfg.seed,
                       "preset": preset_record(cfg)}

    def resume(self) -> tuple[int, Path | None]:
        """Restore the checkpoint ``cfg.resume`` names, if any; returns (first step to run, checkpoint)."""
        path = resolve_resume(self.cfg.resume, self.out_dir)
        if path is None:
            return 0, None
        start = load_checkpoint(path, module=self.module, optimizer=self.optimizer, accelerator=self.acc,
                                sharded=self.sharded)
        with warnings.catch_warnings():             # fast-forward the schedule; no optimizer step is due
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start):
                self.scheduler.step()
        return start, path

    def embed(self, items: Any) -> torch.Tensor:
        feats = {k: v.to(self.acc.device) for k, v in self.model.features(items).items()}
        return self.module(**feats)

    def step(self, step: int) -> tuple[Any, float | None]:
        """One optimizer step on global batch ``step``; returns (loss output, grad norm)."""
        cfg, acc = self.cfg, self.acc
        torch.manual_seed(cfg.seed * 1_000_003 + step)             # dropout: a function of the step
        batch: TrainBatch = make_batch(self.plan, step, cfg.group_size, self.rank, self.world)
        if cfg.gradcache:
            out = gradcache_step(self.embed, batch.queries, batch.passages, self.loss_fn, cfg.chunk_size,
                                 query_lengths=[self.model.length(x) for x in batch.queries],
                                 passage_lengths=[self.model.length(x) for x in batch.passages],
                                 backward=acc.backward, no_sync=lambda: acc.no_sync(self.module))
        else:
            out = full_batch_step(self.embed, batch.queries, batch.passages, self.loss_fn, backward=acc.backward)
        grad_norm = None
        if cfg.max_grad_norm and cfg.max_grad_norm > 0:
            grad_norm = float(acc.clip_grad_norm_(self.module.parameters(), cfg.max_grad_norm))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return out, grad_norm

    def export(self, path: Path, state_dict: dict | None) -> Path:
        return self.model.export(path, self.acc.unwrap_model(self.module), state_dict)

    def checkpoint(self, step: int) -> None:
        save_checkpoint(self.out_dir, step=step, export=self.export, module=self.module, optimizer=self.optimizer,
                        accelerator=self.acc, record=self.record, sharded=self.sharded)
        if self.acc.is_main_process:
            prune_checkpoints(self.out_dir, self.cfg.save_total_limit)

    def log(self, rec: dict[str, Any]) -> None:
        if self.acc.is_main_process:
            _append_log(self.out_dir / "log.jsonl", rec)
            logger.info("step %d/%d loss %.4f acc %.3f lr %.3g %.2f queries/s peak %.0f MB", rec["step"], self.total,
                        rec["loss"], rec["accuracy"], rec["lr"], rec["examples_per_s"] or 0, rec["peak_memory_mb"])
        if self.cfg.report_to:
            self.acc.log({k: v for k, v in rec.items() if isinstance(v, (int, float))}, step=rec["step"])


def train(cfg: TrainConfig, model: TrainModel | None = None) -> TrainOutcome:
    """Train an encoder contrastively as ``cfg`` says and export it to ``<output_dir>/model``.

    Args:
        cfg: the options (see :class:`~reasonir.train.config.TrainConfig`).
        model: an already built trainable model (default: built from ``cfg.model``).

    Returns:
        Where the final model is, how many steps ran, and the logged history.

    Raises:
        ConfigError, DataFormatError, DependencyError: for bad options, data or missing extras.
    """
    cfg.check()
    t_start = time.perf_counter()
    run = _Run(cfg, model)
    acc, total = run.acc, run.total
    start, resumed_from = run.resume()
    if acc.is_main_process:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        write_json(run.out_dir / "train_config.json", run.record)
    if cfg.report_to:
        acc.init_trackers("reasonir-train", config={k: v for k, v in cfg.to_record().items()
                                                    if isinstance(v, (int, float, str, bool))})
    logger.info("training %s for %d steps (%d per epoch) on %d process(es): %d queries x %d passages per step%s",
                run.record["model"].get("model"), total, run.plan.steps_per_epoch, run.world, cfg.batch_size,
                cfg.group_size, " (GradCache)" if cfg.gradcache else "")
    history: list[dict[str, Any]] = []
    run.module.train()
    window_t, window_n = 0.0, 0
    for step in range(start, total):
        t0 = time.perf_counter()
        out, grad_norm = run.step(step)
        window_t += time.perf_counter() - t0
        window_n += cfg.batch_size
        done = step + 1
        if done % cfg.logging_steps == 0 or done == total:
            rec = _log_record(done, total, out, run.scheduler.get_last_lr()[0], grad_norm, window_n, window_t,
                              acc.device, cfg.batch_size)
            window_t, window_n = 0.0, 0
            history.append(rec)
            run.log(rec)
        if cfg.save_steps and (done % cfg.save_steps == 0 or done == total):
            run.checkpoint(done)
    full_state = acc.get_state_dict(run.module) if run.sharded else None     # collective under FSDP / ZeRO-3
    model_dir = run.out_dir / "model"
    if acc.is_main_process:
        run.export(model_dir, full_state)
        logger.info("exported the trained encoder to %s", model_dir)
    acc.wait_for_everyone()
    if cfg.report_to:
        acc.end_training()
    return TrainOutcome(model_dir=model_dir, steps=total, resumed_from=resumed_from, history=history,
                        seconds=time.perf_counter() - t_start, is_main_process=acc.is_main_process)
