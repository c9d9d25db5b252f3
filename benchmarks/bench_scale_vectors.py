"""Dense search at scale: fp16 exact vs compressed codes (sq8, sq4, IVF-PQ) vs Milvus Lite.

One case per run (``--n`` vectors of ``--dim`` dimensions, ``clustered`` or ``gaussian``), so the big
cases run one at a time under the benchmark lock; each run appends one JSON line per system to
``--jsonl`` and ``--report`` turns the collected lines into ``benchmarks/results/scale_vectors.md``.

Data: ``clustered`` is a mixture of ``--clusters`` random centres plus Gaussian noise, unit-normalised,
with queries drawn from the same mixture (a proxy for text embeddings, which have structure);
``gaussian`` is i.i.d. Gaussian vectors, unit-normalised (no structure: the worst case for every
codec). The vectors are written to fp16 ``.npy`` shards chunk by chunk and memory-mapped, never
held twice in memory; ``--keep`` leaves them in ``--workdir`` (deleted otherwise).

Per system: build seconds (codes: training + encoding; Milvus Lite: insert + index), resident bytes
per vector (the codes; fp16 exact needs the shards in the page cache; Milvus Lite: the engine's
resident memory growth), bytes per vector on disk, QPS batched (``--queries`` queries in one call)
and single-query (``--single`` queries one at a time, p50 latency), recall@10 against fp16 exact.
Codes are searched as the index does: ``refine·k`` candidates from the codes, re-scored exactly from
the memory-mapped fp16 shards.

    flock /tmp/reasonir-bench.lock python benchmarks/bench_scale_vectors.py --n 1000000
    flock /tmp/reasonir-bench.lock python benchmarks/bench_scale_vectors.py --n 1000000 --dist gaussian
    python benchmarks/bench_scale_vectors.py --report
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, command_line, machine

from reasonir.index.ann import AnnParams, ann_search, build_ann, recall_at_k, rescore, save_ann
from reasonir.index.exact import exact_search

RESULTS = ROOT / "benchmarks" / "results"
K = 10


def generate(root: Path, n: int, dim: int, dist: str, clusters: int, noise: float, chunk: int) -> list[np.ndarray]:
    """Write fp16 unit vectors in shards of ``chunk`` rows; return them memory-mapped (copy-on-write)."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    paths = []
    for i, lo in enumerate(range(0, n, chunk)):
        m = min(chunk, n - lo)
        p = root / f"shard-{i:05d}.npy"
        paths.append(p)
        if p.exists():
            continue
        x = rng.standard_normal((m, dim), dtype=np.float32)                  # [m, d]
        if dist == "clustered":
            x *= noise
            x += centres[rng.integers(0, clusters, m)]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, x.astype(np.float16))
        os.replace(tmp, p)
    return [np.load(p, mmap_mode="c") for p in paths]   # as an index opens its shards


def make_queries(nq: int, dim: int, dist: str, clusters: int, noise: float) -> np.ndarray:
    centres = np.random.default_rng(0).standard_normal((clusters, dim), dtype=np.float32)  # the corpus's
    rng = np.random.default_rng(12345)
    q = rng.standard_normal((nq, dim), dtype=np.float32)
    if dist == "clustered":
        q = centres[rng.integers(0, clusters, nq)] + noise * q
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q.astype(np.float16).astype(np.float32)


def rss_bytes(pids: list[int]) -> int:
    """Anonymous resident memory of ``pids`` (memory-mapped shard pages, which are file-backed, excluded)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def descendants(pid: int) -> list[int]:
    """Process ids of ``pid``'s children, grandchildren, ... (Linux ``/proc``)."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parent[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def time_search(fn, q: np.ndarray, single: int) -> dict[str, float]:
    """Batched QPS over all of ``q`` and single-query latency over its first ``single`` rows."""
    fn(q[:2])                                                   # warm-up: lazy imports, thread pools
    t0 = time.perf_counter()
    rows = fn(q)
    batch_s = time.perf_counter() - t0
    lat = []
    for i in range(min(single, len(q))):
        t0 = time.perf_counter()
        fn(q[i:i + 1])
        lat.append(time.perf_counter() - t0)
    return {"rows": rows, "qps_batched": len(q) / batch_s, "qps_single": len(lat) / sum(lat),
            "latency_p50_ms": 1000 * statistics.median(lat)}


