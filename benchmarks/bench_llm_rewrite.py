"""Test-time query rewriting with the embedded SmolLM2, then retrieval with the rewritten queries.

1. ``reasonir rewrite`` (workflow) on a fixed random sample of SciFact test queries and on the first
   queries of BRIGHT biology (real BRIGHT examples), SmolLM2-135M-Instruct, greedy, ``--max-tokens``.
2. SciFact retrieval on the sampled queries with the original queries vs the rewrites, ``replace``
   (ReasonIR's default) and ``append`` modes, with BM25 and all-MiniLM-L6-v2 (exact dense search).
   BRIGHT's corpora are not available offline, so BRIGHT retrieval with rewritten queries is covered
   by tests on BRIGHT-format data; here the BRIGHT rewrites' lengths are reported.
3. Both rewrite jobs again: zero backend calls (response cache).

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_llm_rewrite.py [--queries 30 --max-tokens 128]``
Writes ``benchmarks/results/llm_rewrite.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import statistics
import time
from pathlib import Path

from _common import DATA, ROOT, header

from reasonir.data import parse_dataset_spec
from reasonir.embedded import cache_dir
from reasonir.evaluate import evaluate
from reasonir.query_variants import apply_query_variant
from reasonir.workflows.retrieve import RetrieveConfig, build_retriever
from reasonir.workflows.rewrite import RewriteConfig, run_rewrite




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--bright-queries", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--cache", default=str(cache_dir() / "bench" / "llm-rewrite.sqlite"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llm_rewrite.md"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("REASONIR_EMBEDDING_CACHE", "1")
    work = Path(args.cache).parent
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    started = dt.datetime.now()
    scifact = f"beir:{args.data}/scifact"

    def rewrite(spec: str, n: int, name: str):
        cfg = RewriteConfig(dataset=spec, out=str(work / name), llm="smollm2", max_tokens=args.max_tokens,
                            sample_queries=n, sample_seed=args.seed, llm_cache=args.cache, batch_size=args.batch_size)
        t0 = time.perf_counter()
        out = run_rewrite(cfg)
        return out, time.perf_counter() - t0

    sci, sci_secs = rewrite(scifact, args.queries, "scifact-rewrites.jsonl")
    bright_spec = f"bright:biology@{args.data}/bright"
    # the first N biology queries: BRIGHT ids are 0..102, a sample of N ids picked by seed
    bri, bri_secs = rewrite(bright_spec, args.bright_queries, "bright-biology-rewrites.jsonl")
    sci2, sci2_secs = rewrite(scifact, args.queries, "scifact-rewrites.jsonl")
    bri2, _ = rewrite(bright_spec, args.bright_queries, "bright-biology-rewrites.jsonl")

    ds = parse_dataset_spec(scifact)
    sample = set(sci.rewrites)
    qrels = {q: r for q, r in ds.qrels.items() if q in sample}
    results: dict[tuple[str, str], dict[str, float]] = {}
    for retriever in ("bm25", "dense"):
        cfg = RetrieveConfig(dataset=scifact, retriever=retriever, model="minilm", top_k=100)
        engine = build_retriever(cfg, ds)
        for variant in ("original", "replace", "append"):
            # the file holds replace-mode rows (query = reasoning); mode=append puts them after the original
            view = ds if variant == "original" else apply_query_variant(ds, work / "scifact-rewrites.jsonl",
                                                                         mode=variant)
            queries = {q: view.queries[q] for q in sample}
            run = engine.search(queries, k=100)
            results[(retriever, variant)] = evaluate(qrels, run, "ndcg@10,recall@100").mean

    def lengths(rewrites) -> str:
        o = [len(r.original.split()) for r in rewrites.values()]
        n = [len(r.reasoning.split()) for r in rewrites.values()]
        t = [r.completion_tokens for r in rewrites.values()]
        hit = sum(r.finish_reason == "length" for r in rewrites.values())
        return (f"original {statistics.mean(o):.0f} words -> reasoning {statistics.mean(n):.0f} words "
                f"({statistics.mean(t):.0f} tokens on average; {hit}/{len(t)} reached the {args.max_tokens}-token cap)")

    lines = [
        *header("Query rewriting with the embedded SmolLM2-135M-Instruct, then retrieval"),
        f"- started {started:%Y-%m-%d %H:%M}; load average at start {load:.1f} (shared with other jobs)",
        f"- rewriting: `reasonir rewrite --llm smollm2 --max-tokens {args.max_tokens} --mode replace` (prompt "
        f"`rewrite-1`: essential problem, step-by-step reasoning about useful information, draft answer; "
        f"the budget is announced), greedy, batch {args.batch_size}",
        f"- SciFact: {len(sample)} test queries drawn with `--sample-queries {args.queries} --sample-seed "
        f"{args.seed}`; {lengths(sci.rewrites)}; {sci_secs:.0f} s (model load included), "
        f"{sci.llm['calls']} calls + {sci.llm['cache_hits']} cache hits",
        f"- BRIGHT biology (real queries, ids {', '.join(sorted(bri.rewrites, key=int))}): {lengths(bri.rewrites)}; "
        f"{bri_secs:.0f} s, {bri.llm['calls']} calls + {bri.llm['cache_hits']} cache hits",
        f"- re-running both rewrite jobs: **{sci2.llm['calls'] + bri2.llm['calls']} backend calls**, "
        f"{sci2.llm['cache_hits'] + bri2.llm['cache_hits']} cache hits (SciFact re-run {sci2_secs:.1f} s incl. "
        "model load)",
        "",
        f"## SciFact retrieval on the {len(sample)} sampled queries",
        "",
        "| retriever | queries | nDCG@10 | recall@100 |",
        "|---|---|---:|---:|",
    ]
    names = {"original": "original", "replace": "rewritten (replace)", "append": "original + rewrite (append)"}
    for (retriever, variant), mean in results.items():
        label = "BM25 (k1=0.9, b=0.4)" if retriever == "bm25" else "all-MiniLM-L6-v2"
        lines.append(f"| {label} | {names[variant]} | {mean['ndcg@10']:.4f} | {mean['recall@100']:.4f} |")
    sample_text = next(iter(sci.rewrites.values()))
    lines += ["", "One SciFact rewrite, verbatim:", "", f"> claim: {sample_text.original}", ">",
              "> rewrite: " + sample_text.reasoning.replace("\n", "\n> ")]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
