"""Optional reasoning expansion of generated queries, with the same rewriter as test time.

The query of every live item is rewritten by :class:`reasonir.rewrite.QueryRewriter` (same prompt,
same ``replace``/``append`` modes as ``reasonir rewrite``), after the negatives were made for the
original query. The original stays in the example's provenance (``query_original``).
"""

from __future__ import annotations

from ..llm.base import LLM, Generation
from ..prompts.rewrite import PROMPT_VERSION as REWRITE_VERSION
from ..rewrite import QueryRewriter
from .config import SynthesizeConfig
from .llmstep import Usage
from .records import Record, add_usage, live_items

STAGE = "expand"


class ExpandStage:
    """Replace (or extend) each live item's query with the LLM's reasoning about it."""

    name = STAGE

    def __init__(self, cfg: SynthesizeConfig, llm: LLM):
        self.rewriter = QueryRewriter(llm, max_tokens=cfg.expand_max_tokens, mode=cfg.expand_mode,
                                      temperature=cfg.temperature, seed=cfg.seed)

    def __call__(self, records: list[Record]) -> list[Record]:
        todo = [(r, it) for r, it in live_items(records) if "query_original" not in it]
        if not todo:
            return records
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
