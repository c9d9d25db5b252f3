"""SmolLM2-135M as a bidirectional mean-pooled LLMEncoder: throughput (fp32 vs bf16), peak memory, SciFact baseline.

Systems, on the same SciFact documents (``title + " " + text``), same weights, ReasonIR document
format (``BOS + "<|embed|>\\n" + text``, prefix excluded from the mean), max length 512:

* **reasonir fp32 / reasonir bf16** — ``load_encoder("smollm2", dtype=...)``: tokenise once,
  length-sorted batches (16), ``inference_mode``, no KV cache, zero-copy inputs, row-wise attention over
  each text's real tokens on CPU (``auto`` picks bf16 on CPUs with AMX / AVX512-BF16);
* **reasonir bf16, transformers SDPA attention** — the same encoder with ``cpu_kernels=False``
  (what the row-wise attention of :mod:`reasonir.encode.attention` wins on CPU);
* **naive loop bf16** — the loop ReasonIR's own ``encode`` runs, on the same bf16 weights: batches in
  input order padded to the longest member, ``no_grad``, default ``use_cache`` (the model builds a KV
  cache it never uses).

Timing: ``--rounds`` interleaved rounds on ``--subset`` random documents (medians); every run is a
fresh process (load, one warm-up batch, one timed pass), so its peak RSS (``getrusage``) is that
system's own peak memory: weights + activations + the Python/torch runtime. Cosines are against the
reasonir fp32 vectors.

Quality (``--scifact``): the whole SciFact corpus is encoded with reasonir (through the embedding
cache, in chunks, so an interrupted run resumes) and scored — the untrained baseline that training
must beat (``reasonir retrieve --retriever dense --model smollm2`` measures the same thing).

Run: ``flock /tmp/reasonir-bench.lock .venv/bin/python benchmarks/bench_encode_smollm2.py`` (timing)
Writes ``benchmarks/results/encode_smollm2.md`` (+ ``.json``); ``--scifact`` writes
``benchmarks/results/encode_smollm2_scifact.md`` (+ ``.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from encode_bench_utils import (ROOT, dump_json, machine, matmul_peak, ndcg10, peak_rss_mib, scifact,
                                timed, write_markdown)

SCIFACT_INSTRUCTION = "Given a scientific claim, retrieve documents that support or refute the claim"


def flops_per_text(cfg, n: np.ndarray) -> np.ndarray:
    """Forward FLOPs of a LLaMA text of ``n`` tokens: projections + MLP per token, plus attention 4 n d."""
    d, f, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    kv = cfg.num_key_value_heads * (d // cfg.num_attention_heads)
    per_token = L * (2 * (2 * d * d + 2 * d * kv + 3 * d * f) + 4 * n * d)
    return n * per_token


def naive_encode(model, tok, texts, batch_size=16, max_length=512):
    """ReasonIR's reference loop: input order, pad to longest, no_grad, use_cache left at its default."""
    import torch

    from reasonir.encode import l2_normalize

    prefix = "<|embed|>\n"
    n_prefix = len(tok(prefix)["input_ids"]) + 1                    # + BOS prepended below
    out = []
    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            enc = tok([prefix + t for t in texts[s:s + batch_size]], padding=True, truncation=True,
                      max_length=max_length - 1, return_tensors="pt")
            bos = torch.full((enc["input_ids"].shape[0], 1), tok.bos_token_id)
            ids = torch.cat([bos, enc["input_ids"]], 1)                               # [B, 1 + L]
            mask = torch.cat([torch.ones_like(bos), enc["attention_mask"]], 1)         # [B, 1 + L]
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state          # [B, L', D]
            m = mask.clone()
            m[:, :n_prefix] = 0
            out.append((h * m[..., None]).sum(1) / m.sum(1, keepdim=True))           # [B, D]
    return l2_normalize(torch.cat(out).float().numpy())


