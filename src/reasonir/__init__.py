"""reasonir: retrieval for reasoning-intensive queries.

The ReasonIR retriever (a decoder LLM made bidirectional), its synthetic-data generator and trainer,
BM25 baselines faithful to BRIGHT, evaluation, rerankers, a persistent index with a CLI and an HTTP
server, and retrieval-augmented QA evaluation.
"""

__version__ = "0.1.0"
