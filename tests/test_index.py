"""Persistent index: build, search (dense/BM25/hybrid), add, delete, locking, resumable state, CLI."""

import json

import numpy as np
import pytest

from reasonir.encode.hashing import HashingEncoder
from reasonir.errors import ConfigError, DataFormatError
from reasonir.index import (Index, IndexLockedError, IndexNotFoundError, IndexOptions, RunOptions, add_documents,
                            build_index, delete_documents, exact_search)
from reasonir.index.layout import PENDING
from reasonir.index.lock import WriteLock
from reasonir.io import write_corpus
from reasonir.retrieve import BM25Index, dense_search
from reasonir.retrieve.fusion import reciprocal_rank_fusion
from reasonir.types import Document

WORDS = ("protein cell membrane gene enzyme neuron cortex plasma tumor virus vaccine immune receptor "
         "signal pathway mutation kinase insulin glucose liver kidney heart lung muscle bone blood "
         "oxygen carbon nitrogen water energy light heat pressure velocity force mass charge field").split()


def make_docs(n, seed=0, prefix="doc"):
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(8, 30)))
        docs.append(Document(id=f"{prefix}/{i:04d} x", title=f"T{i} {words[0]}", text=" ".join(words),
                             metadata={"n": i}))
    return docs


@pytest.fixture()
def corpus(tmp_path):
    docs = make_docs(240)
    path = tmp_path / "corpus.jsonl"
    write_corpus(path, docs)
    return path, docs


OPTS = dict(model="hash", bm25=True, shard_size=50)
QUERIES = ["protein kinase mutation in tumor cells", "oxygen pressure in the lung", "glucose insulin liver"]


def brute_force(docs, queries, k):
    enc = HashingEncoder()
    d = enc.encode_document([x.full_text for x in docs]).astype(np.float16)
    q = enc.encode_query(queries)
    return dense_search(q, d, k)


def test_build_and_dense_search_match_brute_force(corpus, tmp_path):
    path, docs = corpus
    report = build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    assert report.rows_added == 240 and report.shards_encoded == 5 and report.documents == 240
    index = Index.open(tmp_path / "idx", verify=True)
    hits = index.search(QUERIES, k=5, mode="dense")
    idx, vals = brute_force(docs, QUERIES, 5)
    for hs, ii, vv in zip(hits, idx, vals):
        assert [h.id for h in hs] == [docs[i].id for i in ii]
        assert [h.score for h in hs] == pytest.approx(vv.tolist(), abs=1e-6)
    assert index.get(docs[7].id) == docs[7] and index.get(docs[7].id).metadata == {"n": 7}
    assert index.get("nope") is None
    assert index.info()["modes"] == ["dense", "bm25", "bm25q", "hybrid"]


def test_small_fp16_index_searches_an_fp32_copy_and_large_ones_the_maps(corpus, tmp_path, monkeypatch):
    from reasonir.index import backend as backend_module

    path, docs = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    index = Index.open(tmp_path / "idx")
    assert all(s.dtype == np.float16 for s in index.backend.shards)
    hits = index.search(QUERIES, k=5, mode="dense")
    copies = index.backend.exact_shards()
    assert all(c.dtype == np.float32 for c in copies) and copies is index.backend.exact_shards()   # made once
    np.testing.assert_array_equal(np.concatenate(copies), np.concatenate(index.backend.shards).astype(np.float32))
    kept = index.search(QUERIES, k=5, mode="dense", filter="n >= 0")            # filtered scans read the copy too
    assert [[(h.id, h.score) for h in hs] for hs in kept] == [[(h.id, h.score) for h in hs] for hs in hits]
    odd = index.search(QUERIES, k=5, mode="dense", filter="n in [1, 3, 5, 7, 9, 11]")   # few rows: gathered
    assert all(h.metadata["n"] % 2 == 1 for hs in odd for h in hs) and all(len(hs) == 5 for hs in odd)
    monkeypatch.setattr(backend_module, "FP32_CACHE_VALUES", 10)
    large = Index.open(tmp_path / "idx")
    assert all(a is b for a, b in zip(large.backend.exact_shards(), large.backend.shards))   # the maps, no copy
    assert [[h.id for h in hs] for hs in large.search(QUERIES, k=5, mode="dense")] == [[h.id for h in hs] for hs in hits]
    index.close()
    large.close()


