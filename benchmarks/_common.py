"""What every benchmark script shares: where the data is, how to time, what machine ran it, the report header.

One copy of each so that every report names its machine the same way (CPU model, cores, RAM and the
matrix ISA from :func:`reasonir.encode.runtime.cpu_isa`), records the command line it was really run
with, and times with one convention (median wall and CPU seconds over repeats).
The scripts run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path`` and the installed
``reasonir`` package is imported as is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

ROOT = Path(__file__).resolve().parents[1]
BENCH_LOCK = "/tmp/reasonir-bench.lock"
T = TypeVar("T")


def data_dir() -> Path:
    """The shared data folder: ``$REASONIR_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("REASONIR_DATA")
    return Path(env).expanduser() if env else ROOT.parent / "shared" / "data"


DATA = data_dir()


def timed(fn: Callable[[], T], repeats: int = 1) -> tuple[T, float, float]:
    """Run ``fn`` ``repeats`` times: (last result, median wall seconds, median process CPU seconds)."""
    if repeats < 1:
        raise ValueError(f"timed: repeats must be at least 1, got {repeats}")
    walls, cpus = [], []
    out: Any = None
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, statistics.median(walls), statistics.median(cpus)


@dataclasses.dataclass(frozen=True)
class Machine:
    """The machine a figure was measured on; ``str()`` is the one-line form reports print."""

    cpu: str
    cores: int
    ram_gib: float
    cpu_kind: str                 # best matrix ISA in one word: amx, avx512_bf16, avx512f, avx2, other
    isa: dict[str, bool]          # reasonir.encode.runtime.cpu_isa()
    python: str
    load_avg: tuple[float, float, float]
    extra: str = ""

    def __str__(self) -> str:
        levels = "+".join(k for k, v in self.isa.items() if v) or "none"
        line = (f"{self.cpu} ({self.cpu_kind}; ISA {levels}), {self.cores} cores, {self.ram_gib:g} GiB RAM, "
                f"Python {self.python}")
        return f"{line}, {self.extra}" if self.extra else line

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def machine(extra: str = "") -> Machine:
    """Describe this machine (Linux ``/proc``; best effort elsewhere); ``extra`` is appended to the line."""
    from reasonir.encode.runtime import cpu_description, cpu_isa, cpu_kind

    mem_kb = 0
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem_kb = next((int(line.split()[1]) for line in f if line.startswith("MemTotal")), 0)
    except OSError:
        pass
    desc = cpu_description()
    cpu = desc["model"] if desc["model"] != "unknown" else (platform.processor() or "unknown CPU")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return Machine(cpu=cpu, cores=os.cpu_count() or 0, ram_gib=round(mem_kb / 2**20, 1), cpu_kind=cpu_kind(),
                   isa=cpu_isa(), python=platform.python_version(),
                   load_avg=(round(load[0], 2), round(load[1], 2), round(load[2], 2)), extra=extra)


def command_line(argv: Sequence[str] | None = None, lock: bool = False) -> str:
    """The command as it was run: ``python <script> <arguments>`` (``argv`` defaults to ``sys.argv``)."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]) if argv else Path("python")
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    words = ["python", script.as_posix(), *argv[1:]]
    prefix = f"flock {BENCH_LOCK} " if lock else ""
    return prefix + shlex.join(words)


def header(title: str, extra: str = "", argv: Sequence[str] | None = None, lock: bool = True) -> list[str]:
    """A report's opening lines: the title, the date, the exact command, the machine and its load average."""
    m = machine(extra)
    load = ", ".join(f"{x:.2f}" for x in m.load_avg)
    return [f"# {title}", "",
            f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- command: `{command_line(argv, lock=lock)}`",
            f"- machine: {m}",
            f"- load average (1, 5, 15 min): {load}"]
