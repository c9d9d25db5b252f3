"""Cold one-off commands: ``reasonir --help`` and one ``reasonir search`` per fresh process.

A one-off search pays for everything its process imports and loads before it answers. This script
runs ``reasonir --help`` and a single-query search with each retriever (BM25, hybrid, dense) in
fresh processes, ``--runs`` times each (after one untimed run of each, which compiles the bytecode
and warms the page cache), and reports the median wall time of each command. With
``--compare REF`` the same commands also run on the source tree of git revision ``REF`` (extracted
with ``git archive`` and put first on ``PYTHONPATH``), interleaved run by run with the current tree,
so before/after ratios come from one run on one machine.

The index is ``--index DIR`` (used read-only), or a SciFact index built with ``minilm`` + BM25 under
``benchmarks/_work/cold-scifact-minilm`` (reused when it exists; building it encodes 5,183 documents).

    flock /tmp/reasonir-bench.lock python benchmarks/bench_cold_start.py --compare 9d85635
    python benchmarks/bench_cold_start.py --index /tmp/cold/scifact-minilm --runs 3 --out -
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _common import DATA, ROOT, header

QUERY = "does vitamin D reduce fracture risk in older adults"
COMMANDS = {
    "help": ["--help"],
    "search bm25": ["search", "{index}", QUERY, "--retriever", "bm25"],
    "search hybrid": ["search", "{index}", QUERY],
    "search dense": ["search", "{index}", QUERY, "--retriever", "dense"],
}


def build_index(target: Path) -> Path:
    """The SciFact MiniLM + BM25 index at ``target`` (built once)."""
    if (target / "config.json").is_file():
        return target
    from reasonir.index import Index

    corpus = DATA / "scifact" / "corpus.jsonl"
    if not corpus.is_file():
        sys.exit(f"no SciFact corpus at {corpus}; pass --index DIR or set REASONIR_DATA")
    target.parent.mkdir(parents=True, exist_ok=True)
    Index.build(str(corpus), target, model="minilm", bm25=True).close()
    return target


def extract_source(ref: str, into: Path) -> Path:
    """``src/`` of git revision ``ref``, extracted under ``into``; returns the folder to put on PYTHONPATH."""
    archive = into / "src.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_once(args: list[str], pythonpath: Path | None) -> float:
    """Wall seconds of one fresh ``python -m reasonir ARGS`` process (it must succeed)."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), *filter(None, [env.get("PYTHONPATH")])])
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "reasonir", *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"reasonir {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, help="an index to search (default: build the SciFact MiniLM index)")
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per command (median reported)")
    ap.add_argument("--compare", metavar="REF", help="also run git revision REF's source tree, interleaved")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "index_cold_search.md"),
                    help="Markdown report ('-': stdout only)")
    args = ap.parse_args()
    index = args.index or build_index(ROOT / "benchmarks" / "_work" / "cold-scifact-minilm")
    lines = header("Cold one-off search: reasonir --help and one search per fresh process")
    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        variants: dict[str, Path | None] = {"current tree": None}
        if args.compare:
            variants = {f"before ({args.compare})": extract_source(args.compare, Path(tmp)), **variants}
        times: dict[tuple[str, str], list[float]] = {(v, c): [] for v in variants for c in COMMANDS}
        for variant, path in variants.items():           # untimed: compiles .pyc files, warms the page cache
            for argv in COMMANDS.values():
                run_once([a.format(index=index) for a in argv], path)
        for _ in range(args.runs):
            for name, argv in COMMANDS.items():
                for variant, path in variants.items():
                    times[variant, name].append(run_once([a.format(index=index) for a in argv], path))
    load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines += [f"- load average after the runs: {load_after}",
              f"- index: `{index}`; query: \"{QUERY}\"; median of {args.runs} fresh processes per cell "
              f"(`python -m reasonir ...`, interleaved)", "",
              "| command | " + " | ".join(f"{v} s" for v in variants) + (" | speed-up |" if args.compare else ""),
              "|---|" + "---:|" * (len(variants) + (1 if args.compare else 0))]
    for name in COMMANDS:
        med = [statistics.median(times[v, name]) for v in variants]
        label = " ".join("IDX" if a == "{index}" else '"q"' if a == QUERY else a for a in COMMANDS[name])
        row = f"| `reasonir {label}` | " + " | ".join(f"{m:.2f}" for m in med)
        lines.append(row + (f" | {med[0] / med[-1]:.1f}x |" if args.compare else " |"))
    lines += ["", "All runs (seconds):", ""]
    lines += [f"- {v}, {n}: " + ", ".join(f"{t:.2f}" for t in times[v, n]) for v in variants for n in COMMANDS]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        out = Path(args.out)
        tmp_out = out.with_name(f".{out.name}.tmp")
        tmp_out.write_text(text, encoding="utf-8")
        os.replace(tmp_out, out)


if __name__ == "__main__":
    main()