def test_bm25_modes_match_a_direct_bm25_index(corpus, tmp_path):
    path, docs = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    index = Index.open(tmp_path / "idx")
    bm = BM25Index.build([d.full_text for d in docs], [d.id for d in docs])
    for mode in ("bm25", "bm25q"):
        want = bm.search({str(i): q for i, q in enumerate(QUERIES)}, k=7, mode=mode)
        got = index.search(QUERIES, k=7, mode=mode)
        for i, hs in enumerate(got):
            assert {h.id: h.score for h in hs} == pytest.approx(want[str(i)])


def test_hybrid_interpolation_and_rrf(corpus, tmp_path):
    path, _ = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    index = Index.open(tmp_path / "idx")
    hyb = index.search(QUERIES[:1], k=10, mode="hybrid", candidates=20)[0]
    assert all(0.0 <= h.score <= 1.0 for h in hyb)
    assert [h.score for h in hyb] == sorted((h.score for h in hyb), reverse=True)
    # the fused score is the 0.5/0.5 mix of normalised per-system scores; weight 1/0 = dense order
    dense_only = index.search(QUERIES[:1], k=5, mode="hybrid", weights=(1.0, 0.0), candidates=20)[0]
    dense = index.search(QUERIES[:1], k=5, mode="dense")[0]
    assert [h.id for h in dense_only] == [h.id for h in dense]
    bm25_only = index.search(QUERIES[:1], k=3, mode="hybrid", weights=(0.0, 1.0), candidates=20)[0]
    assert [h.id for h in bm25_only] == [h.id for h in index.search(QUERIES[:1], k=3, mode="bm25")[0]]
    rrf = index.search(QUERIES[:1], k=5, mode="hybrid", fusion="rrf", candidates=20)[0]
    d20 = {h.id: h.score for h in index.search(QUERIES[:1], k=20, mode="dense")[0]}
    b20 = {h.id: h.score for h in index.search(QUERIES[:1], k=20, mode="bm25")[0]}
    full = reciprocal_rank_fusion([{"q": d20}, {"q": b20}], rrf_k=60)["q"]
    assert [h.score for h in rrf] == pytest.approx(sorted(full.values(), reverse=True)[:5])
    assert all(h.score == pytest.approx(full[h.id]) for h in rrf)
    with pytest.raises(ConfigError, match="unknown search mode"):
        index.search(QUERIES, mode="splade")


def test_build_again_is_a_noop_and_other_settings_are_refused(corpus, tmp_path):
    path, _ = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    again = build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    assert again.operation == "noop"
    with pytest.raises(ConfigError, match="already holds an index"):
        build_index(str(path), str(tmp_path / "idx"), IndexOptions(**{**OPTS, "dtype": "fp32"}))
    report = build_index(str(path), str(tmp_path / "idx"), IndexOptions(**{**OPTS, "dtype": "fp32"}), overwrite=True)
    assert report.operation == "build"
    assert Index.open(tmp_path / "idx").shards[0].dtype == np.float32


