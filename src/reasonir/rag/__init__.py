"""Retrieval-augmented multiple-choice QA (MMLU, GPQA): does retrieval help an LLM reason?

* :mod:`~reasonir.rag.benchmarks` — MMLU / GPQA loaders (local release files or the Hub);
* :mod:`~reasonir.rag.questions` — :class:`MCQuestion`, MMLU subject groups, selection, shuffling;
* :mod:`~reasonir.rag.passages` — the :class:`PassageSource` protocol (run file, retriever, index);
* :mod:`~reasonir.rag.datastore` — merge retrieved pools into one deduplicated corpus;
* :mod:`~reasonir.rag.pipeline` — closed-book and retrieval-augmented answering, result rows;
* :mod:`~reasonir.rag.extract` — answer-letter extraction;
* :mod:`~reasonir.rag.stats` / :mod:`~reasonir.rag.report` — accuracy, paired bootstrap, reports.
"""

from .benchmarks import load_gpqa, load_mmlu
from .datastore import merge_pools, merge_runs
from .extract import Extraction, Fallback, extract_answer, fallback_letter
from .passages import Passage, PassageSource, RetrieverPassageSource, RunPassageSource
from .pipeline import EvalSettings, evaluate_questions
from .questions import MMLU_GROUPS, MCQuestion, select_questions
from .stats import paired_bootstrap, summarize

__all__ = [
    "EvalSettings", "Extraction", "Fallback", "MCQuestion", "MMLU_GROUPS", "Passage", "PassageSource",
    "RetrieverPassageSource", "RunPassageSource", "evaluate_questions", "extract_answer",
    "fallback_letter", "load_gpqa", "load_mmlu", "merge_pools", "merge_runs", "paired_bootstrap",
    "select_questions", "summarize",
]
