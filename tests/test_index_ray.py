"""Encoding on a local Ray instance (2 workers, Ray Data map_batches) writes the same shards as one process."""

import json

import pytest

from reasonir.index import Index, IndexOptions, RunOptions, build_index
from reasonir.io import write_corpus
from reasonir.types import Document

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytestmark = pytest.mark.integration


def test_ray_encoding_matches_local_build(tmp_path):
    docs = [Document(f"d{i}", f"document {i} about topic {i % 17} and subject {i % 5}") for i in range(900)]
    write_corpus(tmp_path / "c.jsonl", docs)
    opts = IndexOptions(model="hash", shard_size=100)
    build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "local"), opts)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        report = build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "ray"), opts,
                             RunOptions(ray=True, ray_workers=2))
    finally:
        ray.shutdown()
    assert report.shards_encoded == 9
    a = json.loads((tmp_path / "local" / "config.json").read_text())["vectors"]["shards"]
    b = json.loads((tmp_path / "ray" / "config.json").read_text())["vectors"]["shards"]
    assert a == b                                         # identical files (names carry input hashes, sha256 equal)
    hits = Index.open(tmp_path / "ray", verify=True).search(["topic 3 subject 1"], k=3, mode="dense")[0]
    assert all(h.id.startswith("d") for h in hits)
