"""Warm query latency of ``reasonir serve`` beside a plain sentence-transformers + FAISS server.

Why: users who put an index behind HTTP want the latency of one query (p50/p99) with one client and
with many, and the throughput when the server is saturated, next to what the obvious hand-made
server gives on the same vectors.

Servers (each its own process, started one at a time, both uvicorn with one worker, on 127.0.0.1):

* **reasonir serve** on a copy of a MiniLM + BM25 SciFact index (``reasonir index build ... --model
  minilm``), asked for ``mode: hybrid`` (MiniLM dense + BM25, interpolated) and ``mode: dense``;
* **baseline** — a minimal FastAPI app written here: ``SentenceTransformer.encode`` (the same MiniLM
  weights, ``normalize_embeddings=True``) + ``faiss.IndexFlatIP`` over the index's own stored vectors
  (read through :class:`reasonir.index.Index`, fp16 -> fp32). Dense only: it has no BM25, so its
  like-for-like row is reasonir's ``dense`` mode. One request at a time (an ``async`` endpoint that
  encodes and searches inline; no batching of concurrent requests), with torch's default thread
  count and again with ``torch.set_num_threads(1)`` (``--baseline-threads``): on 2 shared cores,
  torch's 2 threads per single-query forward can spend more time waiting for each other than
  computing, and this row shows how much of the gap that is.

Both return the top 10 ids and scores (reasonir: also titles, ``snippet_chars: 0``).

Load generator: closed loop, N client threads, each with its own keep-alive ``http.client``
connection, sending the 300 SciFact test queries in turn (each client starts at its own offset;
cycled), the next request as soon as the previous answer arrived. Warm-up requests first, at the
same concurrency, not counted. Latency is per request, measured in the client. The client and the
server share the same 2 CPU cores, so the client's own CPU use lowers every figure; the server's
CPU time per request (from ``/proc``) is reported beside the wall-clock figures.

Run: ``flock /tmp/reasonir-bench.lock .venv/bin/python benchmarks/bench_serve_latency.py``
Writes ``benchmarks/results/index_serve_latency.md`` (+ ``.json``).
"""

# no ``from __future__ import annotations``: FastAPI must see the request model built in baseline_app
import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import DATA, ROOT, command_line, header, machine

DEFAULT_INDEX = Path("/tmp/cold/scifact-minilm")
K = 10


# ------------------------------------------------------------------------------------------ baseline server
def baseline_app(index_dir: str) -> Any:
    """A FastAPI app: SentenceTransformer.encode + faiss.IndexFlatIP over the index's stored vectors."""
    import faiss
    from fastapi import FastAPI
    from pydantic import BaseModel
    from sentence_transformers import SentenceTransformer

    from reasonir.embedded import minilm_path
    from reasonir.index import Index

    with Index.open(index_dir) as index:
        if index.tombstones.size:
            raise SystemExit(f"{index_dir}: the baseline reads every stored row; this index has deleted rows")
        vectors = np.ascontiguousarray(index.backend.vectors(np.arange(index.num_rows)), dtype=np.float32)
        ids = index.store.ids(0, index.num_rows)
        titles = [d.title for d in index.documents(list(range(index.num_rows)))]
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)                                                    # [N, 384] fp32
    model = SentenceTransformer(str(minilm_path()), device="cpu")
    app = FastAPI()

    class Query(BaseModel):
        query: str
        k: int = K

    @app.post("/search")
    async def search(req: Query) -> dict[str, Any]:
        q = model.encode([req.query], normalize_embeddings=True)        # [1, 384]
        scores, rows = flat.search(np.asarray(q, dtype=np.float32), req.k)
        return {"results": [{"rank": r + 1, "id": ids[j], "score": float(s), "title": titles[j]}
                            for r, (j, s) in enumerate(zip(rows[0], scores[0])) if j >= 0]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "documents": len(ids)}

    return app


def run_baseline_server(index_dir: str, port: int, threads: str) -> None:
    import torch
    import uvicorn

    if threads != "default":
        torch.set_num_threads(int(threads))
    uvicorn.run(baseline_app(index_dir), host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ------------------------------------------------------------------------------------------ processes
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess on 127.0.0.1:port, ready once ``GET /health`` answers."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path):
        self.name, self.port, self.log = name, port, log
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.proc.returncode} before answering; its log "
                                   f"({log}) ends: {log.read_text(errors='replace')[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{name} did not answer /health on port {port} within 300 s; log: {log}")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process so far (Linux ``/proc/PID/stat``)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# ------------------------------------------------------------------------------------------ load generator
