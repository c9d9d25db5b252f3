"""Synthesizer throughput against a local OpenAI-compatible server with a fixed latency, and the cost
of resuming a run killed half-way.

The server is ``reasonir.llm.server.LLMServer`` (real HTTP on 127.0.0.1) over a backend that sleeps
``--delay`` seconds per request and answers like a well-behaved model (valid HQ JSON, long hard
negatives), i.e. a remote LLM whose latency dominates. The workload is the HQ pipeline over
``--docs`` SciFact abstracts: one HQ request and one LLM-negative request per document, BM25
negatives mined below rank ``--skip`` — everything ``reasonir synthesize`` does, end to end.

1. Throughput: examples/min at client concurrency 1 vs 16 (in-process ``synthesize``, fresh cache
   per repeat, median of ``--repeats``).
2. Resume: ``reasonir synthesize`` as a subprocess, SIGKILLed when the server has answered 50% of
   the run's requests; then the same command again (requests and seconds of the resumed run), and
   once more (a finished run: zero requests).

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_synth.py``
Writes ``benchmarks/results/bench_synth.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from _common import DATA, ROOT, header

from reasonir.llm import FunctionLLM
from reasonir.llm.server import LLMServer
from reasonir.synth import SynthesizeConfig, synthesize




def _last(prompt) -> str:
    return prompt if isinstance(prompt, str) else prompt[-1]["content"]


class Backend:
    """A model with a fixed latency that always answers in the requested format; counts requests."""

    def __init__(self, delay: float):
        self.delay = delay
        self.requests = 0      # requests received
        self.answered = 0      # answers sent back
        self.lock = threading.Lock()

    def __call__(self, prompt, params) -> str:
        with self.lock:
            self.requests += 1
        time.sleep(self.delay)
        with self.lock:
            self.answered += 1
        text = _last(prompt)
        if "<document>" in text:
            words = text.split("<document>\n", 1)[1].split()[:6]
            q = (f"A research group replicating work on {' '.join(words)} obtains the opposite result in a "
                 f"larger cohort; which design choices could explain the discrepancy and how would you test them?")
            return json.dumps({"hard_query": [q]})
        if "<positive_document>" in text:
            seed = sum(map(ord, text[:200]))
            body = " ".join(f"term{(seed + i * 7) % 997}" for i in range(80))
            return json.dumps({"hard_negative_document": body})
        return "unexpected prompt"


def config(out: Path, spec: str, docs: int, skip: int, concurrency: int, data: str) -> dict:
    return {"out": str(out), "input": [f"beir:{data}"], "max_input_docs": docs, "llm": spec,
            "llm_options": {"concurrency": concurrency}, "batch_size": 64, "neg_min_words": 40,
            "mine": "bm25", "mine_skip": skip, "st_export": False}


def throughput(srv: LLMServer, backend: Backend, args, level: int) -> tuple[float, int, int]:
    times, n_ex, n_req = [], 0, 0
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = SynthesizeConfig(**config(Path(tmp) / "out", srv.spec, args.docs, args.skip, level, args.data))
            before = backend.requests
            t0 = time.perf_counter()
            res = synthesize(cfg)
            times.append(time.perf_counter() - t0)
            n_ex, n_req = len(res.examples), backend.requests - before
    return statistics.median(times), n_ex, n_req


def run_cli(cfg_path: Path, backend: Backend, kill_at: int | None) -> tuple[float, int, int]:
    """Run ``reasonir synthesize CONFIG`` as a subprocess; SIGKILL it once the server has answered
    ``kill_at`` of its requests. Returns (seconds, requests received, return code)."""
    before = backend.requests
    answered_before = backend.answered
    t0 = time.perf_counter()
    code = "import sys; from reasonir.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "-q", "synthesize", str(cfg_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if kill_at is not None:
        while proc.poll() is None and backend.answered - answered_before < kill_at:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    rc = proc.wait()
    return time.perf_counter() - t0, backend.requests - before, rc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--docs", type=int, default=48)
    ap.add_argument("--skip", type=int, default=20)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("--levels", default="1,16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_synth.md"))
    args = ap.parse_args()
    load = os.getloadavg()[0]
    backend = Backend(args.delay)
    rows = []
    with LLMServer(FunctionLLM(backend, "fixed-delay", concurrency=1), model_name="fixed-delay") as srv:
        for level in [int(x) for x in args.levels.split(",")]:
            secs, n_ex, n_req = throughput(srv, backend, args, level)
            rows.append((level, secs, n_ex, n_req))
            print(f"concurrency {level}: {secs:.2f}s, {n_ex} examples, {n_req} requests", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config(Path(tmp) / "out", srv.spec, args.docs, args.skip, 16, args.data)
            cfg_path = Path(tmp) / "synth.yaml"
            cfg_path.write_text(yaml.safe_dump(cfg))
            full_secs, full_req, _ = run_cli(cfg_path, backend, None)
            train = Path(cfg["out"]) / "train.jsonl"
            reference = train.read_text()
            # same run from scratch, killed at 50% of its requests, then resumed
            cfg["out"] = str(Path(tmp) / "killed")
            cfg_path.write_text(yaml.safe_dump(cfg))
            kill_secs, kill_req, kill_rc = run_cli(cfg_path, backend, full_req // 2)
            resume_secs, resume_req, resume_rc = run_cli(cfg_path, backend, None)
            rerun_secs, rerun_req, _ = run_cli(cfg_path, backend, None)
            same = (Path(cfg["out"]) / "train.jsonl").read_text() == reference
            print(f"full {full_secs:.2f}s/{full_req} req; killed after {kill_req} req (rc {kill_rc}); resumed "
                  f"{resume_secs:.2f}s/{resume_req} req; re-run {rerun_secs:.2f}s/{rerun_req} req; identical={same}")
    base = rows[0]
    lines = [
        *header("Synthesizer throughput and resume cost (fixed-latency local OpenAI-compatible server)"),
        f"- load average at start: {load:.1f}",
        f"- workload: HQ pipeline over {args.docs} SciFact abstracts (1 HQ request + 1 LLM-negative request per "
        f"document, BM25 negatives below rank {args.skip}); `LLMServer` on 127.0.0.1 answers each request after "
        f"{args.delay * 1000:.0f} ms; fresh response cache per repeat; median of {args.repeats}",
        "",
        "| client concurrency | seconds (median) | examples | requests | examples/min | speed-up vs 1 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for level, secs, n_ex, n_req in rows:
        lines.append(f"| {level} | {secs:.2f} | {n_ex} | {n_req} | {60 * n_ex / secs:.0f} | {base[1] / secs:.1f}x |")
    lines += [
        "",
        f"Serial lower bound at concurrency 1: {base[3]} requests x {args.delay} s = {base[3] * args.delay:.1f} s.",
        "",
        "## Resume after killing at 50%",
        "",
        "`reasonir synthesize CONFIG.yaml` (concurrency 16) as a subprocess, SIGKILLed once the server had answered "
        "half of the run's requests, then started again with the same command:",
        "",
        "| run | seconds | LLM requests reaching the server |",
        "|---|---:|---:|",
        f"| full run from scratch | {full_secs:.2f} | {full_req} |",
        f"| killed at 50% | {kill_secs:.2f} | {kill_req} |",
        f"| resumed run | {resume_secs:.2f} | {resume_req} |",
        f"| re-run of the finished run | {rerun_secs:.2f} | {rerun_req} |",
        "",
        f"Resumed output identical to the uninterrupted run's train.jsonl: {same}. The resumed run sent "
        f"{resume_req} of {full_req} requests ({100 * resume_req / max(1, full_req):.0f}%): the {full_req // 2} "
        "answered before the kill came from the response cache; requests in flight at the kill (up to the "
        "client concurrency) were lost and asked again. (Subprocess times include interpreter start-up and "
        "imports, about 4-5 s here.)",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