def worker(system: str, dtype: str, n_docs: int, out_npy: Path) -> None:
    """One timed pass of ``system`` in this fresh process; prints a JSON line, saves the vectors."""
    import torch

    from reasonir.embedded import smollm2_path
    from reasonir.encode import load_encoder

    _, _, texts = scifact()
    rng = np.random.default_rng(0)
    subset = [texts[i] for i in rng.choice(len(texts), size=n_docs, replace=False)]
    rss0 = peak_rss_mib()
    if system in ("reasonir", "sdpa"):
        kernels = system == "reasonir"                 # sdpa: same encoder, transformers' SDPA attention
        enc, t_load, _ = timed(lambda: load_encoder("smollm2", dtype=dtype, cpu_kernels=kernels))
        rss_loaded = peak_rss_mib()
        enc.encode_document(subset[:2])                                        # warm-up
        vec, t, c = timed(lambda: enc.encode_document(subset))
        pad = enc.stats.padding_fraction
    else:
        from transformers import AutoTokenizer, LlamaModel

        torch_dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
        model, t_load, _ = timed(lambda: LlamaModel.from_pretrained(smollm2_path(), dtype=torch_dtype).eval())
        model.config.is_causal = False
        tok = AutoTokenizer.from_pretrained(smollm2_path())
        rss_loaded = peak_rss_mib()
        naive_encode(model, tok, subset[:2])
        vec, t, c = timed(lambda: naive_encode(model, tok, subset))
        pad = float("nan")
    np.save(out_npy, vec.astype(np.float32))
    print(json.dumps({"s": t, "cpu_s": c, "load_s": t_load, "rss_start_mib": rss0, "rss_loaded_mib": rss_loaded,
                      "peak_rss_mib": peak_rss_mib(), "padding_fraction": pad, "threads": torch.get_num_threads()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scifact", action="store_true", help="run the full-corpus SciFact quality baseline instead")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--chunk", type=int, default=128, help="documents per cached chunk in the SciFact run")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--systems", default="reasonir-fp32,reasonir-bf16,sdpa-bf16,naive-bf16",
                    help="comma-separated systems to time (reasonir-fp32, reasonir-bf16, sdpa-fp32, sdpa-bf16, "
                         "naive-fp32, naive-bf16)")
    ap.add_argument("--worker", nargs=3, metavar=("SYSTEM", "DTYPE", "OUT_NPY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.subset, Path(args.worker[2]))
    if args.scifact:
        return scifact_baseline(args)
    args.out = args.out or ROOT / "benchmarks" / "results" / "encode_smollm2.md"

    from reasonir.encode import load_encoder

    info = machine()
    peaks = {"fp32": matmul_peak("fp32"), "bf16": matmul_peak("bf16")}
    _, _, texts = scifact()
    rng = np.random.default_rng(0)
    subset = [texts[i] for i in rng.choice(len(texts), size=args.subset, replace=False)]
    enc = load_encoder("smollm2", dtype="fp32")
    cfg = enc.model.config
    sub_tok = np.array([len(x) for x in enc.tokenize(["<|embed|>\n" + t for t in subset])])
    sub_flops = float(flops_per_text(cfg, sub_tok).sum())
    auto_dtype = load_encoder("smollm2").fingerprint()["dtype"]
    del enc

    systems = {}
    for name in [x.strip() for x in args.systems.split(",") if x.strip()]:
        system, _, dtype = name.partition("-")
        if system not in ("reasonir", "sdpa", "naive") or dtype not in ("fp32", "bf16"):
            raise SystemExit(f"unknown system {name!r}; use reasonir-fp32, reasonir-bf16, sdpa-fp32, sdpa-bf16, "
                             "naive-fp32, naive-bf16")
        label = {"naive": "naive loop {}", "sdpa": "reasonir {}, transformers SDPA attention",
                 "reasonir": "reasonir {}"}[system]
        systems[label.format(dtype)] = (system, dtype)
    if "reasonir fp32" not in systems:
        raise SystemExit("--systems must include reasonir-fp32 (the reference for speed-ups and cosines)")
    runs: dict[str, list[dict]] = {k: [] for k in systems}
    vecs: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for k, (system, dtype) in systems.items():
                npy = Path(tmp) / f"{system}-{dtype}.npy"
                cmd = [sys.executable, __file__, "--subset", str(args.subset), "--worker", system, dtype, str(npy)]
                if args.threads:
                    cmd += ["--threads", str(args.threads)]
                proc = subprocess.run(cmd, check=True, capture_output=True, text=True)
                runs[k].append(json.loads(proc.stdout.strip().splitlines()[-1]))
                vecs[k] = np.load(npy)
    med = {k: statistics.median(r["s"] for r in v) for k, v in runs.items()}
    mem = {k: max(r["peak_rss_mib"] for r in v) for k, v in runs.items()}
    cos = {k: (vecs[k] * vecs["reasonir fp32"]).sum(1) for k in systems}
    end = {"fp32": matmul_peak("fp32"), "bf16": matmul_peak("bf16")}
    peaks = {d: {k: max(v, end[d][k]) for k, v in peaks[d].items()} for d in peaks}
    peak_max = {d: max(v.values()) for d, v in peaks.items()}

    res = {"machine": info, "matmul_peak_gflops": peaks, "auto_dtype": auto_dtype, "subset_docs": len(subset),
           "subset_tokens": int(sub_tok.sum()), "runs": runs, "median_s": med, "peak_rss_mib": mem,
           "cos_vs_fp32": {k: {"mean": float(v.mean()), "min": float(v.min())} for k, v in cos.items()}}
    dump_json(args.out.with_suffix(".json"), res)

    gf = lambda fl, s: fl / s / 1e9  # noqa: E731
    first = runs["reasonir fp32"][0]
    lines = [
        "# SmolLM2-135M bidirectional LLMEncoder: throughput fp32 vs bf16, peak memory", "",
        "- command: `flock /tmp/reasonir-bench.lock .venv/bin/python benchmarks/bench_encode_smollm2.py "
        f"--subset {args.subset} --rounds {args.rounds} --systems {args.systems}`",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; ISA {', '.join(info['isa'])}; "
        f"native bf16 (AMX/AVX512-BF16): {info['fast_bf16']}; torch {info['torch']}, {first['threads']} threads",
        f"- date: {info['date']}; load average at start: {info['load_avg'][0]:.1f} (shared machine: other jobs ran "
        "concurrently, so absolute figures are noisy; interleaved rounds keep the ratios fair)",
        f"- model: SmolLM2-135M-Instruct (Q4_1 GGUF de-quantised, converted once), 30 layers, d=576, bidirectional, "
        f"mean pooling without BOS + `<|embed|>\\n`; max length 512; `dtype=auto` picks **{auto_dtype}** here",
        "- matmul peak (torch.mm, best of start/end, GFLOP/s): "
        + "; ".join(f"{d} " + ", ".join(f"{k}: {v:.0f}" for k, v in peaks[d].items()) + f" -> **{peak_max[d]:.0f}**"
                    for d in peaks),
        f"- subset: {len(subset)} random SciFact documents, {int(sub_tok.sum()):,} tokens (the whole corpus, "
        "~1.5M tokens, is encoded by the SciFact baseline run instead; see encode_acceptance.md)", "",
        f"## Interleaved timing, {args.rounds} rounds, one fresh process per run", "",
        "| system | median s | docs/s | tokens/s | GFLOP/s | % of its dtype's matmul peak | speed-up vs reasonir fp32 "
        "| peak RSS MiB | RSS after load MiB | mean cos to fp32 (min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k, (_, d) in systems.items():
        s = med[k]
        lines.append(f"| {k} | {s:.1f} | {len(subset) / s:.2f} | {sub_tok.sum() / s:,.0f} | {gf(sub_flops, s):.0f} | "
                     f"{100 * gf(sub_flops, s) / peak_max[d]:.0f}% | {med['reasonir fp32'] / s:.2f}x | "
                     f"{mem[k]:.0f} | {max(r['rss_loaded_mib'] for r in runs[k]):.0f} | "
                     f"{cos[k].mean():.5f} ({cos[k].min():.5f}) |")
    lines += ["", "rounds (s): " + "; ".join(k + ": " + ", ".join(format(r["s"], ".1f") for r in v) for k, v in runs.items()),
              f"- padding in reasonir's length-sorted batches: {100 * runs['reasonir fp32'][0]['padding_fraction']:.2f}% "
              "of computed tokens", ""]
    write_markdown(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


def scifact_baseline(args) -> None:
    """Encode all of SciFact with the untrained smollm2 encoder (resumable) and report nDCG@10."""
    import torch

    from reasonir.encode import EmbeddingCache, load_encoder

    out = args.out or ROOT / "benchmarks" / "results" / "encode_smollm2_scifact.md"
    info = machine()
    ds, doc_ids, texts = scifact()
    queries = list(ds.queries.values())
    enc = load_encoder("smollm2")
    cache = EmbeddingCache()
    cfg = enc.model.config

    def run_full():
        parts = []
        for s in range(0, len(texts), args.chunk):
            parts.append(cache.encode(enc, texts[s:s + args.chunk]))
            print(f"{min(s + args.chunk, len(texts))}/{len(texts)} documents", flush=True)
        return np.concatenate(parts)

    emb, t_full, c_full = timed(run_full)
    q_plain = enc.encode_query(queries)
    q_instr = enc.encode_query(queries, instruction=SCIFACT_INSTRUCTION)
    all_tok = np.array([len(x) for x in enc.tokenize(["<|embed|>\n" + t for t in texts])])
    res = {"machine": info, "threads": torch.get_num_threads(), "docs": len(texts), "tokens": int(all_tok.sum()),
           "truncated_docs": int((all_tok >= enc.max_length).sum()), "seconds_this_session": t_full,
           "cpu_s": c_full, "ndcg10": ndcg10(ds, doc_ids, emb, q_plain),
           "ndcg10_instruction": ndcg10(ds, doc_ids, emb, q_instr), "fingerprint": enc.fingerprint(),
           "peak_rss_mib": peak_rss_mib(), "flops": float(flops_per_text(cfg, all_tok).sum())}
    dump_json(out.with_suffix(".json"), res)
    lines = [
        "# Untrained SmolLM2-135M bidirectional encoder on SciFact (the baseline training must beat)", "",
        f"- command: `python benchmarks/bench_encode_smollm2.py {' '.join(sys.argv[1:])}` (resumable through "
        "the embedding cache; a quality measurement, not a timing)",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; date {info['date']}",
        f"- encoder: `load_encoder(\"smollm2\")` — bidirectional, mean pooling without BOS + prefix, "
        f"{res['fingerprint']['dtype']}, "
        f"max length {enc.max_length}; documents = title + \" \" + text with the `<|embed|>\\n` prefix",
        f"- corpus: {len(texts):,} documents, {int(all_tok.sum()):,} tokens ({res['truncated_docs']} truncated at "
        f"{enc.max_length}); 300 test queries", "",
        "| queries | nDCG@10 |", "|---|---:|",
        f"| no instruction (`reasonir retrieve --retriever dense --model smollm2`) | **{res['ndcg10']:.4f}** |",
        f"| instruction \"{SCIFACT_INSTRUCTION}\" | {res['ndcg10_instruction']:.4f} |", "",
        f"- peak RSS {res['peak_rss_mib']:.0f} MiB; encoding time of the last invocation {t_full:.0f}s wall "
        f"(resumed runs count only their own part; not a throughput figure; see encode_smollm2.md)", ""]
    write_markdown(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