def load(port: int, bodies: list[bytes], clients: int, requests: int, max_seconds: float = float("inf"),
         check: bool = True) -> tuple[np.ndarray, float, dict[int, list[str]]]:
    """Closed loop: ``clients`` threads send ``requests`` requests in all, or stop sending after ``max_seconds``.

    Returns:
        (latencies in seconds, wall seconds, top-10 ids by query position).
    """
    lat: list[list[float]] = [[] for _ in range(clients)]
    seen: dict[int, list[str]] = {}
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        j = c * (len(bodies) // clients)                                 # each client its own offset
        start.wait()
        deadline = time.perf_counter() + max_seconds
        while time.perf_counter() < deadline:
            with lock:
                if next(counter, None) is None or errors:
                    break
            body = bodies[j % len(bodies)]
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/search", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except OSError as exc:
                with lock:
                    errors.append(f"client {c}: {type(exc).__name__}: {exc}")
                break
            lat[c].append(time.perf_counter() - t0)
            if check:
                results = json.loads(data).get("results") if resp.status == 200 else None
                if results is None or len(results) != K:
                    with lock:
                        errors.append(f"HTTP {resp.status}: {data[:300]!r}")
                    break
                seen.setdefault(j % len(bodies), [r["id"] for r in results])
            j += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"port {port}: {len(errors)} failed request(s), first: {errors[0]}")
    return np.array([x for xs in lat for x in xs]), wall, seen


def baseline_name(threads: str) -> str:
    return "baseline (ST + FAISS flat)" + ("" if threads == "default" else f", torch {threads} thread(s)")


def measure(server: Server, bodies: list[bytes], clients: int, requests: int, warmup: int,
            max_seconds: float) -> dict[str, Any]:
    load(server.port, bodies, clients, warmup, min(max_seconds, 10.0))
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    lat, wall, seen = load(server.port, bodies, clients, requests, max_seconds)
    cpu, client_cpu = server.cpu_seconds() - cpu0, time.process_time() - client0
    return {"p50_ms": float(np.percentile(lat, 50) * 1000), "p99_ms": float(np.percentile(lat, 99) * 1000),
            "mean_ms": float(lat.mean() * 1000), "qps": len(lat) / wall, "requests": len(lat),
            "server_cpu_ms_per_request": cpu / len(lat) * 1000,
            "client_cpu_ms_per_request": client_cpu / len(lat) * 1000, "seen": seen}