def test_add_then_search_equals_a_fresh_build(corpus, tmp_path):
    path, docs = corpus
    extra = make_docs(70, seed=5, prefix="new")
    write_corpus(tmp_path / "extra.jsonl", extra)
    write_corpus(tmp_path / "all.jsonl", docs + extra)
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    report = add_documents(str(tmp_path / "idx"), str(tmp_path / "extra.jsonl"))
    assert report.rows_added == 70 and report.documents == 310
    build_index(str(tmp_path / "all.jsonl"), str(tmp_path / "fresh"), IndexOptions(**OPTS))
    grown, fresh = Index.open(tmp_path / "idx", verify=True), Index.open(tmp_path / "fresh")
    for mode in ("dense", "bm25", "bm25q", "hybrid"):
        a, b = grown.search(QUERIES, k=8, mode=mode), fresh.search(QUERIES, k=8, mode=mode)
        for ha, hb in zip(a, b):
            assert [h.id for h in ha] == [h.id for h in hb]
            assert [h.score for h in ha] == pytest.approx([h.score for h in hb], abs=1e-6)
    assert grown.get(extra[3].id) == extra[3]


def test_add_refuses_existing_ids_unless_replace(corpus, tmp_path):
    path, docs = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    changed = Document(id=docs[0].id, title="replaced", text="completely different words about astronomy telescopes")
    write_corpus(tmp_path / "dup.jsonl", [make_docs(1, seed=9, prefix="ok")[0], changed])
    with pytest.raises(DataFormatError, match=r"dup.jsonl:2.*already in the index.*--replace"):
        add_documents(str(tmp_path / "idx"), str(tmp_path / "dup.jsonl"))
    assert Index.open(tmp_path / "idx").num_documents == 240       # nothing committed
    report = add_documents(str(tmp_path / "idx"), str(tmp_path / "dup.jsonl"), replace=True)
    assert report.deleted == 1 and report.documents == 241
    index = Index.open(tmp_path / "idx")
    assert index.get(docs[0].id).title == "replaced"
    top = index.search(["astronomy telescopes"], k=1, mode="bm25")[0]
    assert top[0].id == docs[0].id and top[0].row == 241          # a new row; row 0 is tombstoned


def test_delete_hides_documents_everywhere_and_matches_a_fresh_build(corpus, tmp_path):
    path, docs = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    index = Index.open(tmp_path / "idx")
    victims = [h.id for h in index.search(QUERIES, k=3, mode="hybrid")[0]]
    report = delete_documents(str(tmp_path / "idx"), victims)
    assert report.deleted == 3 and report.documents == 237
    write_corpus(tmp_path / "rest.jsonl", [d for d in docs if d.id not in victims])
    build_index(str(tmp_path / "rest.jsonl"), str(tmp_path / "fresh"), IndexOptions(**OPTS))
    pruned, fresh = Index.open(tmp_path / "idx", verify=True), Index.open(tmp_path / "fresh")
    for mode in ("dense", "bm25", "bm25q", "hybrid"):
        a, b = pruned.search(QUERIES, k=10, mode=mode), fresh.search(QUERIES, k=10, mode=mode)
        for ha, hb in zip(a, b):
            assert not set(victims) & {h.id for h in ha}
            assert [h.id for h in ha] == [h.id for h in hb]
            assert [h.score for h in ha] == pytest.approx([h.score for h in hb], abs=1e-6)
    assert pruned.get(victims[0]) is None
    with pytest.raises(KeyError, match="not in the index"):
        delete_documents(str(tmp_path / "idx"), [victims[0], "unknown"])
    assert delete_documents(str(tmp_path / "idx"), ["unknown"], missing_ok=True).operation == "noop"


def test_duplicate_ids_in_the_corpus_name_the_line(tmp_path):
    docs = make_docs(5)
    write_corpus(tmp_path / "c.jsonl", docs + [docs[2]])
    with pytest.raises(DataFormatError, match=r"c.jsonl:6.*duplicate document id"):
        build_index(str(tmp_path / "c.jsonl"), str(tmp_path / "idx"), IndexOptions(model="hash"))


def test_second_writer_is_refused_with_the_holder(corpus, tmp_path):
    path, _ = corpus
    with WriteLock(tmp_path / "idx", "index build"):
        with pytest.raises(IndexLockedError, match=r"another process \(pid \d+, `index build`"):
            build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))   # free again


