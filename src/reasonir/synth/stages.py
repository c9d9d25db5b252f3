"""The synthesizer's stage library: pool, records, LLM stages, examples, outputs.

Everything a run is made of, shared by the in-process dispatcher (:func:`reasonir.synth.pipeline.synthesize`)
and the Ray runner (:mod:`reasonir.synth.ray_runner`); it imports neither, so the runners sit above
it and nothing imports back into the dispatcher.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import save_config
from ..errors import ConfigError
from ..io import atomic_write, write_json
from ..llm.base import LLM
from ..prompts.presets import preset_digest
from ..prompts.rewrite import PROMPT_VERSION as REWRITE_VERSION
from ..trainio import write_sentence_transformers, write_train_examples
from ..types import Document, TrainExample
from .config import FINEWEB_EDU_MODEL, SynthesizeConfig
from .edu import EduScorer, FineWebEduScorer, LLMJudgeScorer, RegressionEduScorer, cached_scores, read_labels
from .expand import ExpandStage
from .hq import HQStage, hq_summary
from .llmstep import Usage
from .negatives import LLMNegativeStage, MineStage, build_miner
from .pool import Pool, clean_documents, read_documents, select, shard_of
from .records import Record, drop, live_records, new_hq_record
from .stats import summarize
from .vl import VLPairStage, brainstorm_tasks, vl_records

logger = logging.getLogger(__name__)
PIPELINE_VERSION = "synth-1"
LLMFactory = Callable[[], LLM]


@dataclass
class SynthesisResult:
    """What a run produced: the examples, the statistics, the files written, the records."""

    examples: list[TrainExample]
    stats: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------------
def open_llm(cfg: SynthesizeConfig) -> LLM:
    """``load_llm(cfg.llm)`` with the run's response cache (default ``OUT/llm_cache.sqlite``)."""
    from ..llm import load_llm

    cache: Any = cfg.llm_cache or str(Path(cfg.out) / "llm_cache.sqlite")
    if str(cache).lower() in ("off", "none"):
        cache = None
    return load_llm(cfg.llm, cache=cache, **cfg.llm_options)


def work_dir(cfg: SynthesizeConfig) -> Path:
    d = Path(cfg.out) / "work"
    d.mkdir(parents=True, exist_ok=True)
    return d


def make_scorer(cfg: SynthesizeConfig, llm_factory: LLMFactory) -> EduScorer | None:
    """The educational-value scorer ``cfg.edu_scorer`` names (training a regression head if asked)."""
    if cfg.edu_scorer == "none":
        return None
    if cfg.edu_scorer == "fineweb-edu":
        return FineWebEduScorer(cfg.edu_model or FINEWEB_EDU_MODEL)
    if cfg.edu_scorer == "llm":
        return LLMJudgeScorer(llm_factory(), max_attempts=cfg.max_attempts, batch_size=cfg.batch_size, seed=cfg.seed,
                              prompts=cfg.prompt_set())
    head_dir = Path(cfg.edu_model) if cfg.edu_model else work_dir(cfg) / "edu_head"
    if (head_dir / "head.json").exists() and not cfg.edu_labels:
        return RegressionEduScorer.load(head_dir)
    if not cfg.edu_labels:
        raise ConfigError(f"edu_model {head_dir}: no trained head there; give edu_labels to train one")
    texts, scores = read_labels(cfg.edu_labels)
    scorer = RegressionEduScorer.train(texts, scores, cfg.edu_encoder)
    scorer.save(head_dir)
    logger.info("trained an educational-score head on %d labelled texts (train MAE %.3f) -> %s",
                len(texts), scorer.meta["train_mae"], head_dir)
    return scorer


def read_inputs(specs: list[str], limit: int | None) -> list[Document]:
    docs: list[Document] = []
    for spec in specs:
        docs.extend(read_documents(spec))
        if limit and len(docs) >= limit:
            return docs[:limit]
    return docs


def build_pool(cfg: SynthesizeConfig, llm_factory: LLMFactory) -> tuple[Pool, Usage | None]:
    """Read, clean, score and select the seed documents (the same selection in every shard)."""
    docs = read_inputs(cfg.input, cfg.max_input_docs)
    kept, unique, cleaned = clean_documents(docs, cfg.dedup, cfg.near_dup_threshold, cfg.min_words, cfg.max_words)
    counts: dict[str, Any] = dict(cleaned)
    scorer = make_scorer(cfg, llm_factory)
    scores = None
    if scorer is not None:
        scores = cached_scores(scorer, [d.full_text for d in kept], work_dir(cfg) / "edu_scores.json")
    selected, sel_counts = select(kept, scores, cfg.edu_threshold if scorer is not None else None, cfg.budget)
    counts.update(sel_counts)
    if scorer is not None and scores is not None and len(scores):
        counts["edu_scores"] = {"mean": round(float(scores.mean()), 3), "scored": len(scores),
                                "scorer": scorer.fingerprint().get("scorer")}
    usage = getattr(scorer, "usage", None)
    return Pool(docs=selected, all_docs=unique, counts=counts, scores=[] if scores is None else scores.tolist()), usage


