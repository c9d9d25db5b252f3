"""Response-cache cost: a 1,000-call rerank job run cold (answers stored) and re-run warm (all hits).

The backend is an instant in-process function (``FunctionLLM``), so the timings are the cache's own
overhead: SQLite lookups, JSON (de)serialisation and commits. Prompts are real rerank prompts over
SciFact pairs (about 2 KB each). Each repeat uses a fresh cache file for the cold run.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_llm_cache.py [--repeats 5]``
Writes ``benchmarks/results/llm_cache.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from _common import DATA, ROOT, header

from reasonir.data import load_beir
from reasonir.llm import FunctionLLM, load_llm
from reasonir.rerank import LLMReranker




def answer(prompt, params):
    return "Relevance score: 4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llm_cache.md"))
    args = ap.parse_args()

    ds = load_beir(args.data)
    rng = random.Random(0)
    qids, corpus = sorted(ds.queries), ds.require_corpus()
    pairs = [(ds.queries[rng.choice(qids)], corpus[i].full_text) for i in rng.sample(range(len(corpus)), args.calls)]
    load = os.getloadavg()[0]
    res: dict[str, list[float]] = {"none": [], "cold": [], "warm": []}
    size = 0
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "c.sqlite"
            for kind in ("none", "cold", "warm"):
                llm = load_llm(FunctionLLM(answer, "instant"), cache=None if kind == "none" else path)
                reranker = LLMReranker(llm, family="evidence", max_tokens=8)
                t0 = time.perf_counter()
                out = reranker.score(pairs)
                res[kind].append(time.perf_counter() - t0)
                assert len(out) == args.calls and all(s.grade == 4.0 for s in out)
                if kind == "warm":
                    assert llm.stats.calls == 0 and llm.stats.cache_hits == args.calls
                    assert llm.backend.stats.calls == 0
                elif kind == "cold":
                    assert llm.stats.calls == args.calls
                llm.close()
            size = path.stat().st_size + (path.with_name("c.sqlite-wal").stat().st_size
                                          if path.with_name("c.sqlite-wal").exists() else 0)
    med = {k: statistics.median(v) for k, v in res.items()}
    lines = [
        *header(f"LLM response cache: cost of a {args.calls:,}-call job, cold and re-run"),
        f"- load average at start: {load:.1f}",
        f"- workload: `LLMReranker.score` on {args.calls:,} distinct SciFact (claim, abstract) rerank prompts "
        f"(mean {statistics.mean(len(LLMReranker.prompt(reranker, q, d)[0]['content']) for q, d in pairs):,.0f} "
        f"characters) with an instant in-process backend, so the numbers are pure cache overhead; "
        f"{args.repeats} repeats, fresh cache file each",
        f"- cache file after the job: {size / 1e6:.1f} MB (SQLite, WAL)",
        "",
        "| run | backend calls | seconds (median) | min | per call |",
        "|---|---:|---:|---:|---:|",
        f"| no cache (prompt building, parsing, counters) | {args.calls:,} | {med['none']:.3f} | "
        f"{min(res['none']):.3f} | {1e6 * med['none'] / args.calls:.0f} us |",
        f"| cold: every answer stored as it arrives | {args.calls:,} | {med['cold']:.3f} | {min(res['cold']):.3f} | "
        f"{1e6 * med['cold'] / args.calls:.0f} us |",
        f"| **re-run: all cache hits** | **0** | **{med['warm']:.3f}** | {min(res['warm']):.3f} | "
        f"{1e6 * med['warm'] / args.calls:.0f} us |",
        "",
        f"Re-running the {args.calls:,}-call job costs {med['warm']:.2f} s and zero backend calls "
        f"(checked by the counters: `stats.calls == 0`, `stats.cache_hits == {args.calls}`). "
        f"Storing answers costs {1e3 * (med['cold'] - med['none']) / args.calls:.2f} ms per call; "
        f"for scale, one SmolLM2 call on this CPU takes 1-6 s and one remote API call 0.3-3 s.",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
