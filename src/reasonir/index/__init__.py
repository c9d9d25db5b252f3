"""A persistent, resumable search index: document store, dense vector shards, BM25 and FAISS ANN.

Build one with :func:`build_index` (resumable after a crash, one writer at a time), grow or prune it
with :func:`add_documents` / :func:`delete_documents`, and search it with :class:`Index`
(dense exact or ANN, BM25, query-side BM25, hybrid fusion). From Python, ``Index.build`` /
``Index.add`` / ``Index.delete`` do the same from a corpus path or from documents in memory. The
directory layout is described in :mod:`reasonir.index.layout`. Vectors and BM25 weights live in the
index folder (the default) or in Milvus (``store="milvus..."``, see :mod:`reasonir.index.milvus_store`);
both sit behind :class:`VectorBackend`, so searching is the same on either.
"""

from .ann import ANN_KINDS, AnnParams
from .backend import LocalBackend, VectorBackend
from .builder import WriteReport, add_documents, build_index, delete_documents
from .corpus import Corpus
from .derive import derive_index
from .encoding import EncoderSpec
from .exact import exact_search
from .layout import IndexNotFoundError, read_config
from .lock import IndexLockedError
from .milvus_store import MilvusParams
from .options import IndexOptions, RunOptions
from .searcher import MODES, Hit, Index
from .snippet import make_snippet

__all__ = ["ANN_KINDS", "AnnParams", "Corpus", "EncoderSpec", "Hit", "Index", "IndexLockedError",
           "IndexNotFoundError", "IndexOptions", "LocalBackend", "MODES", "MilvusParams", "VectorBackend",
           "RunOptions", "WriteReport", "add_documents",
           "build_index", "delete_documents", "derive_index", "exact_search", "make_snippet", "read_config"]
