"""kill -9 during a build into Milvus Lite, run it again: Milvus holds what an uninterrupted build writes.

As in ``test_index_resume.py``, the killed build stops itself (SIGSTOP) just before replacing
``config.json``, so every kill lands on an unfinished build; the test checks that it did. Milvus Lite
lets one process open a store at a time, so the child reports each shard it has upserted by touching
a file next to the index (the parent cannot look into the store while the child has it open).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from reasonir.index import Index, IndexNotFoundError, IndexOptions, build_index  # noqa: E402
from reasonir.index.milvus_store import connect, release, target_of  # noqa: E402
from reasonir.io import write_corpus  # noqa: E402
from reasonir.types import Document  # noqa: E402

SRC = str(Path(__file__).resolve().parents[1] / "src")
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa", "lambda", "sigma", "omega",
         "photon", "proton", "neutron", "quark", "gluon", "boson", "lepton", "muon", "pion", "kaon", "baryon"]

# in the child: stop before the commit (so a kill always lands first) and mark each shard upserted into Milvus
CHILD_HOOKS = (
    "import os, signal; from pathlib import Path; from reasonir.index import builder, milvus_write; "
    "commit = builder.write_config; "
    "builder.write_config = lambda *a: (os.kill(os.getpid(), signal.SIGSTOP), commit(*a)); "
    "upload = milvus_write.MilvusWriter.upload; "
    "milvus_write.MilvusWriter.upload = lambda self, start, ids, v, *m: (upload(self, start, ids, v, *m), "
    "Path(os.environ['SHARD_MARKS'], f'{start:08d}').touch()); ")


def _corpus(path: Path, n: int) -> None:
    rng = np.random.default_rng(3)
    write_corpus(path, [Document(f"d{i}", " ".join(rng.choice(WORDS, size=int(rng.integers(15, 50)))), f"t{i}")
                        for i in range(n)])


def _start(corpus: Path, idx: Path, marks: Path, shard: int, hold: bool) -> subprocess.Popen:
    code = ((CHILD_HOOKS if hold else "") +
            "import argparse, sys; from reasonir.cli import index; p = argparse.ArgumentParser(); "
            "index.register(p.add_subparsers(dest='command')); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")
    env = {**os.environ, "PYTHONPATH": SRC, "REASONIR_PROGRESS": "0", "SHARD_MARKS": str(marks)}
    return subprocess.Popen([sys.executable, "-c", code, "index", "build", str(corpus), str(idx), "--model", "hash",
                             "--bm25", "--shard-size", str(shard), "--store", "milvus", "--milvus-collection",
                             "resumed", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _wait(proc: subprocess.Popen, cond, timeout: float = 300.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise TimeoutError("build did not reach the kill point")


def _content(idx: Path) -> dict:
    """Every entity of the index's Milvus collections, by row."""
    cfg = json.loads((idx / "config.json").read_text())
    target = target_of(cfg["milvus"])
    client = connect(target)
    try:
        name, bm25 = cfg["milvus"]["collection"], cfg["milvus"]["bm25"]["collection"]
        client.load_collection(name)
        client.load_collection(bm25)
        n = cfg["counts"]["rows"]
        vec = client.query(name, filter="row >= 0", output_fields=["row", "doc_id", "vector"], limit=n + 100)
        sparse = client.query(bm25, filter="row >= 0", output_fields=["row", "sparse"], limit=n + 100)
        total = client.query(name, filter="row >= 0", output_fields=["count(*)"])[0]["count(*)"]
    finally:
        release(target)
    return {"count": total,
            "vectors": {int(r["row"]): (r["doc_id"], np.asarray(r["vector"], dtype=np.float32).tobytes()) for r in vec},
            "sparse": {int(r["row"]): sorted((int(k), float(v)) for k, v in r["sparse"].items()) for r in sparse}}


def _comparable(idx: Path) -> dict:
    cfg = json.loads((idx / "config.json").read_text())
    for key in ("created", "updated", "versions"):
        cfg.pop(key, None)
    cfg["milvus"].pop("uri")
    for h in cfg["history"]:
        h.pop("time", None)
        h.pop("corpus", None)
    return cfg


@pytest.mark.integration
def test_kill9_resume_into_milvus_lite_equals_an_uninterrupted_build(tmp_path):
    n, shard = 1200, 50
    n_shards = n // shard
    corpus, idx, ref, marks = tmp_path / "c.jsonl", tmp_path / "idx", tmp_path / "ref", tmp_path / "marks"
    marks.mkdir()
    _corpus(corpus, n)
    uploaded = lambda: len(list(marks.iterdir()))  # noqa: E731
    kill_points = [
        ("ingesting", lambda: (idx / "docs.sqlite").exists()),
        ("first shard upserted", lambda: uploaded() >= 1),
        ("half the shards upserted", lambda: uploaded() >= n_shards // 2),
        ("deriving BM25", lambda: (idx / "bm25").is_dir()),
    ]
    for name, cond in kill_points:
        proc = _start(corpus, idx, marks, shard, hold=True)
        reached = _wait(proc, cond)
        assert reached, f"the build exited (code {proc.returncode}) before {name}: {proc.stderr.read()[-2000:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"{name}: the kill did not land (exit code {proc.returncode})"
        assert not (idx / "config.json").exists(), f"{name}: the build committed before the kill"
        with pytest.raises(IndexNotFoundError, match="resume"):
            Index.open(idx)
    done_before = uploaded()
    assert 0 < done_before <= n_shards
    proc = _start(corpus, idx, marks, shard, hold=False)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    # shards upserted before a kill are found in Milvus and not encoded again
    assert report["shards_reused"] >= done_before and report["shards_reused"] + report["shards_encoded"] == n_shards
    build_index(str(corpus), str(ref), IndexOptions(model="hash", bm25=True, shard_size=shard, store="milvus",
                                                    milvus={"collection": "resumed"}))
    assert _comparable(idx) == _comparable(ref)
    got, want = _content(idx), _content(ref)
    assert got["count"] == want["count"] == n                      # no duplicates
    assert sorted(got["vectors"]) == list(range(n))                # no gaps
    assert got["vectors"] == want["vectors"] and got["sparse"] == want["sparse"]
    assert not list((idx / "vectors").glob("*.npy"))               # every shard file was streamed and removed
    with Index.open(idx) as a, Index.open(ref) as b:
        for mode in ("dense", "bm25q", "hybrid"):
            qa = a.search(["gamma photon boson", "kaon pion"], k=10, mode=mode)
            qb = b.search(["gamma photon boson", "kaon pion"], k=10, mode=mode)
            assert [[(h.id, h.score) for h in hs] for hs in qa] == [[(h.id, h.score) for h in hs] for hs in qb]
