"""Synthetic reasoning-intensive training data (ReasonIR's HQ and VL recipes), resumable and shardable.

``synthesize(SynthesizeConfig(...))`` reads seed documents, filters them (duplicates, length,
educational value), asks an LLM for hard queries (HQ) and varied-length pairs (VL), adds hard
negatives (LLM-written in a separate turn and/or mined with BM25 / dense retrieval, optionally
LLM-judged), optionally expands queries with reasoning, and writes GritLM / ReasonIR training JSONL
plus statistics. ``resolve_released`` reads the released ``reasonir/reasonir-data``.
"""

from .config import SynthesizeConfig
from .edu import FineWebEduScorer, LLMJudgeScorer, RegressionEduScorer
from .negatives import NegativeMiner
from .pipeline import SynthesisResult, merge_shards, synthesize
from .pool import NearDuplicateFilter, clean_documents, read_documents, select, shard_of
from .released import load_bright_documents, resolve_released

__all__ = [
    "FineWebEduScorer", "LLMJudgeScorer", "NearDuplicateFilter", "NegativeMiner", "RegressionEduScorer",
    "SynthesisResult", "SynthesizeConfig", "clean_documents", "load_bright_documents", "merge_shards",
    "read_documents", "resolve_released", "select", "shard_of", "synthesize",
]
