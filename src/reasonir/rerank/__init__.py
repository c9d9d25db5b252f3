"""Rerankers: pointwise LLM grading (ReasonIR's reranker), cross-encoders, and score combination.

``retrieve`` and ``rerank`` meet only through a :data:`~reasonir.types.Run`: a reranker takes a
first-stage run and the documents' texts and returns judgements, which
:func:`~reasonir.rerank.combine.combine_scores` turns into a new run.
"""

from .base import PairScore, Reranker
from .combine import COMBINE_MODES, combine_scores
from .context import ContextFitter, context_length
from .cross_encoder import CrossEncoderReranker
from .grades import PARSE_RULES, GradeParse, expected_grade, parse_grade, parse_grade_strict, read_grade
from .llm import GRADE_MODES, LLMReranker, truncate_words
from .pipeline import RerankResult, rerank_run, select_candidates

__all__ = [
    "COMBINE_MODES", "GRADE_MODES", "PARSE_RULES", "ContextFitter", "CrossEncoderReranker", "GradeParse",
    "LLMReranker", "PairScore", "RerankResult", "Reranker", "combine_scores", "context_length", "expected_grade",
    "parse_grade", "parse_grade_strict", "read_grade", "rerank_run", "select_candidates", "truncate_words",
]
