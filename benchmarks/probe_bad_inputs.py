"""Probe the CLI and the HTTP servers with bad-but-fair inputs; report how each one ends.

Every probe runs in a fresh process (CLI) or against a real server started here (``reasonir serve``
on a small hash-encoder index, ``reasonir llm-serve`` on the embedded smollm2), all inside one
temporary folder. For each input the report gives the exit code or HTTP status, the first line of
the message, and whether any file outside the temporary folder changed (the repository tree and the
user's reasonir cache are snapshotted around every probe).

A probe fails when the answer has a Python traceback, when a bad input ends in success (exit 0 or
HTTP 2xx: a *silent success*), when a file outside the temporary folder changed, or when its own
check (e.g. vectors equal to a fresh encoding) does not hold. A few probes are inputs that used to
crash and must now *succeed*; they say so.

Usage::

    python benchmarks/probe_bad_inputs.py [--out benchmarks/results/probe_bad_inputs.md] [--skip-llm]

Exit status 0 when every probe passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"
SKIP_DIRS = {".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", "results", "_work", ".mypy_cache",
             ".ruff_cache"}


@dataclass
class Outcome:
    """How one probe ended."""

    code: int | None  # exit code (CLI) or HTTP status
    message: str
    stdout: str = ""
    stderr: str = ""
    body: str = ""


@dataclass
class Probe:
    """One bad input.

    ``expect``: ``"error"`` (non-zero exit / 4xx) or ``"ok"`` (an input that must succeed).
    ``check``: an extra verdict on the outcome (``None`` = fine, else the reason it failed).
    """

    name: str
    run: Callable[[], Outcome]
    expect: str = "error"
    check: Callable[[Outcome], str | None] | None = None
    result: dict[str, Any] = field(default_factory=dict)


def _snapshot() -> dict[str, tuple[int, int]]:
    roots = [ROOT, Path.home() / ".cache" / "reasonir"]
    snap: dict[str, tuple[int, int]] = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            for name in filenames:
                p = os.path.join(dirpath, name)
                with contextlib.suppress(OSError):
                    st = os.stat(p)
                    snap[p] = (st.st_size, st.st_mtime_ns)
    return snap


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):  # the CLI's own one-line verdict, after any log lines
        if line.startswith("reasonir") and "error" in line:
            return line
    return lines[0] if lines else ""


class Env:
    """The temporary folder with the fixtures every probe uses."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.exe = Path(sys.executable).parent / "reasonir"
        self.env = dict(os.environ, REASONIR_CACHE_DIR=str(tmp / "cache"), REASONIR_PROGRESS="0",
                        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", REASONIR_API_KEY="")
        self.env.pop("REASONIR_API_KEY")

    def path(self, name: str) -> Path:
        return self.tmp / name

    def write(self, name: str, content: str | bytes) -> str:
        p = self.path(name)
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
        return str(p)

    def jsonl(self, name: str, rows: list[dict[str, Any]]) -> str:
        return self.write(name, "".join(json.dumps(r) + "\n" for r in rows))

    def cli(self, *args: str, timeout: float = 300) -> Outcome:
        cmd = [str(self.exe), *args] if self.exe.exists() else [
            sys.executable, "-c", "import sys; from reasonir.cli import main; sys.exit(main())", *args]
        try:
            p = subprocess.run(cmd, cwd=self.tmp, env=self.env, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return Outcome(None, f"still running after {timeout:.0f} s (killed)", out, "")
        return Outcome(p.returncode, _first_line(p.stderr) or _first_line(p.stdout), p.stdout, p.stderr)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real server process on 127.0.0.1, stopped on exit."""

    def __init__(self, env: Env, args: list[str], ready_path: str = "/health", timeout: float = 180):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [str(env.exe), *args, "--port", str(self.port)]
        self.log = open(env.path(f"server-{self.port}.log"), "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=env.tmp, env=env.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {Path(self.log.name).read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base + ready_path, timeout=2).status_code < 500:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"server did not start: {Path(self.log.name).read_text()[-2000:]}")

    def request(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 120) -> Outcome:
        import httpx

        content = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"content-type": "application/json", **(headers or {})}
        try:
            r = httpx.request(method, self.base + path, content=content, headers=hdrs, timeout=timeout)
        except httpx.HTTPError as exc:
            return Outcome(None, f"transport error: {exc}")
        text = r.text
        try:
            obj = r.json()
            msg = obj.get("error") or obj.get("detail") or "" if isinstance(obj, dict) else ""
            if isinstance(msg, dict):
                msg = msg.get("message", json.dumps(msg))
        except ValueError:
            msg = text
        return Outcome(r.status_code, _first_line(str(msg)), body=text)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def verdict(probe: Probe, out: Outcome) -> tuple[bool, str]:
    texts = out.stdout + out.stderr + out.body
    if TRACEBACK in texts:
        return False, "traceback"
    if out.code is None:
        return False, out.message or "no answer"
    if probe.expect == "error":
        ok_code = out.code != 0 if out.code < 100 else 400 <= out.code < 500
        if not ok_code:
            return False, "silent success" if out.code == 0 or 200 <= out.code < 300 else f"status {out.code}"
        if not out.message:
            return False, "no message"
    elif not (out.code == 0 or 200 <= out.code < 300):
        return False, f"failed (expected success): {out.code}"
    if probe.check is not None:
        why = probe.check(out)
        if why:
            return False, why
    return True, "ok"


def run_probes(probes: list[Probe]) -> list[dict[str, Any]]:
    rows = []
    for probe in probes:
        before = _snapshot()
        t0 = time.monotonic()
        try:
            out = probe.run()
        except Exception as exc:  # the probe's own setup failed: report it as such
            out = Outcome(None, f"probe error: {type(exc).__name__}: {exc}")
        secs = time.monotonic() - t0
        after = _snapshot()
        changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
        passed, why = verdict(probe, out)
        if changed:
            passed, why = False, f"changed {len(changed)} file(s) outside the temporary folder: {changed[:3]}"
        row = {"probe": probe.name, "expect": probe.expect, "code": out.code, "message": out.message[:160],
               "outside_changed": bool(changed), "passed": passed, "verdict": why, "seconds": round(secs, 1)}
        rows.append(row)
        print(f"{'PASS' if passed else 'FAIL'}  {probe.name}: {out.code} {out.message[:120]!r}"
              + ("" if passed else f"  <- {why}"), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "probe_bad_inputs.md"))
    ap.add_argument("--skip-llm", action="store_true", help="skip the llm-serve probes (they load smollm2)")
    ap.add_argument("--only", default="", help="run only probes whose name contains this text")
    args = ap.parse_args(argv)
    from probe_cases import build_probes  # the cases live beside this file

    tmp = Path(tempfile.mkdtemp(prefix="reasonir-probe-"))
    servers: list[Server] = []
    try:
        env = Env(tmp)
        probes = build_probes(env, servers, Server, skip_llm=args.skip_llm)
        if args.only:
            probes = [p for p in probes if args.only in p.name]
        rows = run_probes(probes)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    write_report(rows, Path(args.out), [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    failed = [r for r in rows if not r["passed"]]
    tracebacks = sum(r["verdict"] == "traceback" for r in rows)
    silent = sum(r["verdict"] == "silent success" for r in rows)
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed (tracebacks: {tracebacks}, silent successes: {silent})")
    return 1 if failed else 0


def write_report(rows: list[dict[str, Any]], out: Path, argv: Sequence[str]) -> None:
    from _common import header

    lines = [
        *header("Bad-input probe: CLI and HTTP servers", argv=argv, lock=False),
        "",
        f"{sum(r['passed'] for r in rows)} of {len(rows)} probes pass; tracebacks: "
        f"{sum(r['verdict'] == 'traceback' for r in rows)}; silent successes: "
        f"{sum(r['verdict'] == 'silent success' for r in rows)}; files changed outside the temporary folder: "
        f"{sum(r['outside_changed'] for r in rows)}.",
        "",
        "| # | input | expected | exit / HTTP | first line of the message | outside files changed | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        msg = r["message"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {i} | {r['probe']} | {r['expect']} | {r['code']} | {msg} | "
                     f"{'yes' if r['outside_changed'] else 'no'} | {r['verdict']} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(out)


if __name__ == "__main__":
    sys.exit(main())
