"""Training throughput and peak memory: ``reasonir.train`` vs sentence-transformers' trainer (MiniLM, CPU).

Same model (the embedded all-MiniLM-L6-v2, fp32), same data (SciFact training claims with their
first judged abstract as positive and one BM25-mined hard negative: ``anchor, positive, negative``
triplets), same batch size, same number of steps, same max length, AdamW, one process:

* **ours** — ``reasonir.train.train`` (InfoNCE over [pos, neg] x batch, τ = 0.05), full batch;
* **st-mnrl** — ``SentenceTransformerTrainer`` + ``MultipleNegativesRankingLoss(scale=20)``;
* **ours-gc** — ``reasonir.train.train`` with GradCache (chunks of ``--chunk`` texts);
* **st-cmnrl** — ``SentenceTransformerTrainer`` + ``CachedMultipleNegativesRankingLoss(mini_batch_size=chunk)``.

Each run is a fresh subprocess (peak memory = its ``ru_maxrss``, model load included). Throughput
is queries per second over steps 2..N (the first step is warm-up), from per-step wall times that
include building, tokenising and collating the batch in both systems. Systems
are interleaved and repeated; medians and ratios are reported. A second table runs the two
GradCache systems at batch B and 4B to show that their memory stays flat while the batch grows.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_train_st.py`` (writes
``benchmarks/results/bench_train_st.md``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DATA, ROOT, header
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SCIFACT = DATA / "scifact"
RESULTS = ROOT / "benchmarks" / "results"
SYSTEMS = ("ours", "st-mnrl", "ours-gc", "st-cmnrl")


def make_triplets(path: Path) -> int:
    """SciFact train -> ``{"anchor", "positive", "negative"}`` rows (one BM25 negative each)."""
    from reasonir.data import load_beir
    from reasonir.train.data import qrels_to_examples

    examples = qrels_to_examples(load_beir(SCIFACT, "train"), negatives="bm25", num_negatives=1, mine_from=3,
                                 mine_to=30, seed=0)
    rows = [{"anchor": e.query, "positive": e.pos[0], "negative": e.neg[0]} for e in examples if e.neg]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


# ------------------------------------------------------------------------------------------------
# workers (one system per subprocess)
# ------------------------------------------------------------------------------------------------
def run_ours(a: argparse.Namespace) -> list[float]:
    from reasonir.train import TrainConfig, TrainModel, train
    from reasonir.encode import load_encoder

    enc = load_encoder("minilm", device="cpu", dtype="fp32")
    model = TrainModel(enc, query_max_length=a.max_length, passage_max_length=a.max_length)
    cfg = TrainConfig(train_data=[a.data], output_dir=a.tmp, model="minilm", batch_size=a.batch, group_size=2,
                      temperature=0.05, learning_rate=2e-5, warmup_ratio=0.0, max_steps=a.steps, logging_steps=1,
                      gradcache=a.system == "ours-gc", chunk_size=a.chunk, query_max_length=a.max_length,
                      passage_max_length=a.max_length, resume="never", cpu=True, max_grad_norm=0.0)
    out = train(cfg, model=model)
    return [h["step_seconds"] for h in out.history]


def run_st(a: argparse.Namespace) -> list[float]:
    import datasets
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer import losses
    from transformers import TrainerCallback

    from reasonir.embedded import minilm_path

    model = SentenceTransformer(str(minilm_path()), device="cpu")
    model.max_seq_length = a.max_length
    rows = [json.loads(x) for x in Path(a.data).read_text(encoding="utf-8").splitlines()]
    ds = datasets.Dataset.from_list(rows)
    loss = (losses.MultipleNegativesRankingLoss(model, scale=20.0) if a.system == "st-mnrl"
            else losses.CachedMultipleNegativesRankingLoss(model, scale=20.0, mini_batch_size=a.chunk))
    stamps: list[float] = []

    class Clock(TrainerCallback):                  # step i's time = end of step i - end of step i-1, so
        def on_train_begin(self, args, state, control, **kw):   # batch loading and collation count,
            stamps.append(time.perf_counter())                 # as they do in ours

        def on_step_end(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

    args = SentenceTransformerTrainingArguments(
        output_dir=a.tmp, per_device_train_batch_size=a.batch, max_steps=a.steps, learning_rate=2e-5,
        warmup_steps=0, logging_steps=1, save_strategy="no", report_to="none", dataloader_drop_last=True,
        seed=42, use_cpu=True, max_grad_norm=0.0, disable_tqdm=True)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=ds, loss=loss, callbacks=[Clock()]).train()
    return [b - a for a, b in zip(stamps, stamps[1:])]


def worker(a: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        a.tmp = tmp
        steps = run_ours(a) if a.system.startswith("ours") else run_st(a)
    timed = steps[1:]
    print(json.dumps({"system": a.system, "batch": a.batch, "steps": len(steps),
                      "examples_per_s": a.batch * len(timed) / sum(timed),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def launch(a: argparse.Namespace, system: str, batch: int, steps: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", system, "--batch", str(batch), "--steps", str(steps),
           "--chunk", str(a.chunk), "--max-length", str(a.max_length), "--threads", str(a.threads), "--data", a.data]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{system} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=SYSTEMS)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=None)
    a = ap.parse_args()
    if a.worker:
        a.system = a.worker
        worker(a)
        return
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        a.data = str(Path(tmp) / "triplets.jsonl")
        n = make_triplets(Path(a.data))
        runs: dict[str, list[dict]] = {s: [] for s in SYSTEMS}
        for r in range(a.repeats):
            for s in SYSTEMS:
                runs[s].append(launch(a, s, a.batch, a.steps))
                print(f"repeat {r} {s}: {runs[s][-1]}", flush=True)
        mem_steps = 3
        scaling = {(s, b): launch(a, s, b, mem_steps) for s in ("ours-gc", "st-cmnrl") for b in (a.batch, 4 * a.batch)}
        for k, v in scaling.items():
            print(f"scaling {k}: {v}", flush=True)
    lines = [*header("Training throughput and memory: reasonir.train vs sentence-transformers (MiniLM, CPU)"),
             f"- shared with other jobs; torch threads: {a.threads}",
             f"- data: {n} SciFact training triplets (claim, judged abstract, BM25 negative); all-MiniLM-L6-v2 fp32; "
             f"batch {a.batch} queries (+{2 * a.batch} passages), max length {a.max_length}, {a.steps} steps "
             f"(throughput over steps 2..{a.steps}), AdamW lr 2e-5, no clipping; GradCache chunk = {a.chunk} texts",
             f"- {a.repeats} interleaved repeats per system, each in a fresh process; medians; total wall "
             f"{(time.perf_counter() - t0) / 60:.1f} min", "",
             "| system | queries/s (median) | runs | peak RSS MiB (median) |", "|---|---|---|---|"]
    for s in SYSTEMS:
        lines.append(f"| {s} | {med(runs[s], 'examples_per_s'):.2f} | "
                     f"{', '.join('%.2f' % r['examples_per_s'] for r in runs[s])} | {med(runs[s], 'peak_rss_mb'):.0f} |")
    speed = med(runs["ours"], "examples_per_s") / med(runs["st-mnrl"], "examples_per_s")
    speed_gc = med(runs["ours-gc"], "examples_per_s") / med(runs["st-cmnrl"], "examples_per_s")
    lines += ["", f"Ratios (ours / sentence-transformers): full batch **{speed:.2f}x** throughput, "
              f"peak RSS {med(runs['ours'], 'peak_rss_mb') / med(runs['st-mnrl'], 'peak_rss_mb'):.2f}x; "
              f"GradCache **{speed_gc:.2f}x** throughput, peak RSS "
              f"{med(runs['ours-gc'], 'peak_rss_mb') / med(runs['st-cmnrl'], 'peak_rss_mb'):.2f}x.", "",
              f"## GradCache memory as the batch grows 4x (chunk {a.chunk}, {mem_steps} steps, one run each)", "",
              "| system | batch | peak RSS MiB | queries/s |", "|---|---|---|---|"]
    for (s, b), v in scaling.items():
        lines.append(f"| {s} | {b} | {v['peak_rss_mb']:.0f} | {v['examples_per_s']:.2f} |")
    for s in ("ours-gc", "st-cmnrl"):
        lo, hi = scaling[(s, a.batch)]["peak_rss_mb"], scaling[(s, 4 * a.batch)]["peak_rss_mb"]
        lines.append(f"\n{s}: peak RSS x{hi / lo:.3f} for a 4x batch ({hi - lo:+.0f} MiB).")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_train_st.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
