"""Optional reasoning expansion of generated queries (``expand``), after the negatives were made.

Two prompts (``expand_prompt``):

* ``rewrite``: the test-time rewriter, :class:`reasonir.rewrite.QueryRewriter` (same prompt, same
  length clause as ``reasonir rewrite``);
* ``reason`` (ReasonIR's pipeline): the LLM reasons about the query: its essential problem, what the
  documents that help with it should contain, a draft answer (templates ``expand_reason_system``
  and ``expand_reason_user``); retried when the reply is empty.

Either way ``expand_mode`` says whether the reasoning replaces the query or is appended to it, and
the original query stays in the example's provenance (``query_original``).
"""

from __future__ import annotations

from ..llm.base import LLM, Generation
from ..prompts.rewrite import PROMPT_VERSION as REWRITE_VERSION
from ..rewrite import QueryRewriter, combine_query
from .config import SynthesizeConfig
from .hq import check_reasoning
from .llmstep import LLMStep, Usage
from .records import Record, add_usage, live_items

STAGE = "expand"


class ExpandStage:
    """Replace (or extend) each live item's query with the LLM's reasoning about it."""

    name = STAGE

    def __init__(self, cfg: SynthesizeConfig, llm: LLM):
        self.cfg = cfg
        self.rewriter = QueryRewriter(llm, max_tokens=cfg.expand_max_tokens, mode=cfg.expand_mode,
                                      temperature=cfg.temperature, seed=cfg.seed)
        self.prompts = cfg.prompt_set()
        self.step = LLMStep.from_config(llm, cfg, cfg.expand_max_tokens, STAGE)

    def __call__(self, records: list[Record]) -> list[Record]:
        todo = [(r, it) for r, it in live_items(records) if "query_original" not in it]
        if not todo:
            return records
        if self.cfg.expand_prompt == "reason":
            return self._reason(records, todo)
        rewritten = self.rewriter.rewrite({str(i): it["query"] for i, (_, it) in enumerate(todo)})
        for i, (rec, item) in enumerate(todo):
            rq = rewritten[str(i)]
            usage = Usage()
            usage.add_generation(Generation(text=rq.reasoning, completion_tokens=rq.completion_tokens,
                                            finish_reason=rq.finish_reason, cached=rq.cached))
            if rq.fallback:
                usage.add_failure("empty_expansion")
            add_usage(rec, STAGE, usage)
            rec["expand_prompt_version"] = REWRITE_VERSION
            item["query_original"] = item["query"]
            item["query"] = rq.query
        return records

    def _reason(self, records: list[Record], todo: list[tuple[Record, dict]]) -> list[Record]:
        prompts = [self.prompts.expand_reason_messages(it["query"]) for _, it in todo]
        version = self.prompts.version("expand_reason")
        for (rec, item), res in zip(todo, self.step.run(prompts, lambda _i, t: check_reasoning(t))):
            add_usage(rec, STAGE, res.usage)
            rec["expand_prompt_version"] = version
            item["query_original"] = item["query"]
            if res.value is not None:           # no reasoning after every attempt: the query stays as it was
                item["query"] = combine_query(item["query"], res.value.strip(), self.cfg.expand_mode)
        return records
