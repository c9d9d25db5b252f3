"""Training data sources: JSONL files and folders, and judged test collections turned into pairs.

A *source* is a named list of :class:`~reasonir.types.TrainExample` with an optional mixing weight.
Sources are given in the training config as strings or mappings::

    train_data:
      - data/hq.jsonl                                  # GritLM/ReasonIR, sentence-transformers or Tevatron rows
      - {path: data/vl.jsonl, weight: 0.14}            # mixing weight (relative)
      - {path: data/public/, weight: 0.80}             # a folder: one source per file (GritLM layout)
      - {path: "beir:../shared/data/scifact", split: train, negatives: bm25, num_negatives: 8}

Files are read with :func:`reasonir.trainio.read_train_examples`. A ``beir:`` / ``bright:`` spec is
loaded with :func:`reasonir.data.parse_dataset_spec` and converted by :func:`qrels_to_examples`: the
query text, every judged-relevant document (``title text``) as a positive, and negatives that are
either BM25-mined (non-relevant documents from BM25 ranks ``[mine_from, mine_to)``, skipping the
very top where unjudged relevant documents hide), random documents, or none.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data import Dataset, parse_dataset_spec
from ..errors import ConfigError
from ..trainio import read_train_examples, train_files
from ..types import TrainExample

logger = logging.getLogger(__name__)

NEGATIVE_MODES = ("bm25", "random", "none")
_SPEC_KEYS = ("path", "weight", "name", "split", "negatives", "num_negatives", "mine_from", "mine_to", "seed",
              "query_instruction")


@dataclass
class SourceSpec:
    """Where one training source comes from and how to read it (see the module docstring).

    Attributes:
        path: a training file, a folder of files, or a ``beir:PATH`` / ``bright:TASK@DIR`` spec.
        weight: relative share of the examples drawn per epoch (``None``: each example once).
        name: a label for logs (default: the file stem or dataset name).
        split: qrels split of a ``beir:`` spec.
        negatives: ``bm25``, ``random`` or ``none`` (qrels specs only).
        num_negatives: negatives stored per example (qrels specs only; the trainer samples
            ``group_size - 1`` of them at each step).
        mine_from, mine_to: BM25 rank window the mined negatives come from.
        seed: seed for random negatives and for picking among mined ones.
        query_instruction: instruction given to this source's queries that have none (e.g. the
            task instruction the model will be evaluated with).
    """

    path: str
    weight: float | None = None
    name: str | None = None
    split: str = "train"
    negatives: str = "bm25"
    num_negatives: int = 8
    mine_from: int = 3
    mine_to: int = 50
    seed: int = 0
    query_instruction: str | None = None

    @classmethod
    def parse(cls, value: str | Mapping[str, Any], where: str = "train_data") -> SourceSpec:
        """A spec from a config entry (a string or a mapping of the fields above).

        Raises:
            ConfigError: naming the entry and the unknown or invalid field.
        """
        if isinstance(value, (str, os.PathLike)):
            return cls(path=str(value))
        if not isinstance(value, Mapping) or "path" not in value:
            raise ConfigError(f"{where}: each source is a path or a mapping with a 'path' key, got {value!r:.80}")
        unknown = sorted(set(value) - set(_SPEC_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(_SPEC_KEYS)}")
        spec = cls(**{k: value[k] for k in value})
        spec.path = str(spec.path)
        if spec.weight is not None and (not isinstance(spec.weight, (int, float)) or spec.weight <= 0):
            raise ConfigError(f"{where}: weight must be a positive number, got {spec.weight!r}")
        if spec.negatives not in NEGATIVE_MODES:
            raise ConfigError(f"{where}: negatives must be one of {', '.join(NEGATIVE_MODES)}, got {spec.negatives!r}")
        if spec.num_negatives < 0 or spec.mine_from < 0 or spec.mine_to <= spec.mine_from:
            raise ConfigError(f"{where}: need num_negatives >= 0 and 0 <= mine_from < mine_to")
        return spec

    @property
    def is_dataset(self) -> bool:
        """Whether ``path`` is a judged collection spec (``beir:``/``bright:``) rather than a file."""
        return self.path.split(":", 1)[0] in ("beir", "bright") and ":" in self.path


@dataclass
class DataSource:
    """A named list of training examples and its mixing weight (``None``: natural size)."""

    name: str
    examples: list[TrainExample]
    weight: float | None = None
    origin: str = ""
    info: dict[str, Any] = field(default_factory=dict)


def qrels_to_examples(dataset: Dataset, negatives: str = "bm25", num_negatives: int = 8,
                      mine_from: int = 3, mine_to: int = 50, seed: int = 0,
                      min_relevance: int = 1) -> list[TrainExample]:
    """Supervised pairs from a judged collection: one example per query with a relevant document.

    Args:
        dataset: queries, qrels and corpus (e.g. SciFact's ``train`` split).
        negatives: ``bm25`` (mined), ``random`` or ``none``.
        num_negatives: negatives kept per example.
        mine_from, mine_to: BM25 rank window (0-based, end exclusive) mined negatives are drawn from;
            judged-relevant documents are never negatives.
        seed: random seed (random negatives; the choice among more mined candidates than needed).
        min_relevance: smallest grade that counts as relevant.

    Returns:
        Examples in query-id order; ``metadata`` holds ``query_id``, ``pos_ids`` and ``neg_ids``.
    """
    if negatives not in NEGATIVE_MODES:
        raise ConfigError(f"negatives must be one of {', '.join(NEGATIVE_MODES)}, got {negatives!r}")
    corpus = dataset.require_corpus()
    position = {d.id: i for i, d in enumerate(corpus)}
    texts = [d.full_text for d in corpus]
    qids = [q for q in sorted(dataset.qrels) if q in dataset.queries
            and any(g >= min_relevance and d in position for d, g in dataset.qrels[q].items())]
    mined: list[np.ndarray] | None = None
    if negatives == "bm25" and num_negatives > 0:
        from ..retrieve.bm25 import BM25Index

        index = BM25Index.build(texts, [d.id for d in corpus])
        mined = [idx for idx, _ in index.search_arrays([dataset.queries[q] for q in qids], k=mine_to)]
    rng = np.random.default_rng(seed)
    out = []
    for n, qid in enumerate(qids):
        judged = dataset.qrels[qid]
        pos_idx = [position[d] for d, g in sorted(judged.items()) if g >= min_relevance and d in position]
        blocked = {position[d] for d in judged if d in position}       # never use a judged doc as negative
        if mined is not None:
            pool = [int(i) for i in mined[n][mine_from:] if int(i) not in blocked]
            if len(pool) > num_negatives:
                pool = [pool[i] for i in sorted(rng.choice(len(pool), num_negatives, replace=False))]
        elif negatives == "random" and num_negatives > 0:
            pool = []
            while len(pool) < min(num_negatives, len(corpus) - len(blocked)):
                i = int(rng.integers(len(corpus)))
                if i not in blocked and i not in pool:
                    pool.append(i)
        else:
            pool = []
        out.append(TrainExample(
            query=dataset.queries[qid], pos=[texts[i] for i in pos_idx], neg=[texts[i] for i in pool],
            metadata={"query_id": qid, "pos_ids": [corpus[i].id for i in pos_idx],
                      "neg_ids": [corpus[i].id for i in pool]}))
    logger.info("%s: %d training pairs from qrels (%s negatives)", dataset.name, len(out), negatives)
    return out


def load_source(spec: SourceSpec) -> list[DataSource]:
    """Load one spec; a folder gives one source per file (its weight shared in proportion to size).

    Raises:
        FileNotFoundError, DataFormatError, ConfigError: for missing files, bad rows, bad specs.
    """
    sources = _load_source(spec)
    if spec.query_instruction:
        for source in sources:
            for ex in source.examples:
                if not ex.query_instruction:
                    ex.query_instruction = spec.query_instruction
    return sources


def _load_source(spec: SourceSpec) -> list[DataSource]:
    if spec.is_dataset:
        dataset = parse_dataset_spec(spec.path, split=spec.split)
        examples = qrels_to_examples(dataset, spec.negatives, spec.num_negatives, spec.mine_from,
                                     spec.mine_to, spec.seed)
        name = spec.name or f"{dataset.name}-{spec.split}"
        return [DataSource(name, examples, spec.weight, origin=spec.path,
                           info={"split": spec.split, "negatives": spec.negatives})]
    files = train_files(spec.path)
    loaded = [(f, read_train_examples(f)) for f in files]
    total = sum(len(e) for _, e in loaded)
    out = []
    for f, examples in loaded:
        if not examples:
            logger.warning("%s: no training examples; skipped", f)
            continue
        weight = None if spec.weight is None else spec.weight * len(examples) / total
        stem = f.name.split(".")[0]
        name = spec.name if (spec.name and len(files) == 1) else (f"{spec.name}/{stem}" if spec.name else stem)
        out.append(DataSource(name, examples, weight, origin=str(f)))
    return out


def load_sources(specs: Sequence[str | Mapping[str, Any] | SourceSpec]) -> list[DataSource]:
    """Load every source of a config's ``train_data`` list.

    Raises:
        ConfigError: when the list is empty, names collide, or weights are given for some sources only.
    """
    if not specs:
        raise ConfigError("train_data is empty: give at least one training file, folder or beir:PATH spec")
    sources: list[DataSource] = []
    for i, value in enumerate(specs):
        spec = value if isinstance(value, SourceSpec) else SourceSpec.parse(value, f"train_data[{i}]")
        sources.extend(load_source(spec))
    if not sources:
        raise ConfigError("train_data holds no training examples")
    weighted = [s.weight is not None for s in sources]
    if any(weighted) and not all(weighted):
        raise ConfigError("give a weight to every training source or to none (unweighted sources are "
                          f"drawn in proportion to their size): {[s.name for s in sources]}")
    seen: dict[str, int] = {}
    for s in sources:                                  # make names unique for logs and checkpoints
        if s.name in seen:
            seen[s.name] += 1
            s.name = f"{s.name}#{seen[s.name]}"
        else:
            seen[s.name] = 0
    for s in sources:
        logger.info("training source %s: %d examples%s (%s)", s.name, len(s.examples),
                    "" if s.weight is None else f", weight {s.weight:.3g}", s.origin)
    return sources


def describe_sources(sources: Sequence[DataSource]) -> list[dict[str, Any]]:
    """JSON-serialisable summary (name, origin, size, weight) for the run's config record."""
    return [{"name": s.name, "origin": s.origin, "examples": len(s.examples), "weight": s.weight, **s.info}
            for s in sources]

