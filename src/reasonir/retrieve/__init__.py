"""Retrieval: BM25 (standard and query-side), exact dense search, fusion of runs."""

from .bm25 import BM25Index
from .dense import dense_search
from .retriever import BM25Retriever, Retriever

__all__ = ["BM25Index", "BM25Retriever", "Retriever", "dense_search"]
