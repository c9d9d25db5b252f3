"""LLM reranking of SciFact MiniLM top-k with the embedded SmolLM2: nDCG@10 before/after, parse failures.

1. First stage: all-MiniLM-L6-v2 (bundled) top-100 for the 300 SciFact test queries through
   ``reasonir retrieve --retriever dense --model minilm`` (the workflow); if that path is unavailable,
   sentence-transformers directly (stated in the results).
2. A fixed random sample of ``--queries`` queries (seed ``--seed``, the same sample ``reasonir rerank
   --sample-queries N --sample-seed S`` takes); each query's top ``--top-k`` reranked by SmolLM2-135M-
   Instruct with the ``evidence`` prompt (``reasonir rerank``'s workflow), greedy, ``--max-tokens``.
3. Metrics on the sampled queries: MiniLM top-k (before), grade only (naive LLM reranker), and
   ReasonIR's tie-breaking ``0.5 * grade/5 + 0.5 * cosine``; parse-failure rate; time.
4. Optionally the expected-grade mode (logprobs) on the first ``--expected-queries`` of the sample.
5. The same rerank job again: the counters must show zero backend calls (response cache).

SmolLM2-135M is a weak grader; this measures that the machinery is right, not ReasonIR's gains.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_llm_rerank_scifact.py [--queries 30 --top-k 20]``
Writes ``benchmarks/results/llm_rerank_scifact.md``. LLM answers are cached in ``--cache``, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import time
from pathlib import Path

from _common import DATA, ROOT, header

from reasonir.embedded import cache_dir
from reasonir.evaluate import evaluate
from reasonir.io import read_run, write_run
from reasonir.workflows.rerank import RerankConfig, run_rerank

logger = logging.getLogger("bench")




def minilm_run(data: str, path: Path) -> tuple[str, float]:
    """MiniLM top-100 for SciFact test queries, written to ``path``; returns (how, seconds)."""
    if path.exists():
        return f"the existing run file `{path}`", 0.0
    t0 = time.perf_counter()
    try:
        os.environ.setdefault("REASONIR_EMBEDDING_CACHE", "1")
        from reasonir.workflows.retrieve import RetrieveConfig, run_retrieve

        run_retrieve(RetrieveConfig(dataset=f"beir:{data}", retriever="dense", model="minilm", top_k=100,
                                    out=str(path)))
        return "`reasonir retrieve --retriever dense --model minilm --top-k 100`", time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - fall back to sentence-transformers, say so in the results
        logger.warning("dense retrieve workflow unavailable (%s); using sentence-transformers directly", exc)
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from reasonir.data import load_beir
    from reasonir.embedded import minilm_path

    ds = load_beir(data)
    corpus = ds.require_corpus()
    model = SentenceTransformer(str(minilm_path()), device="cpu")
    d = model.encode([doc.full_text for doc in corpus], batch_size=64, normalize_embeddings=True)   # (N, 384)
    qids = list(ds.queries)
    q = model.encode([ds.queries[i] for i in qids], batch_size=64, normalize_embeddings=True)      # (Q, 384)
    sims = q @ d.T                                                                                  # (Q, N)
    run = {}
    for row, qid in enumerate(qids):
        top = np.argsort(-sims[row])[:100]
        run[qid] = {corpus[j].id: float(sims[row, j]) for j in top}
    write_run(path, run, tag="minilm")
    return "sentence-transformers directly (dense retrieve workflow unavailable)", time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top-k", type=int, default=20)
    ap.add_argument("--max-tokens", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                    help="SmolLM2 compute dtype (bf16 is about twice as fast on CPUs with AVX512_BF16)")
    ap.add_argument("--first-stage", default=None,
                    help="an existing MiniLM top-100 run of the test queries (default: made and kept next to --cache)")
    ap.add_argument("--expected-queries", type=int, default=10)
    ap.add_argument("--cache", default=str(cache_dir() / "bench" / "llm-rerank-scifact.sqlite"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llm_rerank_scifact.md"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    work = Path(args.cache).parent
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    started = dt.datetime.now()

    first_path = Path(args.first_stage) if args.first_stage else work / "scifact-minilm-top100.trec"
    how, first_secs = minilm_run(args.data, first_path)
    from reasonir.data import load_beir

    ds = load_beir(args.data)
    full = evaluate(ds.qrels, read_run(first_path), "ndcg@10,recall@100").mean

    def job(sample: int, mode: str, out_name: str):
        cfg = RerankConfig(run=str(first_path), dataset=f"beir:{args.data}", reranker="smollm2", top_k=args.top_k,
                           sample_queries=sample, sample_seed=args.seed, max_tokens=args.max_tokens,
                           grade_mode=mode, batch_size=args.batch_size, dtype=args.dtype, llm_cache=args.cache,
                           metrics="ndcg@10,recall@10,mrr@10", out=str(work / out_name))
        t0 = time.perf_counter()
        outcome = run_rerank(cfg)
        return outcome, time.perf_counter() - t0

    parse, parse_secs = job(args.queries, "parse", "rerank-parse.trec")
    rerun, rerun_secs = job(args.queries, "parse", "rerank-parse-again.trec")
    expected = None
    if args.expected_queries:
        expected, exp_secs = job(args.expected_queries, "expected", "rerank-expected.trec")
    sample_ids = sorted(parse.run)
    judgements = [json.loads(line) for line in (work / "rerank-parse.trec.judgements.jsonl").read_text().splitlines()]
    grade_hist: dict[str, int] = {}
    for j in judgements:
        key = "failed" if j["grade"] is None else f"{j['grade']:g}"
        grade_hist[key] = grade_hist.get(key, 0) + 1

    m = parse.metrics
    lines = [
        *header("LLM reranking on SciFact with the embedded SmolLM2-135M-Instruct (MiniLM first stage)"),
        f"- started {started:%Y-%m-%d %H:%M}; load average at start {load:.1f} (shared with other jobs)",
        f"- first stage: all-MiniLM-L6-v2 top-100 for the 300 test queries via {how}"
        + (f" ({first_secs:.0f} s)" if first_secs else "") + f"; nDCG@10 over all 300 queries "
        f"{full['ndcg@10']:.4f}, recall@100 {full['recall@100']:.4f}",
        f"- subset (honest scope: SmolLM2 on 2 CPU cores grades about one pair per second): {len(sample_ids)} "
        f"test queries drawn with `--sample-queries {args.queries} --sample-seed {args.seed}`, top {args.top_k} "
        f"each = {parse.pairs} (query, abstract) pairs; query ids: {', '.join(sample_ids)}",
        f"- reranker: `reasonir rerank --reranker smollm2 --prompt auto` (SciFact -> `evidence` family), greedy, "
        f"max {args.max_tokens} answer tokens, batch {args.batch_size}, dtype {args.dtype}, chat template",
        "",
        f"## nDCG@10 on the {len(sample_ids)} sampled queries (MiniLM top-{args.top_k} reranked)",
        "",
        "| ranking | nDCG@10 | recall@10 | MRR@10 |",
        "|---|---:|---:|---:|",
        f"| before: MiniLM top-{args.top_k} | {m['retriever']['ndcg@10']:.4f} | {m['retriever']['recall@10']:.4f} | "
        f"{m['retriever']['mrr@10']:.4f} |",
        f"| LLM grade only (naive reranker, ties by doc id) | {m['reranker']['ndcg@10']:.4f} | "
        f"{m['reranker']['recall@10']:.4f} | {m['reranker']['mrr@10']:.4f} |",
        f"| LLM + tie-breaking: 0.5 grade/5 + 0.5 cosine (ReasonIR-Rerank) | {m['interpolate']['ndcg@10']:.4f} | "
        f"{m['interpolate']['recall@10']:.4f} | {m['interpolate']['mrr@10']:.4f} |",
    ]
    if expected is not None:
        e = expected.metrics
        lines += [
            "",
            f"Expected-grade mode (`--grade-mode expected`: E[grade] over the digits 0-5 from the top-10 logprobs "
            f"at the grade position) on the first {expected.queries} sampled queries ({expected.pairs} pairs, "
            f"{exp_secs:.0f} s): before {e['retriever']['ndcg@10']:.4f}, grade only {e['reranker']['ndcg@10']:.4f}, "
            f"tie-breaking {e['interpolate']['ndcg@10']:.4f}; expected grade used for "
            f"{expected.grades['expected_used']}/{expected.grades['pairs']} pairs "
            f"({expected.grades['expected_fallback']} fell back to the parsed grade).",
        ]
    g = parse.grades
    lines += [
        "",
        "## Grades",
        "",
        f"- parse failures: **{g['parse_failures']}/{g['pairs']} = {100 * g['parse_failure_rate']:.1f}%** "
        f"(clamped {g['clamped']}); how grades were read: {g['methods']}",
        f"- grade histogram: {dict(sorted(grade_hist.items()))}",
        "",
        "## Cost and the cache",
        "",
        f"- first run: {parse.llm['calls']} SmolLM2 calls + {parse.llm['cache_hits']} cache hits, "
        f"{parse.llm['prompt_tokens']:,} prompt + {parse.llm['completion_tokens']:,} completion tokens, "
        f"{parse_secs:.0f} s wall ({parse_secs / max(1, parse.pairs):.2f} s per pair, model load included)",
        f"- the same job again: **{rerun.llm['calls']} backend calls**, {rerun.llm['cache_hits']} cache hits, "
        f"{rerun_secs:.1f} s (model load included), identical metrics: {rerun.metrics == parse.metrics}",
        f"- (a first run that finds answers from an earlier invocation in `{Path(args.cache).name}` reports them "
        "as cache hits: the benchmark resumes instead of recomputing)",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
