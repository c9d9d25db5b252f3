"""Close the loop on CPU: SciFact test nDCG@10 of an encoder before and after ``reasonir train``.

For one encoder (``smollm2``: the embedded SmolLM2-135M as a bidirectional mean-pooled LLM encoder;
``minilm``: the embedded all-MiniLM-L6-v2):

1. evaluate it on SciFact test (300 queries, full 5,183-document corpus) with ``run_retrieve``
   (``reasonir retrieve --retriever dense --model NAME``);
2. train it with ``reasonir.train.train`` on SciFact's training qrels (809 claims; judged abstracts
   as positives; BM25-mined negatives from ranks [3, 50), one per query per step);
3. evaluate the exported model folder with the *same* ``run_retrieve`` call (``--model PATH``).

``smollm2`` trains with bf16 autocast over fp32 master weights and evaluates in bf16 (fast on CPUs
with AVX512-BF16 / AMX; ``--mixed-precision no --eval-dtype fp32`` elsewhere). ``--corpus-size N``
evaluates on a cut corpus (every test-judged abstract plus a seeded random sample of the others, N
in all) when full-corpus encoding does not fit the time at hand; before and after always share it.

Phases run in one process; wall time per phase and the process's peak RSS are recorded. Each model's
figures go to ``benchmarks/results/bench_train_scifact-<model>.json`` and the combined table to
``benchmarks/results/bench_train_scifact.md``.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_train_scifact.py --model smollm2``
(and ``--model minilm``). Every preset value can be overridden by a flag.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import shutil
import time
from pathlib import Path

from _common import DATA, ROOT, command_line, machine
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SCIFACT = DATA / "scifact"
RESULTS = ROOT / "benchmarks" / "results"
INSTRUCTION = "Given a scientific claim, retrieve documents that support or refute the claim"

PRESETS = {
    # bf16 autocast (fp32 master weights) and bf16 evaluation pay off on CPUs with AVX512-BF16 / AMX;
    # pass ``--mixed-precision no --eval-dtype fp32`` elsewhere.
    "smollm2": dict(steps=30, batch_size=16, group_size=2, learning_rate=1e-4, temperature=0.02,
                    query_max_length=48, passage_max_length=48, eval_max_length=48, instruction=INSTRUCTION,
                    gradcache=False, chunk_size=16, mixed_precision="bf16", eval_dtype="bf16"),
    "minilm": dict(steps=40, batch_size=32, group_size=2, learning_rate=5e-5, temperature=0.05,
                   query_max_length=64, passage_max_length=256, eval_max_length=256, instruction=None,
                   gradcache=False, chunk_size=32, mixed_precision="no", eval_dtype="fp32"),
}


def machine_record() -> dict:
    """:func:`_common.machine` as the JSON record keeps it, with ``bf16``: the CPU's native bf16 units or "no"."""
    m = machine()
    bf16 = ", ".join(f for f, key in (("avx512_bf16", "avx512_bf16"), ("amx_bf16", "amx")) if m.isa[key]) or "no"
    return {**m.as_dict(), "bf16": bf16}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pick_threads(requested: int) -> int:
    """``requested`` threads, or (0) whichever of 1 / 2 threads multiplies matrices faster right now."""
    import torch

    if requested > 0:
        torch.set_num_threads(requested)
        return requested
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    best, best_t = 1, float("inf")
    for n in (1, 2):
        torch.set_num_threads(n)
        t0 = time.perf_counter()
        for _ in range(40):
            a @ b
        took = time.perf_counter() - t0
        if took < best_t:
            best, best_t = n, took
    torch.set_num_threads(best)
    return best


