"""Outputs that never lie and bad paths that cost one line: encode reuse, output checks, failed builds.

* ``reasonir encode`` reuses a shard only when it was encoded from the very same texts, in the same
  order, by the same encoder; ``--overwrite`` reuses nothing.
* A folder given for a file (and the reverse), an index path that is a file, a full disk and config
  values of the wrong type end in one ``reasonir CMD: error: ...`` line and exit code 2, and outputs
  are checked before any work is done.
* A build that fails on its input leaves nothing behind, and the advice after fixing the input works.
"""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest

from reasonir.cli import main
from reasonir.encode import HashingEncoder
from reasonir.errors import ConfigError, DataFormatError
from reasonir.index import IndexNotFoundError, IndexOptions, add_documents, build_index
from reasonir.index import encoding as index_encoding
from reasonir.index.layout import LOCK, PENDING
from reasonir.index.lock import IndexLockedError, WriteLock
from reasonir.io import write_corpus
from reasonir.types import Document
from reasonir.workflows.encode import EncodeConfig, load_encoded, run_encode

A = [Document(f"a{i}", text=f"alpha document {i} about cells and membranes {i * 3}") for i in range(12)]
B = [Document(f"b{i}", text=f"beta text {i} on galaxies, stars and {i * 7} planets") for i in range(12)]


@pytest.fixture()
def files(tmp_path):
    write_corpus(tmp_path / "a.jsonl", A)
    write_corpus(tmp_path / "b.jsonl", B)
    return tmp_path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


def _fresh(docs, instruction=None):
    return HashingEncoder().encode_document([d.full_text for d in docs], instruction=instruction)


