"""SmolLM2-135M as a bidirectional mean-pooled LLMEncoder: throughput, peak memory, SciFact baseline.

Systems, on the same SciFact documents (``title + " " + text``), same weights, ReasonIR document
format (``BOS + "<|embed|>\\n" + text``, prefix excluded from the mean), max length 512, one process:

* **reasonir** — ``load_encoder("smollm2")``: tokenise once, length-sorted batches (16),
  ``inference_mode``, no KV cache, zero-copy inputs;
* **naive loop** — the loop ReasonIR's own ``encode`` runs: batches in input order padded to the
  longest member, ``no_grad``, default ``use_cache`` (the model builds a KV cache it never uses);
* **st-default** — the encoder exported with ``export_encoder`` and loaded by plain
  ``SentenceTransformer``, ``encode(texts, prompt="<|embed|>\\n")`` with its defaults (batch 32).

Timing: ``--rounds`` interleaved rounds on ``--subset`` random documents (medians). Peak memory is
the process's max RSS (``getrusage``) — weights + activations + the other systems.

Quality (``--scifact``): the whole SciFact corpus is encoded with reasonir (through the embedding
cache, in chunks, so an interrupted run resumes) and scored — the untrained baseline that training
must beat. It is a quality measurement of ~1.5M tokens (hours on 2 shared cores), so it runs apart
from the timing: ``nice -n 19 python benchmarks/bench_encode_smollm2.py --scifact --threads 1``.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_encode_smollm2.py`` (timing)
Writes ``benchmarks/results/encode_smollm2.md`` (+ ``.json``); ``--scifact`` writes
``benchmarks/results/encode_smollm2_scifact.md`` (+ ``.json``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encode_bench_utils import (ROOT, dump_json, machine, matmul_peak, ndcg10, peak_rss_mib, scifact,  # noqa: E402
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
    return l2_normalize(torch.cat(out).numpy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--scifact", action="store_true", help="run the full-corpus SciFact quality baseline instead")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--chunk", type=int, default=128, help="documents per cached chunk in the SciFact run")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.scifact:
        return scifact_baseline(args)
    args.out = args.out or ROOT / "benchmarks" / "results" / "encode_smollm2.md"

    import torch
    from sentence_transformers import SentenceTransformer

    from reasonir.encode import EmbeddingCache, LLMEncoder, export_encoder, load_encoder

    info = machine()
    peak = matmul_peak("fp32")
    peak_bf16 = matmul_peak("bf16", reps=3)
    peak_max = max(peak.values())
    rss0 = peak_rss_mib()
    ds, doc_ids, texts = scifact()
    rng = np.random.default_rng(0)
    subset = [texts[i] for i in rng.choice(len(texts), size=args.subset, replace=False)]

    enc, t_load, _ = timed(lambda: load_encoder("smollm2"))
    rss_loaded = peak_rss_mib()
    cfg = enc.model.config
    sub_tok = np.array([len(x) for x in enc.tokenize(["<|embed|>\n" + t for t in subset])])
    sub_flops = float(flops_per_text(cfg, sub_tok).sum())

    from transformers import AutoTokenizer, LlamaModel

    from reasonir.embedded import smollm2_path

    naive_model = LlamaModel.from_pretrained(smollm2_path()).eval()
    naive_model.config.is_causal = False
    naive_tok = AutoTokenizer.from_pretrained(smollm2_path())
    tmp = tempfile.TemporaryDirectory()
    st = SentenceTransformer(str(export_encoder(enc, Path(tmp.name) / "smollm2")), device="cpu")

    systems = {
        "reasonir": lambda: enc.encode_document(subset),
        "naive loop": lambda: naive_encode(naive_model, naive_tok, subset),
        "st-default": lambda: st.encode(subset, prompt="<|embed|>\n", normalize_embeddings=True),
    }
    enc.encode_document(subset[:2])                                   # warm-up
    times = {k: [] for k in systems}
    outs = {}
    for _ in range(args.rounds):
        for k, fn in systems.items():
            outs[k], t, _ = timed(fn)
            times[k].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    cos = {k: float((outs[k] * outs["reasonir"]).sum(1).mean()) for k in systems}
    pad = enc.stats.padding_fraction

    small = subset[:12]
    bf = LLMEncoder(LlamaModel.from_pretrained(smollm2_path(), dtype=torch.bfloat16), naive_tok, max_length=512)
    (v_bf, t_bf, _), (v_fp, t_fp, _) = timed(lambda: bf.encode_document(small)), timed(lambda: enc.encode_document(small))
    bf_cos = (v_bf * v_fp).sum(1)
    del naive_model, st, bf
    tmp.cleanup()

    res = {"machine": info, "matmul_peak_gflops": peak, "matmul_peak_bf16_gflops": peak_bf16,
           "load_s": t_load, "rss_start_mib": rss0, "rss_after_load_mib": rss_loaded, "peak_rss_mib": peak_rss_mib(),
           "subset_docs": len(subset), "subset_tokens": int(sub_tok.sum()), "rounds": times, "median_s": med,
           "cos_vs_reasonir": cos, "padding_fraction": pad,
           "bf16": {"docs": len(small), "bf16_s": t_bf, "fp32_s": t_fp, "cos_mean": float(bf_cos.mean()),
                    "cos_min": float(bf_cos.min())}, "fingerprint": enc.fingerprint()}
    dump_json(args.out.with_suffix(".json"), res)

    gf = lambda fl, s: fl / s / 1e9  # noqa: E731
    lines = [
        "# SmolLM2-135M bidirectional LLMEncoder: throughput, memory, SciFact baseline", "",
        "- command: `flock /tmp/reasonir-bench.lock python benchmarks/bench_encode_smollm2.py`",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; ISA {', '.join(info['isa'])}; "
        f"native bf16: {info['fast_bf16']}; torch {info['torch']}, {info['threads']} threads",
        f"- date: {info['date']}; load average at start: {info['load_avg'][0]:.1f} (shared machine)",
        f"- model: SmolLM2-135M-Instruct (Q4_1 GGUF de-quantised to fp32), 30 layers, d=576, bidirectional, "
        f"mean pooling without BOS + `<|embed|>\\n`; dtype {res['fingerprint']['dtype']}, max length 512",
        "- matmul peak (torch.mm, GFLOP/s): fp32 " + ", ".join(f"{k}: {v:.0f}" for k, v in peak.items())
        + "; bf16 " + ", ".join(f"{k}: {v:.0f}" for k, v in peak_bf16.items()),
        f"- load time {t_load:.1f}s (from the converted cache); RSS: start {rss0:.0f} MiB, after load "
        f"{rss_loaded:.0f} MiB, peak {res['peak_rss_mib']:.0f} MiB (whole process, all systems)", "",
        f"## Interleaved timing, {len(subset)} random SciFact documents ({int(sub_tok.sum()):,} tokens), "
        f"{args.rounds} rounds", "",
        "| system | median s | docs/s | tokens/s | GFLOP/s | % of fp32 peak | speed-up vs naive | cos to reasonir |",
        "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k in systems:
        s = med[k]
        lines.append(f"| {k} | {s:.1f} | {len(subset) / s:.2f} | {sub_tok.sum() / s:,.0f} | {gf(sub_flops, s):.0f} | "
                     f"{100 * gf(sub_flops, s) / peak_max:.0f}% | {med['naive loop'] / s:.2f}x | {cos[k]:.6f} |")
    lines += ["", "rounds (s): " + "; ".join(f"{k}: {', '.join(f'{x:.1f}' for x in v)}" for k, v in times.items()),
              f"- padding in reasonir's length-sorted batches: {100 * pad:.2f}% of computed tokens",
              f"- bf16 on this CPU ({len(small)} docs): {t_bf:.1f}s vs fp32 {t_fp:.1f}s "
              f"({t_fp / t_bf:.2f}x), mean cosine to fp32 {res['bf16']['cos_mean']:.5f} "
              f"(min {res['bf16']['cos_min']:.5f})", ""]
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
        "- command: `nice -n 19 python benchmarks/bench_encode_smollm2.py --scifact --threads 1` (resumable through "
        "the embedding cache; a quality measurement, not a timing)",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM; date {info['date']}",
        f"- encoder: `load_encoder(\"smollm2\")` — bidirectional, mean pooling without BOS + prefix, fp32, "
        f"max length {enc.max_length}; documents = title + \" \" + text with the `<|embed|>\\n` prefix",
        f"- corpus: {len(texts):,} documents, {int(all_tok.sum()):,} tokens ({res['truncated_docs']} truncated at "
        f"{enc.max_length}); 300 test queries", "",
        "| queries | nDCG@10 |", "|---|---:|",
        f"| no instruction (`reasonir retrieve --retriever dense --model smollm2`) | **{res['ndcg10']:.4f}** |",
        f"| instruction \"{SCIFACT_INSTRUCTION}\" | {res['ndcg10_instruction']:.4f} |", "",
        f"- peak RSS {res['peak_rss_mib']:.0f} MiB; encoding time in the last session {t_full:.0f}s wall "
        f"(niced, shared machine — not a throughput figure; see encode_smollm2.md)", ""]
    write_markdown(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
