"""ReasonIR-8B on BRIGHT, checked against the paper: the command a user with a GPU and the Hub runs.

Never part of CI. It runs ``reasonir bright`` (bf16, the ``paper`` preset) with the original and the
GPT-4 reasoning queries (``gpt4_reason``) and the retrievers ``bm25q``, ``dense:reasonir/ReasonIR-8B``
and ``hybrid``, then checks, from the written ``leaderboard.json``:

* every task of ReasonIR-8B within ``--tolerance`` nDCG@10 points (x100) of the paper's per-task value,
  and the averages 24.4 (original) / 29.9 (GPT-4 reasoning);
* the ReasonIR-8B + BM25 hybrid with GPT-4 reasoning queries against the paper's 32.0.

BRIGHT's query-side BM25 rows (14.5 / 26.5) are printed beside the paper too (reported, not checked).
The run is resumable: rerunning with the same ``--out`` skips finished (task, setting) pairs.
Documents are encoded once per task and cached under ``OUT/cache/embeddings`` (aops and
theoremqa_questions share their corpus). Expect hours on one GPU for all 12 tasks; ``--tasks`` narrows.

Usage::

    python benchmarks/gpu/bright_reasonir8b.py --out bright-reasonir8b [--tasks biology,pony] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

MODEL = "reasonir/ReasonIR-8B"
#: the paper's averages this script checks (facts H.1-H.3); per-task values come from the leaderboard
CHECKS = (("original", f"dense:{MODEL}", 24.4), ("gpt4_reason", f"dense:{MODEL}", 29.9),
          ("gpt4_reason", f"hybrid:{MODEL}", 32.0))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder of `reasonir bright` (resumable)")
    p.add_argument("--tasks", default="all", help="all, or a comma-separated list of BRIGHT tasks")
    p.add_argument("--data", default=None, help="local BRIGHT folder instead of the Hub (needs documents and "
                                                "gpt4_reason.jsonl per task)")
    p.add_argument("--model", default=MODEL, help="the ReasonIR-8B weights: Hub id or local folder")
    p.add_argument("--tolerance", type=float, default=1.0, help="allowed |ours - paper| in nDCG@10 points (x100)")
    p.add_argument("--batch-size", type=int, default=None, help="encoding batch size (default: per model)")
    p.add_argument("--max-length", type=int, default=None,
                   help="encoder max tokens (official evaluation: 32768; lower it if memory runs out)")
    p.add_argument("--device", default="cuda", help="cuda, cuda:1, or a comma-separated list of GPUs")
    return p.parse_args(argv)


def has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def bright_command(args: argparse.Namespace) -> list[str]:
    """The ``reasonir bright`` command line this script runs."""
    exe = shutil.which("reasonir")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from reasonir.cli import main; sys.exit(main())"]
    cmd += ["bright", "--tasks", args.tasks, "--queries", "original,gpt4_reason",
            "--retriever", f"bm25q,dense:{args.model},hybrid", "--preset", "paper", "--dtype", "bf16",
            "--device", args.device, "--out", args.out, "--json"]
    if args.data:
        cmd += ["--data", args.data]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.max_length:
        cmd += ["--max-length", str(args.max_length)]
    return cmd


def check(board: dict, model: str, tolerance: float) -> list[str]:
    """Failures of the checks (empty when all pass); prints one line per check."""
    rows = {(r["queries"], r["retriever"]): r for r in board["settings"]}
    failures: list[str] = []
    for queries, retriever, paper_avg in CHECKS:
        row = rows.get((queries, retriever.replace(MODEL, model)))
        if row is None:
            failures.append(f"{queries} / {retriever}: no result")
            continue
        for task, cell in row["tasks"].items():
            if cell["paper"] is not None and abs(cell["ndcg@10"] - cell["paper"]) > tolerance:
                failures.append(f"{queries} / {retriever} / {task}: {cell['ndcg@10']:.2f} vs paper {cell['paper']}")
        full = len(row["tasks"]) == 12
        status = "n/a (not all 12 tasks)" if not full else (
            "ok" if abs(row["average"] - paper_avg) <= tolerance else "FAIL")
        print(f"{queries:>12} / {retriever:<40} average {row['average']:6.2f}  paper {paper_avg:5.1f}  {status}")
        if full and status == "FAIL":
            failures.append(f"{queries} / {retriever}: average {row['average']:.2f} vs paper {paper_avg}")
    return failures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not has_gpu():
        print("bright_reasonir8b: needs a CUDA GPU (ReasonIR-8B in bf16 over the BRIGHT corpora); none is "
              "visible to torch. Run it on a GPU machine with the Hugging Face Hub reachable.", file=sys.stderr)
        return 2
    cmd = bright_command(args)
    print("running:", " ".join(cmd), flush=True)
    done = subprocess.run(cmd)
    if done.returncode != 0:
        print(f"bright_reasonir8b: `reasonir bright` failed with status {done.returncode}", file=sys.stderr)
        return done.returncode
    board = json.loads((Path(args.out) / "leaderboard.json").read_text(encoding="utf-8"))
    print((Path(args.out) / "leaderboard.md").read_text(encoding="utf-8"))
    failures = check(board, args.model, args.tolerance)
    for line in failures:
        print("FAIL", line, file=sys.stderr)
    print("all checks passed" if not failures else f"{len(failures)} checks failed")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
