"""An OpenVINO CPU forward for BERT-family encoders (optional: ``pip install openvino``).

On CPUs without native bf16 (AVX2 / AVX-512F without AVX512-BF16), reasonir's fused torch forward
runs fp32 at the speed of transformers' own; OpenVINO's CPU plugin compiles the same ``BertModel``
graph (fp32, ``INFERENCE_PRECISION_HINT=f32``) with its own fused attention and layer-norm kernels.
:class:`OpenVINOBert` converts the transformers model in memory (``openvino.convert_model`` on a
traced ``BertModel``; no file, the weights are the model's own) and is called like the model:
``fast(input_ids=..., attention_mask=...)`` returns an object with ``last_hidden_state [B, L, D]``
(a torch tensor). The graph is reconverted when a parameter changes in place, like
:class:`reasonir.encode.fast_bert.FastBert`'s repacking.

Selection (:func:`cpu_backend`): ``REASONIR_CPU_BACKEND=openvino`` asks for it, ``torch`` forbids it,
``auto`` takes it where it measured faster: when the package is installed and the CPU has no native
bf16 (on an AVX2 CPU over ``SentenceTransformer.encode``: 1.11x idle, 1.36x beside a busy process,
against 1.02x / 1.09x for our fp32 torch forward; benchmarks/results/encode_minilm_avx2*.md).
Unset, it is never chosen: the first call converts the model (a cost every new process pays), and
bf16 CPUs run the torch forward faster.
"""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace
from typing import Any

from ..errors import ConfigError
from .bert_support import supports

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "openvino", "auto")


def openvino_available() -> bool:
    """Whether the ``openvino`` package imports."""
    import importlib.util

    return importlib.util.find_spec("openvino") is not None


def cpu_backend(requested: str | None = None) -> str:
    """The CPU forward to use for supported BERT models: ``"torch"`` or ``"openvino"``.

    Args:
        requested: ``"torch"``, ``"openvino"``, ``"auto"`` (openvino when installed on a CPU without
            native bf16, torch otherwise) or None (then ``REASONIR_CPU_BACKEND``, default torch).

    Raises:
        ConfigError: for an unknown backend name, or ``openvino`` when the package is not installed.
    """
    name = (requested or os.environ.get("REASONIR_CPU_BACKEND") or "torch").strip().lower()
    if name not in BACKENDS:
        raise ConfigError(f"unknown CPU backend {name!r} (REASONIR_CPU_BACKEND); choose one of {', '.join(BACKENDS)}")
    if name == "auto":
        from .runtime import cpu_has_fast_bf16

        return "openvino" if openvino_available() and not cpu_has_fast_bf16() else "torch"
    if name == "openvino" and not openvino_available():
        raise ConfigError("CPU backend 'openvino' requested but the openvino package is not installed; "
                          "pip install openvino, or use REASONIR_CPU_BACKEND=torch")
    return name


class OpenVINOBert:
    """A ``BertModel``'s inference forward compiled by OpenVINO for the CPU (see the module docstring).

    Args:
        model: a transformers ``BertModel`` on CPU (fp32).
        threads: inference threads (default: ``torch.get_num_threads()``).
    """

    accepts_row_lengths = False

    def __init__(self, model: Any, threads: int | None = None):
        reason = supports(model)
        if reason is not None:
            raise ValueError(f"OpenVINOBert cannot run this model: {reason}")
        self.model = model
        self.config = model.config
        self.threads = threads
        self._signature: tuple[Any, ...] | None = None
        self._request: Any = None

    def parameters(self) -> Any:
        return self.model.parameters()

    def _current_signature(self) -> tuple[Any, ...]:
        return tuple((p.data_ptr(), p._version, p.dtype) for p in self.model.parameters())

    def _build(self) -> None:
        import openvino as ov
        import torch

        model = self.model

        class _Hidden(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.m = model

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        ids = torch.ones(2, 8, dtype=torch.long)
        mask = torch.ones_like(ids)
        mask[1, 5:] = 0                       # a padded example: the traced graph must keep the mask
        with torch.no_grad():
            ov_model = ov.convert_model(_Hidden().eval(), example_input=(ids, mask),
                                        input=[("input_ids", [-1, -1], ov.Type.i64),
                                               ("attention_mask", [-1, -1], ov.Type.i64)])
        threads = self.threads or torch.get_num_threads()
        compiled = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                             "INFERENCE_NUM_THREADS": int(threads),
                                                             "PERFORMANCE_HINT": "LATENCY"})
        self._request = compiled.create_infer_request()
        self._signature = self._current_signature()
        logger.debug("OpenVINO BERT forward compiled (%d threads)", threads)

    def refresh(self) -> None:
        """Reconvert the graph if any parameter changed since the last conversion."""
        if self._request is None or self._signature != self._current_signature():
            self._build()

    def __call__(self, input_ids: Any, attention_mask: Any = None, **_: Any) -> SimpleNamespace:
        import torch

        self.refresh()
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        res = self._request.infer({"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})
        hidden = torch.from_numpy(res[self._request.model_outputs[0]].copy())               # [B, L, D]
        return SimpleNamespace(last_hidden_state=hidden)
