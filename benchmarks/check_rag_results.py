"""Recompute a ``reasonir rag`` report from its ``results.jsonl`` and, for GPQA, check that no file
of the run holds question or option text in plain text.

Accuracy, accuracy with the random fallback, parse failures and the closed -> rag difference are
recomputed here directly from the per-question rows (not through :mod:`reasonir.rag.stats`); the
bootstrap interval is recomputed by resampling the recomputed per-question differences with the
report's seed and sample count. Every number must equal the one in ``report.json``.

Run: ``python benchmarks/check_rag_results.py OUT_DIR [OUT_DIR ...] [--gpqa-data ZIP]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np



def _rows(out: Path) -> list[dict]:
    with open(out / "results.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _bootstrap(d: np.ndarray, samples: int, seed: int, confidence: float, chunk: int = 250) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, samples, chunk):
        m = min(chunk, samples - start)
        means.append(d[rng.integers(0, len(d), size=(m, len(d)))].mean(axis=1))
    lo, hi = np.quantile(np.concatenate(means), [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    return float(lo), float(hi)


def check_report(out: Path) -> list[str]:
    """Differences between ``report.json`` and the numbers recomputed from ``results.jsonl``."""
    rows = _rows(out)
    rep = json.loads((out / "report.json").read_text(encoding="utf-8"))
    problems = []

    def same(label: str, got: float, want: float) -> None:
        if want is None or abs(got - want) > 1e-12:
            problems.append(f"{out}: {label}: report {want}, recomputed {got}")

    same("n", len(rows), rep["n"])
    scores = {}
    for c, s in rep["conditions"].items():
        strict = np.array([r[c]["pred"] is not None and r[c]["pred"] == r["gold"] for r in rows], dtype=float)
        loose = np.array([(r[c]["pred"] if r[c]["pred"] is not None else r[c]["fallback"]) == r["gold"]
                          for r in rows], dtype=float)
        fails = sum(r[c]["pred"] is None for r in rows)
        # every stored prediction must be a valid letter, every fallback too
        bad = [r["id"] for r in rows if (r[c]["pred"] is not None and r[c]["pred"] not in r["letters"])
               or r[c]["fallback"] not in r["letters"] or r[c]["correct"] != (r[c]["pred"] == r["gold"])]
        if bad:
            problems.append(f"{out}: {c}: inconsistent rows {bad[:5]}")
        same(f"{c} correct", strict.sum(), s["correct"])
        same(f"{c} accuracy", strict.mean(), s["accuracy"])
        same(f"{c} accuracy_with_fallback", loose.mean(), s["accuracy_with_fallback"])
        same(f"{c} parse_failures", fails, s["parse_failures"])
        same(f"{c} parse_failure_rate", fails / len(rows), s["parse_failure_rate"])
        scores[c] = (strict, loose)
    if "difference" in rep:
        for i, name in enumerate(("strict", "with_fallback")):
            d = scores["rag"][i] - scores["closed"][i]
            b = rep["difference"][name]
            same(f"delta {name}", d.mean(), b["delta"])
            lo, hi = _bootstrap(d, b["samples"], b["seed"], b["confidence"])
            same(f"ci_low {name}", lo, b["ci_low"])
            same(f"ci_high {name}", hi, b["ci_high"])
    return problems


def check_no_gpqa_text(out: Path, data: str, subset: str = "diamond") -> tuple[int, list[str]]:
    """Scan every file under ``out`` for any GPQA question or option text (plain substring, >= 12
    characters, and the question's first 60 characters); returns (files scanned, offending files)."""
    from reasonir.rag.benchmarks import load_gpqa

    needles = set()
    for q in load_gpqa(data, subset, seed=0):
        for t in (q.question, q.question[:60], *q.options):
            t = t.strip()
            if len(t) >= 12:
                needles.add(t)
    hits, n = [], 0
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        n += 1
        blob = f.read_bytes().decode("utf-8", errors="replace")
        blob_json = blob.replace("\\n", "\n").replace('\\"', '"')   # JSON-escaped text too
        if any(t in blob or t in blob_json for t in needles):
            hits.append(str(f))
    return n, hits


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outs", nargs="+", help="reasonir rag output folders")
    ap.add_argument("--gpqa-data", default=None, help="GPQA release zip: scan GPQA runs for plain question text")
    args = ap.parse_args()
    failed = False
    for out in map(Path, args.outs):
        problems = check_report(out)
        bench = json.loads((out / "report.json").read_text(encoding="utf-8"))["meta"].get("benchmark")
        if problems:
            failed = True
            print("\n".join(problems))
        else:
            print(f"{out}: report.json recomputes from results.jsonl (n={len(_rows(out))}): OK")
        if bench == "gpqa" and args.gpqa_data:
            n, hits = check_no_gpqa_text(out, args.gpqa_data)
            if hits:
                failed = True
                print(f"{out}: GPQA text found in plain text in {hits}")
            else:
                print(f"{out}: {n} files scanned, no GPQA question/option text in plain text: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
