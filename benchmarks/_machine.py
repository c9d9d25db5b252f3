"""The one-line machine description every benchmark writes next to its figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine(extra: str = "") -> str:
    """``"<CPU model>, <n> cores, <GiB> GiB RAM, Python <version>[, extra]"`` (Linux; best effort elsewhere)."""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), platform.processor())
        mem = next((int(line.split()[1]) // 1024 ** 2 for line in Path("/proc/meminfo").read_text().splitlines()
                    if line.startswith("MemTotal")), 0)
    except OSError:
        model, mem = platform.processor() or "unknown CPU", 0
    line = f"{model}, {os.cpu_count()} cores, {mem} GiB RAM, Python {platform.python_version()}"
    return f"{line}, {extra}" if extra else line