def eval_dataset(corpus_size: int, out_dir: Path) -> tuple[Path, int]:
    """The BEIR folder to evaluate on: SciFact itself, or (``corpus_size`` > 0) SciFact with its corpus cut
    to every document judged in the test qrels plus a seeded random sample of the others, ``corpus_size``
    documents in all (same 300 test claims and qrels; a cheaper, easier ranking task for slow encoders)."""
    from reasonir.io import read_corpus, read_qrels, write_corpus

    docs = read_corpus(SCIFACT / "corpus.jsonl")
    if corpus_size <= 0 or corpus_size >= len(docs):
        return SCIFACT, len(docs)
    judged = {d for rels in read_qrels(SCIFACT / "qrels" / "test.tsv").values() for d in rels}
    others = [d for d in docs if d.id not in judged]
    rng = random.Random(0)
    keep = judged | {d.id for d in rng.sample(others, max(0, corpus_size - len(judged)))}
    folder = out_dir / f"scifact-{corpus_size}"
    write_corpus(folder / "corpus.jsonl", [d for d in docs if d.id in keep])
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SCIFACT / "queries.jsonl", folder / "queries.jsonl")
    shutil.copyfile(SCIFACT / "qrels" / "test.tsv", folder / "qrels" / "test.tsv")
    return folder, len(keep)


def evaluate(model: str, p: dict, dataset: Path) -> dict:
    """SciFact test metrics of ``model`` through the ``reasonir retrieve`` workflow (identical before/after)."""
    from reasonir.workflows.retrieve import RetrieveConfig, run_retrieve

    cfg = RetrieveConfig(dataset=f"beir:{dataset}", retriever="dense", model=model, device="cpu", dtype=p["eval_dtype"],
                         max_length=p["eval_max_length"], instruction=p["instruction"] or "none", top_k=100,
                         metrics="ndcg@10,recall@100,mrr@10")
    t0 = time.perf_counter()
    out = run_retrieve(cfg)
    return {**{k: round(v, 4) for k, v in out.result.mean.items()}, "seconds": round(time.perf_counter() - t0, 1)}