def test_unfinished_build_is_not_an_index_and_other_settings_need_overwrite(corpus, tmp_path, monkeypatch):
    path, _ = corpus
    from reasonir.index import builder

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(builder, "_finish", boom)
    with pytest.raises(RuntimeError):
        build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    assert (tmp_path / "idx" / PENDING).exists()
    with pytest.raises(IndexNotFoundError, match="Rerun the same command to resume"):
        Index.open(tmp_path / "idx")
    with pytest.raises(ConfigError, match="differs in: options"):
        build_index(str(path), str(tmp_path / "idx"), IndexOptions(**{**OPTS, "bm25": False}))
    monkeypatch.undo()
    report = build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    assert report.shards_reused == 5 and report.shards_encoded == 0


def test_corrupted_shard_is_detected(corpus, tmp_path):
    path, _ = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    cfg = json.loads((tmp_path / "idx" / "config.json").read_text())
    shard = tmp_path / "idx" / cfg["vectors"]["shards"][1]["file"]
    raw = bytearray(shard.read_bytes())
    raw[-5] ^= 0xFF
    shard.write_bytes(bytes(raw))
    Index.open(tmp_path / "idx")                       # shapes still fine
    with pytest.raises(DataFormatError, match="checksum mismatch"):
        Index.open(tmp_path / "idx", verify=True)


def test_encoder_with_another_fingerprint_is_refused(corpus, tmp_path):
    path, _ = corpus
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))
    cfg_path = tmp_path / "idx" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["encoder"]["fingerprint"]["dim"] = 999
    cfg_path.write_text(json.dumps(cfg))
    index = Index.open(tmp_path / "idx")
    with pytest.raises(ConfigError, match="not the one this index was built with"):
        index.search(["x"], mode="dense")
    assert index.search(["protein"], mode="bm25")          # BM25 needs no encoder


def test_multiprocess_encoding_writes_identical_shards(corpus, tmp_path):
    path, _ = corpus
    build_index(str(path), str(tmp_path / "one"), IndexOptions(**OPTS))
    build_index(str(path), str(tmp_path / "two"), IndexOptions(**OPTS), RunOptions(workers=2))
    a = json.loads((tmp_path / "one" / "config.json").read_text())["vectors"]["shards"]
    b = json.loads((tmp_path / "two" / "config.json").read_text())["vectors"]["shards"]
    assert a == b                                        # same files, same sha256


def test_exact_search_equals_dense_search_with_ties_tombstones_and_exclusions():
    rng = np.random.default_rng(3)
    docs = rng.standard_normal((5000, 32)).astype(np.float16)
    docs[4000:4010] = docs[10]                           # exact ties across blocks
    q = np.concatenate([rng.standard_normal((6, 32)), docs[10:11].astype(np.float32)]).astype(np.float32)
    deleted = np.zeros(5000, dtype=bool)
    deleted[rng.choice(5000, 300, replace=False)] = True
    excluded = [[1, 2, 3], [], [4005], [], [], [7], [4001, 10]]
    shards = [docs[:1234], docs[1234:4000], docs[4000:]]
    want = dense_search(q, shards, k=25, excluded=excluded, deleted=deleted)
    for block, threads in ((64, 1), (500, 2), (4096, 3)):
        got = exact_search(q, shards, k=25, excluded=excluded, deleted=deleted, block_rows=block, threads=threads)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-6)
    padded = exact_search(q[:1], docs[:3], k=5)
    assert padded[0][0, 3:].tolist() == [-1, -1] and np.isneginf(padded[1][0, 3:]).all()


