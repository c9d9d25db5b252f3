"""``reasonir train CONFIG.yaml [--flag value ...]``: contrastive training (flags override the file).

Several processes: ``accelerate launch --config_file examples/accelerate/fsdp_8gpu.yaml $(which reasonir)
train CONFIG.yaml`` (GPUs), ``torchrun --nproc_per_node 2 --no-python reasonir train CONFIG.yaml`` (CPU, gloo).
"""

from __future__ import annotations

import argparse

from ._common import print_json

#: the commands this module registers, with the one-line help ``reasonir --help`` lists
COMMANDS = {
    "train": "train an encoder contrastively (InfoNCE, GradCache, cross-device negatives)",
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..config import add_arguments
    from ..workflows.train import TrainConfig

    p = sub.add_parser("train", help=COMMANDS["train"],
                       description="Fine-tune a bi-encoder with the ReasonIR/GritLM contrastive recipe. Options come "
                                   "from CONFIG (YAML/JSON); flags given here override it. Run under "
                                   "`accelerate launch --config_file ACC.yaml $(which reasonir) train CONFIG.yaml` "
                                   "for DDP/FSDP/DeepSpeed, or `torchrun --no-python reasonir train ...`.")
    p.add_argument("config_path", nargs="?", default=None, metavar="CONFIG",
                   help="YAML or JSON file with the training options (same as --config)")
    add_arguments(p, TrainConfig)
    p.add_argument("--json", action="store_true", help="print a JSON summary (last line)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ..config import from_args
    from ..errors import ConfigError
    from ..workflows.train import TrainConfig, run_train

    if args.config_path:
        if getattr(args, "_config_file", None):
            raise ConfigError("give the config file once: either CONFIG or --config FILE")
        args._config_file = args.config_path
    cfg = from_args(TrainConfig, args)
    outcome = run_train(cfg)
    if not outcome.is_main_process:          # one summary per run, not one per process
        return 0
    last = outcome.history[-1] if outcome.history else {}
    summary = {"model_dir": str(outcome.model_dir), "steps": outcome.steps,
               "resumed_from": str(outcome.resumed_from) if outcome.resumed_from else None,
               "final_loss": last.get("loss"), "seconds": round(outcome.seconds, 1)}
    if args.json:
        print_json(summary)
    else:
        print(f"trained {outcome.steps} steps in {outcome.seconds:.0f}s; final loss {last.get('loss')}; "
              f"model: {outcome.model_dir}")
    return 0