# ------------------------------------------------------------------------------------------ main
def read_queries(data: Path) -> list[str]:
    from reasonir.data import load_beir

    ds = load_beir(data)
    queries = list(ds.queries.values())
    if len(queries) != 300:
        raise SystemExit(f"{data}: expected the 300 SciFact test queries, found {len(queries)}")
    return queries


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX, help="a MiniLM + BM25 index (copied, not modified)")
    ap.add_argument("--data", type=Path, default=DATA / "scifact", help="BEIR SciFact folder (queries + test qrels)")
    ap.add_argument("--clients", default="1,32", help="comma-separated concurrency levels")
    ap.add_argument("--requests", type=int, default=600, help="timed requests per level and system")
    ap.add_argument("--max-seconds", type=float, default=40.0, help="stop sending after this long per level")
    ap.add_argument("--warmup", type=int, default=64, help="untimed requests before each level")
    ap.add_argument("--rounds", type=int, default=2, help="server start/stop cycles per server (medians)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "index_serve_latency.md")
    ap.add_argument("--baseline-threads", default="default,1",
                    help="torch threads of each baseline server run ('default': torch's choice)")
    ap.add_argument("--baseline-server", nargs=3, metavar=("INDEX", "PORT", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_server:
        return run_baseline_server(args.baseline_server[0], int(args.baseline_server[1]), args.baseline_server[2])

    head = header("Warm query latency: `reasonir serve` vs sentence-transformers + FAISS behind FastAPI (SciFact)")
    info = machine()
    queries = read_queries(args.data)
    levels = [int(c) for c in args.clients.split(",")]
    modes = {"reasonir hybrid": "hybrid", "reasonir dense": "dense"}
    ours_bodies = {name: [json.dumps({"query": q, "k": K, "mode": mode, "snippet_chars": 0}).encode()
                          for q in queries] for name, mode in modes.items()}
    base_bodies = [json.dumps({"query": q, "k": K}).encode() for q in queries]
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        index = Path(tmp) / "index"
        shutil.copytree(args.index, index)                               # never touch the original
        py = sys.executable
        argv = {"reasonir serve": [py, "-m", "reasonir", "serve", str(index), "-q", "--port", "{port}"]}
        for threads in args.baseline_threads.split(","):
            argv[baseline_name(threads)] = [py, str(Path(__file__).resolve()), "--baseline-server", str(index),
                                            "{port}", threads]
        for r in range(args.rounds):
            for name in (list(argv) if r % 2 == 0 else list(argv)[::-1]):
                port = free_port()
                cmd = [a.replace("{port}", str(port)) for a in argv[name]]
                server = Server(name, cmd, port, Path(tmp) / f"server-{len(runs)}-{r}.log")
                try:
                    systems = ours_bodies if name == "reasonir serve" else {name: base_bodies}
                    for system, bodies in systems.items():
                        for clients in levels:
                            res = measure(server, bodies, clients, args.requests, args.warmup, args.max_seconds)
                            runs.setdefault(system, {}).setdefault(clients, []).append(res)
                            print(f"round {r} {system} x{clients}: p50 {res['p50_ms']:.1f} ms, p99 "
                                  f"{res['p99_ms']:.1f} ms, {res['qps']:.1f} q/s", flush=True)
                finally:
                    server.stop()
    load_end = tuple(round(x, 2) for x in os.getloadavg())
    write_report(args, head, info.as_dict(), levels, runs, load_end)


def write_report(args: argparse.Namespace, head: list[str], info: dict[str, Any], levels: list[int],
                 runs: dict[str, dict[int, list[dict[str, Any]]]], load_end: tuple[float, ...]) -> None:
    def med(system: str, clients: int, key: str) -> float:
        return statistics.median(x[key] for x in runs[system][clients])

    base = baseline_name("default") if baseline_name("default") in runs else next(s for s in runs
                                                                                    if s.startswith("baseline"))
    rows = []
    for system in runs:
        for c in levels:
            ratio = med(base, c, "p50_ms") / med(system, c, "p50_ms")
            n = "/".join(str(x["requests"]) for x in runs[system][c])
            rows.append(f"| {system} | {c} | {n} | {med(system, c, 'p50_ms'):.1f} | {med(system, c, 'p99_ms'):.1f} | "
                        f"{med(system, c, 'qps'):.1f} | {med(system, c, 'server_cpu_ms_per_request'):.1f} | "
                        f"{med(system, c, 'client_cpu_ms_per_request'):.1f} | {ratio:.2f}x |")
    sat = {s: max((med(s, c, "qps"), c) for c in levels)[1] for s in runs}
    dense, hybrid = "reasonir dense", "reasonir hybrid"
    agree = [len(set(a) & set(b)) / K for qi, a in runs[dense][1 if 1 in levels else levels[0]][0]["seen"].items()
             for b in [runs[base][1 if 1 in levels else levels[0]][0]["seen"].get(qi)] if b]
    lines = [
        *head,
        f"- CPU kind (`cpu_kind()`): **{info['cpu_kind']}**; load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in load_end)} (shared machine: other jobs ran too)",
        f"- index: `{args.index}` (copied to a temporary folder; 5,183 SciFact documents, MiniLM fp16 vectors + "
        "BM25); queries: the 300 SciFact test queries, cycled; k = 10",
        "- servers: uvicorn, one worker process, 127.0.0.1, started one at a time; `reasonir serve` batches "
        "concurrent searches (max 32, 2 ms wait); the baseline answers one request at a time and has "
        "**no BM25** (dense only), so its like-for-like row is `reasonir dense`",
        f"- load: closed loop, threads + keep-alive `http.client`; {args.warmup} warm-up requests (at most 10 s), then "
        f"{args.requests} timed requests per level (fewer if {args.max_seconds:g} s ran out: column n); {args.rounds} server start/stop rounds per server "
        "(order alternated), medians over rounds",
        "- **client and server share the same 2 cores**: the load generator's own CPU use (column) is taken "
        "from the server's",
        "",
        "| system | clients | n | p50 ms | p99 ms | QPS | server CPU ms/request | client CPU ms/request | "
        "baseline p50 / this p50 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "Throughput at saturation (best QPS over the levels run): " + "; ".join(
            f"{s}: {med(s, sat[s], 'qps'):.1f} q/s at {sat[s]} clients" for s in runs) + ".",
        f"Dense top-10 agreement, reasonir dense vs baseline (same stored vectors; query encoders differ only "
        f"in implementation): {np.mean(agree):.3f} mean overlap over {len(agree)} queries.",
        "",
        f"Hybrid p50 minus dense p50 with {levels[0]} client(s) (BM25 scoring + fusion): "
        f"{med(hybrid, levels[0], 'p50_ms') - med(dense, levels[0], 'p50_ms'):+.1f} ms.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)
    payload = {"command": command_line(lock=True), "machine": info, "load_avg_end": load_end,
               "runs": {s: {c: [{k: v for k, v in x.items() if k != "seen"} for x in xs] for c, xs in per.items()}
                        for s, per in runs.items()}}
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, args.out.with_suffix(".json"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
