"""The one exact dense-search kernel against the two it replaced, side by side in one process.

Before, ``reasonir.retrieve.dense_search`` (one chunked matmul per query block, BLAS threads) and
``reasonir.index.exact_search`` (blocked, threaded, fp16 converted per block, threshold-pruned top-k)
did the same job. Now ``dense_search`` is the second algorithm (fp32 blocks used in place) and
``exact_search`` calls it. This script loads both earlier modules from git revision ``--before`` and
times all three on the same random unit vectors (fp16 and fp32, ``--n`` x ``--dim``), ``--queries``
queries as one batch and ``--single`` of them one at a time, k=10 and k=1000; medians of
``--repeats`` rounds, the three kernels interleaved in each round.

    flock /tmp/reasonir-bench.lock python benchmarks/bench_dense_kernel.py
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, header

from reasonir.retrieve.dense import dense_search


def load_old(rev: str, path: str, name: str):
    """The module at ``path`` as of git revision ``rev``, imported inside ``reasonir.retrieve``."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True, capture_output=True,
                          text=True).stdout
    file = Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(text)
    spec = importlib.util.spec_from_file_location(f"reasonir.retrieve.{name}", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="9d85635", help="git revision holding the two earlier kernels")
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--single", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "index_exact_kernel.md"))
    args = ap.parse_args()
    kernels = {
        "old dense_search": load_old(args.before, "src/reasonir/retrieve/dense.py", "_old_dense").dense_search,
        "old exact_search": load_old(args.before, "src/reasonir/index/exact.py", "_old_exact").exact_search,
        "dense_search (now)": dense_search,
    }
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    lines = header("One exact dense-search kernel (retrieve.dense_search = index.exact_search)")
    lines += ["", f"Random unit vectors {args.n:,} x {args.dim} in memory; {args.queries} queries as one batch, "
              f"{args.single} one at a time (time for all {args.single}); median ms of {args.repeats} rounds.", "",
              "| vectors | k | queries | " + " | ".join(kernels) + " | speed-up vs old dense | vs old exact | "
              "same top-k ids |", "|---|---|---|" + "---|" * (len(kernels) + 3)]
    for dtype in (np.float16, np.float32):
        docs = x.astype(dtype)
        for k in (10, 1000):
            for label, batch in ((f"{args.queries} batched", True), (f"{args.single} single", False)):
                times: dict[str, list[float]] = {name: [] for name in kernels}
                for _ in range(args.repeats):
                    for name, fn in kernels.items():
                        t0 = time.perf_counter()
                        if batch:
                            fn(q, docs, k=k)
                        else:
                            for i in range(args.single):
                                fn(q[i:i + 1], docs, k=k)
                        times[name].append(time.perf_counter() - t0)
                med = {name: float(np.median(v)) * 1000 for name, v in times.items()}
                now, old_d, old_e = med["dense_search (now)"], med["old dense_search"], med["old exact_search"]
                same = float((kernels["old dense_search"](q, docs, k=k)[0] == dense_search(q, docs, k=k)[0]).mean())
                lines.append(f"| {np.dtype(dtype).name} | {k} | {label} | "
                             + " | ".join(f"{med[n]:.1f}" for n in kernels)
                             + f" | {old_d / now:.2f}x | {old_e / now:.2f}x | {same:.4f} |")
                print(lines[-1], flush=True)
    lines += ["", "- 'same top-k ids': share of (query, rank) cells where the old dense_search and the kernel "
              "agree (the rest are near-ties that BLAS rounds differently between matmul shapes)."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
