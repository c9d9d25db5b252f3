"""Where and in which precision encoders run: device lists, dtype policy, CPU feature detection.

``dtype="auto"`` picks bfloat16 on CUDA (float16 where the GPU lacks bf16) and, on CPU, bfloat16
only when the CPU has native bf16 matrix instructions (Intel AMX or AVX512-BF16); elsewhere bf16 on
CPU is emulated and several times *slower* than float32, so ``auto`` keeps float32 there. Explicit
``"bf16"`` always works (it is just slow without hardware support).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)

DTYPES = ("auto", "bf16", "fp16", "fp32")
_DTYPE_ALIASES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
                  "half": "float16", "fp32": "float32", "float32": "float32", "float": "float32"}


_BLAS: tuple[int, Any] | None = None


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Limit the BLAS / OpenMP libraries loaded in this process to ``n`` threads inside the block.

    ``threadpoolctl`` finds the loaded libraries by scanning the process's shared objects, about a
    millisecond each time: the scan is kept and repeated only after more modules were imported, so a
    per-query limit (a one-query forward, a small search) costs microseconds.
    """
    global _BLAS
    from threadpoolctl import ThreadpoolController

    if _BLAS is None or _BLAS[0] != len(sys.modules):
        _BLAS = (len(sys.modules), ThreadpoolController())
    with _BLAS[1].limit(limits=n):
        yield


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this machine (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AMX-BF16 or AVX512-BF16).

    ``REASONIR_CPU_BF16=1``/``0`` overrides the detection (for testing the policy).
    """
    forced = os.environ.get("REASONIR_CPU_BF16")
    if forced is not None:
        return forced.strip().lower() in ("1", "true", "yes")
    flags = cpu_flags()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def cpu_isa(flags: frozenset[str] | None = None) -> dict[str, bool]:
    """The matrix-relevant ISA levels of this CPU (or of ``flags``): avx2, avx512f, avx512_bf16, amx.

    :func:`cpu_kind` summarises them in one word.
    """
    flags = cpu_flags() if flags is None else flags
    isa = {"avx2": "avx2" in flags and "fma" in flags, "avx512f": "avx512f" in flags,
           "avx512_bf16": "avx512_bf16" in flags, "amx": "amx_bf16" in flags}
    return isa


def cpu_kind(flags: frozenset[str] | None = None) -> str:
    """One word for the CPU's best matrix ISA (see :func:`cpu_isa`), for reports."""
    isa = cpu_isa(flags)
    for name in ("amx", "avx512_bf16", "avx512f", "avx2"):
        if isa[name]:
            return name
    return "other"


def cpu_description() -> dict[str, Any]:
    """Model name, core count and the matrix-relevant ISA flags (for benchmark reports)."""
    name = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    isa = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma")))
    return {"model": name, "cores": os.cpu_count(), "isa": isa, "fast_bf16": cpu_has_fast_bf16(),
            "isa_levels": cpu_isa(), "kind": cpu_kind()}


def resolve_devices(device: str | Sequence[str] | None = "auto") -> list[Any]:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"cuda:0,cuda:1"`` or a list into devices.

    Raises:
        ConfigError: for an unknown or unavailable device, naming the valid forms.
    """
    import torch

    if device is None or device == "auto":
        return [torch.device("cuda" if torch.cuda.is_available() else "cpu")]
    names = [d.strip() for d in device.split(",")] if isinstance(device, str) else [str(d) for d in device]
    names = [n for n in names if n]
    if not names:
        raise ConfigError("device list is empty; use auto, cpu, cuda, cuda:N or a comma-separated list")
    out = []
    for n in names:
        try:
            dev = torch.device(n)
        except RuntimeError as exc:
            raise ConfigError(f"unknown device {n!r}; use auto, cpu, cuda, cuda:N or a comma-separated list") from exc
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError(f"device {n!r} requested but CUDA is not available; use --device cpu")
            if dev.index is not None and dev.index >= torch.cuda.device_count():
                raise ConfigError(f"device {n!r}: only {torch.cuda.device_count()} CUDA devices exist")
        elif dev.type not in ("cpu", "mps", "xpu"):
            raise ConfigError(f"unsupported device {n!r}; use auto, cpu, cuda, cuda:N or a comma-separated list")
        out.append(dev)
    return out


def resolve_dtype(dtype: str | Any, device: Any) -> Any:
    """The torch dtype for ``dtype`` (``auto``/``bf16``/``fp16``/``fp32`` or a torch dtype) on ``device``.

    Raises:
        ConfigError: for an unknown dtype name, listing the choices.
    """
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    key = str(dtype or "auto").lower().removeprefix("torch.")
    if key == "auto":
        dev = torch.device(device) if not isinstance(device, torch.device) else device
        if dev.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if dev.type == "cpu" and cpu_has_fast_bf16():
            return torch.bfloat16
        return torch.float32
    if key not in _DTYPE_ALIASES:
        raise ConfigError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    return getattr(torch, _DTYPE_ALIASES[key])


def dtype_name(dtype: Any) -> str:
    """``torch.bfloat16`` -> ``"bf16"`` (the short names used in configs and cache keys)."""
    name = str(dtype).removeprefix("torch.")
    return {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}.get(name, name)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3         # glibc mallopt() parameters
_MMAP_THRESHOLD = 32 * 2**20                           # glibc's largest allowed value (64-bit)
_TRIM_THRESHOLD = 1 * 2**30


@functools.lru_cache(maxsize=1)
def tune_cpu_allocator() -> bool:
    """Keep freed activation memory in the process instead of returning it to the OS (glibc only).

    CPU inference frees and re-allocates the same multi-megabyte activations for every layer and
    batch. glibc serves blocks above its mmap threshold with fresh ``mmap`` calls and trims the
    heap eagerly, so each one comes back as zeroed pages that fault in again. Measured with MiniLM
    in bf16 on SciFact: the first pass over 1,500 documents went from 1.13M to 0.10M minor page
    faults (19.1 s -> 15.5 s), the CLI's corpus encoding from 98.9 s to 59.4 s. This raises the
    mmap threshold to 32 MiB and the trim threshold to 1 GiB (``mallopt``): a light in-process
    alternative to preloading jemalloc or tcmalloc, which torch's CPU performance guides recommend
    for the same reason. The process keeps up to its peak working set mapped. Called once when a
    CPU encoder is built; ``REASONIR_MALLOC_TUNING=0`` turns it off.

    Returns:
        True if the settings were applied.
    """
    if os.environ.get("REASONIR_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no"):
        return False
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = (libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1
              and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1)
    except (OSError, AttributeError) as exc:
        logger.debug("mallopt unavailable: %s", exc)
        return False
    logger.debug("glibc malloc tuned for CPU inference (mmap threshold %d, trim threshold %d): %s",
                 _MMAP_THRESHOLD, _TRIM_THRESHOLD, ok)
    return ok
