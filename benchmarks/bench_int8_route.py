"""Is there an int8 route to a faster MiniLM encoder on this CPU? Kernels and fidelity, measured apart.

Two questions decide whether an int8 encoder can beat fp32 by a wide margin at mean cosine >= 0.999:

1. ``--part kernels``: how fast are the 8-bit matrix products this CPU offers, and are they exact?
   On the MiniLM product shapes (16 documents x 256 tokens), interleaved, median of ``--repeats``:
   torch fp32 ``mm``, ONNX Runtime fp32 ``MatMul``, ONNX Runtime ``MatMulInteger`` with uint8
   activations and int8 weights (full 8-bit range, and activations limited to 7 bits), uint8 x uint8,
   and ``torch._int_mm`` (int8 x int8). "exact" compares each integer product with an int64 reference
   on random full-range operands and on the all-extreme operands that overflow a 16-bit intermediate.
2. ``--part fidelity``: which quantisation schemes keep mean cosine >= 0.999 to fp32? The linear
   layers of the embedded MiniLM are replaced by fake-quantised ones (weights per output channel,
   activations per tensor or per token, symmetric or with a zero point, 8 or 7 bits, optionally
   smoothed: ``alpha`` moves activation outliers into the weights, per input channel, calibrated on
   the first 32 documents) and SciFact documents are encoded through ``SentenceTransformer``;
   cosine to the fp32 vectors of the same documents.

A scheme is usable only if a kernel computes it exactly at speed: 7-bit operands fit the fast
uint8 x int8 instruction pairs of AVX2 without overflow; full 8 bits on both sides need the exact
(slower) uint8 x uint8 kernels there, or VNNI / AMX hardware.

    flock /tmp/reasonir-bench.lock python benchmarks/bench_int8_route.py --docs 128
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from _common import ROOT, header
from encode_bench_utils import scifact

from reasonir.encode.runtime import cpu_kind

SHAPES = [(4096, 384, 1152), (4096, 384, 1536), (4096, 1536, 384)]   # QKV, FFN in, FFN out


def _ort_session(op: str, a_type: int, w: np.ndarray, out_type: int, threads: int) -> Any:
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    graph = helper.make_graph([helper.make_node(op, ["a", "w"], ["y"])], "product",
                              [helper.make_tensor_value_info("a", a_type, ["m", w.shape[0]])],
                              [helper.make_tensor_value_info("y", out_type, ["m", w.shape[1]])],
                              [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def kernels(threads: int, repeats: int) -> list[str]:
    import torch
    from onnx import TensorProto

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows = ["| shape (M x K x N) | system | ms | GOP/s | vs torch fp32 | exact on random | exact on extremes |",
            "|---|---|---:|---:|---:|---|---|"]
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((k, n), dtype=np.float32)
        a_t, w_t = torch.from_numpy(a), torch.from_numpy(w)
        u8 = rng.integers(0, 256, (m, k)).astype(np.uint8)
        u7 = rng.integers(0, 128, (m, k)).astype(np.uint8)
        s8 = rng.integers(-127, 128, (k, n)).astype(np.int8)
        wu8 = rng.integers(0, 256, (k, n)).astype(np.uint8)
        i8a = torch.from_numpy(rng.integers(-128, 128, (m, k)).astype(np.int8))
        f32 = _ort_session("MatMul", TensorProto.FLOAT, w, TensorProto.FLOAT, threads)
        mi_s8 = _ort_session("MatMulInteger", TensorProto.UINT8, s8, TensorProto.INT32, threads)
        mi_u8 = _ort_session("MatMulInteger", TensorProto.UINT8, wu8, TensorProto.INT32, threads)
        systems: dict[str, tuple[Callable[[], Any], Callable[[], tuple[bool, bool]] | None]] = {
            "torch fp32 mm": (lambda: torch.mm(a_t, w_t), None),
            "ONNX Runtime fp32 MatMul": (lambda: f32.run(None, {"a": a}), None),
            "ORT MatMulInteger u8 x s8 (8-bit activations)": (
                lambda: mi_s8.run(None, {"a": u8}), lambda: _exact_ort(mi_s8, u8, s8, 255, 127, threads)),
            "ORT MatMulInteger u8 x s8 (7-bit activations)": (
                lambda: mi_s8.run(None, {"a": u7}), lambda: _exact_ort(mi_s8, u7, s8, 127, 127, threads)),
            "ORT MatMulInteger u8 x u8": (
                lambda: mi_u8.run(None, {"a": u8}), lambda: _exact_ort(mi_u8, u8, wu8, 255, 255, threads)),
            "torch._int_mm s8 x s8": (
                lambda: torch._int_mm(i8a, torch.from_numpy(s8)), lambda: _exact_int_mm(i8a, s8)),
        }
        times: dict[str, list[float]] = {name: [] for name in systems}
        for fn, _check in systems.values():
            fn()                                                            # warm-up
        for _ in range(repeats):
            for name, (fn, _check) in systems.items():
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["torch fp32 mm"])
        for name, (_fn, check) in systems.items():
            t = statistics.median(times[name])
            exact = check() if check else None
            marks = ("-", "-") if exact is None else tuple("yes" if e else "**no**" for e in exact)
            rows.append(f"| {m} x {k} x {n} | {name} | {t * 1e3:.1f} | {2 * m * k * n / t / 1e9:.0f} | "
                        f"{base / t:.2f}x | {marks[0]} | {marks[1]} |")
    return rows


def _exact_ort(sess: Any, a: np.ndarray, w: np.ndarray, a_max: int, w_max: int, threads: int) -> tuple[bool, bool]:
    from onnx import TensorProto

    random_ok = np.array_equal(sess.run(None, {"a": a})[0], a.astype(np.int64) @ w.astype(np.int64))
    w_ext = np.full(w.shape, w_max, dtype=w.dtype)
    ext = _ort_session("MatMulInteger", TensorProto.UINT8, w_ext, TensorProto.INT32, threads)
    out = ext.run(None, {"a": np.full(a.shape, a_max, dtype=np.uint8)})[0]
    return random_ok, bool((out == a_max * w_max * a.shape[1]).all())


def _exact_int_mm(a, w: np.ndarray) -> tuple[bool, bool]:
    import torch

    random_ok = torch.equal(torch._int_mm(a, torch.from_numpy(w)).long(), a.long() @ torch.from_numpy(w).long())
    ext = torch._int_mm(torch.full(a.shape, -128, dtype=torch.int8), torch.full(w.shape, -127, dtype=torch.int8))
    return random_ok, bool((ext == 128 * 127 * a.shape[1]).all())


# ---- fidelity -------------------------------------------------------------------------------------

def _q_weight(w, bits: int):
    """Per-output-channel symmetric fake quantisation of ``w`` ``[out, in]``."""
    top = 2 ** (bits - 1) - 1
    s = w.abs().amax(1, keepdim=True).clamp_min(1e-12) / top
    return (w / s).round().clamp(-top, top) * s


def _q_act(x, bits: int, per_token: bool, zero_point: bool):
    """Fake-quantise activations ``[..., K]`` per token (last axis) or per tensor."""
    dims = {"dim": -1, "keepdim": True} if per_token else {}
    if zero_point:
        levels = 2 ** bits - 1
        lo, hi = x.amin(**dims).clamp(max=0), x.amax(**dims).clamp(min=0)
        s = ((hi - lo) / levels).clamp_min(1e-12)
        z = (-lo / s).round()
        return (((x / s).round() + z).clamp(0, levels) - z) * s
    top = 2 ** (bits - 1) - 1
    s = x.abs().amax(**dims).clamp_min(1e-12) / top
    return (x / s).round().clamp(-top, top) * s


#: name -> (weight bits, activation bits, per token, zero point, smoothing alpha or None, kernel it needs)
SCHEMES = {
    "W8 per-channel, A8 per-tensor, zero point (ONNX Runtime dynamic)": (8, 8, False, True, None, "u8 x s8 (overflows)"),
    "W7 per-channel, A8 per-tensor, zero point (dynamic, reduce_range)": (7, 8, False, True, None, "u8 x s8, exact"),
    "W8, A8 per-tensor, zero point, smoothed 0.7": (8, 8, False, True, 0.7, "u8 x s8 (overflows)"),
    "W8, A8 per-token, symmetric": (8, 8, True, False, None, "u8 x s8 after a +128 shift (overflows)"),
    "W8, A8 per-token, zero point": (8, 8, True, True, None, "u8 x s8 (overflows) or u8 x u8"),
    "W8, A8 per-token, zero point, smoothed 0.5": (8, 8, True, True, 0.5, "u8 x s8 (overflows) or u8 x u8"),
    "W8, A7 per-token, zero point, smoothed 0.5": (8, 7, True, True, 0.5, "u8 x s8, exact"),
    "W8, A7 per-token, zero point, smoothed 0.7": (8, 7, True, True, 0.7, "u8 x s8, exact"),
    "W7, A8 per-token, zero point, smoothed 0.5": (7, 8, True, True, 0.5, "u8 x s8, exact"),
}


def fidelity(n_docs: int, threads: int) -> list[str]:
    import torch
    from sentence_transformers import SentenceTransformer

    from reasonir.embedded import minilm_path

    torch.set_num_threads(threads)
    _, _, docs = scifact(n_docs)
    st = SentenceTransformer(str(minilm_path()), device="cpu")
    with torch.inference_mode():
        ref = st.encode(docs, convert_to_tensor=True, batch_size=16)
    linears = {n: m for n, m in st.named_modules() if isinstance(m, torch.nn.Linear)}
    amax: dict[str, Any] = {}

    def record(name: str):
        def hook(_m, inputs, _out):
            a = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            amax[name] = torch.maximum(amax[name], a) if name in amax else a
        return hook

    hooks = [m.register_forward_hook(record(n)) for n, m in linears.items()]
    with torch.inference_mode():
        st.encode(docs[:32], batch_size=16)                      # calibration for smoothing
    for h in hooks:
        h.remove()
    rows = ["| scheme | kernel it needs on AVX2 | mean cosine | min cosine |", "|---|---|---:|---:|"]
    for name, (wb, ab, per_token, zp, alpha, kernel) in SCHEMES.items():
        for lname, m in linears.items():
            w = m.weight.data
            smooth = (torch.ones(w.shape[1]) if alpha is None else
                      (amax[lname].clamp_min(1e-5) ** alpha / w.abs().amax(0).clamp_min(1e-5) ** (1 - alpha)))
            wq = _q_weight(w * smooth, wb)

            def fwd(x, wq=wq, b=m.bias, smooth=smooth):
                return torch.nn.functional.linear(_q_act(x / smooth, ab, per_token, zp), wq, b)
            m.forward = fwd
        with torch.inference_mode():
            emb = st.encode(docs, convert_to_tensor=True, batch_size=16)
        for m in linears.values():
            del m.forward                                          # back to the class's forward
        cos = (emb * ref).sum(-1)
        rows.append(f"| {name} | {kernel} | {cos.mean():.5f} | {cos.min():.5f} |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("kernels", "fidelity", "both"), default="both")
    p.add_argument("--docs", type=int, default=128, help="SciFact documents for the fidelity part")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--out", default=None, help="report path (default: results/encode_int8_route_<cpu kind>.md)")
    args = p.parse_args()
    lines = header("int8 route for the MiniLM encoder: kernels and fidelity",
                   extra=f"{args.threads} threads")
    if args.part in ("kernels", "both"):
        lines += ["", "## Matrix products (median ms, interleaved)", "", *kernels(args.threads, args.repeats)]
    if args.part in ("fidelity", "both"):
        lines += ["", f"## Fidelity of fake-quantised linear layers ({args.docs} SciFact documents, cosine to fp32)",
                  "", *fidelity(args.docs, args.threads)]
    out = args.out or ROOT / "benchmarks" / "results" / f"encode_int8_route_{cpu_kind()}.md"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
