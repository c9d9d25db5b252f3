"""CPU ISA reporting (benchmarks name the CPU kind beside every figure) and the dtype it implies."""

from __future__ import annotations

import pytest

from reasonir.encode import runtime

ZEN3 = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c", "vaes"})                      # AMD EPYC Milan
SKYLAKE_X = ZEN3 | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"}
COOPER_LAKE = SKYLAKE_X | {"avx512_bf16"}
SAPPHIRE_RAPIDS = COOPER_LAKE | {"amx_bf16", "amx_tile", "amx_int8"}


@pytest.mark.parametrize("flags, kind, fast", [
    (ZEN3, "avx2", False), (SKYLAKE_X, "avx512f", False), (COOPER_LAKE, "avx512_bf16", True),
    (SAPPHIRE_RAPIDS, "amx", True), (frozenset({"sse2"}), "other", False),
    (frozenset({"avx2"}), "other", False),                      # AVX2 without FMA: no fast float path
])
def test_cpu_kind_and_bf16_policy_follow_the_flags(monkeypatch, flags, kind, fast):
    monkeypatch.delenv("REASONIR_CPU_BF16", raising=False)
    monkeypatch.setattr(runtime, "cpu_flags", lambda: flags)
    assert runtime.cpu_kind() == kind
    assert runtime.cpu_kind(flags) == kind
    assert runtime.cpu_has_fast_bf16() is fast
    torch = pytest.importorskip("torch")
    assert runtime.resolve_dtype("auto", "cpu") == (torch.bfloat16 if fast else torch.float32)


def test_cpu_isa_levels_are_reported_in_the_description(monkeypatch):
    monkeypatch.delenv("REASONIR_CPU_BF16", raising=False)
    monkeypatch.setattr(runtime, "cpu_flags", lambda: SKYLAKE_X)
    assert runtime.cpu_isa() == {"avx2": True, "avx512f": True, "avx512_bf16": False, "amx": False}
    desc = runtime.cpu_description()
    assert desc["kind"] == "avx512f" and desc["fast_bf16"] is False
    assert desc["isa_levels"]["avx512f"] and not desc["isa_levels"]["amx"]
    assert "avx512f" in desc["isa"] and "sse4_2" not in desc["isa"]