def run_codes(kind: str, shards: list[np.ndarray], n: int, q: np.ndarray, exact: np.ndarray, args,
              work: Path) -> list[dict[str, Any]]:
    """Build ``kind``'s codes once; one result per ``--refine`` value searched over them."""
    refines = [int(r) for r in args.refine.split(",")] if args.refine else [None]
    params = AnnParams(kind=kind, nprobe=args.nprobe, refine=refines[0], nlist=args.nlist, pq_m=args.pq_m)
    t0 = time.perf_counter()
    index = build_ann(params, shards, n)
    build_s = time.perf_counter() - t0
    path = work / f"{kind}.faiss"
    save_ann(index, path)
    codes = os.path.getsize(path)
    path.unlink()
    out = []
    for refine in refines:
        params.refine = refine
        t = time_search(lambda x: rescore(shards, x, ann_search(index, params, x, K), K)[0], q, args.single)
        out.append({"build_s": build_s, "resident_bytes_per_vector": codes / n,
                    "disk_bytes_per_vector": codes / n + 2 * shards[0].shape[1],
                    "recall_at_10": recall_at_k(t.pop("rows"), exact, K), **t,
                    "params": {"refine": params.effective_refine,
                               **({"nprobe": args.nprobe, "nlist": index.nlist, "pq_m": index.pq.M}
                                  if kind == "ivfpq" else {})}})
    return out