def initial_records(cfg: SynthesizeConfig, pool: Pool | None, tasks: list[str]) -> list[Record]:
    """This shard's records: HQ seed documents and VL task slots."""
    recs: list[Record] = []
    if pool is not None:
        for pd in pool.docs:
            rec = new_hq_record(pd.doc.id, pd.doc.full_text, pd.rank, pd.score)
            if shard_of(rec["key"], cfg.num_shards) == cfg.shard_id:
                recs.append(rec)
    recs.extend(vl_records(tasks, cfg))
    return recs


def stage_names(cfg: SynthesizeConfig) -> list[str]:
    """The record stages this configuration runs, in order."""
    names = []
    if "hq" in cfg.kinds:
        names.append("hq")
    if "vl" in cfg.kinds:
        names.append("vl_pair")
    if cfg.llm_negatives:
        names.append("llm_negative")
    if "hq" in cfg.kinds and cfg.mine != "none" and cfg.mine_negatives > 0:
        names.append("mine")
    if cfg.expand:
        names.append("expand")
    return names


def make_stage(name: str, cfg: SynthesizeConfig, llm: LLM | None, corpus: list[Document] | None = None):
    """Instantiate one record stage (``corpus``: the mining corpus, for ``mine``)."""
    if name == "mine":
        miner = build_miner(cfg, corpus or [])
        if miner is None:
            raise ConfigError("stage mine: mining is off (mine is 'none' or mine_negatives is 0)")
        return MineStage(cfg, miner, llm)
    llm_stages = {"hq": HQStage, "vl_pair": VLPairStage, "llm_negative": LLMNegativeStage, "expand": ExpandStage}
    if name not in llm_stages:
        raise ConfigError(f"unknown stage {name!r}; choose one of {', '.join([*llm_stages, 'mine'])}")
    if llm is None:
        raise ConfigError(f"stage {name} needs an LLM")
    return llm_stages[name](cfg, llm)


def finalize(records: list[Record], cfg: SynthesizeConfig, generator: str) -> list[TrainExample]:
    """Turn live items into training examples (in ``example_id`` order); drop items short of negatives."""
    examples = []
    for rec in live_records(sorted(records, key=lambda r: r["example_id"])):
        for idx, item in enumerate(rec["items"]):
            if item.get("dropped") is None:
                ex = _example(rec, idx, item, cfg, generator)
                if ex is not None:
                    examples.append(ex)
    return examples


def _example(rec: Record, idx: int, item: dict[str, Any], cfg: SynthesizeConfig, generator: str) -> TrainExample | None:
    """The training example of one live item, or ``None`` (item dropped) when it has too few negatives."""
    if len(item["negs"]) < cfg.min_negatives:
        drop(item, "finalize", "too_few_negatives")
        return None
    meta: dict[str, Any] = {
        "example_id": f"{rec['example_id']}-{idx}", "kind": rec["kind"], "generator": generator,
        "prompt_version": rec.get("prompt_version"), "pipeline_version": PIPELINE_VERSION,
        "neg_sources": [n["source"] for n in item["negs"]],
    }
    if rec["kind"] == "hq":
        meta.update(source_doc_id=rec["doc_id"], edu_score=rec.get("edu_score"))
    else:
        meta.update(task=rec["task"], target_words=[rec["query_words"], rec["doc_words"]],
                    tasks_prompt_version=rec.get("tasks_prompt_version"))
    for key in ("negative_prompt_version", "judge_prompt_version", "expand_prompt_version"):
        if rec.get(key):
            meta[key] = rec[key]
    mined = [n["id"] for n in item["negs"] if n["id"] is not None]
    if mined:
        meta["mined_neg_ids"] = mined
    if "query_original" in item:
        meta["query_original"] = item["query_original"]
    instr = cfg.query_instruction if rec["kind"] == "hq" else rec["task"]
    return TrainExample(query=item["query"], pos=[item["pos"]], neg=[n["text"] for n in item["negs"]],
                        query_instruction=instr, doc_instruction=cfg.doc_instruction, metadata=meta)


def prompts_used(cfg: SynthesizeConfig) -> list[str]:
    """The synthesizer prompts (see :data:`reasonir.prompts.synth.PROMPTS`) this configuration sends."""
    used = []
    if cfg.edu_scorer == "llm" and "hq" in cfg.kinds:
        used.append("edu_judge")
    if "hq" in cfg.kinds:
        used.append("hq_reason" if cfg.hq_mode == "two-phase" else "hq")
    if "vl" in cfg.kinds:
        used += ["vl_pair"] if cfg.vl_task_file else ["vl_tasks", "vl_pair"]
    if cfg.llm_negatives:
        used.append("negative")
    if "mine" in stage_names(cfg) and cfg.judge_negatives:
        used.append("neg_judge")
    if cfg.expand and cfg.expand_prompt == "reason":
        used.append("expand_reason")
    return used