def train_model(model: str, p: dict, out_dir: Path) -> dict:
    from reasonir.train import TrainConfig, train

    source = {"path": f"beir:{SCIFACT}", "split": "train", "negatives": "bm25", "num_negatives": 8,
              "mine_from": 3, "mine_to": 50}
    if p["instruction"]:
        source["query_instruction"] = p["instruction"]
    cfg = TrainConfig(train_data=[source], output_dir=str(out_dir), model=model, dtype="fp32",
                      mixed_precision=p["mixed_precision"],
                      query_max_length=p["query_max_length"], passage_max_length=p["passage_max_length"],
                      temperature=p["temperature"], group_size=p["group_size"], batch_size=p["batch_size"],
                      gradcache=p["gradcache"], chunk_size=p["chunk_size"], learning_rate=p["learning_rate"],
                      warmup_ratio=0.1, max_steps=p["steps"], logging_steps=5, resume="never", seed=42, cpu=True)
    t0 = time.perf_counter()
    outcome = train(cfg)
    seconds = time.perf_counter() - t0
    rates = [h["examples_per_s"] for h in outcome.history if h.get("examples_per_s")]
    return {"seconds": round(seconds, 1), "model_dir": str(outcome.model_dir),
            "loss_first": outcome.history[0]["loss"], "loss_last": outcome.history[-1]["loss"],
            "median_examples_per_s": round(sorted(rates)[len(rates) // 2], 3) if rates else None,
            "config": cfg.to_record()}


def precision(p: dict) -> str:
    """``train / eval`` precision of a preset (runs recorded before these options existed were fp32)."""
    train = {"no": "fp32"}.get(p.get("mixed_precision", "no"), p.get("mixed_precision", "no") + " autocast")
    return f"{train} / {p.get('eval_dtype', 'fp32')}"


def render(results: list[dict]) -> str:
    lines = ["# Closing the loop: SciFact nDCG@10 before/after `reasonir train` (CPU)", "",
             "Train on SciFact's 809 training claims (judged abstracts as positives, BM25-mined negatives), "
             "evaluate on the 300 test claims with the same `run_retrieve` call before and after "
             "(`--model NAME`, then `--model PATH` of the exported checkpoint), over the full 5,183-document "
             "corpus or, where `corpus docs` is smaller (`--corpus-size`), over a cut corpus holding every "
             "test-judged abstract plus a seeded random sample of the others (an easier task: compare "
             "before with after within a row, not across rows). One process; peak RSS covers all phases.", "",
             "| model | corpus docs | nDCG@10 before | nDCG@10 after | Δ | recall@100 before → after | "
             "steps x batch (G) | lr, τ | train / eval precision | eval max len | train time | total wall | "
             "peak RSS |", "|" + "---|" * 13]
    for r in results:
        p, b, a = r["params"], r["before"], r["after"]
        lines.append(
            f"| {r['model']} | {r.get('corpus_docs', 5183):,} | {b['ndcg@10']:.4f} | {a['ndcg@10']:.4f} | "
            f"{a['ndcg@10'] - b['ndcg@10']:+.4f} | "
            f"{b['recall@100']:.3f} → {a['recall@100']:.3f} | {p['steps']} x {p['batch_size']} ({p['group_size']}) | "
            f"{p['learning_rate']:g}, {p['temperature']:g} | {precision(p)} | {p['eval_max_length']} | "
            f"{r['train']['seconds'] / 60:.1f} min | "
            f"{r['wall_seconds'] / 60:.1f} min | {r['peak_rss_mb'] / 1024:.1f} GiB |")
    lines += ["", "Reference: all-MiniLM-L6-v2 on SciFact, MTEB leaderboard: about 0.645 nDCG@10.", ""]
    for r in results:
        docs = r.get("corpus_docs", 5183)
        title = r["model"] + ("" if docs >= 5183 else f" (cut corpus, {docs:,} documents)")
        bf16 = r["machine"].get("bf16")
        lines += [f"## {title}", "", f"- command: `{r['command']}`", f"- date: {r['date']}",
                  f"- machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, {r['machine']['ram_gib']} GiB RAM "
                  f"(shared with other jobs; torch threads: {r['threads']})"
                  + (f"; bf16 in hardware: {bf16}" if bf16 else ""),
                  f"- evaluation before: {r['before']['seconds'] / 60:.1f} min, after: {r['after']['seconds'] / 60:.1f} min; "
                  f"training: {r['train']['seconds'] / 60:.1f} min ({r['train']['median_examples_per_s']} queries/s median), "
                  f"loss {r['train']['loss_first']:.3f} → {r['train']['loss_last']:.3f}",
                  f"- MRR@10 before → after: {r['before']['mrr@10']:.4f} → {r['after']['mrr@10']:.4f}", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=sorted(PRESETS), default="smollm2")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: pick 1 or 2 by a quick probe)")
    ap.add_argument("--out-dir", default="/tmp/reasonir-bench-train", help="where the trained model is written")
    ap.add_argument("--corpus-size", type=int, default=0,
                    help="evaluate on a SciFact corpus cut to this many documents (all test-judged ones kept; 0: full)")
    for key, value in PRESETS["smollm2"].items():
        kind = (lambda s: s.lower() in ("1", "true", "yes")) if isinstance(value, bool) else (
            type(value) if value is not None else str)
        ap.add_argument("--" + key.replace("_", "-"), type=kind, default=None)
    args = ap.parse_args()
    p = dict(PRESETS[args.model])
    p.update({k: v for k, v in vars(args).items() if k in p and v is not None})
    threads = pick_threads(args.threads)
    t0 = time.perf_counter()
    dataset, corpus_docs = eval_dataset(args.corpus_size, Path(args.out_dir))
    before = evaluate(args.model, p, dataset)
    print(f"{args.model} before: {before}", flush=True)
    trained = train_model(args.model, p, Path(args.out_dir) / args.model)
    print(f"trained: {trained['seconds']}s, loss {trained['loss_first']} -> {trained['loss_last']}", flush=True)
    after = evaluate(trained["model_dir"], p, dataset)
    print(f"{args.model} after: {after}", flush=True)
    record = {"model": args.model, "params": p, "before": before, "after": after, "train": trained,
              "corpus_docs": corpus_docs, "threads": threads, "wall_seconds": round(time.perf_counter() - t0, 1),
              "peak_rss_mb": round(peak_rss_mb()),
              "machine": machine_record(), "date": dt.datetime.now().isoformat(timespec="minutes"),
              "command": command_line()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"bench_train_scifact-{args.model}.json").write_text(json.dumps(record, indent=2) + "\n")
    results = [json.loads(f.read_text()) for f in sorted(RESULTS.glob("bench_train_scifact-*.json"))]
    (RESULTS / "bench_train_scifact.md").write_text(render(results))
    print(render([record]))


if __name__ == "__main__":
    main()
