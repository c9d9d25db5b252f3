"""Index life-cycle without re-encoding: BM25 on by default, and ``index derive`` (BM25/ANN from stored data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import reasonir.encode
from reasonir.cli import main
from reasonir.encode import load_encoder
from reasonir.errors import ConfigError
from reasonir.index import Index, IndexNotFoundError, IndexOptions, build_index, derive_index
from reasonir.index import derive as derive_module
from reasonir.index import encoding as index_encoding
from reasonir.index import state

DOCS = {f"d{i}": text for i, text in enumerate([
    "ice floats because it is less dense than liquid water",
    "salt dissolves in water and lowers its freezing point",
    "rocks sink in water because they are denser",
    "the boiling point of water falls at high altitude",
    "oil floats on water as the two do not mix",
    "a ship floats by displacing its weight in water",
    "steel is denser than water yet steel ships float",
    "heavy water contains deuterium instead of hydrogen",
])}
QUERY = "why does ice float on water"


class CountingEncoder:
    """The ``hash`` encoder, counting every text it encodes."""

    def __init__(self) -> None:
        self.inner = load_encoder("hash")
        self.encoded = 0

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode_query(self, texts, instruction=None, **kw):
        self.encoded += 1 if isinstance(texts, str) else len(texts)
        return self.inner.encode_query(texts, instruction=instruction, **kw)

    def encode_document(self, texts, instruction=None, **kw):
        self.encoded += 1 if isinstance(texts, str) else len(texts)
        return self.inner.encode_document(texts, instruction=instruction, **kw)

    def fingerprint(self):
        return self.inner.fingerprint()


def _build(root: Path, **settings) -> CountingEncoder:
    encoder = CountingEncoder()
    build_index(DOCS, root, IndexOptions(model="hash", shard_size=3, **settings), encoder=encoder)
    return encoder


def _shard_bytes(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "vectors").glob("*.npy"))}


def _no_encoder_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("derive must not load an encoder")
    monkeypatch.setattr(index_encoding, "load", refuse)
    monkeypatch.setattr(reasonir.encode, "load_encoder", refuse)


def test_default_build_then_default_search_works(tmp_path):
    idx = str(tmp_path / "idx")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in DOCS.items()))
    assert main(["index", "build", str(corpus), idx, "--model", "hash"]) == 0
    assert main(["search", idx, QUERY, "-k", "3"]) == 0          # hybrid, the search default
    with Index.open(idx) as index:
        assert index.has_bm25 and index.modes == ["dense", "bm25", "bm25q", "hybrid"]
        assert index.search(QUERY, k=1)[0].id == "d0"


def test_no_bm25_flag_and_missing_mode_names_the_modes(tmp_path, capsys):
    idx = str(tmp_path / "idx")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in DOCS.items()))
    assert main(["index", "build", str(corpus), idx, "--model", "hash", "--no-bm25"]) == 0
    capsys.readouterr()
    assert main(["search", idx, QUERY]) == 2
    err = capsys.readouterr().err
    assert "search modes are dense;" in err and f"reasonir index derive {idx} --bm25" in err


def test_derive_adds_bm25_and_ann_without_encoding(tmp_path, monkeypatch):
    pytest.importorskip("faiss")
    root = tmp_path / "idx"
    encoder = _build(root, bm25=False)
    assert encoder.encoded == len(DOCS)
    before = _shard_bytes(root)
    _no_encoder_loads(monkeypatch)
    report = derive_index(root, bm25=True, ann="hnsw")
    assert report.operation == "derive" and report.shards_encoded == 0 and report.ann_recall_at_10 == 1.0
    assert encoder.encoded == len(DOCS)                     # nothing more was encoded
    assert _shard_bytes(root) == before                     # the vector shards are byte-identical
    reference = tmp_path / "ref"
    _build(reference, bm25=True)
    with Index.open(root, verify=True) as derived, \
            Index.open(reference) as built:
        derived._encoder = built._encoder = encoder
        assert derived.modes == built.modes and derived.has_ann
        got = [(h.id, round(h.score, 5)) for h in derived.search(QUERY, k=5, mode="bm25")]
        want = [(h.id, round(h.score, 5)) for h in built.search(QUERY, k=5, mode="bm25")]
        assert got == want
        assert [h.id for h in derived.search(QUERY, k=3)] == [h.id for h in built.search(QUERY, k=3)]
    cfg = json.loads((root / "config.json").read_text())
    assert cfg["generation"] == 2 and cfg["options"]["bm25"] and cfg["options"]["ann"] == "hnsw"
    assert cfg["history"][-1]["op"] == "derive"


def test_derive_rebuilds_bm25_with_new_parameters(tmp_path, monkeypatch):
    root = tmp_path / "idx"
    _build(root)
    before = _shard_bytes(root)
    old_dir = json.loads((root / "config.json").read_text())["bm25"]["dir"]
    _no_encoder_loads(monkeypatch)
    derive_index(root, bm25=True, k1=1.2, b=0.75)
    cfg = json.loads((root / "config.json").read_text())
    assert (cfg["bm25"]["k1"], cfg["bm25"]["b"]) == (1.2, 0.75) and cfg["options"]["k1"] == 1.2
    assert cfg["bm25"]["dir"] != old_dir and not (root / old_dir).exists()    # the old generation is gone
    assert _shard_bytes(root) == before


def test_failed_derive_leaves_the_committed_index_intact(tmp_path, monkeypatch):
    root = tmp_path / "idx"
    _build(root, bm25=False)
    config_before = (root / "config.json").read_bytes()
    files_before = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())

    def broken(*args, **kwargs):
        raise OSError("disk fell off")
    monkeypatch.setattr(derive_module.BM25Index, "save", broken)
    with pytest.raises(OSError, match="disk fell off"):
        derive_index(root, bm25=True)
    assert (root / "config.json").read_bytes() == config_before
    assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) == files_before
    with Index.open(root, verify=True) as index:
        assert index.modes == ["dense"]


def test_derive_refuses_an_unfinished_build_or_add(tmp_path, capsys):
    root = tmp_path / "idx"
    _build(root, bm25=False)
    state.write_pending(root, {"op": "add", "identity": {}, "command": f"reasonir index add {root} more.jsonl"})
    with pytest.raises(ConfigError, match=r"unfinished `add`.*reasonir index add .*more\.jsonl"):
        derive_index(root, bm25=True)
    assert main(["index", "derive", str(root), "--bm25"]) == 2
    assert "unfinished" in capsys.readouterr().err
    first = tmp_path / "first"                  # a first build interrupted before its commit
    first.mkdir()
    state.write_pending(first, {"op": "build", "identity": {}, "command": f"reasonir index build c.jsonl {first}"})
    with pytest.raises(IndexNotFoundError, match="unfinished `build`"):
        derive_index(first, bm25=True)
    assert sorted(p.name for p in first.iterdir()) == [".pending.json"]


def test_derive_cli_needs_something_to_derive(tmp_path, capsys):
    root = tmp_path / "idx"
    _build(root, bm25=False)
    assert main(["index", "derive", str(root)]) == 2
    assert "give --bm25 and/or --ann" in capsys.readouterr().err
    assert main(["index", "derive", str(root), "--bm25", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["operation"] == "derive"
    with Index.open(root) as index:
        assert "hybrid" in index.modes
