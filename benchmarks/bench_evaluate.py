"""Evaluation speed: all 12 BRIGHT reference runs (ReasonIR-8B, GPT-4 reasoning queries, top 100).

Times three stages per repeat: parsing (runs, qrels, examples with excluded ids), scoring
nDCG@10 + oracle nDCG@10 + recall@100 with :func:`reasonir.evaluate.evaluate`, and the same through
``reasonir evaluate``'s library call (:func:`reasonir.workflows.evaluate.run_evaluate`: parse + score
+ table). Checks the macro nDCG@10 against the reference 30.59.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_evaluate.py [--repeats 5]``
Writes ``benchmarks/results/evaluate.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from _common import DATA, ROOT, header

from reasonir.data import BRIGHT_TASKS
from reasonir.evaluate import evaluate, macro_average
from reasonir.io import read_qrels, read_run
from reasonir.workflows.evaluate import EvaluateConfig, read_excluded_ids, run_evaluate

METRICS = "ndcg@10,oracle_ndcg@10,recall@100"




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "bright"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "evaluate.md"))
    args = ap.parse_args()
    bright = Path(args.data)
    runs = [bright / "runs/reasonir-8b_gpt4-reasoning_top100" / f"{t}.txt" for t in BRIGHT_TASKS]
    qrels = [bright / t / "qrels.txt" for t in BRIGHT_TASKS]
    examples = [bright / t / "examples.jsonl.gz" for t in BRIGHT_TASKS]

    parse_t, score_t, cli_t, part_t = [], [], [], {"runs": [], "qrels": [], "examples": []}
    lines_total = sum(1 for r in runs for _ in open(r, encoding="utf-8"))
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        p_runs = [read_run(r) for r in runs]
        ta = time.perf_counter()
        p_qrels = [read_qrels(q) for q in qrels]
        tb = time.perf_counter()
        p_ex = [read_excluded_ids(e) for e in examples]
        t1 = time.perf_counter()
        parsed = list(zip(p_runs, p_qrels, p_ex))
        for key, val in (("runs", ta - t0), ("qrels", tb - ta), ("examples", t1 - tb)):
            part_t[key].append(val)
        results = {t: evaluate(qr, run, METRICS, excluded_ids=ex) for t, (run, qr, ex) in zip(BRIGHT_TASKS, parsed)}
        t2 = time.perf_counter()
        cfg = EvaluateConfig(run=[str(r) for r in runs], qrels=[str(q) for q in qrels],
                             examples=[str(e) for e in examples], metrics=METRICS, names=list(BRIGHT_TASKS))
        via_cli = run_evaluate(cfg)
        t3 = time.perf_counter()
        parse_t.append(t1 - t0)
        score_t.append(t2 - t1)
        cli_t.append(t3 - t2)
    avg = macro_average(results)
    assert abs(avg["ndcg@10"] * 100 - 30.59) < 0.01, avg
    assert macro_average(via_cli) == avg

    med = {name: statistics.median(v) for name, v in (("parse", parse_t), ("score", score_t), ("cli", cli_t))}
    n_queries = sum(r.num_queries for r in results.values())
    out = [
        *header("Evaluation of the 12 BRIGHT reference runs"),
        f"- input: 12 runs, {lines_total:,} run lines, {n_queries:,} judged queries; metrics {METRICS} "
        "(trec_eval via pytrec-eval-terrier), excluded ids removed",
        f"- macro nDCG@10 = {avg['ndcg@10'] * 100:.2f} (reference 30.59), oracle nDCG@10 = "
        f"{avg['oracle_ndcg@10'] * 100:.2f}, recall@100 = {avg['recall@100'] * 100:.2f}",
        "",
        f"| stage (median of {args.repeats}) | seconds |",
        "|---|---:|",
        f"| parse runs + qrels + examples | {med['parse']:.3f} |",
        *(f"| &nbsp;&nbsp;of which {k} | {statistics.median(v):.3f} |" for k, v in part_t.items()),
        f"| score (`evaluate`, 3 metrics x 12 tasks) | {med['score']:.3f} |",
        f"| parse + score | {med['parse'] + med['score']:.3f} |",
        f"| `run_evaluate` (what `reasonir evaluate` runs: parse + score + table) | {med['cli']:.3f} |",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(out) + "\n", encoding="utf-8")
    print("\n".join(out))


if __name__ == "__main__":
    main()
