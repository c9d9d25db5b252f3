"""``DenseRetriever``: encode a corpus once, then exact cosine search for queries.

Documents are encoded as ``title + " " + text`` (BEIR convention). On BRIGHT datasets the task's
query instruction is chosen automatically (long-document wording in the long setting, ``{task}``
filled with the raw task id as the official ReasonIR evaluation does); ``instruction`` overrides it:

* ``None`` / ``"auto"`` — the BRIGHT instruction for BRIGHT datasets, none otherwise;
* ``"bright"`` / ``"bright:raw"`` / ``"bright:pretty"`` — the BRIGHT instruction with the raw id or
  BRIGHT's display name (``"Earth Science"``);
* ``"none"`` — no instruction;
* any other string — used verbatim.

The instruction actually used is kept in :attr:`DenseRetriever.instruction_info` and logged.
Set ``REASONIR_EMBEDDING_CACHE=DIR`` (or ``1`` for the default cache folder) to reuse embeddings
across runs through :class:`reasonir.encode.cache.EmbeddingCache`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..encode.base import Encoder
from ..errors import ConfigError
from ..prompts.instructions import bright_instruction_info
from ..types import Document, ExcludedIds, Run, as_queries
from .dense import dense_search

logger = logging.getLogger(__name__)


def resolve_instruction(instruction: str | None, task: str | None, long_documents: bool = False) -> dict[str, Any]:
    """The query instruction to use and where it came from (see the module docstring).

    Returns:
        ``{"instruction": str | None, "source": "bright" | "user" | "none", ...}`` plus, for BRIGHT,
        the template, task, task-name style and setting.
    """
    value = (instruction or "auto").strip() if instruction is not None else "auto"
    if value == "none":
        return {"instruction": None, "source": "none"}
    if value in ("auto", "bright", "bright:raw", "bright:pretty"):
        if task is None:
            if value != "auto":
                raise ConfigError(f"instruction {value!r} needs a BRIGHT dataset (bright:TASK...)")
            return {"instruction": None, "source": "none"}
        style = "pretty" if value == "bright:pretty" else "raw"
        try:
            info = bright_instruction_info(task, long_documents, style)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return {**info, "source": "bright"}
    return {"instruction": instruction, "source": "user"}


class DenseRetriever:
    """Exact dense retrieval over an encoded corpus.

    Args:
        encoder: any :class:`~reasonir.encode.base.Encoder`.
        doc_ids: document ids, row-aligned with ``doc_emb``.
        doc_emb: ``[n, d]`` L2-normalised document vectors.
        query_instruction: instruction passed to ``encode_query``.
        instruction_info: provenance of the instruction (see :func:`resolve_instruction`).
    """

    def __init__(self, encoder: Encoder, doc_ids: Sequence[str], doc_emb: np.ndarray,
                 query_instruction: str | None = None, instruction_info: dict[str, Any] | None = None,
                 batch_size: int | None = None):
        if len(doc_ids) != doc_emb.shape[0]:
            raise ConfigError(f"{len(doc_ids)} document ids for {doc_emb.shape[0]} vectors")
        self.encoder = encoder
        self.doc_ids = list(doc_ids)
        self.doc_emb = doc_emb
        self.query_instruction = query_instruction
        self.instruction_info = instruction_info or {"instruction": query_instruction,
                                                     "source": "user" if query_instruction else "none"}
        self.batch_size = batch_size
        self._row = {d: i for i, d in enumerate(self.doc_ids)}

    @classmethod
    def from_corpus(cls, encoder: Encoder, corpus: Sequence[Document], query_instruction: str | None = None,
                    document_instruction: str | None = None, instruction_info: dict[str, Any] | None = None,
                    batch_size: int | None = None) -> DenseRetriever:
        """Encode ``corpus`` (``title + " " + text``) with ``encoder`` and build the retriever."""
        t0 = time.perf_counter()
        emb = encoder.encode_document([d.full_text for d in corpus], instruction=document_instruction,
                                      batch_size=batch_size)                                  # [n, d]
        dt = time.perf_counter() - t0
        logger.info("encoded %d documents in %.1fs (%.1f docs/s)", len(corpus), dt, len(corpus) / dt if dt else 0)
        return cls(encoder, [d.id for d in corpus], emb, query_instruction, instruction_info, batch_size)

    @classmethod
    def from_config(cls, cfg: Any, dataset: Any) -> DenseRetriever:
        """Build from a ``RetrieveConfig`` (model, dtype, device, batch_size, max_length, instruction)."""
        from ..encode.loading import load_encoder

        encoder: Any = load_encoder(cfg.model, dtype=cfg.dtype, device=cfg.device, max_length=cfg.max_length,
                                    batch_size=cfg.batch_size)
        cache = os.environ.get("REASONIR_EMBEDDING_CACHE")
        if cache and cache not in ("0", "false", "no"):
            from ..encode.cache import CachedEncoder, EmbeddingCache

            encoder = CachedEncoder(encoder, EmbeddingCache(None if cache in ("1", "true", "yes") else cache))
        as_queries(dataset.queries)          # refuse empty queries before the corpus is encoded
        info = resolve_instruction(cfg.instruction, getattr(dataset, "task", None),
                                   bool(getattr(dataset, "long_documents", False)))
        logger.info("dense retrieval with %s; query instruction (%s): %r", cfg.model, info["source"],
                    info["instruction"])
        return cls.from_corpus(encoder, dataset.require_corpus(), query_instruction=info["instruction"],
                               instruction_info=info, batch_size=cfg.batch_size)

    def search(self, queries: Mapping[str, str], k: int = 1000, excluded_ids: ExcludedIds | None = None) -> Run:
        """Top ``k`` documents per query by cosine, ``excluded_ids`` removed before ranking.

        Raises:
            InputError: ``queries`` is not a mapping ``{query_id: text}`` of strings.
            EmptyQueryError: a query text is empty or whitespace only (named by its id).
        """
        queries = as_queries(queries)
        qids = list(queries)
        if not qids:
            return {}
        q = self.encoder.encode_query([queries[i] for i in qids], instruction=self.query_instruction,
                                      batch_size=self.batch_size)                             # [nq, d]
        excluded = None
        if excluded_ids:
            excluded = [[self._row[d] for d in excluded_ids.get(qid, ()) if d in self._row] for qid in qids]
        idx, scores = dense_search(q, self.doc_emb, k=min(k, len(self.doc_ids)) or 1, excluded=excluded)
        run: Run = {}
        for r, qid in enumerate(qids):
            run[qid] = {self.doc_ids[j]: float(s) for j, s in zip(idx[r], scores[r]) if j >= 0}
        return run
