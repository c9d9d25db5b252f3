"""A persistent, resumable search index: document store, dense vector shards, BM25 and FAISS ANN.

Build one with :func:`build_index` (resumable after a crash, one writer at a time), grow or prune it
with :func:`add_documents` / :func:`delete_documents`, and search it with :class:`Index`
(dense exact or ANN, BM25, query-side BM25, hybrid fusion). From Python, ``Index.build`` /
``Index.add`` / ``Index.delete`` do the same from a corpus path or from documents in memory. The
directory layout is described in :mod:`reasonir.index.layout`.
"""

from .ann import ANN_KINDS, AnnParams
from .builder import WriteReport, add_documents, build_index, delete_documents
from .corpus import Corpus
from .encoding import EncoderSpec
from .exact import exact_search
from .layout import IndexNotFoundError, read_config
from .lock import IndexLockedError
from .options import IndexOptions, RunOptions
from .searcher import MODES, Hit, Index
from .snippet import make_snippet

__all__ = ["ANN_KINDS", "AnnParams", "Corpus", "EncoderSpec", "Hit", "Index", "IndexLockedError",
           "IndexNotFoundError", "IndexOptions", "MODES", "RunOptions", "WriteReport", "add_documents",
           "build_index", "delete_documents", "exact_search", "make_snippet", "read_config"]