def test_cli_build_search_batch_info_delete(corpus, tmp_path, capsys):
    from reasonir.cli import main

    path, docs = corpus
    idx = str(tmp_path / "idx")
    assert main(["index", "build", str(path), idx, "--model", "hash", "--bm25", "--shard-size", "64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["documents"] == 240
    assert main(["search", idx, QUERIES[0], "-k", "3", "--retriever", "hybrid", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"]
    assert len(res) == 3 and {"id", "score", "snippet", "title"} <= set(res[0])
    assert main(["search", idx, QUERIES[0], "-k", "2"]) == 0
    assert "  1. " in capsys.readouterr().out
    (tmp_path / "q.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": q}) + "\n"
                                              for i, q in enumerate(QUERIES)))
    (tmp_path / "qrels.tsv").write_text(f"query-id\tcorpus-id\tscore\nq0\t{res[0]['id']}\t1\n")
    assert main(["search", idx, "--queries", str(tmp_path / "q.jsonl"), "--out", str(tmp_path / "run.trec"),
                 "--retriever", "bm25", "-k", "5"]) == 0
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert len(lines) == 15 and lines[0].split()[1] == "Q0"
    assert main(["search", idx, "--queries", str(tmp_path / "q.jsonl"), "--qrels", str(tmp_path / "qrels.tsv"),
                 "--retriever", "hybrid", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["queries"] == 1 and out["ndcg@10"] == 1.0
    assert main(["index", "delete", idx, docs[0].id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["documents"] == 239
    assert main(["index", "info", idx, "--verify", "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert info["deleted"] == 1 and info["verified"] and info["bytes_per_document"] > 0
    assert main(["search", idx]) == 2                    # neither query nor --queries
    assert "exactly one of" in capsys.readouterr().err


def test_other_corpus_formats(tmp_path, scifact_dir):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    docs = make_docs(30)
    pq.write_table(pa.Table.from_pylist([{"_id": d.id, "title": d.title, "text": d.text} for d in docs]),
                   tmp_path / "c.parquet")
    build_index(str(tmp_path / "c.parquet"), str(tmp_path / "p"), IndexOptions(model="hash"))
    assert Index.open(tmp_path / "p").get(docs[3].id).text == docs[3].text
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([{"id": d.id, "contents": d.text} for d in docs])
    ds.save_to_disk(str(tmp_path / "hfds"))
    build_index(f"hf:{tmp_path / 'hfds'}", str(tmp_path / "h"), IndexOptions(model="hash"))
    assert Index.open(tmp_path / "h").get(docs[4].id).text == docs[4].text


def test_interrupted_add_resumes_and_other_writes_roll_it_back(corpus, tmp_path, monkeypatch):
    path, docs = corpus
    from reasonir.index import builder

    extra = make_docs(120, seed=7, prefix="add")
    write_corpus(tmp_path / "extra.jsonl", extra)
    build_index(str(path), str(tmp_path / "idx"), IndexOptions(**OPTS))

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(builder, "_finish", boom)
    with pytest.raises(RuntimeError):
        add_documents(str(tmp_path / "idx"), str(tmp_path / "extra.jsonl"))
    index = Index.open(tmp_path / "idx")                       # readers still see the committed state
    assert index.num_documents == 240 and index.get(extra[0].id) is None
    monkeypatch.undo()
    report = add_documents(str(tmp_path / "idx"), str(tmp_path / "extra.jsonl"))
    assert report.shards_reused == 3 and report.shards_encoded == 0 and report.documents == 360
    # an unfinished add is discarded (not half-applied) when another write comes first
    monkeypatch.setattr(builder, "_finish", boom)
    more = make_docs(10, seed=8, prefix="more")
    write_corpus(tmp_path / "more.jsonl", more)
    with pytest.raises(RuntimeError):
        add_documents(str(tmp_path / "idx"), str(tmp_path / "more.jsonl"))
    monkeypatch.undo()
    delete_documents(str(tmp_path / "idx"), [docs[1].id])
    index = Index.open(tmp_path / "idx", verify=True)
    assert index.num_rows == 360 and index.num_documents == 359 and index.get(more[0].id) is None
    assert not (tmp_path / "idx" / PENDING).exists()
