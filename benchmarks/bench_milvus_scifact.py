"""SciFact on the local store and on Milvus Lite, side by side: same top-10, same nDCG@10?

Builds the same index twice (same encoder, BM25, vectors stored in ``--dtype``): once in the index
folder (``store=local``) and once in Milvus Lite (``store=milvus``), searches the 300 SciFact test
queries with dense, bm25, bm25q and hybrid (interpolation and RRF), and writes, per mode: nDCG@10 on
each store, how many queries have the identical ranked top-10, the largest score difference, and the
search time. Build times are reported too.

    flock /tmp/reasonir-bench.lock python benchmarks/bench_milvus_scifact.py                 # minilm
    python benchmarks/bench_milvus_scifact.py --model hash --out -                              # quick look
    # no encoding: both stores adopt the shards of an index already built with the same settings
    python benchmarks/bench_milvus_scifact.py --dtype fp16 --reuse-vectors /tmp/cold/scifact-minilm
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _common import machine

from reasonir.evaluate import evaluate
from reasonir.index import Index, IndexOptions, RunOptions, build_index
from reasonir.io import read_qrels, read_queries

MODES = [("dense", {}), ("bm25", {}), ("bm25q", {}), ("hybrid", {}), ("hybrid", {"fusion": "rrf"})]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"))
    p.add_argument("--model", default="minilm")
    p.add_argument("--dtype", default="fp32", choices=("fp16", "fp32"))
    p.add_argument("--workdir", default=None, help="where the two indexes are built (default: a temp folder)")
    p.add_argument("--reuse-vectors", default=None, help="an index of SciFact with the same model and dtype whose "
                   "shards both builds reuse (index build --reuse-vectors) instead of encoding")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "milvus_scifact.md"))
    args = p.parse_args()
    data = Path(args.data)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="milvus_scifact_"))
    qrels = read_qrels(data / "qrels" / "test.tsv")
    queries = {q: t for q, t in read_queries(data / "queries.jsonl").items() if q in qrels}
    opts = dict(model=args.model, bm25=True, dtype=args.dtype)
    build_s = {}
    run = RunOptions(reuse_vectors=[args.reuse_vectors] if args.reuse_vectors else [])
    for name, extra in (("local", {}), ("milvus", {"store": "milvus"})):
        t0 = time.perf_counter()
        build_index(str(data / "corpus.jsonl"), str(work / name), IndexOptions(**opts, **extra), run,
                    overwrite=True)
        build_s[name] = time.perf_counter() - t0
    rows = []
    qids, texts = list(queries), list(queries.values())
    for mode, extra in MODES:
        hits, secs, ndcg = {}, {}, {}
        for name in ("local", "milvus"):
            with Index.open(work / name) as index:
                index.search(texts[:2], k=10, mode=mode, **extra)                # load the encoder first
                t0 = time.perf_counter()
                hits[name] = index.search(texts, k=10, mode=mode, **extra)
                secs[name] = time.perf_counter() - t0
            run = {q: {h.id: h.score for h in hs} for q, hs in zip(qids, hits[name])}
            ndcg[name] = evaluate(qrels, run, "ndcg@10").mean["ndcg@10"]
        same = sum([h.id for h in a] == [h.id for h in b] for a, b in zip(hits["local"], hits["milvus"]))
        diff = max((abs(x.score - y.score) for a, b in zip(hits["local"], hits["milvus"]) for x, y in zip(a, b)),
                   default=0.0)
        label = mode + (f" ({extra['fusion']})" if extra else "")
        rows.append(f"| {label} | {ndcg['local']:.4f} | {ndcg['milvus']:.4f} | {same}/{len(qids)} | {diff:.2e} | "
                    f"{secs['local']:.2f} | {secs['milvus']:.2f} |")
        print(rows[-1], file=sys.stderr)
    text = "\n".join([
        "# SciFact: local store vs Milvus Lite",
        "",
        f"Command: `python benchmarks/bench_milvus_scifact.py --model {args.model} --dtype {args.dtype}"
        + (f" --reuse-vectors {args.reuse_vectors}" if args.reuse_vectors else "") + "`  ",
        f"Machine: {machine()}  ",
        f"Date: {time.strftime('%Y-%m-%d')}  ",
        f"Corpus: SciFact ({data}), {len(qids)} test queries, k=10; encoder `{args.model}`, vectors {args.dtype}, "
        "BM25 k1=0.9 b=0.4; Milvus Lite with a FLAT index, Strong consistency.",
        "",
        f"Build: local {build_s['local']:.1f} s, Milvus Lite {build_s['milvus']:.1f} s "
        + ("(both reuse the encoded shards of the index named by --reuse-vectors: no encoding)."
           if args.reuse_vectors else "(each encodes the corpus)."),
        "",
        "| mode | nDCG@10 local | nDCG@10 Milvus | identical top-10 | max score diff | search s local | "
        "search s Milvus |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Milvus returns candidates (k + 16 per system); the scores are computed by reasonir from the stored",
        "vectors and BM25 weights, so both stores rank and score alike; RRF scores depend on ranks only.",
        "",
    ])
    if args.out == "-":
        print(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
