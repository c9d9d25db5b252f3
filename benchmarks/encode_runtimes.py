"""ONNX Runtime and OpenVINO encoders of the same MiniLM weights, for the encoding benchmark.

What a CPU user would pick instead of sentence-transformers on a CPU without bf16: the
transformers ``BertModel`` exported once with ``torch.onnx`` (fp32), then

* **ONNX Runtime fp32** on that file;
* **ONNX Runtime int8**: ``onnxruntime.quantization.quantize_dynamic`` of every MatMul (int8 weights
  per output channel; activations quantised per call; ``reduce_range`` = 7-bit weights, which avoids
  the ``vpmaddubsw`` saturation of AVX2 CPUs without VNNI);
* **OpenVINO fp32** on the same file (``INFERENCE_PRECISION_HINT=f32``);
* **OpenVINO int8**: NNCF post-training static quantisation (``ModelType.TRANSFORMER`` preset,
  calibrated on SciFact *queries*, never on the timed documents);
* **OpenVINO int8 weights**: NNCF ``compress_weights`` (int8 weights, fp32 activations).

Each runs the same length-sorted batches (:func:`reasonir.encode.engine.length_sorted_batches`)
with mean pooling over real tokens and L2 normalisation, so only the runtime differs from ours.
The runtimes are optional: ``pip install onnxruntime openvino nncf onnxscript`` (not dependencies
of reasonir). Exports go to ``benchmarks/_work/onnx-minilm`` and are reused when present.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

import numpy as np

logger = logging.getLogger(__name__)

MAX_LEN = 256


def export_onnx(model_dir: str | Path, out_dir: Path) -> Path:
    """``torch.onnx`` export of the transformers ``BertModel`` (inputs ids + mask, output hidden states)."""
    import torch
    from transformers import AutoModel

    path = out_dir / "minilm-fp32.onnx"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        def __init__(self, m: Any):
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(Hidden(model), (ids, torch.ones_like(ids)), str(path), dynamo=False,
                          input_names=["input_ids", "attention_mask"], output_names=["hidden"],
                          dynamic_axes={"input_ids": {0: "b", 1: "n"}, "attention_mask": {0: "b", 1: "n"},
                                        "hidden": {0: "b", 1: "n"}}, opset_version=17)
    return path


def ort_int8(fp32: Path) -> Path:
    """ONNX Runtime dynamic int8 quantisation of every MatMul (per-channel, reduce_range)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = fp32.with_name("minilm-ort-int8.onnx")
    if not path.exists():
        quantize_dynamic(str(fp32), str(path), per_channel=True, reduce_range=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"])
    return path


class RuntimeEncoder:
    """Tokenise, run a ``[B, L] -> [B, L, D]`` callable per length-sorted batch, mean-pool, normalise."""

    def __init__(self, tokenizer: Any, run: Callable[[np.ndarray, np.ndarray], np.ndarray], batch_size: int = 32):
        self.tokenizer = tokenizer
        self.run = run
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        from reasonir.encode.engine import length_sorted_batches

        ids = self.tokenizer(texts, truncation=True, max_length=MAX_LEN, return_attention_mask=False,
                             return_token_type_ids=False)["input_ids"]
        lens = np.array([len(x) for x in ids])
        out = np.zeros((len(texts), 0), dtype=np.float32)
        for rows in length_sorted_batches(lens, self.batch_size):
            width = int(lens[rows].max())
            buf = np.zeros((len(rows), width), dtype=np.int64)                     # [B, L]
            for j, i in enumerate(rows):
                buf[j, :lens[i]] = ids[i]
            mask = (np.arange(width)[None, :] < lens[rows][:, None]).astype(np.int64)   # [B, L]
            hidden = self.run(buf, mask)                                            # [B, L, D]
            vec = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)    # [B, D]
            if out.shape[1] == 0:
                out = np.zeros((len(texts), vec.shape[1]), dtype=np.float32)
            out[rows] = vec
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def ort_encoder(path: Path, tokenizer: Any, threads: int) -> RuntimeEncoder:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    return RuntimeEncoder(tokenizer, lambda ids, mask: sess.run(None, {"input_ids": ids, "attention_mask": mask})[0])


def _ov_compile(model: Any, threads: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    import openvino as ov

    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
                                                      "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()
    out = compiled.output(0)
    return lambda ids, mask: request.infer({"input_ids": ids, "attention_mask": mask})[out]


def ov_encoders(fp32: Path, tokenizer: Any, threads: int, calibration: list[str]) -> dict[str, RuntimeEncoder]:
    """OpenVINO fp32, NNCF static int8 (calibrated on ``calibration`` texts) and int8-weight encoders."""
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32))
    cal = []
    for k in range(0, len(calibration), 8):
        enc = tokenizer(calibration[k:k + 8], truncation=True, max_length=MAX_LEN, padding=True, return_tensors="np",
                        return_token_type_ids=False)
        cal.append({"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)})
    q = nncf.quantize(ov.Core().read_model(str(fp32)), nncf.Dataset(cal), model_type=nncf.ModelType.TRANSFORMER,
                      subset_size=len(cal))
    w8 = nncf.compress_weights(ov.Core().read_model(str(fp32)), mode=nncf.CompressWeightsMode.INT8_ASYM)
    return {"openvino fp32": RuntimeEncoder(tokenizer, _ov_compile(model, threads)),
            "openvino int8 (NNCF static)": RuntimeEncoder(tokenizer, _ov_compile(q, threads)),
            "openvino int8 weights (NNCF)": RuntimeEncoder(tokenizer, _ov_compile(w8, threads))}


def runtime_systems(model_dir: str | Path, work: Path, tokenizer: Any, threads: int,
                    calibration: list[str]) -> dict[str, RuntimeEncoder]:
    """Every runtime encoder that installs here (missing runtimes are logged and left out)."""
    systems: dict[str, RuntimeEncoder] = {}
    try:
        fp32 = export_onnx(model_dir, work)
    except Exception as exc:  # noqa: BLE001 - an optional comparison: report and go on
        logger.warning("ONNX export failed, no ONNX Runtime / OpenVINO rows: %s", exc)
        return systems
    try:
        systems["onnxruntime fp32"] = ort_encoder(fp32, tokenizer, threads)
        systems["onnxruntime int8 (dynamic)"] = ort_encoder(ort_int8(fp32), tokenizer, threads)
    except ImportError as exc:
        logger.warning("onnxruntime not installed: %s", exc)
    try:
        systems.update(ov_encoders(fp32, tokenizer, threads, calibration))
    except ImportError as exc:
        logger.warning("openvino / nncf not installed: %s", exc)
    return systems
