"""Embedding cache: hits, keys that follow every output-changing input, no pickle, damaged shards ignored."""

from __future__ import annotations

import numpy as np
import pytest

from reasonir.encode import CachedEncoder, EmbeddingCache, HashingEncoder


class CountingEncoder(HashingEncoder):
    def __init__(self, dim=32, tag="a"):
        super().__init__(dim=dim)
        self.tag = tag
        self.calls: list[list[str]] = []

    def encode_document(self, texts, instruction=None, batch_size=None):
        self.calls.append(list(texts))
        return super().encode_document(texts, instruction, batch_size)

    encode_query = encode_document

    def fingerprint(self):
        return {**super().fingerprint(), "tag": self.tag}


def test_second_call_is_served_from_disk(tmp_path):
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path)
    texts = ["alpha beta", "gamma delta", "alpha beta", "epsilon"]
    first = cache.encode(enc, texts)
    assert enc.calls == [["alpha beta", "gamma delta", "epsilon"]]       # duplicates encoded once
    second = EmbeddingCache(tmp_path).encode(enc, list(reversed(texts)) + ["new one"])
    assert enc.calls[-1] == ["new one"]
    np.testing.assert_array_equal(second[:4], first[::-1])
    np.testing.assert_array_equal(first, HashingEncoder(dim=32).encode_document(texts))


def test_key_follows_fingerprint_side_and_instruction(tmp_path):
    cache = EmbeddingCache(tmp_path)
    a, b = CountingEncoder(tag="a"), CountingEncoder(tag="b")
    cache.encode(a, ["x y"])
    cache.encode(b, ["x y"])                       # other model/revision/dtype/... -> miss
    cache.encode(a, ["x y"], side="query")         # other side -> miss
    cache.encode(a, ["x y"], instruction="Find")   # other instruction -> miss
    cache.encode(a, ["x y"], instruction="Find")   # same -> hit
    assert len(a.calls) == 3 and len(b.calls) == 1
    assert len({p.name for p in tmp_path.iterdir()}) == 4
    with pytest.raises(ValueError, match="side"):
        cache.key({}, "passage", None)


def test_files_are_plain_npy_and_json_and_damage_is_tolerated(tmp_path):
    enc = CountingEncoder()
    cache = EmbeddingCache(tmp_path)
    cache.encode(enc, ["one", "two"])
    folder = next(tmp_path.iterdir())
    npy = next(folder.glob("shard-*.npy"))
    np.load(npy, allow_pickle=False)               # raises if anything pickled were inside
    (folder / npy.name.replace(".npy", ".ids.json")).write_text('["only-one-id"]')   # row-count mismatch
    cache.encode(enc, ["one", "two"])
    assert len(enc.calls) == 2                     # damaged shard skipped -> re-encoded


def test_cached_encoder_is_an_encoder(tmp_path):
    enc = CountingEncoder()
    cached = CachedEncoder(enc, EmbeddingCache(tmp_path))
    q = cached.encode_query(["a b c"])
    d = cached.encode_document(["a b c"])
    assert cached.dim == 32 and cached.fingerprint() == enc.fingerprint()
    np.testing.assert_allclose(q, d)
    assert cached.bigrams is True                  # attributes of the wrapped encoder pass through