def run_milvus(shards: list[np.ndarray], n: int, q: np.ndarray, exact: np.ndarray, args, work: Path):
    from pymilvus import DataType, MilvusClient

    from reasonir.index.milvus_store import upsert_batches

    dim = shards[0].shape[1]
    (work / "milvus").mkdir(exist_ok=True)
    db = work / "milvus" / "milvus.db"                     # its own folder: disk use counts Milvus's files only
    client = MilvusClient(str(db))
    engine = [os.getpid()]                  # Milvus Lite runs its engine in this process (or a child)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("row", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="IP", params={})
    client.create_collection("v", schema=schema, index_params=index, consistency_level="Strong")
    rss0 = rss_bytes(engine + descendants(os.getpid()))     # after the engine started: its fixed cost excluded
    t0, done, step = time.perf_counter(), 0, 20000
    for shard in shards:
        for lo in range(0, shard.shape[0], step):
            block = np.asarray(shard[lo:lo + step], dtype=np.float32)
            recs = [{"row": done + i, "doc_id": f"d{done + i}", "vector": v} for i, v in enumerate(block)]
            upsert_batches(client, "v", recs, row_bytes=4 * dim + 32)
            done += len(block)
            if time.perf_counter() - t0 > args.milvus_max_s:
                break
        if time.perf_counter() - t0 > args.milvus_max_s:
            break
    insert_s = time.perf_counter() - t0
    client.flush("v")
    client.load_collection("v")
    build_s = time.perf_counter() - t0
    out: dict[str, Any] = {"rows_inserted": done, "insert_s": insert_s, "build_s": build_s,
                           "insert_rate_per_s": done / insert_s}
    if done < n:
        out["note"] = f"time-boxed at {args.milvus_max_s:.0f} s: {done} of {n} rows inserted"
    else:
        def search(x: np.ndarray) -> np.ndarray:
            res = client.search("v", data=[v.tolist() for v in x], limit=K, output_fields=["row"],
                                search_params={"metric_type": "IP", "params": {}})
            return np.asarray([[h["entity"]["row"] for h in hits] + [-1] * (K - len(hits)) for hits in res])

        m = min(len(q), args.milvus_queries)
        t = time_search(search, q[:m], min(args.single, m))
        out.update(recall_at_10=recall_at_k(t.pop("rows"), exact[:m], K), queries_timed=m, **t)
    out["resident_bytes_per_vector"] = (rss_bytes(engine + descendants(os.getpid())) - rss0) / max(1, done)
    out["disk_bytes_per_vector"] = sum(f.stat().st_size for f in db.parent.rglob("*") if f.is_file()) / max(1, done)
    out["disk_scope"] = "milvus"
    client.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--dist", default="clustered", choices=("clustered", "gaussian"))
    p.add_argument("--clusters", type=int, default=2000)
    p.add_argument("--noise", type=float, default=0.75, help="per-dimension noise around a unit-variance centre")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--single", type=int, default=20, help="queries timed one at a time")
    p.add_argument("--systems", default="exact,sq8,sq4,ivfpq,milvus")
    p.add_argument("--refine", default=None, help="candidates per result, or a comma-separated list searched "
                   "over the same codes (default: the codec's, as the index: 10 for sq8/sq4, 30 for ivfpq)")
    p.add_argument("--pq-m", type=int, default=None, help="IVF-PQ sub-quantizers (default dim/8)")
    p.add_argument("--nprobe", type=int, default=32)
    p.add_argument("--nlist", type=int, default=None, help="IVF lists (default: the index's 4*sqrt(n))")
    p.add_argument("--milvus-queries", type=int, default=50, help="queries searched on Milvus Lite (its scan is slow)")
    p.add_argument("--milvus-max-s", type=float, default=1200.0, help="time box for the Milvus Lite insert")
    p.add_argument("--chunk", type=int, default=262144, help="rows per generated shard")
    p.add_argument("--workdir", default=None, help="where the vectors go (default: a folder under /tmp)")
    p.add_argument("--keep", action="store_true", help="keep the generated vectors")
    p.add_argument("--jsonl", default=str(RESULTS / "scale_vectors.jsonl"))
    p.add_argument("--report", action="store_true", help="write scale_vectors.md from --jsonl and stop")
    args = p.parse_args()
    if args.report:
        return report(Path(args.jsonl))
    tag = f"{args.dist}-{args.n}x{args.dim}"
    work = Path(args.workdir or tempfile.mkdtemp(prefix="scale_vectors_")) / tag
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        shards = generate(work, args.n, args.dim, args.dist, args.clusters, args.noise, args.chunk)
        print(f"{tag}: data ready in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        q = make_queries(args.queries, args.dim, args.dist, args.clusters, args.noise)
        base = {"case": tag, "n": args.n, "dim": args.dim, "dist": args.dist, "queries": args.queries,
                "clusters": args.clusters if args.dist == "clustered" else None, "machine": str(machine()),
                "load_avg": list(os.getloadavg()), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        t = time_search(lambda x: exact_search(x, shards, K)[0], q, args.single)
        exact = t.pop("rows")
        results = {"exact": {"build_s": 0.0, "resident_bytes_per_vector": 2.0 * args.dim,
                             "disk_bytes_per_vector": 2.0 * args.dim, "recall_at_10": 1.0, **t}}
        emit(args, base, "fp16 exact", results["exact"])
        for system in args.systems.split(","):
            if system in ("sq8", "sq4", "ivfpq"):
                for result in run_codes(system, shards, args.n, q, exact, args, work):
                    emit(args, base, f"{system} + re-score", result)
            elif system == "milvus":
                emit(args, base, "Milvus Lite FLAT", run_milvus(shards, args.n, q, exact, args, work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def emit(args, base: dict[str, Any], system: str, result: dict[str, Any]) -> None:
    rec = {**base, "system": system, **result, "load_avg_after": list(os.getloadavg()),
           "command": command_line(lock=True)}
    print(json.dumps(rec), file=sys.stderr)
    with open(args.jsonl, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(rec) + "\n")


def report(path: Path) -> None:
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = ["# Dense search at scale: fp16 exact, compressed codes, Milvus Lite", "",
             f"- machine: {recs[0]['machine'] if recs else machine()}",
             "- commands (one run per case, each under the benchmark lock), then "
             "`python benchmarks/bench_scale_vectors.py --report`:",
             *[f"  - `{c}`" for c in dict.fromkeys(r.get("command", "?") for r in recs)],
             "", "`clustered`: a mixture of Gaussian clusters around random centres (queries drawn from the same "
             "mixture), unit-normalised; `gaussian`: i.i.d. Gaussian, unit-normalised. Codes: refine·k candidates "
             "re-scored exactly from the memory-mapped fp16 shards (`params`: refine, and for IVF-PQ nlist, nprobe "
             "and pq_m; rows without them ran with refine 10, nprobe 32, pq_m = d/8). fp16 exact reads every shard page (resident = page cache); Milvus "
             "Lite stores fp32 (resident: growth of the process's anonymous memory; disk: its files only). `QPS single` = "
             "queries / total time of the single-query loop, one-time costs included (the first fp16 searches of "
             "a process convert with numpy until importing torch pays, see `reasonir.retrieve.dense`); `p50 ms` is "
             "the steady state. `load`: 1-minute load "
             "average at the start of the case / after the system was measured (2 cores, shared with other jobs).", "",
             "| case | system | params | build s | build vec/s | resident B/vec | disk B/vec | QPS batched | "
             "QPS single | p50 ms | recall@10 | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        rows = r.get("rows_inserted", r["n"])
        rate = rows / r["build_s"] if r.get("build_s") else None
        if r["system"].startswith("Milvus") and r.get("disk_scope") != "milvus":
            # measured over the case folder, which also held the fp16 shards: those are taken out
            r["disk_bytes_per_vector"] -= 2 * r["dim"] * r["n"] / rows
        lines.append("| {} | {} | {} | {} | {} | {:.0f} | {:.0f} | {} | {} | {} | {} | {:.1f}/{:.1f} |".format(
            r["case"], r["system"], ", ".join(f"{k} {v}" for k, v in (r.get("params") or {}).items()) or "-",
            f"{r['build_s']:.0f}" if r.get("build_s") else "-",
            f"{rate:,.0f}" if rate else "-", r["resident_bytes_per_vector"], r["disk_bytes_per_vector"],
            f"{r['qps_batched']:.1f}" if "qps_batched" in r else "-",
            f"{r['qps_single']:.1f}" if "qps_single" in r else "-",
            f"{r['latency_p50_ms']:.1f}" if "latency_p50_ms" in r else "-",
            f"{r['recall_at_10']:.3f}" if "recall_at_10" in r else "-", r["load_avg"][0], r["load_avg_after"][0]))
        if r.get("note"):
            lines.append(f"| {r['case']} | {r['system']} | {r['note']} (insert rate "
                         f"{r['insert_rate_per_s']:,.0f} rows/s) ||||||||||")
    lines += [""]
    out = RESULTS / "scale_vectors.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
