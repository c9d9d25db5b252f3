"""Hard negatives: written by the LLM in a separate turn, or mined from a corpus with any retriever.

* :class:`LLMNegativeStage` asks, for each (query, positive), for a long document with superficial
  overlap that does not help (single-turn negatives are too easy, so this is its own request);
  too-short replies and copies of the positive are regenerated and never written.
* :class:`NegativeMiner` ranks a corpus for each query with BM25, query-side BM25 or a dense
  encoder, skips the top ``skip`` ranks (likely unlabelled positives), the source document and
  copies of the positive, and keeps the next ``depth`` candidates.
* :class:`MineStage` takes mined candidates in rank order; with ``judge_negatives`` an LLM first
  rejects candidates that actually answer the query (false negatives).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ..llm.base import LLM
from ..prompts.synth import NEGATIVE_FIELDS
from ..retrieve.bm25 import BM25Index
from ..retrieve.dense import dense_search
from ..types import Document
from .config import SynthesizeConfig
from .edu import load_encoder_spec
from .llmstep import LLMStep
from .parsing import ParseError, parse_object_fields
from .pool import text_hash, truncate_words, word_count
from .records import Record, add_usage, live_items
from .vl import term_jaccard

logger = logging.getLogger(__name__)
LLM_STAGE = "llm_negative"
MINE_STAGE = "mine"
JUDGE_STAGE = "judge"
_YES_NO_RE = re.compile(r"\b(yes|no)\b", re.I)


# --------------------------------------------------------------------------------------------------
# LLM-written negatives
# --------------------------------------------------------------------------------------------------
_PROMPT_TALK_RE = re.compile(
    r"\b(?:positive document|hard negative document|these instructions|the (?:given|above) input"
    r"|at least \d+ words|the (?:response|document|output) (?:must|should))\b", re.I)


def check_negative(text: str, positive: str, min_words: int) -> None:
    """Raise :class:`ParseError` for a negative that is too short, talks about the prompt (echoes
    "the positive document", "these instructions", ...) or copies the positive."""
    if word_count(text) < min_words:
        raise ParseError("negative_too_short")
    if _PROMPT_TALK_RE.search(text):
        raise ParseError("negative_mentions_prompt")
    if text_hash(text) == text_hash(positive) or term_jaccard(text, positive) > 0.8:
        raise ParseError("negative_copies_positive")


class LLMNegativeStage:
    """Append one LLM-written hard negative to every live item (HQ and VL)."""

    name = LLM_STAGE

    def __init__(self, cfg: SynthesizeConfig, llm: LLM):
        self.cfg = cfg
        self.prompts = cfg.prompt_set()
        self.step = LLMStep.from_config(llm, cfg, cfg.neg_max_tokens, LLM_STAGE)

    def min_words(self, kind: str) -> int:
        return self.cfg.vl_min_words if kind == "vl" else self.cfg.neg_min_words

    def __call__(self, records: list[Record]) -> list[Record]:
        todo = [(r, it) for r, it in live_items(records) if not any(n["source"] == "llm" for n in it["negs"])]
        if not todo:
            return records
        cfg = self.cfg
        prompts = [self.prompts.negative_messages(it["query"], truncate_words(it["pos"], cfg.doc_max_words),
                                     self.min_words(r["kind"]))
                   for r, it in todo]

        def validate(i: int, text: str) -> str:
            rec, item = todo[i]
            try:
                neg = parse_object_fields(text, NEGATIVE_FIELDS)["negative"]
            except ParseError:
                if not cfg.lenient or "{" in text or "```" in text:
                    raise
                neg = text.strip()
            check_negative(neg, item["pos"], self.min_words(rec["kind"]))
            return neg

        for (rec, item), res in zip(todo, self.step.run(prompts, validate)):
            add_usage(rec, LLM_STAGE, res.usage)
            rec["negative_prompt_version"] = self.prompts.version("negative")
            if res.value is None:
                item["llm_negative_failed"] = True
            else:
                item["negs"].append({"text": res.value, "source": "llm", "id": None})
        return records


# --------------------------------------------------------------------------------------------------
# mined negatives
# --------------------------------------------------------------------------------------------------
class NegativeMiner:
    """Rank a corpus for queries and return candidate negatives below the skipped top ranks.

    Args:
        corpus: the documents to mine from.
        method: ``bm25``, ``bm25q`` (query-side BM25, as BRIGHT scores) or ``dense``.
        encoder: an :class:`~reasonir.encode.base.Encoder` (``dense`` only).
        k1, b: BM25 parameters.
    """

    def __init__(self, corpus: Sequence[Document], method: str = "bm25", encoder: Any = None,
                 k1: float = 0.9, b: float = 0.4):
        if method not in ("bm25", "bm25q", "dense"):
            raise ConfigError(f"unknown mining method {method!r}; choose bm25, bm25q or dense")
        if not corpus:
            raise ConfigError("the mining corpus is empty")
        self.method = method
        self.ids = [d.id for d in corpus]
        self.texts = [d.full_text for d in corpus]
        self.hashes = [text_hash(t) for t in self.texts]
        if method == "dense":
            if encoder is None:
                raise ConfigError("dense mining needs an encoder (mine_encoder)")
            self.encoder = encoder
            self.doc_emb = encoder.encode_document(self.texts)              # [n, d]
        else:
            self.index = BM25Index.build(self.texts, self.ids, k1=k1, b=b)

    def _rank(self, queries: Sequence[str], k: int) -> list[list[int]]:
        if self.method == "dense":
            q = self.encoder.encode_query(list(queries))                    # [nq, d]
            idx, _ = dense_search(q, self.doc_emb, k=min(k, len(self.ids)))
            return [[int(i) for i in row if i >= 0] for row in idx]
        return [idx.tolist() for idx, _ in self.index.search_arrays(list(queries), k=k, mode=self.method)]

    def candidates(self, queries: Sequence[str], positives: Sequence[str], source_ids: Sequence[str | None],
                   skip: int = 20, depth: int = 30) -> list[list[dict[str, Any]]]:
        """Per query, up to ``depth`` candidates ``{"id", "text", "rank"}`` after the top ``skip`` ranks,
        never the source document or a copy of the positive."""
        out = []
        for ranking, pos, src in zip(self._rank(queries, skip + depth + 2), positives, source_ids):
            pos_hash = text_hash(pos)
            cands = []
            for rank, i in enumerate(ranking):
                if rank < skip or self.ids[i] == src or self.hashes[i] == pos_hash:
                    continue
                cands.append({"id": self.ids[i], "text": self.texts[i], "rank": rank})
                if len(cands) >= depth:
                    break
            out.append(cands)
        return out


def parse_yes_no(text: str) -> bool:
    """``True`` for a reply that says yes, ``False`` for no (the first of the two words wins).

    Raises:
        ParseError: ``"no_verdict"``.
    """
    m = _YES_NO_RE.search(text)
    if not m:
        raise ParseError("no_verdict", text[:40])
    return m.group(1).lower() == "yes"


def build_miner(cfg: SynthesizeConfig, corpus: Sequence[Document]) -> NegativeMiner | None:
    """The miner ``cfg.mine`` names over ``corpus`` (``None`` when mining is off)."""
    if cfg.mine == "none" or cfg.mine_negatives == 0:
        return None
    encoder = load_encoder_spec(cfg.mine_encoder) if cfg.mine == "dense" else None
    return NegativeMiner(corpus, cfg.mine, encoder)


class MineStage:
    """Add ``mine_negatives`` mined negatives to every live HQ item (judged by the LLM if enabled)."""

    name = MINE_STAGE

    def __init__(self, cfg: SynthesizeConfig, miner: NegativeMiner, llm: LLM | None = None):
        self.cfg, self.miner = cfg, miner
        self.prompts = cfg.prompt_set()
        self.judge: LLMStep | None = None
        if cfg.judge_negatives:
            if llm is None:
                raise ConfigError("judge_negatives needs an LLM")
            self.judge = LLMStep.from_config(llm, cfg, cfg.judge_max_tokens, JUDGE_STAGE)

    def __call__(self, records: list[Record]) -> list[Record]:
        cfg = self.cfg
        todo = [(r, it) for r, it in live_items(records, "hq") if "mined" not in it]
        if not todo:
            return records
        cands = self.miner.candidates([it["query"] for _, it in todo], [it["pos"] for _, it in todo],
                                      [r.get("doc_id") for r, _ in todo], cfg.mine_skip, cfg.mine_depth)
        per_item = max(1, cfg.judge_candidates) * cfg.mine_negatives if self.judge else cfg.mine_negatives
        chosen = [c[:per_item] for c in cands]
        if self.judge is not None:
            chosen = self._judge(todo, chosen)
        for (_rec, item), picks in zip(todo, chosen):
            item["mined"] = len(picks)
            for c in picks[:cfg.mine_negatives]:
                item["negs"].append({"text": c["text"], "source": cfg.mine, "id": c["id"], "rank": c["rank"]})
        return records

    def _judge(self, todo: list[tuple[Record, dict[str, Any]]],
               chosen: list[list[dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        assert self.judge is not None  # called only when judging is on
        pairs = [(t, c) for t, cs in enumerate(chosen) for c in cs]
        prompts = [self.prompts.negative_judge_messages(todo[t][1]["query"],
                                                        truncate_words(c["text"], self.cfg.doc_max_words))
                   for t, c in pairs]
        results = self.judge.run(prompts, lambda _i, text: parse_yes_no(text))
        kept: list[list[dict[str, Any]]] = [[] for _ in chosen]
        for (t, c), res in zip(pairs, results):
            rec, item = todo[t]
            add_usage(rec, JUDGE_STAGE, res.usage)
            rec["judge_prompt_version"] = self.prompts.version("neg_judge")
            if res.value is False:
                kept[t].append(c)
            else:   # judged relevant (a false negative), or no verdict: not safe to use
                key = "judge_rejected" if res.value else "judge_unparsed"
                item[key] = item.get(key, 0) + 1
        return kept


def mining_corpus(docs: Sequence[Document]) -> list[Document]:
    """The mining corpus with duplicate ids removed (first wins) and empty texts dropped."""
    seen: set[str] = set()
    out = []
    for d in docs:
        if d.id not in seen and d.full_text.strip():
            seen.add(d.id)
            out.append(d)
    return out


__all__ = ["LLMNegativeStage", "MineStage", "NegativeMiner", "build_miner", "check_negative", "mining_corpus",
           "parse_yes_no"]
