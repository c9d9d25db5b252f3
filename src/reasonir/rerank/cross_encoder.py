"""Cross-encoder reranking through sentence-transformers' ``CrossEncoder``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import require
from .base import PairScore, as_pair_batch

logger = logging.getLogger(__name__)


class CrossEncoderReranker:
    """Score pairs with a cross-encoder (e.g. ``cross-encoder/ms-marco-MiniLM-L-6-v2``, BGE rerankers).

    Args:
        model: Hub id or local folder.
        max_length: tokens per (query, document) input; longer inputs are truncated.
        batch_size: pairs per forward pass.
        device: ``"cpu"``, ``"cuda"``, ... (default: sentence-transformers' choice).
        trust_remote_code: allow model code from the Hub (off by default).
    """

    def __init__(self, model: str, max_length: int = 512, batch_size: int = 32, device: str | None = None,
                 trust_remote_code: bool = False):
        st = require("sentence_transformers", "encode", package="sentence-transformers")
        self.model = st.CrossEncoder(model, max_length=max_length, device=device,
                                     trust_remote_code=trust_remote_code)
        self.batch_size = batch_size
        ident = str(Path(model).resolve()) if Path(model).is_dir() else model
        self.name = f"cross-encoder:{ident}"

    def score(self, pairs: Sequence[tuple[str, str]] | tuple[str, str]) -> Any:
        """The cross-encoder's score of every pair (``list[PairScore]``; one pair: its :class:`PairScore`)."""
        batch, single = as_pair_batch(pairs)
        if not batch:
            return []
        scores = self.model.predict([list(p) for p in batch], batch_size=self.batch_size,
                                    show_progress_bar=False, convert_to_numpy=True)
        out = [PairScore(score=float(s), method="cross-encoder") for s in scores.reshape(-1)]   # (N,)
        return out[0] if single else out
