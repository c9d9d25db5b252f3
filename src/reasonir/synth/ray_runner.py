"""Run the synthesizer's record stages as Ray Data stages (a local Ray or a cluster).

The driver builds the pool and the VL tasks (global, cheap) and the initial records; each record
stage then becomes a ``map_batches`` over actors that build their own LLM with ``llm_factory`` (by
default ``load_llm(cfg.llm)`` with the shared response cache) and, for mining, their own index.
Records travel as JSON strings, so the stage code is exactly the in-process code. The collected
records are finished (examples, statistics, files) by the driver as in a local run.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from ..errors import require
from ..types import Document
from .config import SynthesizeConfig
from .negatives import mining_corpus
from .stages import LLMFactory, SynthesisResult, finish, make_stage, prepare, read_inputs, stage_names

logger = logging.getLogger(__name__)


class RayStage:
    """A callable Ray Data actor wrapping one record stage.

    Args:
        name: stage name (see :func:`reasonir.synth.stages.stage_names`).
        cfg: the configuration as a dict.
        llm_factory: builds the actor's LLM.
        corpus: the mining corpus as ``(id, text, title)`` tuples (``mine`` only).
    """

    def __init__(self, name: str, cfg: dict[str, Any], llm_factory: LLMFactory,
                 corpus: list[tuple[str, str, str]] | None = None):
        config = SynthesizeConfig(**cfg)
        needs_llm = name != "mine" or config.judge_negatives
        docs = [Document(id=i, text=t, title=ti) for i, t, ti in corpus] if corpus else None
        self.stage = make_stage(name, config, llm_factory() if needs_llm else None, docs)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        records = [json.loads(s) for s in batch["rec"]]
        records = self.stage(records)
        return {"rec": np.array([json.dumps(r, ensure_ascii=False) for r in records], dtype=object)}


def run_ray(cfg: SynthesizeConfig, llm_factory: LLMFactory) -> SynthesisResult:
    """Run ``cfg`` with Ray Data; initialises a local Ray unless one is running (or ``ray_address``)."""
    ray = require("ray", "ray", package="ray[data]")
    if not ray.is_initialized():
        ray.init(address=cfg.ray_address, include_dashboard=False, log_to_driver=False,
                 ignore_reinit_error=True)
    llm = None

    def driver_llm():
        nonlocal llm
        llm = llm or llm_factory()
        return llm

    records, pool, usage, seconds = prepare(cfg, driver_llm)
    names = stage_names(cfg)
    corpus = None
    if "mine" in names:
        docs = read_inputs(cfg.mine_corpus, None) if cfg.mine_corpus else (pool.all_docs if pool else [])
        corpus = [(d.id, d.text, d.title) for d in mining_corpus(docs)]
    t0 = time.perf_counter()
    if records:
        ds = ray.data.from_items([{"rec": json.dumps(r, ensure_ascii=False)} for r in records])
        batch = cfg.batch_size if cfg.batch_size > 0 else max(1, len(records))
        for name in names:
            ds = ds.map_batches(RayStage, batch_size=batch, concurrency=max(1, cfg.ray_concurrency),
                                num_cpus=cfg.ray_cpus_per_actor,
                                fn_constructor_kwargs={"name": name, "cfg": asdict(cfg), "llm_factory": llm_factory,
                                                       "corpus": corpus if name == "mine" else None})
        records = [json.loads(row["rec"]) for row in ds.take_all()]
    seconds["ray_stages"] = time.perf_counter() - t0
    generator = (llm or llm_factory()).name
    return finish(cfg, records, pool, usage, seconds, generator)
