"""Decoder encoders on CPU: tokens/s per core of the SmolLM2-135M bidirectional encoder, fp32 / bf16 / int8.

Why: a user without a GPU wants to know what one CPU core encodes with a decoder-based retriever,
which precision to pick on their CPU, and what that says about an 8B model (ReasonIR-8B).

Systems, on the same SciFact documents (``title + " " + text``) through the project's ``smollm2``
encoder (``load_encoder("smollm2", dtype=...)``: ReasonIR document format, length-sorted batches,
row-wise attention over real tokens, max length 512):

* **fp32** — the reference;
* **bf16** — only on CPUs that multiply bf16 natively (``cpu_isa()``: AMX or AVX512-BF16); elsewhere
  bf16 is emulated and slower than fp32, so the run is skipped and the report says so;
* **int8 dynamic, per tensor / per channel** — the project offers no int8 path for decoder encoders,
  so this is the route a user can take on any x86 CPU: ``torch.ao.quantization.quantize_dynamic`` of
  every ``nn.Linear`` of the same fp32 model (int8 weights with one scale per matrix or per output
  channel, activations quantised per call; embeddings, norms and attention stay fp32), inside the
  same encoder; and per channel with the MLP ``down_proj`` layers left in fp32 (their inputs carry the
  activation outliers that a per-call activation scale handles worst: one layer type in five).

Timing: in one process, ``--rounds`` interleaved rounds per thread count (``--threads 1,2``), on the
first ``--subset`` of ``--docs`` random documents; medians. tokens/s counts the real tokens the
encoder ran (BOS + prefix + text, no padding); tokens/s/core divides by the thread count. Process
CPU time is reported beside wall time because the machine is shared. Cosines to fp32 (mean, min)
are over all ``--docs`` documents.

The 8B figures are an extrapolation, not a measurement: no 8B checkpoint can be fetched offline.
They scale the achieved int8/fp32 GFLOP/s of the 135M model to LLaMA-3.1-8B shapes at the same
token lengths (FLOPs from :func:`bench_encode_smollm2.flops_per_text`).

Run: ``flock /tmp/reasonir-bench.lock .venv/bin/python benchmarks/bench_decoder_encode.py``
Writes ``benchmarks/results/encode_decoder_cpu.md`` (+ ``.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from _common import DATA, ROOT, command_line, header, machine, timed
from bench_encode_smollm2 import flops_per_text
from encode_bench_utils import peak_rss_mib, write_markdown

# LLaMA-3.1-8B (and ReasonIR-8B, which shares its shapes): config.json of meta-llama/Llama-3.1-8B
LLAMA31_8B = SimpleNamespace(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                             num_attention_heads=32, num_key_value_heads=8, vocab_size=128256)


def quantize_int8(enc: Any, per_channel: bool = False, keep: str | None = None) -> Any:
    """Replace the ``nn.Linear`` layers of ``enc``'s model by torch's dynamic int8 linear, in place.

    Args:
        enc: an encoder with a ``model``.
        per_channel: one weight scale per output channel instead of one per matrix.
        keep: linear layers whose name ends with this stay fp32 (e.g. ``down_proj``, whose input
            activations have the outliers that per-tensor activation scales handle worst).
    """
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    spec = {name: qconfig for name, module in enc.model.named_modules()
            if isinstance(module, torch.nn.Linear) and not (keep and name.endswith(keep))}
    with warnings.catch_warnings():             # torch.ao's eager quantisation warns that it is deprecated
        warnings.simplefilter("ignore")
        quantize_dynamic(enc.model, spec, dtype=torch.qint8, inplace=True)
    return enc


def linear_params(cfg: Any) -> int:
    """Weights of the decoder's linear layers (the part int8 shrinks; embeddings excluded)."""
    d, f, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    kv = cfg.num_key_value_heads * (d // cfg.num_attention_heads)
    return L * (2 * d * d + 2 * d * kv + 3 * d * f)


def load_systems(bf16: bool) -> dict[str, Any]:
    from reasonir.encode import load_encoder

    systems = {"fp32": load_encoder("smollm2", dtype="fp32")}
    if bf16:
        systems["bf16"] = load_encoder("smollm2", dtype="bf16")
    systems["int8 dynamic, per tensor"] = quantize_int8(load_encoder("smollm2", dtype="fp32"))
    systems["int8 dynamic, per channel"] = quantize_int8(load_encoder("smollm2", dtype="fp32"), per_channel=True)
    systems["int8 dynamic, per channel, down_proj fp32"] = quantize_int8(load_encoder("smollm2", dtype="fp32"),
                                                                         per_channel=True, keep="down_proj")
    return systems


def cosines(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two ``[N, D]`` arrays of vectors."""
    num = (ref * other).sum(1)                                                     # [N]
    return num / (np.linalg.norm(ref, axis=1) * np.linalg.norm(other, axis=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=64, help="random SciFact documents for the cosines")
    ap.add_argument("--subset", type=int, default=16, help="the first N of them are timed")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "encode_decoder_cpu.md")
    args = ap.parse_args()
    import torch

    from reasonir.encode.runtime import cpu_isa, cpu_kind

    from reasonir.data import load_beir

    head = header("SmolLM2-135M bidirectional encoder on CPU: tokens/s per core, fp32 / bf16 / int8")
    info = machine()
    isa = cpu_isa()
    native_bf16 = isa["amx"] or isa["avx512_bf16"]
    texts = [d.full_text for d in load_beir(DATA / "scifact").corpus or []]
    if len(texts) < args.docs:
        raise SystemExit(f"{DATA / 'scifact'}: {len(texts)} documents, fewer than --docs {args.docs}")
    rng = np.random.default_rng(0)
    docs = [texts[i] for i in rng.choice(len(texts), size=args.docs, replace=False)]
    subset = docs[:args.subset]
    systems = load_systems(native_bf16)
    rss_loaded = peak_rss_mib()
    fp32 = systems["fp32"]
    cfg = fp32.model.config
    sub_tokens = np.array([len(x) for x in fp32.tokenize(["<|embed|>\n" + t for t in subset])])   # as encoded

    # quality: every system on all --docs documents, at the largest thread count
    torch.set_num_threads(max(int(t) for t in args.threads.split(",")))
    vecs = {name: enc.encode_document(docs) for name, enc in systems.items()}
    cos = {name: cosines(vecs["fp32"], v) for name, v in vecs.items()}

    rows: dict[str, dict[int, list[tuple[float, float, int]]]] = {name: {} for name in systems}
    thread_counts = [int(t) for t in args.threads.split(",")]
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for enc in systems.values():
            enc.encode_document(subset[:2])                                     # warm-up at this thread count
        names = list(systems)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:     # rotate the order each round
                enc = systems[name]
                _, wall, cpu = timed(lambda: enc.encode_document(subset))
                rows[name].setdefault(threads, []).append((wall, cpu, int(enc.stats.tokens)))
                print(f"{threads} thread(s) {name}: {wall:.1f} s, {enc.stats.tokens / wall:.0f} tokens/s", flush=True)
    load_end = tuple(round(x, 2) for x in os.getloadavg())

    n_tokens = rows["fp32"][thread_counts[0]][0][2]
    if int(sub_tokens.sum()) != n_tokens:
        print(f"note: tokenize() counts {int(sub_tokens.sum())} tokens, the encoder ran {n_tokens}", flush=True)
    flops = float(flops_per_text(cfg, sub_tokens).sum())
    flops_8b = float(flops_per_text(LLAMA31_8B, sub_tokens).sum())
    table: list[str] = []
    summary: dict[tuple[str, int], dict[str, float]] = {}
    rounds: dict[tuple[str, int], list[float]] = {}
    for name, per_threads in rows.items():
        for threads, runs in per_threads.items():
            wall = statistics.median(w for w, _, _ in runs)
            cpu = statistics.median(c for _, c, _ in runs)
            tps = n_tokens / wall
            gflops = flops / wall / 1e9
            rounds[name, threads] = [w for w, _, _ in runs]
            summary[name, threads] = {"wall_s": wall, "cpu_s": cpu, "tokens_per_s": tps,
                                      "tokens_per_s_per_core": tps / threads, "gflops": gflops,
                                      "est_8b_tokens_per_s": flops / wall / (flops_8b / n_tokens)}
            table.append(f"| {name} | {threads} | {wall:.2f} | {cpu:.2f} | {tps:,.0f} | {tps / threads:,.0f} | "
                         f"{tps / summary['fp32', threads]['tokens_per_s']:.2f}x | {gflops:.1f} | "
                         f"{cos[name].mean():.5f} | {cos[name].min():.5f} |")

    p135, p8b = linear_params(cfg), linear_params(LLAMA31_8B)
    lines = [
        *head,
        f"- CPU kind (`cpu_kind()`): **{cpu_kind()}**; torch {torch.__version__}; load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in load_end)} (shared machine)",
        f"- documents: {args.docs} random SciFact documents (seed 0) for the cosines; the first {args.subset} "
        f"({n_tokens:,} real tokens, BOS + `<|embed|>\\n` prefix included) are timed; max length 512; "
        f"padding in the length-sorted batches {fp32.stats.padding_fraction:.1%}",
        f"- peak RSS after loading all systems: {rss_loaded:,.0f} MiB",
        "- bf16: " + ("measured (native bf16 matrix instructions)." if native_bf16 else
                      f"**skipped**: this CPU is `{cpu_kind()}` without AMX or AVX512-BF16, so bf16 matmuls are "
                      "emulated (slower than fp32); `dtype=auto` picks fp32 here."),
        "- int8: `torch.ao.quantization.quantize_dynamic` of every `nn.Linear`, weight scales per tensor "
        "(torch's default qconfig) or per output channel (`per_channel_dynamic_qconfig`), and per channel with "
        "the 30 `mlp.down_proj` layers kept fp32 (180 of 210 linears int8); the project has no "
        "int8 path for decoder encoders, so this is the route a user can take; same encoder, same batches.",
        "",
        f"## Interleaved timing, {args.rounds} rounds per thread count, one process (medians)",
        "",
        "| system | threads | wall s | CPU s | tokens/s | tokens/s/core | vs fp32 (same threads) | GFLOP/s | "
        f"mean cos to fp32 ({args.docs} docs) | min cos |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *table,
        "",
        "rounds (s): " + "; ".join(f"{n} @{t}: " + ", ".join(f"{x:.2f}" for x in v) for (n, t), v in rounds.items()),
        "",
        "## 8B with int8 weights: not measured (extrapolation)",
        "",
        "An 8B encoder (ReasonIR-8B, LLaMA-3.1-8B shapes) cannot be measured here: no Hub access, so no "
        "checkpoint. The figures below are an **extrapolation**, not a measurement: the achieved GFLOP/s of "
        "the 135M model above, divided by the forward FLOPs per token of LLaMA-3.1-8B shapes (d=4096, 32 "
        "layers, FFN 14336, 8 KV heads) at the same token lengths. Linear weights: "
        f"{p135 / 1e6:.1f}M (135M) vs {p8b / 1e9:.2f}B (8B), x{p8b / p135:.0f}.",
        "",
        "| system | threads | extrapolated 8B tokens/s | per core | seconds per 1,000-token document |",
        "|---|---:|---:|---:|---:|",
    ]
    for (name, threads), v in summary.items():
        lines.append(f"| {name} | {threads} | {v['est_8b_tokens_per_s']:.1f} | "
                     f"{v['est_8b_tokens_per_s'] / threads:.1f} | {1000 / v['est_8b_tokens_per_s']:.0f} |")
    lines += [
        "",
        "Caveats: the 135M model's matrices (d=576) are small, so an 8B's larger matmuls may run nearer the "
        "CPU's peak (the estimate errs low on that count); attention at 512 tokens is a small share for both. "
        f"Memory: 8B linear weights take {p8b / 2**30:.1f} GiB in int8 and {4 * p8b / 2**30:.1f} GiB in fp32, plus "
        f"{LLAMA31_8B.vocab_size * LLAMA31_8B.hidden_size * 4 / 2**30:.1f} GiB of fp32 embeddings; torch's "
        "dynamic quantisation needs the fp32 model loaded first, which does not fit in 24 GiB at once "
        "(quantising layer by layer would).",
    ]
    write_markdown(args.out, "\n".join(lines) + "\n")
    payload = {"command": command_line(lock=True), "machine": info.as_dict(), "load_avg_end": load_end,
               "tokens": n_tokens, "results": [{"system": n, "threads": t, **v} for (n, t), v in summary.items()],
               "rounds_s": [{"system": n, "threads": t, "s": v} for (n, t), v in rounds.items()],
               "cosine": {k: {"mean": float(c.mean()), "min": float(c.min())} for k, c in cos.items()}}
    write_markdown(args.out.with_suffix(".json"), json.dumps(payload, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
