"""VL stages: brainstorm retrieval tasks whose queries are long documents, then write one long
(query, positive document) pair per task slot.

Target lengths are drawn per slot from ``vl_length_range`` with a generator seeded by
(seed, task, slot), so they do not depend on sharding. A pair is regenerated (next deterministic
attempt) when the query or the positive is shorter than ``vl_min_words`` or when the two share too
many terms (term-set Jaccard above ``vl_max_overlap``); a slot that never passes is dropped, so
short VL texts are never written.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path

import numpy as np

from ..analysis import Analyzer
from ..errors import ConfigError
from ..llm.base import LLM
from ..prompts.synth import VL_FOCUS, VL_PAIR_FIELDS, VL_SEED_TASKS
from .config import SynthesizeConfig
from .llmstep import LLMStep, Usage
from .parsing import ParseError, parse_object_fields, parse_string_list
from .pool import shard_of, word_count, words
from .records import Record, add_usage, drop, live_records, new_item, new_vl_record

logger = logging.getLogger(__name__)
PAIR_STAGE = "vl_pair"
TASKS_STAGE = "vl_tasks"
_ANALYZER = Analyzer()


def term_jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the analysed (stemmed, stop-word-free) term sets of two texts."""
    ta, tb = set(_ANALYZER(a)), set(_ANALYZER(b))
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def focus_of(call: int) -> str:
    """The field brainstorming request ``call`` is steered to (distinct for many calls)."""
    n = len(VL_FOCUS)
    if call < n:
        return VL_FOCUS[call]
    return f"{VL_FOCUS[call % n]}, combined with {VL_FOCUS[(call + 1 + call // n) % n]}"


def _task_ok(task: str) -> bool:
    return 4 <= word_count(task) <= 80


def brainstorm_tasks(llm: LLM, cfg: SynthesizeConfig) -> tuple[list[str], Usage]:
    """The VL tasks: from ``vl_task_file`` when given, else brainstormed by the LLM.

    Brainstorming asks ``vl_tasks_per_call`` tasks per request, each request steered to another
    field (:data:`~reasonir.prompts.synth.VL_FOCUS`), until ``vl_tasks`` distinct tasks exist or
    twice the needed number of requests was made. Every shard computes the same list.

    Returns:
        ``(tasks, usage)``.
    """
    if cfg.vl_task_file:
        lines = [ln.strip() for ln in Path(cfg.vl_task_file).read_text(encoding="utf-8").splitlines()]
        tasks = [t for t in lines if t and not t.startswith("#")]
        if not tasks:
            raise ConfigError(f"vl_task_file {cfg.vl_task_file}: no tasks (one per line)")
        return tasks[:cfg.vl_tasks], Usage()
    templates = cfg.prompt_set()
    step = LLMStep.from_config(llm, cfg, max(256, 60 * cfg.vl_tasks_per_call), TASKS_STAGE)
    usage = Usage()
    tasks = []
    seen = {" ".join(words(t)) for t in VL_SEED_TASKS}
    needed = math.ceil(cfg.vl_tasks / max(1, cfg.vl_tasks_per_call))
    call = 0
    while len(tasks) < cfg.vl_tasks and call < 2 * needed:
        batch = list(range(call, min(call + needed, 2 * needed)))
        prompts = [templates.vl_tasks_messages(cfg.vl_tasks_per_call, focus_of(c)) for c in batch]

        def validate(_i: int, text: str) -> list[str]:
            items, _ = parse_string_list(text, ("tasks", "task_list"))
            good = [" ".join(t.split()) for t in items if _task_ok(t)]
            if not good:
                raise ParseError("no_valid_task")
            return good

        for res in step.run(prompts, validate):
            usage.merge(res.usage)
            for t in res.value or []:
                norm = " ".join(words(t))
                if norm not in seen:
                    seen.add(norm)
                    tasks.append(t)
        call = batch[-1] + 1
    if len(tasks) < cfg.vl_tasks:
        logger.warning("brainstorming produced %d of %d requested VL tasks", len(tasks), cfg.vl_tasks)
    return tasks[:cfg.vl_tasks], usage


def _lengths(cfg: SynthesizeConfig, task: str, slot: int) -> tuple[int, int]:
    digest = hashlib.blake2b(f"{cfg.seed}\x00{task}\x00{slot}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    lo, hi = cfg.vl_length_range
    q, d = rng.integers(lo, hi + 1, size=2)
    return int(q), int(d)


def vl_records(tasks: list[str], cfg: SynthesizeConfig) -> list[Record]:
    """This shard's VL slots: ``vl_per_task`` per task, with their drawn target lengths."""
    out = []
    for ti, task in enumerate(tasks):
        for slot in range(cfg.vl_per_task):
            rec = new_vl_record(task, ti, slot, *_lengths(cfg, task, slot))
            if shard_of(rec["key"], cfg.num_shards) == cfg.shard_id:
                out.append(rec)
    return out


def check_pair(query: str, positive: str, min_words: int, max_overlap: float) -> None:
    """Raise :class:`ParseError` when a VL pair is too short or overlaps too much."""
    if word_count(query) < min_words:
        raise ParseError("query_too_short")
    if word_count(positive) < min_words:
        raise ParseError("positive_too_short")
    if term_jaccard(query, positive) > max_overlap:
        raise ParseError("high_overlap")


class VLPairStage:
    """Write the (query, positive) pair of each live VL slot."""

    name = PAIR_STAGE

    def __init__(self, cfg: SynthesizeConfig, llm: LLM):
        self.cfg = cfg
        self.prompts = cfg.prompt_set()
        self.step = LLMStep.from_config(llm, cfg, cfg.vl_max_tokens, PAIR_STAGE)

    def __call__(self, records: list[Record]) -> list[Record]:
        todo = [r for r in live_records(records, "vl") if not r["items"]]
        if not todo:
            return records
        cfg = self.cfg
        prompts = [self.prompts.vl_pair_messages(r["task"], r["query_words"], r["doc_words"]) for r in todo]

        def validate(_i: int, text: str) -> tuple[str, str]:
            pair = parse_object_fields(text, VL_PAIR_FIELDS)
            check_pair(pair["query"], pair["positive"], cfg.vl_min_words, cfg.vl_max_overlap)
            return pair["query"], pair["positive"]

        for rec, res in zip(todo, self.step.run(prompts, validate)):
            add_usage(rec, PAIR_STAGE, res.usage)
            rec["prompt_version"] = self.prompts.version("vl_pair")
            rec["tasks_prompt_version"] = None if cfg.vl_task_file else self.prompts.version("vl_tasks")
            if res.value is None:
                drop(rec, PAIR_STAGE, "no_valid_pair")
                continue
            rec["items"] = [new_item(*res.value)]
        return records
