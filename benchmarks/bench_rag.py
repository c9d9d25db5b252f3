"""Closed-book vs retrieval-augmented QA with the embedded SmolLM2 on MMLU and GPQA diamond.

Builds (or reuses) a ``reasonir index`` over a corpus (SciFact by default: biomedical abstracts,
the only full corpus shipped with the project data; relevant to MMLU's biology/medicine subjects and
GPQA's biology questions), then runs ``reasonir rag`` twice — an MMLU subset and GPQA diamond —
closed-book and with retrieved passages, and writes accuracy, parse-failure rate, the bootstrap
interval of the difference and wall times to ``benchmarks/results/bench_rag.md``. Per-question
results, reports and charts stay in ``--work-dir`` (GPQA result rows hold ids and hashes only).

SmolLM2-135M is far too small to answer these questions; the point is that the harness runs end
to end and reports correctly, and how long each stage takes on this machine.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_rag.py [--gpqa-limit N] [--max-tokens 256]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import DATA, ROOT, header

from reasonir.cli import main as cli_main





def ensure_index(corpus: Path, index_dir: Path, model: str) -> float:
    """Build the index unless it is already committed; returns the build seconds (0 when reused)."""
    from reasonir.index import IndexOptions, build_index

    if (index_dir / "config.json").exists():
        return 0.0
    t0 = time.perf_counter()
    build_index(str(corpus), str(index_dir), IndexOptions(model=model, bm25=True))
    return time.perf_counter() - t0


def row(label: str, rep: dict) -> list[str]:
    meta, conds = rep["meta"], rep["conditions"]
    out = []
    for c in ("closed", "rag"):
        s = conds[c]
        out.append(f"| {label} | {c} | {s['n']} | {100 * s['accuracy']:.1f} | {100 * s['accuracy_with_fallback']:.1f} | "
                   f"{100 * s['parse_failure_rate']:.1f} | {meta['timings'].get(c + '_generation', 0):.0f} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(DATA / "scifact"))
    ap.add_argument("--index", default=None, help="index directory (default: WORK/index-<model>)")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--work-dir", default="/tmp/reasonir-bench-rag")
    ap.add_argument("--llm", default="smollm2")
    ap.add_argument("--mmlu-subjects", nargs="+", default=["college_biology", "college_medicine", "medical_genetics"])
    ap.add_argument("--limit-per-subject", type=int, default=10)
    ap.add_argument("--gpqa-limit", type=int, default=None, help="GPQA diamond questions (default: all 198)")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--passage-words", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--skip", nargs="*", default=[], choices=["mmlu", "gpqa"])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bench_rag.md"))
    args = ap.parse_args()

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    index_dir = Path(args.index or work / f"index-{args.model}")
    build_s = ensure_index(Path(args.corpus), index_dir, args.model)
    common = ["--index", str(index_dir), "--llm", args.llm, "--max-tokens", str(args.max_tokens),
              "--batch-size", str(args.batch_size), "--passage-words", str(args.passage_words), "--cache", "off",
              "--json"]
    runs = {}
    if "mmlu" not in args.skip:
        runs["MMLU"] = ["rag", "--benchmark", "mmlu", "--data", str(DATA / "mmlu" / "mmlu.zip"),
                        "--subjects", *args.mmlu_subjects, "--limit-per-subject", str(args.limit_per_subject),
                        "--out", str(work / "mmlu"), *common]
    if "gpqa" not in args.skip:
        runs["GPQA diamond"] = ["rag", "--benchmark", "gpqa", "--data", str(DATA / "gpqa" / "gpqa_diamond.zip"),
                                "--subset", "diamond", "--out", str(work / "gpqa"), *common]
        if args.gpqa_limit:
            runs["GPQA diamond"][-1:-1] = ["--limit", str(args.gpqa_limit)]
    reports = {}
    for label, argv in runs.items():
        if cli_main(argv) != 0:
            raise SystemExit(f"reasonir {' '.join(argv)} failed")
        out_dir = Path(argv[argv.index("--out") + 1])
        reports[label] = (argv, json.loads((out_dir / "report.json").read_text(encoding="utf-8")))

    lines = [*header("bench_rag: closed-book vs retrieval-augmented QA with the embedded SmolLM2"),
             f"- corpus: `{args.corpus}`; index `{index_dir}` ({args.model} dense + BM25), "
             + (f"built in {build_s:.0f} s" if build_s else "reused"),
             f"- reader: `{args.llm}`, greedy, max {args.max_tokens} new tokens, batch {args.batch_size}; "
             f"passages cut to {args.passage_words} words; dense search", "",
             "| benchmark | condition | n | accuracy % | with random fallback % | unparseable % | generation s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for label, (_, rep) in reports.items():
        lines += row(label, rep)
    lines += ["", "| benchmark | k | rag − closed (points) | 95% bootstrap interval | retrieval s | wall s |",
              "|---|---:|---:|---|---:|---:|"]
    for label, (_, rep) in reports.items():
        d, m = rep["difference"]["strict"], rep["meta"]
        lines.append(f"| {label} | {m['k']} | {100 * d['delta']:+.1f} | [{100 * d['ci_low']:+.1f}, "
                     f"{100 * d['ci_high']:+.1f}] | {m['timings'].get('retrieval', 0):.1f} | {m['wall_seconds']:.0f} |")
    for label, (argv, rep) in reports.items():
        lines += ["", f"{label}: `reasonir {' '.join(argv)}`", "",
                  "- per group (accuracy %, closed → rag): " + ", ".join(
                      f"{g} ({e['n']}): {100 * e['closed']['accuracy']:.1f} → {100 * e['rag']['accuracy']:.1f}"
                      for g, e in rep["groups"].items()),
                  f"- extraction rules (closed / rag): `{json.dumps(rep['conditions']['closed']['methods'])}` / "
                  f"`{json.dumps(rep['conditions']['rag']['methods'])}`",
                  f"- answers that hit the token cap (closed / rag): {rep['conditions']['closed']['hit_max_tokens']} / "
                  f"{rep['conditions']['rag']['hit_max_tokens']}",
                  f"- tokens: {rep['meta']['usage']}"]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
