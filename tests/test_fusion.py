"""Fusion: min-max normalisation, score interpolation and reciprocal-rank fusion, on runs and arrays."""

import numpy as np
import pytest

from reasonir.errors import ConfigError
from reasonir.retrieve.fusion import (fuse, interpolate, interpolate_arrays, minmax, parse_weights,
                                      reciprocal_rank_fusion, rrf_arrays)


def test_minmax_maps_to_unit_interval_and_handles_constants():
    assert minmax(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]
    assert minmax(np.array([5.0, 5.0])).tolist() == [0.0, 0.0]
    assert minmax(np.array([-np.inf, 1.0, 3.0])).tolist() == [0.0, 0.0, 1.0]
    assert minmax(np.array([])).tolist() == []


def test_interpolation_by_hand():
    dense = {"q": {"a": 0.9, "b": 0.5, "c": 0.1}}
    bm25 = {"q": {"b": 12.0, "c": 10.0, "d": 2.0}}
    fused = interpolate([dense, bm25], weights=[0.5, 0.5])["q"]
    # union a,b,c,d; dense floor for d = 0.1 -> norm 0; bm25 floor for a = 2.0 -> norm 0
    expected = {"a": 0.5 * 1.0 + 0.5 * 0.0, "b": 0.5 * 0.5 + 0.5 * 1.0, "c": 0.5 * 0.0 + 0.5 * 0.8, "d": 0.0}
    assert fused == pytest.approx(expected)
    assert list(fused) == ["b", "a", "c", "d"]      # ranked by fused score


def test_interpolation_weights_change_the_winner():
    dense = {"q": {"a": 1.0, "b": 0.0}}
    bm25 = {"q": {"a": 0.0, "b": 1.0}}
    assert next(iter(interpolate([dense, bm25], [0.8, 0.2])["q"])) == "a"
    assert next(iter(interpolate([dense, bm25], [0.2, 0.8])["q"])) == "b"


def test_rrf_by_hand_and_ties_by_doc_id():
    r1 = {"q": {"a": 3.0, "b": 2.0}}
    r2 = {"q": {"b": 9.0, "c": 1.0}}
    fused = reciprocal_rank_fusion([r1, r2], rrf_k=60)["q"]
    assert fused["b"] == pytest.approx(0.5 / 62 + 0.5 / 61)
    assert fused["a"] == pytest.approx(0.5 / 61)
    assert fused["c"] == pytest.approx(0.5 / 62)
    assert list(fused) == ["b", "a", "c"]
    tie = reciprocal_rank_fusion([{"q": {"z": 1.0}}, {"q": {"y": 1.0}}])["q"]
    assert list(tie) == ["y", "z"]


def test_rrf_arrays_ignore_unranked():
    got = rrf_arrays([np.array([1, 0, 2]), np.array([0, 1, 0])], weights=[1.0, 1.0], rrf_k=0)
    assert got.tolist() == pytest.approx([1.0, 1.0, 0.5])


def test_interpolate_arrays_requires_alignment():
    with pytest.raises(ConfigError):
        interpolate_arrays([np.zeros(3), np.zeros(2)])


def test_fuse_dispatch_k_and_bad_method():
    runs = [{"q": {"a": 1.0, "b": 0.5}}, {"q": {"b": 1.0}}]
    assert len(fuse(runs, "rrf", k=1)["q"]) == 1
    assert fuse(runs, "interpolate") == interpolate(runs)
    with pytest.raises(ConfigError, match="unknown fusion"):
        fuse(runs, "max")


def test_weights_validation_and_parsing():
    assert parse_weights("0.3,0.7") == [0.3, 0.7]
    assert parse_weights(None) is None
    with pytest.raises(ConfigError, match="comma-separated"):
        parse_weights("a,b")
    with pytest.raises(ConfigError, match="one weight per list"):
        parse_weights("1,2,3")
    with pytest.raises(ConfigError, match="non-negative"):
        interpolate([{"q": {"a": 1.0}}, {"q": {"a": 1.0}}], weights=[-1, 2])


def test_queries_missing_from_one_run_are_kept():
    fused = interpolate([{"q1": {"a": 1.0}}, {"q2": {"b": 2.0}}])
    assert set(fused) == {"q1", "q2"}
