"""``reasonir synthesize``: generate (or convert) contrastive training data; one library call."""

from __future__ import annotations

from ..llm.base import LLM
from ..outputs import check_output_dir
from ..synth.config import SynthesizeConfig
from ..synth.pipeline import SynthesisResult, merge_shards, synthesize


def run_synthesize(cfg: SynthesizeConfig, llm: LLM | None = None) -> SynthesisResult:
    """Run the synthesizer as configured (see :class:`SynthesizeConfig`); outputs go to ``cfg.out``."""
    check_output_dir(cfg.out, "the synthesized data folder (--out)")
    return synthesize(cfg, llm=llm)


__all__ = ["SynthesisResult", "SynthesizeConfig", "merge_shards", "run_synthesize"]