# --------------------------------------------------------------------------------------------------
# item 1: encode output reuse
# --------------------------------------------------------------------------------------------------
def test_encode_overwrite_with_other_texts_encodes_them(files, capsys):
    out = str(files / "out")
    assert main(["encode", str(files / "a.jsonl"), out, "--model", "hash"]) == 0
    assert main(["encode", str(files / "b.jsonl"), out, "--model", "hash", "--overwrite", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["encoded"] == len(B)
    ids, vectors = load_encoded(out)
    assert ids == [d.id for d in B]
    np.testing.assert_allclose(vectors, _fresh(B), atol=1e-6)


def test_encode_overwrite_reuses_nothing_even_for_the_same_texts(files):
    cfg = EncodeConfig(corpus=str(files / "a.jsonl"), out=str(files / "out"), model="hash", shard_size=5)
    run_encode(cfg)
    again = run_encode(EncodeConfig(**{**vars(cfg), "overwrite": True}))
    assert again.encoded == len(A)


def test_encode_resume_keys_shards_by_texts_order_and_encoder(files):
    out = files / "out"
    cfg = EncodeConfig(corpus=str(files / "a.jsonl"), out=str(out), model="hash", shard_size=5)
    with pytest.raises(KeyboardInterrupt):
        run_encode(cfg, encoder=_Interrupt(3))
    progress = json.loads((out / "progress.json").read_text())
    assert sorted(progress["done"]) == ["embeddings-00000.npy", "embeddings-00001.npy"]
    # the same ids in another order are other inputs: refused, never silently reused
    write_corpus(files / "a.jsonl", list(reversed(A)))
    with pytest.raises(ConfigError, match="partial encoding of other texts"):
        run_encode(cfg)
    write_corpus(files / "a.jsonl", A)
    # another encoder (a different dimension changes the fingerprint) is refused too
    with pytest.raises(ConfigError, match="partial encoding"):
        run_encode(cfg, encoder=HashingEncoder(dim=64))
    # a shard whose recorded key does not match its inputs is encoded again
    progress["done"]["embeddings-00000.npy"] = "0" * 64
    (out / "progress.json").write_text(json.dumps(progress))
    res = run_encode(cfg)
    assert res.encoded == 5 + 2                      # shard 0 (wrong key) and shard 2 (never written)
    ids, vectors = load_encoded(out)
    assert ids == [d.id for d in A]
    np.testing.assert_allclose(vectors, _fresh(A), atol=1e-6)
    saved = json.loads((out / "config.json").read_text())
    assert len(saved["inputs_fingerprint"]) == 64 and all(len(s["key"]) == 64 for s in saved["shards"])
    assert not (out / "progress.json").exists()


def test_encode_never_trusts_shards_without_a_record(files):
    out = files / "out"
    out.mkdir()
    np.save(out / "embeddings-00000.npy", np.zeros((len(A), 256), dtype=np.float32))
    res = run_encode(EncodeConfig(corpus=str(files / "a.jsonl"), out=str(out), model="hash"))
    assert res.encoded == len(A)
    np.testing.assert_allclose(load_encoded(out)[1], _fresh(A), atol=1e-6)


class _Interrupt(HashingEncoder):
    """The hash encoder, interrupted (as by Ctrl-C) on its ``n``-th ``encode_document`` call."""

    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0

    def encode_document(self, texts, instruction=None, batch_size=None):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return super().encode_document(texts, instruction, batch_size)


# --------------------------------------------------------------------------------------------------
# item 10: one clear line, exit code 2
# --------------------------------------------------------------------------------------------------
def test_output_path_checks_name_what_the_path_is_for(tmp_path):
    from reasonir.outputs import check_output_dir, check_output_file

    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"is a directory; the run \(--out\) is a file"):
        check_output_file(tmp_path, "the run (--out)")
    with pytest.raises(ConfigError, match=r"is a file, not a folder; cannot write the run"):
        check_output_file(tmp_path / "f" / "run.trec", "the run")
    with pytest.raises(ConfigError, match=r"is a file; the index is a folder"):
        check_output_dir(tmp_path / "f", "the index")
    assert check_output_file(tmp_path / "new" / "deeper" / "run.trec", "the run").name == "run.trec"
    assert not (tmp_path / "new").exists()           # checking creates nothing


def test_retrieve_out_dir_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    from reasonir.workflows import retrieve as wf

    calls = []
    monkeypatch.setattr(wf, "parse_dataset_spec", lambda *a, **k: calls.append(a))
    assert main(["retrieve", "--dataset", "beir:whatever", "--out", str(tmp_path)]) == 2
    assert "is a directory; the run (--out) is a file" in _error_line(capsys)
    assert calls == []


def test_search_out_dir_is_refused_before_searching(files, monkeypatch, capsys):
    from reasonir.workflows import search as wf

    (files / "q.jsonl").write_text(json.dumps({"_id": "q1", "text": "cells"}) + "\n")
    opened = []
    monkeypatch.setattr(wf.Index, "open", classmethod(lambda cls, *a, **k: opened.append(a)))
    assert main(["search", str(files), "--queries", str(files / "q.jsonl"), "--out", str(files)]) == 2
    assert "is a directory; the run (--out) is a file" in _error_line(capsys)
    assert opened == []


def test_evaluate_and_search_inputs_that_are_folders(files, capsys):
    (files / "run.trec").write_text("q1 Q0 a1 1 1.0 t\n")
    (files / "qrels.tsv").write_text("q1\ta1\t1\n")
    assert main(["evaluate", "--run", str(files / "run.trec"), "--qrels", str(files)]) == 2
    assert str(files) in _error_line(capsys)
    assert main(["evaluate", "--run", str(files), "--qrels", str(files / "qrels.tsv")]) == 2
    assert str(files) in _error_line(capsys)
    assert main(["evaluate", "--run", str(files / "run.trec"), "--qrels", str(files / "qrels.tsv"),
                 "--out", str(files)]) == 2
    assert "the report (--out) is a file" in _error_line(capsys)


def test_index_path_that_is_a_regular_file(files, capsys):
    f = files / "a.jsonl"
    assert main(["index", "build", str(f), str(f), "--model", "hash"]) == 2
    assert "is a file; the index (INDEX_DIR) is a folder" in _error_line(capsys)
    for argv in (["search", str(f), "cells"], ["index", "info", str(f)], ["index", "add", str(f), str(f)],
                 ["index", "delete", str(f), "a1"]):
        assert main(argv) == 2
        assert "is a file, not an index directory" in _error_line(capsys)
    with pytest.raises(IndexNotFoundError, match="is a file"):
        add_documents(str(f), str(f))


def test_config_value_of_the_wrong_type_names_key_type_and_file(files, capsys):
    cfg = files / "c.json"
    cfg.write_text(json.dumps({"top_k": "two"}))
    assert main(["search", str(files), "cells", "--config", str(cfg)]) == 2
    line = _error_line(capsys)
    assert str(cfg) in line and "'top_k'" in line and "an integer" in line and "'two'" in line
    cfg.write_text(json.dumps({"shard_size": [1, 2]}))
    assert main(["index", "build", str(files / "a.jsonl"), str(files / "idx"), "--config", str(cfg)]) == 2
    assert "'shard_size' expects an integer" in _error_line(capsys)
    assert not (files / "idx").exists()


def test_full_disk_while_building_names_the_path_and_keeps_the_build_resumable(files, monkeypatch, capsys):
    def full(path, vectors):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(index_encoding, "write_shard", full)
    idx = files / "idx"
    assert main(["index", "build", str(files / "a.jsonl"), str(idx), "--model", "hash"]) == 2
    line = _error_line(capsys)
    assert "No space left on device" in line and "vector shards" in line and str(idx / "vectors") in line
    assert (idx / PENDING).exists() and not (idx / LOCK).exists()
    monkeypatch.undo()
    assert main(["index", "build", str(files / "a.jsonl"), str(idx), "--model", "hash"]) == 0


def test_full_disk_while_encoding_is_one_line(files, monkeypatch, capsys):
    from reasonir.workflows import encode as wf

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(wf.np, "save", full)
    assert main(["encode", str(files / "a.jsonl"), str(files / "out"), "--model", "hash"]) == 2
    line = _error_line(capsys)
    assert "No space left on device while writing embedding shard embeddings-00000.npy" in line
    assert str(files / "out" / "embeddings-00000.npy") in line


def test_os_errors_reaching_the_cli_are_one_line(files, monkeypatch, capsys):
    from reasonir.workflows import encode as wf

    def denied(cfg):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(files))

    monkeypatch.setattr(wf, "_load_texts", denied)
    assert main(["encode", str(files / "a.jsonl"), str(files / "out"), "--model", "hash"]) == 2
    assert f"{files} is a directory; a file was expected there" in _error_line(capsys)
    from reasonir.outputs import OutputError, writing

    with pytest.raises(OutputError), writing("a thing", files / "x"):
        raise OSError(errno.EROFS, "Read-only file system")


