"""The document pool: read seed documents, drop duplicates and near-duplicates, filter by length and
educational value, keep a budget of the best, and split the work into deterministic shards.

Selection is global and deterministic (input order breaks ties), so every shard computes the same
pool and takes its own part of it: the union of the shards' outputs is the unsharded output.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, DataFormatError
from ..hf_spec import hf_records, parse_hf_spec
from ..io import ID_KEYS, document_from_record, read_corpus
from ..types import Document

logger = logging.getLogger(__name__)

_WORD_RE = re.compile(r"\w+", re.UNICODE)


# --------------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------------
def read_documents(spec: str, limit: int | None = None) -> list[Document]:
    """Read documents from a spec.

    * a path (JSONL / ``.jsonl.gz`` / parquet file or BEIR folder), or ``beir:PATH``;
    * ``bright:TASK`` (the Hub's ``xlangai/BRIGHT`` documents) or ``bright:TASK@DIR`` (local files);
    * ``hf:NAME[:CONFIG][@SPLIT][?text=FIELD&id=FIELD&title=FIELD&revision=R]`` (any Hugging Face
      dataset, in the one syntax of :mod:`reasonir.hf_spec`; rows without an id are numbered from 0).

    Raises:
        ConfigError: for a malformed spec; DataFormatError / FileNotFoundError for bad files.
    """
    scheme, sep, rest = spec.partition(":")
    if sep and scheme == "beir":
        docs = read_corpus(rest)
    elif sep and scheme == "bright":
        from ..data import load_bright

        task, at, directory = rest.partition("@")
        docs = load_bright(task, directory=directory if at else None).require_corpus()
    elif sep and scheme == "hf":
        docs = _read_hf(spec, limit)
    else:
        docs = read_corpus(spec)
    return docs[:limit] if limit else docs


def _read_hf(spec: str, limit: int | None) -> list[Document]:
    """Documents of an ``hf:`` spec (:mod:`reasonir.hf_spec`); rows without an id are numbered from 0."""
    hf = parse_hf_spec(spec)
    docs = []
    for row, rec in hf_records(hf, text_field="text"):
        if limit and row > limit:
            break
        if not any(rec.get(k) is not None for k in ID_KEYS):
            rec["_id"] = str(row - 1)
        docs.append(document_from_record(rec, spec, row))
    return docs


# --------------------------------------------------------------------------------------------------
# duplicates
# --------------------------------------------------------------------------------------------------
def words(text: str) -> list[str]:
    """Lower-cased word tokens (the unit of every length and overlap measure here)."""
    return _WORD_RE.findall(text.lower())


def word_count(text: str) -> int:
    """Number of whitespace-separated words (how lengths are counted and reported)."""
    return len(text.split())


def text_hash(text: str) -> str:
    """Hash of the normalised text (lower case, words only): equal for exact duplicates."""
    return hashlib.sha1(" ".join(words(text)).encode("utf-8")).hexdigest()


def _shingles(text: str, n: int = 5) -> set[int]:
    toks = words(text)
    if len(toks) < n:
        return {zlib.crc32(" ".join(toks).encode("utf-8"))} if toks else set()
    return {zlib.crc32(" ".join(toks[i:i + n]).encode("utf-8")) for i in range(len(toks) - n + 1)}


class NearDuplicateFilter:
    """MinHash + LSH over word 5-grams; a document is a near-duplicate when its exact 5-gram Jaccard
    with an earlier kept document is at least ``threshold`` (LSH only proposes candidates).

    Args:
        threshold: Jaccard threshold in (0, 1].
        num_perm: MinHash permutations (``bands * rows``).
        bands: LSH bands; ``(1/bands)^(1/rows)`` ~ the similarity where candidates start to appear.
        seed: permutation seed.
    """

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, bands: int = 32, seed: int = 0):
        if not 0 < threshold <= 1 or num_perm % bands:
            raise ConfigError("near-duplicate threshold must lie in (0, 1] and num_perm be a multiple of bands")
        self.threshold = threshold
        self.bands, self.rows = bands, num_perm // bands
        rng = np.random.default_rng(seed)
        # multiply-shift hashing over 64 bits: odd random multipliers, wrap-around products, top 32 bits.
        # (Small multipliers modulo a large prime barely wrap on 32-bit shingles, so every
        # "permutation" would share nearly one order and the MinHash estimates would be poor.)
        self.a = rng.integers(0, 1 << 64, size=num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
        self.b = rng.integers(0, 1 << 64, size=num_perm, dtype=np.uint64, endpoint=False)
        self._buckets: list[dict[bytes, list[int]]] = [{} for _ in range(bands)]
        self._sets: list[set[int]] = []

    def _signature(self, sh: set[int]) -> np.ndarray:
        x = np.fromiter(sh, dtype=np.uint64, count=len(sh))                        # [S]
        with np.errstate(over="ignore"):                                            # wrapping is the point
            h = (x[:, None] * self.a[None, :] + self.b[None, :]) >> np.uint64(32)  # [S, P]
        return h.min(axis=0)                                                        # [P]

    def add(self, text: str) -> bool:
        """Register ``text``; returns False (and keeps nothing) when it near-duplicates a kept text."""
        sh = _shingles(text)
        if not sh:
            return True
        sig = self._signature(sh)
        keys = [sig[i * self.rows:(i + 1) * self.rows].tobytes() for i in range(self.bands)]
        seen: set[int] = set()
        for band, key in enumerate(keys):
            for j in self._buckets[band].get(key, ()):
                if j in seen:
                    continue
                seen.add(j)
                other = self._sets[j]
                if len(sh & other) / len(sh | other) >= self.threshold:
                    return False
        idx = len(self._sets)
        self._sets.append(sh)
        for band, key in enumerate(keys):
            self._buckets[band].setdefault(key, []).append(idx)
        return True


# --------------------------------------------------------------------------------------------------
# the pool
# --------------------------------------------------------------------------------------------------
@dataclass
class PoolDoc:
    """A kept seed document with its score and its rank in the selection (the output order)."""

    doc: Document
    score: float | None
    rank: int


@dataclass
class Pool:
    """The selected documents and the counts of every filter (for ``stats.json``)."""

    docs: list[PoolDoc]
    all_docs: list[Document]
    counts: dict[str, Any] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)


def clean_documents(docs: Sequence[Document], dedup: bool = True, near_dup_threshold: float = 0.8, min_words: int = 0,
                    max_words: int | None = None) -> tuple[list[Document], list[Document], dict[str, int]]:
    """Drop exact duplicates, near-duplicates and documents outside the length range (input order kept).

    Returns:
        ``(kept, unique, counts)``: ``unique`` is the exact-deduplicated input (used as the mining
        corpus); ``counts`` says how many documents each filter dropped.
    """
    counts = {"input": len(docs), "dropped_empty": 0, "dropped_exact_dup": 0, "dropped_near_dup": 0,
              "dropped_too_short": 0, "dropped_too_long": 0}
    seen: set[str] = set()
    seen_ids: set[str] = set()
    unique: list[Document] = []
    for d in docs:
        if d.id in seen_ids:
            raise DataFormatError(f"duplicate document id {d.id!r} across inputs; ids must be unique")
        seen_ids.add(d.id)
        if not d.full_text.strip():
            counts["dropped_empty"] += 1
            continue
        h = text_hash(d.full_text)
        if dedup and h in seen:
            counts["dropped_exact_dup"] += 1
            continue
        seen.add(h)
        unique.append(d)
    near = NearDuplicateFilter(near_dup_threshold) if near_dup_threshold > 0 else None
    kept: list[Document] = []
    for d in unique:
        n = word_count(d.full_text)
        if n < min_words:
            counts["dropped_too_short"] += 1
        elif max_words is not None and n > max_words:
            counts["dropped_too_long"] += 1
        elif near is not None and not near.add(d.full_text):
            counts["dropped_near_dup"] += 1
        else:
            kept.append(d)
    counts["kept"] = len(kept)
    return kept, unique, counts


def select(docs: Sequence[Document], scores: Sequence[float] | np.ndarray | None, threshold: float | None,
           budget: int | None) -> tuple[list[PoolDoc], dict[str, int]]:
    """Keep documents scoring ``>= threshold``, best first (input order breaks ties), at most ``budget``.

    Without scores the input order is kept and only the budget applies. NaN scores (a scorer that
    could not rate a document) never pass the threshold.
    """
    counts = {"dropped_low_score": 0, "dropped_budget": 0}
    order = list(range(len(docs)))
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64)
        ok = ~np.isnan(s) & (s >= (threshold if threshold is not None else -np.inf))
        counts["dropped_low_score"] = int((~ok).sum())
        order = [i for i in sorted(order, key=lambda i: (-s[i] if not np.isnan(s[i]) else np.inf, i)) if ok[i]]
    if budget is not None and len(order) > budget:
        counts["dropped_budget"] = len(order) - budget
        order = order[:budget]
    out = [PoolDoc(doc=docs[i], score=None if scores is None else float(scores[i]), rank=r)
           for r, i in enumerate(order)]
    counts["selected"] = len(out)
    return out, counts


def shard_of(key: str, num_shards: int) -> int:
    """The shard (0-based) an item belongs to: a stable hash of its key, independent of the pool."""
    if num_shards <= 1:
        return 0
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big") % num_shards


def truncate_words(text: str, max_words: int | None) -> str:
    """The first ``max_words`` whitespace-separated words of ``text`` (all when ``None``/0)."""
    if not max_words:
        return text
    parts = text.split()
    return text if len(parts) <= max_words else " ".join(parts[:max_words])
