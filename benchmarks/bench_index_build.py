"""Index build on SciFact end to end (docs/s, bytes per document, peak memory) and retrieval quality.

Runs the real commands as subprocesses, exactly as a user would:

    reasonir index build ../shared/data/scifact/corpus.jsonl IDX --model minilm --bm25
    reasonir search IDX --queries queries.jsonl --qrels qrels/test.tsv --out run.trec --mode {dense,bm25,hybrid}

and reports wall time, documents per second, bytes on disk per document, the build's peak RSS, and
nDCG@10 / recall@100 of each mode on the 300 test queries (hybrid with both fusions).

    flock /tmp/reasonir-bench.lock python benchmarks/bench_index_build.py
    python benchmarks/bench_index_build.py --model hash --out -        # model-free smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, ROOT, header



def cli(*args: str) -> tuple[dict, float, float]:
    """Run ``reasonir ARGS --json``; return (last-line JSON, seconds, child peak RSS in MiB)."""
    code = "import sys; from reasonir.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "REASONIR_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args, "--json"], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"reasonir {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(proc.stdout.strip().splitlines()[-1]), seconds, max(peak, before) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--index", default=None, help="index directory (default: a temporary one, removed after)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_index_build.md"))
    args = ap.parse_args()

    data = Path(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="reasonir-build-"))
    idx = Path(args.index) if args.index else tmp / "idx"
    if idx.exists():
        shutil.rmtree(idx)
    try:
        build, build_s, build_rss = cli("index", "build", str(data / "corpus.jsonl"), str(idx), "--model", args.model,
                                        "--bm25", "--workers", str(args.workers))
        info, _, _ = cli("index", "info", str(idx))
        rows = []
        for mode, extra in (("dense", []), ("bm25", []), ("bm25q", []), ("hybrid", []),
                            ("hybrid", ["--fusion", "rrf"]), ("hybrid", ["--weights", "0.7,0.3"])):
            label = mode + (f" ({' '.join(extra)})" if extra else " (interpolate 0.5/0.5)" if mode == "hybrid" else "")
            res, secs, _ = cli("search", str(idx), "--queries", str(data / "queries.jsonl"), "--qrels",
                               str(data / "qrels" / "test.tsv"), "--out", str(tmp / f"{mode}.trec"), "--mode", mode,
                               "-k", "100", "--metrics", "ndcg@10,recall@100", *extra)
            rows.append((label, res, secs))
    finally:
        if not args.index:
            shutil.rmtree(tmp, ignore_errors=True)
    docs = build["documents"]
    lines = [*header("Index build and retrieval on SciFact"), "",
             "## Build (`reasonir index build corpus.jsonl IDX --model "
             f"{args.model} --bm25`, one process, end to end incl. start-up and model load)", "",
             "| documents | wall time (s) | docs/s end to end | encode (s) | BM25 (s) | bytes on disk / doc | peak RSS (MiB) |",
             "|---|---|---|---|---|---|---|",
             f"| {docs} | {build_s:.1f} | {docs / build_s:.1f} | {build['seconds'].get('encode', 0):.1f} | "
             f"{build['seconds'].get('bm25', 0):.1f} | {info['bytes_per_document']:.0f} | {build_rss:.0f} |", "",
             f"Index: {info['shards']} shard(s) of {info['dim']}-d {info['vector_dtype']} vectors, SQLite store, BM25.", "",
             "## Batch search, 300 test queries (`reasonir search IDX --queries ... --qrels ... -k 100`)", "",
             "| mode | nDCG@10 | recall@100 | search time (s, incl. start-up) |", "|---|---|---|---|"]
    for label, res, secs in rows:
        lines.append(f"| {label} | {res['ndcg@10']:.4f} | {res['recall@100']:.4f} | {secs:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
