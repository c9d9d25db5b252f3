"""MiniLM encoding on one thread, measured in CPU time: reasonir vs ``SentenceTransformer.encode``.

The wall-clock comparison is ``bench_encode_minilm.py``; this variant times the same systems with
``time.thread_time`` on one torch thread (64 random SciFact documents, seed 0, medians of 3 interleaved
repeats), which other jobs on a shared machine disturb far less than wall time.

Run: ``.venv/bin/python benchmarks/bench_encode_minilm_cputime.py``
Writes ``benchmarks/results/encode_minilm_cputime.json``.
"""
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from encode_bench_utils import scifact
from reasonir.encode import load_encoder, SentenceTransformerEncoder, l2_normalize
from sentence_transformers import SentenceTransformer
from reasonir.embedded import minilm_path
torch.set_num_threads(1)
_, _, texts = scifact()
rng = np.random.default_rng(0)
sub = [texts[i] for i in rng.choice(len(texts), 64, replace=False)]
st = SentenceTransformer(str(minilm_path()), device="cpu")
stb = copy.deepcopy(st).to(torch.bfloat16)
ours = load_encoder("minilm"); ours32 = load_encoder("minilm", dtype="fp32")
ours128 = SentenceTransformerEncoder(ours.model, batch_size=128, max_batch_tokens=16384)
ours_hf = load_encoder("minilm", cpu_kernels=False)      # transformers' BertModel forward, same engine
ntok = sum(len(x) for x in st.tokenizer(sub, truncation=True, max_length=256)["input_ids"])
ref = l2_normalize(st.encode(sub))
systems = {"st-default fp32": lambda: st.encode(sub), "st bf16": lambda: stb.encode(sub),
           "reasonir fp32": lambda: ours32.encode_document(sub), "reasonir bf16 (auto)": lambda: ours.encode_document(sub),
           "reasonir bf16, transformers forward": lambda: ours_hf.encode_document(sub),
           "reasonir bf16 bs128/16k tokens": lambda: ours128.encode_document(sub)}
for fn in systems.values(): fn()
ts = {k: [] for k in systems}
for _ in range(3):
    for k, fn in systems.items():
        t = time.thread_time(); fn(); ts[k].append(time.thread_time() - t)
out = {}
for k, fn in systems.items():
    m = float(np.median(ts[k])); v = l2_normalize(np.asarray(fn(), dtype=np.float32)); c = (v * ref).sum(1)
    out[k] = {"cpu_s": m, "runs": ts[k], "tokens_per_cpu_s": ntok / m, "x_vs_st": float(np.median(ts["st-default fp32"])) / m,
              "cos_mean": float(c.mean()), "cos_min": float(c.min())}
    print(f"{k}: median {m:.2f} CPU s ({', '.join(f'{x:.2f}' for x in ts[k])}), {ntok/m:,.0f} tok/CPU-s, "
          f"x{out[k]['x_vs_st']:.2f}, cos {c.mean():.6f} (min {c.min():.6f})", flush=True)
json.dump({"docs": len(sub), "tokens": ntok, "results": out}, open(Path(__file__).resolve().parent / "results" / "encode_minilm_cputime.json", "w"), indent=1)
