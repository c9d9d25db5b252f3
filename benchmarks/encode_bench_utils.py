"""Shared helpers of the encoder benchmarks: machine facts, matmul peak, SciFact data, nDCG, timing."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import DATA, ROOT, timed
from _common import machine as _machine

SCIFACT = DATA / "scifact"
__all__ = ["ROOT", "SCIFACT", "dump_json", "machine", "matmul_peak", "ndcg10", "peak_rss_mib", "scifact", "timed",
           "write_markdown"]


def machine() -> dict[str, Any]:
    """:func:`_common.machine` as a JSON-ready dict, plus the ISA flag list, torch's version, threads and capability."""
    import torch

    from reasonir.encode.runtime import cpu_description

    m = _machine()
    cpu = cpu_description()
    return {"cpu": m.cpu, "cores": m.cores, "ram_gib": m.ram_gib, "isa": cpu["isa"],
            "fast_bf16": cpu["fast_bf16"], "isa_levels": m.isa, "cpu_kind": m.cpu_kind, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "python": platform.python_version(),
            "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "load_avg": os.getloadavg()}


def matmul_peak(dtype: str = "fp32", reps: int = 9) -> dict[str, float]:
    """Median GFLOP/s of ``torch.mm`` on large and encoder-shaped products (``[M, K] x [K, N]``)."""
    import torch

    dt_ = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    shapes = [(2048, 2048, 2048), (8192, 384, 1536), (8192, 1536, 384), (4096, 576, 1536)]
    out = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k).to(dt_), torch.randn(k, n).to(dt_)
        for _ in range(2):
            torch.mm(a, b)                                        # [m, k] x [k, n] -> [m, n]
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b)
            ts.append(time.perf_counter() - t0)
        out[f"{m}x{k}x{n}"] = 2 * m * k * n / float(np.median(ts)) / 1e9
    return out


def scifact(limit: int | None = None):
    """(dataset, doc ids, doc texts = title + " " + text) of BEIR SciFact test."""
    from reasonir.data import load_beir

    ds = load_beir(SCIFACT)
    docs = ds.corpus[:limit] if limit else ds.corpus
    return ds, [d.id for d in docs], [d.full_text for d in docs]


def ndcg10(ds, doc_ids: list[str], doc_emb: np.ndarray, query_emb: np.ndarray) -> float:
    """SciFact test nDCG@10 of exact cosine search."""
    from reasonir.evaluate import evaluate
    from reasonir.retrieve.dense import dense_search

    qids = list(ds.queries)
    idx, scores = dense_search(query_emb, doc_emb, k=100)
    run = {q: {doc_ids[j]: float(s) for j, s in zip(idx[r], scores[r]) if j >= 0} for r, q in enumerate(qids)}
    return float(evaluate(ds.qrels, run, "ndcg@10").mean["ndcg@10"])


def peak_rss_mib() -> float:
    """This process's peak resident memory (MiB).

    Linux's ``VmHWM`` belongs to the process's own address space, so a worker started by a large
    parent reports its own peak; ``ru_maxrss`` would carry the parent's over fork + exec.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_markdown(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def dump_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, default=str), encoding="utf-8")
