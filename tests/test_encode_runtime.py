"""Devices, dtype policy, length-sorted batching and pooling."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reasonir.encode.engine import length_sorted_batches  # noqa: E402
from reasonir.encode.pooling import pool, pool_mask  # noqa: E402
from reasonir.encode.runtime import (cpu_has_fast_bf16, dtype_name, resolve_devices,  # noqa: E402
                                     resolve_dtype)
from reasonir.errors import ConfigError  # noqa: E402


def test_auto_dtype_follows_cpu_bf16_support(monkeypatch):
    monkeypatch.setenv("REASONIR_CPU_BF16", "1")
    assert cpu_has_fast_bf16() and resolve_dtype("auto", "cpu") == torch.bfloat16
    monkeypatch.setenv("REASONIR_CPU_BF16", "0")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16", "cpu") == torch.bfloat16 and resolve_dtype("fp16", "cpu") == torch.float16
    assert resolve_dtype("fp32", "cuda") == torch.float32 and dtype_name(torch.bfloat16) == "bf16"
    with pytest.raises(ConfigError, match="auto, bf16, fp16, fp32"):
        resolve_dtype("int4", "cpu")


def test_cpu_detection_reads_cpuinfo_flags(monkeypatch):
    monkeypatch.delenv("REASONIR_CPU_BF16", raising=False)
    from reasonir.encode import runtime

    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not runtime.cpu_has_fast_bf16()
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx512f", "amx_bf16", "amx_tile"}))
    assert runtime.cpu_has_fast_bf16()


def test_devices():
    assert [d.type for d in resolve_devices("cpu")] == ["cpu"]
    assert len(resolve_devices("cpu,cpu")) == 2 and len(resolve_devices(["cpu", "cpu"])) == 2
    assert resolve_devices("auto")[0].type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_devices("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_devices("cuda:0")


def test_length_sorted_batches_cover_everything_longest_first():
    lengths = [5, 100, 7, 100, 3, 50, 1]
    batches = length_sorted_batches(lengths, batch_size=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    assert [len(b) for b in batches] == [3, 3, 1]
    firsts = [max(lengths[i] for i in b) for b in batches]
    assert firsts == sorted(firsts, reverse=True)
    budget = length_sorted_batches(lengths, batch_size=10, max_batch_tokens=200)
    assert all(len(b) * max(lengths[i] for i in b) <= 200 for b in budget)
    assert len(length_sorted_batches([1000], batch_size=4, max_batch_tokens=10)) == 1
    with pytest.raises(ValueError):
        length_sorted_batches(lengths, batch_size=0)


def test_pooling_skips_prefix_and_padding():
    hidden = torch.arange(2 * 4 * 2, dtype=torch.float32).reshape(2, 4, 2)   # [B=2, L=4, D=2]
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    pm = pool_mask(mask, torch.tensor([1, 2]))
    assert pm.tolist() == [[0, 1, 1, 1], [0, 0, 1, 0]]
    mean = pool(hidden, pm, "mean")
    np.testing.assert_allclose(mean[0].numpy(), hidden[0, 1:].mean(0).numpy())
    np.testing.assert_allclose(mean[1].numpy(), hidden[1, 2].numpy())
    np.testing.assert_allclose(pool(hidden, pm, "cls")[1].numpy(), hidden[1, 2].numpy())
    np.testing.assert_allclose(pool(hidden, pm, "lasttoken")[0].numpy(), hidden[0, 3].numpy())
    assert pool(hidden.bfloat16(), pm, "mean").dtype == torch.float32
    assert pool(hidden, torch.zeros_like(mask), "mean").abs().sum() == 0
    with pytest.raises(ValueError, match="mean, cls, lasttoken"):
        pool(hidden, pm, "max")
