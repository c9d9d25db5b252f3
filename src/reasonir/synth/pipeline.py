"""The synthesizer: document pool -> HQ / VL generation -> hard negatives -> expansion -> train.jsonl.

``synthesize(cfg)`` runs every stage in-process (or on Ray with ``runner="ray"``) and writes:

* ``train.jsonl`` (``train.shard-IIIII-of-NNNNN.jsonl`` when sharded) — GritLM / ReasonIR rows with
  provenance (``example_id``, ``kind``, ``source_doc_id``, ``generator``, ``prompt_version``, ...);
* ``train.st.jsonl`` — the same examples as a sentence-transformers table;
* ``stats.json`` — per-stage kept/dropped counts, parse-failure rates, LLM calls, tokens, cost and
  length histograms; ``config.json`` — the resolved configuration; both record the preset (name and
  sha256 of its ``synthesize.yaml``) and the sha256 and source of every prompt template used;
* ``dropped.jsonl`` — every dropped record or item with its stage and reason.

Every LLM request goes through the response-cached LLM layer with deterministic parameters, so a
killed run resumes where it stopped and a finished run re-runs with zero backend calls.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

from ..errors import ConfigError
from ..llm.base import LLM
from ..trainio import read_train_examples, write_train_examples
from .config import SynthesizeConfig
from .negatives import mining_corpus
from .ray_runner import run_ray
from .released import convert_released
from .stages import (
    PIPELINE_VERSION,
    LLMFactory,
    SynthesisResult,
    build_pool,
    finish,
    make_stage,
    open_llm,
    prepare,
    read_inputs,
    stage_names,
)

__all__ = ["PIPELINE_VERSION", "LLMFactory", "SynthesisResult", "build_pool", "merge_shards", "synthesize"]
logger = logging.getLogger(__name__)


def synthesize(cfg: SynthesizeConfig, llm: LLM | None = None, llm_factory: LLMFactory | None = None) -> SynthesisResult:
    """Run the synthesizer as configured and write its outputs to ``cfg.out``.

    Args:
        cfg: the configuration.
        llm: the LLM to use (default: ``load_llm(cfg.llm)`` with the run's response cache).
        llm_factory: how Ray workers build their LLM (default: the same ``load_llm`` call).

    Returns:
        A :class:`SynthesisResult`.
    """
    cfg.check()
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    if cfg.released:
        return convert_released(cfg)
    if llm is not None and llm_factory is None:
        if cfg.runner == "ray":
            raise ConfigError("runner=ray builds one LLM per worker: pass llm_factory (a picklable callable "
                              "returning the LLM) instead of llm, or neither to use cfg.llm")
        given: LLM = llm

        def llm_factory() -> LLM:
            return given
    llm_factory = llm_factory or functools.partial(open_llm, cfg)
    if cfg.runner == "ray":
        return run_ray(cfg, llm_factory)
    llm = llm or llm_factory()
    records, pool, usage, seconds = prepare(cfg, lambda: llm)
    corpus = None
    if "mine" in stage_names(cfg):
        seeds = read_inputs(cfg.mine_corpus, None) if cfg.mine_corpus else (pool.all_docs if pool else [])
        corpus = mining_corpus(seeds)
    for name in stage_names(cfg):
        t0 = time.perf_counter()
        stage = make_stage(name, cfg, llm, corpus)
        records = stage(records)
        seconds[name] = time.perf_counter() - t0
        logger.info("stage %s done in %.1fs", name, seconds[name])
    return finish(cfg, records, pool, usage, seconds, llm.name)


def merge_shards(out: str | Path) -> Path:
    """Merge ``train.shard-*.jsonl`` of a sharded run into ``train.jsonl`` (ordered by ``example_id``,
    which is the order of an unsharded run); returns the merged file."""
    out = Path(out)
    shards = sorted(out.glob("train.shard-*-of-*.jsonl"))
    if not shards:
        raise FileNotFoundError(f"{out}: no train.shard-*.jsonl files to merge")
    examples = [ex for s in shards for ex in read_train_examples(s)]
    examples.sort(key=lambda e: str(e.metadata.get("example_id", "")))
    write_train_examples(out / "train.jsonl", examples)
    return out / "train.jsonl"
