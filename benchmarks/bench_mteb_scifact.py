"""MTEB through reasonir's adapter vs reasonir's own evaluation: nDCG@10 on the local SciFact test split.

One process, one encoder (``minilm`` in fp32 on the CPU by default). The corpus is encoded once:
both pipelines read document vectors from an in-memory table keyed by the exact text, so a
document text that MTEB assembles differently from reasonir (``title + " " + text``) is encoded
afresh and shows up as a difference. Queries are encoded by each pipeline itself. Two settings:

* no instruction — reasonir as ``reasonir retrieve --dataset beir:DATA --retriever dense --model
  minilm`` runs it (top 1000, exact cosine, ``reasonir.evaluate``), MTEB with the adapter told not
  to use task prompts;
* MTEB's SciFact query prompt — the local task carries it and the adapter passes it to
  ``encode_query``; reasonir gets the same text as ``--instruction``.

MTEB runs :func:`reasonir.integrations.mteb.local_retrieval_task` (nothing from the Hub) with
``mteb.evaluate(..., cache=None)``. The acceptance bound is |MTEB - reasonir| <= 0.001.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_mteb_scifact.py [--model minilm] [--dtype fp32]``
Writes ``benchmarks/results/mteb_scifact.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

from _common import DATA, ROOT, header

from reasonir.data import load_beir
from reasonir.encode.loading import load_encoder
from reasonir.evaluate import evaluate
from reasonir.retrieve.dense_retriever import DenseRetriever

# the query prompt of MTEB's own SciFact task (mteb/tasks/retrieval/eng/sci_fact_retrieval.py)
SCIFACT_QUERY_PROMPT = "Given a scientific claim, retrieve documents that support or refute the claim"
TOLERANCE = 0.001


class SharedDocumentVectors:
    """An encoder whose document vectors are computed once per distinct text (queries pass through)."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.table: dict[str, np.ndarray] = {}
        self.encoded = 0

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def fingerprint(self):
        return self.encoder.fingerprint()

    def encode_query(self, texts, instruction=None, batch_size=None):
        return self.encoder.encode_query(texts, instruction=instruction, batch_size=batch_size)

    def encode_document(self, texts, instruction=None, batch_size=None):
        assert instruction is None, "documents are encoded without an instruction in both pipelines"
        missing = list(dict.fromkeys(t for t in texts if t not in self.table))
        if missing:
            vecs = self.encoder.encode_document(missing, batch_size=batch_size)            # [m, d]
            self.table.update(zip(missing, vecs))
            self.encoded += len(missing)
        return np.stack([self.table[t] for t in texts])                                 # [n, d]


def ours(shared, corpus, data, instruction):
    """reasonir's dense retrieval and evaluation, as ``reasonir retrieve`` does them (k=1000)."""
    t0 = time.perf_counter()
    retriever = DenseRetriever.from_corpus(shared, corpus, query_instruction=instruction)
    run = retriever.search(data.queries, k=1000)
    score = evaluate(data.qrels, run, "ndcg@10", depth=1000).mean["ndcg@10"]
    return score, time.perf_counter() - t0


def through_mteb(shared, data, instruction):
    """nDCG@10 of ``mteb.evaluate`` with the adapter on the local task (and the seconds it took)."""
    import mteb

    from reasonir.integrations.mteb import ReasonIRMTEBEncoder, local_retrieval_task

    prompt = {"query": instruction} if instruction else None
    task = local_retrieval_task(data, name="SciFactLocal", prompt=prompt)
    adapter = ReasonIRMTEBEncoder(shared, use_task_prompts=instruction is not None)
    t0 = time.perf_counter()
    result = mteb.evaluate(adapter, task, cache=None, show_progress_bar=False,
                           encode_kwargs={"batch_size": 64})
    scores = result.task_results[0].scores["test"][0]
    return float(scores["ndcg_at_10"]), time.perf_counter() - t0, mteb.__version__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--dtype", default="fp32")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mteb_scifact.md"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")

    load_start = os.getloadavg()[0]
    data = load_beir(args.data, split="test")
    corpus = data.require_corpus()
    encoder = load_encoder(args.model, dtype=args.dtype, device="cpu")
    shared = SharedDocumentVectors(encoder)
    t0 = time.perf_counter()
    shared.encode_document([d.full_text for d in corpus])
    encode_s = time.perf_counter() - t0
    print(f"encoded {len(corpus)} documents in {encode_s:.0f}s", flush=True)

    rows = []
    for label, instruction in (("no instruction", None), ("MTEB SciFact query prompt", SCIFACT_QUERY_PROMPT)):
        score_ours, s_ours = ours(shared, corpus, data, instruction)
        before = shared.encoded
        score_mteb, s_mteb, version = through_mteb(shared, data, instruction)
        fresh = shared.encoded - before
        diff = score_mteb - score_ours
        rows.append((label, score_ours, score_mteb, diff, fresh, s_ours, s_mteb))
        print(f"{label}: reasonir {score_ours:.5f}  MTEB {score_mteb:.5f}  diff {diff:+.5f}  "
              f"(documents MTEB assembled differently, encoded afresh: {fresh})", flush=True)

    ok = all(abs(r[3]) <= TOLERANCE for r in rows)
    lines = [
        *header("MTEB (reasonir adapter) vs reasonir: SciFact test nDCG@10", lock=False),
        f"- Encoder: `{args.model}` ({args.dtype}, CPU); MTEB {version}, task built locally from "
        f"`{Path(args.data).name}` by `reasonir.integrations.mteb.local_retrieval_task` (no Hub)",
        f"- Collection: {len(corpus)} documents, {len(data.queries)} test queries; corpus encoded once in "
        f"{encode_s:.0f}s, document vectors shared by exact text",
        f"- reasonir side: `DenseRetriever` top 1000 + `reasonir.evaluate` (what `reasonir retrieve --dataset "
        f"beir:... --retriever dense --model {args.model}` runs); MTEB side: `mteb.evaluate(ReasonIRMTEBEncoder, "
        "task, cache=None)`",
        "",
        "| setting | reasonir nDCG@10 | MTEB nDCG@10 | MTEB - reasonir | docs re-encoded for MTEB | reasonir s | MTEB s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, a, b, diff, fresh, sa, sb in rows:
        lines.append(f"| {label} | {a:.5f} | {b:.5f} | {diff:+.5f} | {fresh} | {sa:.0f} | {sb:.0f} |")
    lines += [
        "",
        f"Within {TOLERANCE}: **{'yes' if ok else 'NO'}**. MTEB reports scores rounded to 5 decimals. "
        "\"docs re-encoded\" counts documents whose text as MTEB assembles it (`(title + ' ' + text).strip()`) "
        "differs from reasonir's `title + ' ' + text`; their vectors were computed afresh.",
        "",
        f"Times are wall seconds on a machine shared with other jobs (1-min load average {load_start:.1f} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end): they are not speed figures (see encode_minilm.md).",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
