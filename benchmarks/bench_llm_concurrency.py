"""LLM client concurrency: 100 rerank pairs against a local server that answers after a fixed delay.

The server is ``reasonir.llm.server.LLMServer`` (real HTTP on 127.0.0.1) over a backend that sleeps
``--delay`` seconds and answers ``Relevance score: 3``, i.e. a remote LLM whose latency dominates.
The client is the LLM reranker (``reasonir.rerank.LLMReranker``) over the OpenAI-compatible backend
with no cache, grading 100 real SciFact (claim, abstract) pairs at several concurrency levels.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_llm_concurrency.py [--repeats 3]``
Writes ``benchmarks/results/llm_concurrency.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

from _common import DATA, ROOT, header

from reasonir.data import load_beir
from reasonir.llm import FunctionLLM, load_llm
from reasonir.llm.server import LLMServer
from reasonir.rerank import LLMReranker




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--pairs", type=int, default=100)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--levels", default="1,4,16,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llm_concurrency.md"))
    args = ap.parse_args()

    ds = load_beir(args.data)
    rng = random.Random(0)
    qids = sorted(ds.queries)
    corpus = ds.require_corpus()
    pairs = [(ds.queries[rng.choice(qids)], rng.choice(corpus).full_text) for _ in range(args.pairs)]

    def slow(prompt, params):
        time.sleep(args.delay)
        return "Relevance score: 3"

    load = os.getloadavg()[0]
    rows = []
    with LLMServer(FunctionLLM(slow, "fixed-delay"), model_name="fixed-delay") as srv:
        for level in [int(x) for x in args.levels.split(",")]:
            times = []
            for _ in range(args.repeats):
                llm = load_llm(srv.spec, cache=None, concurrency=level)
                reranker = LLMReranker(llm, family="evidence", max_tokens=8)
                t0 = time.perf_counter()
                scores = reranker.score(pairs)
                times.append(time.perf_counter() - t0)
                assert all(s.grade == 3.0 for s in scores) and llm.stats.calls == len(pairs)
                llm.close()
            rows.append((level, statistics.median(times), min(times), max(times)))
            print(f"concurrency {level}: median {rows[-1][1]:.2f}s", flush=True)
    base = rows[0][1]
    lines = [
        *header("LLM client concurrency (rerank pairs against a fixed-delay HTTP server)"),
        f"- load average at start: {load:.1f}",
        f"- workload: {args.pairs} SciFact (claim, abstract) pairs graded by `LLMReranker` through the "
        f"OpenAI-compatible client (no cache) against `LLMServer` on 127.0.0.1 whose backend answers each "
        f"request after {args.delay * 1000:.0f} ms; {args.repeats} repeats per level",
        f"- ideal serial time: {args.pairs} x {args.delay:.1f} s = {args.pairs * args.delay:.1f} s",
        "",
        "| concurrency | seconds (median) | min | max | pairs/s | speed-up vs 1 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for level, med, lo, hi in rows:
        lines.append(f"| {level} | {med:.2f} | {lo:.2f} | {hi:.2f} | {args.pairs / med:.1f} | {base / med:.1f}x |")
    target = next((r for r in rows if r[0] == 16), None)
    if target:
        lines += ["", f"Concurrency 16 is **{base / target[1]:.1f}x** faster than one request at a time "
                      f"(target: >= 8x; the bound is ceil({args.pairs}/16) x {args.delay:.1f} s = "
                      f"{-(-args.pairs // 16) * args.delay:.1f} s, i.e. {args.pairs / -(-args.pairs // 16):.1f}x)."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
