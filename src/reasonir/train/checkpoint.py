"""Resumable training checkpoints without pickle.

A checkpoint ``<output_dir>/checkpoint-<step>/`` is an exported encoder folder (loadable wherever a
``--model PATH`` is accepted) plus ``trainer/``:

* ``trainable.safetensors`` — every trainable parameter (all weights, or only the LoRA adapters);
* ``optimizer.safetensors`` + ``optimizer.json`` — the optimizer's tensors and its JSON-able rest
  (hyper-parameters, parameter groups, scalar state);
* ``state.json`` — the step reached, the seed and the resolved training options.

The learning-rate schedule and the data order are pure functions of the step, so nothing else is
needed to continue exactly. Checkpoints are written to a temporary sibling folder and renamed into
place, so a crash never leaves a half-written ``checkpoint-<step>``. Sharded engines (FSDP,
DeepSpeed) keep their optimizer shards in their own format via ``accelerator.save_state`` in
``trainer/engine/`` instead of the two optimizer files.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..io import write_json

logger = logging.getLogger(__name__)

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "state.json"


def list_checkpoints(output_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``output_dir`` as ``(step, path)``, oldest first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = CHECKPOINT_RE.match(p.name)
        if m and (p / "trainer" / STATE_FILE).exists():
            found.append((int(m.group(1)), p))
    return sorted(found)


def resolve_resume(resume: str, output_dir: str | os.PathLike) -> Path | None:
    """The checkpoint to resume from: ``auto`` (latest, if any), ``never``, or an explicit folder.

    Raises:
        ConfigError: when an explicit folder is not a checkpoint.
    """
    if resume in ("never", "no", "false", "", None):
        return None
    if resume == "auto":
        found = list_checkpoints(output_dir)
        return found[-1][1] if found else None
    path = Path(resume)
    if not (path / "trainer" / STATE_FILE).exists():
        raise ConfigError(f"resume={resume!r}: not a training checkpoint (missing trainer/{STATE_FILE}); "
                          "use auto, never or a checkpoint-<step> folder")
    return path


def _save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(path))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


_WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def clean_name(name: str) -> str:
    """A parameter name without engine wrapper components (FSDP, activation checkpointing, compile)."""
    for part in _WRAPPER_PREFIXES:
        name = name.replace(part, "")
    return name


def trainable_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that require grad, by (wrapper-free) name."""
    return {clean_name(n): p for n, p in module.named_parameters() if p.requires_grad}


def optimizer_to_files(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """Write ``optimizer.state_dict()`` as safetensors (tensors) + JSON (everything else)."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    _save_tensors(tensors, directory / "optimizer.safetensors")
    write_json(directory / "optimizer.json", {"param_groups": sd["param_groups"], "scalars": scalars})


def optimizer_from_files(optimizer: torch.optim.Optimizer, directory: Path) -> None:
    """Load what :func:`optimizer_to_files` wrote into ``optimizer``."""
    meta = json.loads((directory / "optimizer.json").read_text(encoding="utf-8"))
    state: dict[int, dict[str, Any]] = {}
    for key, value in _load_tensors(directory / "optimizer.safetensors").items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    for idx, values in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(directory: Path, *, step: int, export: Callable[[Path, dict | None], Any], module: torch.nn.Module,
                    optimizer: torch.optim.Optimizer, accelerator: Any, record: dict[str, Any],
                    sharded: bool) -> Path:
    """Write ``checkpoint-<step>`` atomically (main process writes; all processes must call it).

    Args:
        directory: the run's output folder.
        step: optimizer steps completed.
        export: ``export(path, full_state_dict_or_None)`` writes the encoder folder (main process only;
            the state dict is given for sharded engines, whose live weights are shards).
        module: the unwrapped training module (its trainable parameters are saved).
        optimizer: the (prepared) optimizer.
        accelerator: the ``accelerate.Accelerator`` (sharded engines save through it).
        record: JSON-able run description stored in ``state.json``.
        sharded: the engine shards optimizer state (FSDP, DeepSpeed).

    Returns:
        The checkpoint folder.
    """
    final = directory / f"checkpoint-{step}"
    tmp = directory / f".checkpoint-{step}.tmp"
    main = accelerator.is_main_process
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "trainer").mkdir(parents=True)
    accelerator.wait_for_everyone()
    full_state = accelerator.get_state_dict(module)          # collective under FSDP / ZeRO-3
    if sharded:
        accelerator.save_state(str(tmp / "trainer" / "engine"), safe_serialization=True)
    if main:
        export(tmp / "model", full_state if sharded else None)
        for entry in (tmp / "model").iterdir():          # the checkpoint folder itself is the encoder folder
            os.replace(entry, tmp / entry.name)
        (tmp / "model").rmdir()
        names = set(trainable_state(accelerator.unwrap_model(module)))
        _save_tensors({k: v for k, v in full_state.items() if k in names}, tmp / "trainer" / "trainable.safetensors")
        if not sharded:
            optimizer_to_files(optimizer, tmp / "trainer")
        write_json(tmp / "trainer" / STATE_FILE, {"step": step, **record})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        logger.info("saved checkpoint %s", final)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(path: Path, *, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    accelerator: Any, sharded: bool) -> int:
    """Restore trainable weights and optimizer state from ``path``; returns the step reached."""
    state = json.loads((path / "trainer" / STATE_FILE).read_text(encoding="utf-8"))
    if sharded:
        accelerator.load_state(str(path / "trainer" / "engine"))
    else:
        weights = _load_tensors(path / "trainer" / "trainable.safetensors")
        target = accelerator.unwrap_model(module)
        missing = set(trainable_state(target)) - set(weights)
        if missing:
            raise ConfigError(f"{path}: checkpoint lacks {len(missing)} trainable parameters (e.g. "
                              f"{sorted(missing)[:3]}); it was written for a different model or LoRA setting")
        with torch.no_grad():
            params = {clean_name(n): p for n, p in target.named_parameters()}
            for name, value in weights.items():
                params[name].copy_(value.to(params[name].dtype))
        optimizer_from_files(optimizer, path / "trainer")
    logger.info("resumed from %s (step %d)", path, state["step"])
    return int(state["step"])


def prune_checkpoints(output_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (``keep <= 0``: keep all)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)