def prompt_manifest(cfg: SynthesizeConfig) -> dict[str, Any]:
    """What says which settings and prompts made the data: preset (+ file hash), template hashes, versions."""
    prompts = cfg.prompt_set()
    used = prompts_used(cfg)
    versions = {p: prompts.version(p) for p in used}
    if cfg.expand and cfg.expand_prompt == "rewrite":
        versions["rewrite"] = REWRITE_VERSION        # the test-time rewriter's prompt (reasonir.prompts.rewrite)
    digest = preset_digest(cfg.preset, cfg.PRESET_SECTION) if cfg.preset else None
    return {"preset": cfg.preset, "preset_sha256": digest, "prompt_templates": prompts.manifest(used),
            "prompt_versions": versions}


def output_name(cfg: SynthesizeConfig, stem: str, suffix: str = ".jsonl") -> str:
    if cfg.num_shards <= 1:
        return stem + suffix
    return f"{stem}.shard-{cfg.shard_id:05d}-of-{cfg.num_shards:05d}{suffix}"


def write_outputs(cfg: SynthesizeConfig, records: list[Record], examples: list[TrainExample],
                  stats: dict[str, Any]) -> dict[str, Path]:
    """Write train/ST/stats/config/dropped files (atomically); returns their paths."""
    out = Path(cfg.out)
    paths = {"train": out / output_name(cfg, "train"), "stats": out / output_name(cfg, "stats", ".json"),
             "config": out / "config.json", "dropped": out / output_name(cfg, "dropped")}
    write_train_examples(paths["train"], examples)
    if cfg.st_export:
        paths["sentence_transformers"] = out / output_name(cfg, "train.st")
        stats["output"]["sentence_transformers"] = write_sentence_transformers(paths["sentence_transformers"], examples)
    write_json(paths["stats"], stats)
    save_config(cfg, paths["config"], extra={"pipeline_version": PIPELINE_VERSION, **stats["prompts"]})
    with atomic_write(paths["dropped"]) as fh:
        for rec in sorted(records, key=lambda r: r["example_id"]):
            objs = ([(rec, None)] if rec.get("dropped")
                    else [(it, i) for i, it in enumerate(rec["items"]) if it.get("dropped")])
            for obj, i in objs:
                row = {"key": rec["key"], "item": i, **obj["dropped"]}
                if i is not None:
                    row["query"] = obj["query"]
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return paths


# --------------------------------------------------------------------------------------------------
# a run's beginning and end (shared by the local and Ray runners)
# --------------------------------------------------------------------------------------------------
def prepare(cfg: SynthesizeConfig,
            llm_factory: LLMFactory) -> tuple[list[Record], Pool | None, dict[str, Usage], dict[str, float]]:
    """Pool, VL tasks and this shard's initial records (shared by the local and Ray runners)."""
    usage: dict[str, Usage] = {}
    seconds: dict[str, float] = {}
    pool = None
    if "hq" in cfg.kinds:
        t0 = time.perf_counter()
        pool, edu_usage = build_pool(cfg, llm_factory)
        seconds["pool"] = time.perf_counter() - t0
        if edu_usage is not None:
            usage["edu"] = edu_usage
    tasks: list[str] = []
    if "vl" in cfg.kinds:
        t0 = time.perf_counter()
        tasks, usage["vl_tasks"] = brainstorm_tasks(llm_factory(), cfg)
        seconds["vl_tasks"] = time.perf_counter() - t0
    return initial_records(cfg, pool, tasks), pool, usage, seconds


def finish(cfg: SynthesizeConfig, records: list[Record], pool: Pool | None, usage: dict[str, Usage],
           seconds: dict[str, float], generator: str) -> SynthesisResult:
    examples = finalize(records, cfg, generator)
    extra = {"rejected_queries": hq_summary(records), "shard": [cfg.shard_id, cfg.num_shards],
             "generator": generator, "pipeline_version": PIPELINE_VERSION, "prompts": prompt_manifest(cfg)}
    stats = summarize(records, examples, pool.counts if pool else None, usage, seconds, extra)
    paths = write_outputs(cfg, records, examples, stats)
    logger.info("wrote %d examples to %s (%d LLM calls this run, %d cached)", len(examples), paths["train"],
                stats["llm_total"]["calls"], stats["llm_total"]["cached"])
    return SynthesisResult(examples=examples, stats=stats, paths=paths, records=records)
