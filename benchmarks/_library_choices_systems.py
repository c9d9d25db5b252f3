"""The system-side comparisons of ``bench_library_choices.py``: HTTP transport, index lock, config layer.

Each ``part_*`` function measures our code and the library on the same inputs and returns the Markdown
lines of its section; ``bench_library_choices.py`` runs them in one process with the data-side parts.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata as md
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _common import ROOT, timed

def _short(text: object, width: int = 150) -> str:
    s = " ".join(str(text).split()).replace("|", "\\|")
    return s if len(s) <= width else s[:width - 3] + "..."


def _outcome(fn: Callable[[], Any], width: int = 110) -> str:
    try:
        fn()
        return "ok"
    except Exception as exc:  # noqa: BLE001 - the exception is the measurement
        return f"`{type(exc).__name__}`: {_short(exc, width)}"




# ================================================================== HTTP transport
_ANSWER = json.dumps({"id": "c1", "object": "chat.completion", "model": "fake", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "Relevance score: 3"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 412, "completion_tokens": 4, "total_tokens": 416}}).encode()


def _server(pipe: Any) -> None:
    """A tiny OpenAI-compatible server; the first path segment picks the behaviour."""
    hits: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True      # headers and body go out as two writes: no 40 ms delayed-ACK stall

        def log_message(self, *a: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None, length: int | None = None):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                body = json.dumps(hits).encode()
                if self.path == "/reset":
                    hits.clear()
            self._send(200, body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            mode = self.path.split("/")[1]
            with lock:
                hits[mode] = n = hits.get(mode, 0) + 1
            if mode == "slow":
                time.sleep(2.0)
            if mode == "flaky" and n <= 2:
                return self._send(503, b'{"error": {"message": "overloaded"}}', {"Retry-After": "0.05"})
            if mode == "bad":
                return self._send(400, b'{"error": {"message": "model \'x\' does not exist"}}')
            if mode == "trunc":
                self.close_connection = True
                return self._send(200, _ANSWER[:20], length=len(_ANSWER))
            self._send(200, _ANSWER)
            if mode == "closeidle":          # drop the keep-alive connection without saying so
                self.close_connection = True

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 64

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass                             # a client that timed out closed its end: expected here

    srv = Server(("127.0.0.1", 0), Handler)
    pipe.send(srv.server_address[1])
    srv.serve_forever()


def _drive(call: Callable[[], Any], n: int, conc: int) -> tuple[float, float, float]:
    """(requests/s, p50 latency ms, client CPU µs per request) of ``n`` calls at concurrency ``conc``."""
    lat: list[float] = []

    def one(_: int) -> None:
        t = time.perf_counter()
        call()
        lat.append(time.perf_counter() - t)

    c0, t0 = time.process_time(), time.perf_counter()
    if conc == 1:
        for i in range(n):
            one(i)
    else:
        with ThreadPoolExecutor(conc) as ex:
            list(ex.map(one, range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, statistics.median(lat) * 1e3, cpu / n * 1e6


def _drive_async(base: str, payload: dict, n: int, conc: int) -> tuple[float, float, float]:
    import httpx

    lat: list[float] = []

    async def run() -> None:
        sem = asyncio.Semaphore(conc)
        async with httpx.AsyncClient(base_url=base, timeout=10,
                                     limits=httpx.Limits(max_connections=conc, max_keepalive_connections=conc)) as c:
            async def one() -> None:
                async with sem:
                    t = time.perf_counter()
                    (await c.post("/chat/completions", json=payload)).raise_for_status()
                    lat.append(time.perf_counter() - t)
            await asyncio.gather(*(one() for _ in range(n)))

    c0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(run())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / wall, statistics.median(lat) * 1e3, cpu / n * 1e6


def part_http(args: argparse.Namespace) -> list[str]:
    import httpx

    from reasonir.llm.transport import JSONClient, RetryPolicy

    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_server, args=(there,), daemon=True)
    proc.start()
    port = here.recv()
    root = f"http://127.0.0.1:{port}"
    base = root + "/ok/v1"
    payload = {"model": "fake", "max_tokens": 8, "temperature": 0.0, "messages": [
        {"role": "user", "content": "Claim: ... Abstract: " + "word " * 300 + "\nRelevance score (0-3):"}]}
    rows = []
    try:
        for conc, n in ((1, args.requests), (16, args.requests * 2)):
            results: dict[str, list[tuple[float, float, float]]] = {}
            for rep in range(args.repeats):
                ours = JSONClient(base, policy=RetryPolicy(max_retries=2, backoff=0.05, timeout=10))
                sync = httpx.Client(base_url=base, timeout=10,
                                    limits=httpx.Limits(max_connections=conc, max_keepalive_connections=conc))
                sides = [("ours: `JSONClient` (http.client, keep-alive per thread)",
                          lambda: _drive(lambda: ours.request("POST", "/chat/completions", payload), n, conc)),
                         ("httpx.Client (pool shared by the threads)",
                          lambda: _drive(lambda: sync.post("/chat/completions", json=payload).raise_for_status()
                                         .json(), n, conc)),
                         ("httpx.AsyncClient (asyncio, one thread)", lambda: _drive_async(base, payload, n, conc))]
                for name, fn in (sides if rep % 2 == 0 else sides[::-1]):
                    _drive(lambda: ours.request("POST", "/chat/completions", payload), 20, 1)   # warm the server
                    results.setdefault(name, []).append(fn())
                sync.close()
            for name, vals in results.items():
                rps, p50, cpu = (statistics.median(v[i] for v in vals) for i in range(3))
                rows.append(f"| {conc} | {name} | {rps:,.0f} | {p50:.2f} | {cpu:,.0f} |")
        version = httpx.Client(http2=True, base_url=base).post("/chat/completions", json=payload).http_version
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        behaviour = []
        for case, mode in (("dead endpoint (connection refused)", None), ("server answers after 2 s (timeout 0.5 s)",
                           "slow"), ("503 + `Retry-After: 0.05` twice, then 200", "flaky"),
                           ("body shorter than Content-Length", "trunc"),
                           ("server drops keep-alive after each answer (20 calls)", "closeidle"),
                           ("400 with an OpenAI error body", "bad")):
            url = f"http://127.0.0.1:{dead}/v1" if mode is None else f"{root}/{mode}/v1"
            cells = []
            for side in ("ours", "httpx"):
                httpx.get(root + "/reset")
                if side == "ours":
                    c: Any = JSONClient(url, policy=RetryPolicy(max_retries=2, backoff=0.05, timeout=0.5))
                    call = lambda c=c: c.request("POST", "/chat/completions", payload)  # noqa: E731
                else:
                    c = httpx.Client(base_url=url, timeout=0.5, transport=httpx.HTTPTransport(retries=2))
                    call = lambda c=c: c.post("/chat/completions", json=payload).raise_for_status().json()  # noqa: E731
                t0 = time.perf_counter()
                if mode == "closeidle":
                    errors = [x for x in (_outcome(call) for _ in range(20)) if x != "ok"]
                    out = f"{20 - len(errors)}/20 ok" + (f"; {errors[0]}" if errors else "")
                else:
                    out = _outcome(call)
                secs = time.perf_counter() - t0
                hits = "" if mode is None else f", {json.loads(httpx.get(root + '/count').text).get(mode, 0)} server hits"
                cells.append(f"{out} ({secs:.2f} s{hits})")
            behaviour.append(f"| {case} | {cells[0]} | {cells[1]} |")
    finally:
        proc.kill()
    return [
        "## 1. HTTP transport for LLM calls: `reasonir.llm.transport.JSONClient` vs `httpx`", "",
        f"- server: `ThreadingHTTPServer` (HTTP/1.1 keep-alive) in a child process on 127.0.0.1, answering a "
        f"chat completion ({len(_ANSWER)} bytes) at once; request body {len(json.dumps(payload))} bytes",
        f"- {args.requests} requests at concurrency 1, {args.requests * 2} at 16 (a thread pool over one "
        f"client, as `OpenAICompatLLM` does; asyncio with a semaphore for the async client); "
        f"{args.repeats} interleaved repeats, medians; client CPU = process CPU time / requests (the server "
        "runs in another process)",
        f"- HTTP/2: `httpx.Client(http2=True)` against this server speaks {version}: without TLS (ALPN) httpx "
        "never upgrades, and the local OpenAI-compatible servers (vLLM, llama.cpp, `reasonir llm-serve`) are "
        "HTTP/1.1, so HTTP/2 could only matter for hosted HTTPS APIs", "",
        "| concurrency | client | requests/s | p50 latency ms | client CPU µs/request |",
        "|---:|---|---:|---:|---:|", *rows, "",
        "Failure behaviour (ours: `RetryPolicy(max_retries=2, backoff=0.05, timeout=0.5)`; httpx: "
        "`Client(timeout=0.5, transport=HTTPTransport(retries=2))` + `raise_for_status()`):", "",
        "| case | ours | httpx |", "|---|---|---|", *behaviour, ""]


# ================================================================== index lock
def _make_lock(kind: str, directory: str) -> Any:
    if kind == "ours":
        from reasonir.index.lock import WriteLock

        return WriteLock(directory, "bench")
    import filelock

    return filelock.FileLock(os.path.join(directory, ".lock"), timeout=0)


def _hold(kind: str, directory: str, ready: Any, seconds: float) -> None:
    lock = _make_lock(kind, directory)
    lock.acquire()
    ready.set()
    time.sleep(seconds)
    lock.release()


def _contend(kind: str, directory: str, attempts: int, out: Any) -> None:
    """Try to take the lock ``attempts`` times; inside, claim a marker file exclusively (fails on overlap)."""
    got = overlaps = 0
    marker = os.path.join(directory, "inside")
    for _ in range(attempts):
        lock = _make_lock(kind, directory)
        try:
            lock.acquire()
        except Exception:  # noqa: BLE001 - refused: someone else holds it
            continue
        got += 1
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            time.sleep(0.0005)
            os.close(fd)
            os.unlink(marker)
        except FileExistsError:
            overlaps += 1
        finally:
            lock.release()
    out.put((got, overlaps))


def part_lock(args: argparse.Namespace) -> list[str]:
    ctx = mp.get_context("fork")
    rows: dict[str, list[str]] = {}
    for kind in ("ours", "filelock"):
        cells = rows.setdefault(kind, [])
        with tempfile.TemporaryDirectory() as d:
            lock_file = Path(d) / ".lock"
            ready = ctx.Event()
            holder = ctx.Process(target=_hold, args=(kind, d, ready, 30.0))
            holder.start()
            ready.wait(10)
            cells.append(_outcome(lambda: _make_lock(kind, d).acquire()))
            os.kill(holder.pid, signal.SIGKILL)
            holder.join()
            left = lock_file.exists()
            lock = _make_lock(kind, d)
            got = _outcome(lock.acquire)
            cells.append(f"{got}; lock file was {'left' if left else 'gone'}")
            lock.release()
            cells.append("removed" if not lock_file.exists() else "left in place")
            first, second = _make_lock(kind, d), _make_lock(kind, d)
            first.acquire()
            cells.append(_outcome(second.acquire))
            if second.is_locked if kind == "filelock" else False:
                second.release()
            first.release()
            q = ctx.Queue()
            procs = [ctx.Process(target=_contend, args=(kind, d, args.lock_attempts, q)) for _ in range(4)]
            for p in procs:
                p.start()
            res = [q.get() for _ in procs]
            for p in procs:
                p.join()
            cells.append(f"{sum(r[0] for r in res)} held, {sum(r[1] for r in res)} overlaps")
            lk = _make_lock(kind, d)

            def cycle(lk: Any = lk) -> None:
                for _ in range(200):
                    lk.acquire()
                    lk.release()
            _, t, _ = timed(cycle, repeats=args.repeats)
            cells.append(f"{t / 200 * 1e6:.0f}")
    import filelock

    lines = ["## 2. Index lock: `reasonir.index.lock.WriteLock` vs `filelock.FileLock`", "",
             f"- filelock {filelock.__version__} (`FileLock` = `{filelock.FileLock.__name__}`, timeout=0 = "
             "non-blocking, as ours); each case in fresh processes on a local disk",
             f"- contention: 4 processes x {args.lock_attempts} non-blocking attempts; inside the lock each "
             "creates a marker file with O_EXCL (an overlap = two holders at once)", "",
             "| case | ours | filelock |", "|---|---|---|"]
    cases = ("second process while held", "holder killed with SIGKILL, then acquire",
             "lock file after a normal release", "a second lock object in the same process",
             "mutual exclusion under contention", "acquire + release, µs")
    lines += [f"| {c} | {rows['ours'][i]} | {rows['filelock'][i]} |" for i, c in enumerate(cases)]
    return lines + [""]


# ================================================================== config layer
_CFG = '''
from dataclasses import dataclass, field
from typing import Literal, Optional
RETRIEVERS = ("bm25", "bm25q", "dense")

@dataclass
class Ours:
    dataset: str
    retriever: str = field(default="bm25", metadata={"choices": RETRIEVERS})
    top_k: int = 1000
    k1: float = 0.9
    long_documents: bool = False
    batch_size: Optional[int] = None
    metrics: list[str] = field(default_factory=lambda: ["ndcg@10"])

@dataclass
class Typed:
    dataset: str
    retriever: Literal["bm25", "bm25q", "dense"] = "bm25"
    top_k: int = 1000
    k1: float = 0.9
    long_documents: bool = False
    batch_size: Optional[int] = None
    metrics: list[str] = field(default_factory=lambda: ["ndcg@10"])
'''
_PYD = """
import pydantic
class Strict(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(strict=True, extra="forbid")
    dataset: str
    retriever: Literal["bm25", "bm25q", "dense"] = "bm25"
    top_k: int = 1000
    k1: float = 0.9
    long_documents: bool = False
    batch_size: Optional[int] = None
    metrics: list[str] = ["ndcg@10"]
class Lax(Strict):
    model_config = pydantic.ConfigDict(strict=False, extra="forbid")
"""
_SNIPPETS = {
    "ours: `reasonir.config.build`": "from reasonir.config import build\nbuild(Ours, {'dataset': 'x'}, 'run.yaml')",
    "pydantic `BaseModel` (strict and lax)": _PYD + "Strict(dataset='x')\nLax(dataset='x')",
    "jsonargparse `ArgumentParser`":
        "import jsonargparse\nP = jsonargparse.ArgumentParser(exit_on_error=False)\n"
        "P.add_class_arguments(Typed)\nP.parse_object({'dataset': 'x'})",
}
_BAD = [("typo in a name", {"top_kk": 10}), ("text for an integer", {"top_k": "ten"}),
        ("fraction for an integer", {"top_k": 10.5}), ("value outside the choices", {"retriever": "bm26"}),
        ("not a boolean", {"long_documents": "maybe"}), ("boolean for an integer", {"top_k": True}),
        ("NaN for a float", {"k1": float("nan")}), ("null for a required string", {"dataset": None}),
        ("'100' from a flag (should pass)", {"top_k": "100"}), ("one value for a list (should pass)",
                                                                 {"metrics": "ndcg@10"})]


def _import_cost(prelude: str, code: str) -> tuple[float, int, float]:
    """(ms of module imports by ``code`` per ``-X importtime``, modules imported, ms wall of ``code``)."""
    script = (f"{_CFG}\n{prelude}\nimport sys, time\nsys.stderr.write('@@MARK\\n')\nt0 = time.perf_counter()\n"
              f"{code}\nprint(time.perf_counter() - t0)")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, check=True)
    lines = proc.stderr.split("@@MARK\n", 1)[1].splitlines()
    own = [int(x.split("|")[0].split(":")[1]) for x in lines if x.startswith("import time:") and "self" not in x]
    return sum(own) / 1e3, len(own), float(proc.stdout.split()[-1]) * 1e3


def part_config(args: argparse.Namespace) -> list[str]:
    import jsonargparse

    from reasonir.config import build

    module = types.ModuleType("library_choices_cfg")   # a real module, so that type hints resolve
    sys.modules[module.__name__] = module
    exec(compile(_CFG + _PYD, "<cfg>", "exec", dont_inherit=True), module.__dict__)  # noqa: S102
    ns = module.__dict__
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(ns["Typed"])
    rows = []
    for case, bad in _BAD:
        values = {"dataset": "beir:scifact", **bad}
        cells = [_outcome(lambda: build(ns["Ours"], values, "run.yaml"), 170),
                 _outcome(lambda: ns["Strict"](**values), 170), _outcome(lambda: ns["Lax"](**values), 170),
                 _outcome(lambda: parser.parse_object(values), 170)]
        rows.append(f"| {case} | `{_short(bad, 40)}` | " + " | ".join(cells) + " |")
    cost = []
    base = _import_cost("", "import reasonir.config")
    cost.append(f"| `import reasonir.config` (whole package as the CLI loads it) | {base[0]:.0f} | {base[1]} | "
                f"{base[2]:.0f} |")
    for name, code in _SNIPPETS.items():
        runs = [_import_cost("import reasonir.config", code) for _ in range(args.repeats)]
        imp, mods, wall = (statistics.median(r[i] for r in runs) for i in range(3))
        cost.append(f"| {name}, after `import reasonir.config` | {imp:.0f} | {mods:.0f} | {wall:.1f} |")
    sizes = []
    for dists in (["pydantic", "pydantic_core", "annotated-types", "typing-inspection"], ["jsonargparse"]):
        total = sum(f.size or 0 for d in dists for f in (md.distribution(d).files or []))
        sizes.append(f"{' + '.join(f'{d} {md.version(d)}' for d in dists)}: {total / 2**20:.1f} MiB installed")
    return [
        "## 3. Config layer: `reasonir.config` (dataclasses + our checks) vs pydantic / jsonargparse", "",
        "- the same option set (a required string, a string with choices, int, float, bool, optional int, list) "
        "as a dataclass with `metadata['choices']` (ours) and with `Literal[...]` (pydantic, jsonargparse); "
        "the values come from a config file named `run.yaml`",
        f"- dependency weight: {'; '.join(sizes)}; ours: no dependency beyond PyYAML (already core)", "",
        "| bad value | given | ours | pydantic strict | pydantic lax | jsonargparse |", "|---|---|---|---|---|---|",
        *rows, "",
        f"Start-up cost in a fresh interpreter (`python -X importtime`: sum of the modules' own import times "
        f"after the prelude; wall = the snippet incl. building the validator and one validation; medians of "
        f"{args.repeats}):", "",
        "| snippet | import ms | modules | wall ms |", "|---|---:|---:|---:|", *cost, ""]