# --------------------------------------------------------------------------------------------------
# item 11: a failed build leaves nothing behind, and the advice works
# --------------------------------------------------------------------------------------------------
def _bad_corpus(path):
    path.write_text(json.dumps({"_id": "x1", "text": "fine"}) + "\n{not json\n")


def test_failed_build_leaves_no_folder_and_no_lock(files, capsys):
    _bad_corpus(files / "bad.jsonl")
    idx = files / "new" / "deep" / "idx"
    assert main(["index", "build", str(files / "bad.jsonl"), str(idx), "--model", "hash"]) == 2
    assert "bad.jsonl:2" in _error_line(capsys)
    assert not (files / "new").exists()
    existing = files / "mine"
    existing.mkdir()
    with pytest.raises(DataFormatError):
        build_index(str(files / "bad.jsonl"), str(existing), IndexOptions(model="hash"))
    assert existing.is_dir() and list(existing.iterdir()) == []     # the user's folder stays, empty


def test_rerun_after_fixing_the_corpus_works(files, capsys):
    _bad_corpus(files / "c.jsonl")
    idx = str(files / "idx")
    assert main(["index", "build", str(files / "c.jsonl"), idx, "--model", "hash"]) == 2
    capsys.readouterr()
    write_corpus(files / "c.jsonl", A)
    assert main(["index", "build", str(files / "c.jsonl"), idx, "--model", "hash", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["documents"] == len(A)


def test_unfinished_build_of_a_changed_corpus_advises_overwrite(files, monkeypatch):
    from reasonir.index import builder

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(builder, "_finish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_index(str(files / "a.jsonl"), str(files / "idx"), IndexOptions(model="hash"))
    monkeypatch.undo()
    write_corpus(files / "a.jsonl", A[:-1])            # the corpus changes before the rerun
    with pytest.raises(ConfigError, match=r"cannot be resumed\. Pass --overwrite") as info:
        build_index(str(files / "a.jsonl"), str(files / "idx"), IndexOptions(model="hash"))
    assert "Rerun the original command" not in str(info.value)
    report = build_index(str(files / "a.jsonl"), str(files / "idx"), IndexOptions(model="hash"), overwrite=True)
    assert report.documents == len(A) - 1


def test_failed_add_leaves_the_index_as_committed(files):
    idx = str(files / "idx")
    build_index(str(files / "a.jsonl"), idx, IndexOptions(model="hash"))
    before = sorted(p.name for p in (files / "idx").iterdir())
    _bad_corpus(files / "bad.jsonl")
    with pytest.raises(DataFormatError):
        add_documents(idx, str(files / "bad.jsonl"))
    assert sorted(p.name for p in (files / "idx").iterdir()) == before
    assert add_documents(idx, str(files / "b.jsonl")).documents == len(A) + len(B)


def test_missing_index_for_add_creates_nothing(files):
    with pytest.raises(IndexNotFoundError):
        add_documents(str(files / "nothere"), str(files / "a.jsonl"))
    assert not (files / "nothere").exists()


def test_lock_file_goes_with_its_holder_and_still_excludes(tmp_path):
    first = WriteLock(tmp_path, "index build")
    first.acquire()
    with pytest.raises(IndexLockedError):
        WriteLock(tmp_path, "index add").acquire()
    first.release()
    assert not (tmp_path / LOCK).exists()
    with WriteLock(tmp_path, "index add"), pytest.raises(IndexLockedError, match="index add"):
        WriteLock(tmp_path, "index build").acquire()


def test_a_lock_taken_on_a_just_removed_file_is_taken_again(tmp_path, monkeypatch):
    from reasonir.index import lock as lock_mod

    holder = WriteLock(tmp_path, "index build")
    holder.acquire()
    stale = os.open(tmp_path / LOCK, os.O_RDWR)          # opened just before the holder finishes
    holder.release()                                      # the file is removed, then unlocked
    real_open, opens = os.open, []

    def open_stale_first(path, flags, mode=0o777):
        opens.append(path)
        return stale if len(opens) == 1 else real_open(path, flags, mode)

    monkeypatch.setattr(lock_mod.os, "open", open_stale_first)
    second = WriteLock(tmp_path, "index add")
    second.acquire()
    monkeypatch.undo()
    assert len(opens) == 2 and (tmp_path / LOCK).exists()      # it locked the file that is there now
    with pytest.raises(IndexLockedError):
        WriteLock(tmp_path, "index build").acquire()
    second.release()


def test_delete_ids_file_that_is_a_folder(files, capsys):
    idx = str(files / "idx")
    build_index(str(files / "a.jsonl"), idx, IndexOptions(model="hash"))
    assert main(["index", "delete", idx, "--ids-file", str(files)]) == 2
    assert "the ids file (--ids-file) must be a file" in _error_line(capsys)


def test_os_error_lines_with_and_without_a_path():
    from reasonir.outputs import describe_os_error

    full = OSError(errno.ENOSPC, "No space left on device")
    assert describe_os_error(full, "the run").startswith("No space left on device while writing the run; free")
    full.filename = "/data/run.trec"
    assert describe_os_error(full).startswith("/data/run.trec: No space left on device; free")
    assert describe_os_error(IsADirectoryError(errno.EISDIR, "Is a directory")).startswith("a path is a directory")
    assert describe_os_error(ConnectionResetError(errno.ECONNRESET, "reset")) is None
