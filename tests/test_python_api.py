"""The Python API: ``import reasonir`` (lazy, documented top-level names), in-memory corpora for
``Index.build`` / ``Index.add``, hits that carry their documents, ``evaluate`` on in-memory runs,
readable reprs, ``python -m reasonir`` and the notebook-style example script."""

from __future__ import annotations

import doctest
import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import reasonir
from reasonir.errors import ConfigError, DataFormatError, InputError, ReasonIRError
from reasonir.index import Index
from reasonir.io import write_corpus, write_qrels, write_run
from reasonir.types import Document, Hit

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOCS = [Document("ice", "Water expands when it freezes, so ice floats on liquid water.", "Why ice floats",
                 {"source": "physics"}),
        Document("rust", "Iron oxidises when it meets oxygen and water.", "Rust"),
        Document("salt", "Salt lowers the freezing point of water on winter roads.", "Salt"),
        Document("boil", "Water boils at a lower temperature in the mountains.", "Altitude")]
QUERIES = ["why does ice float", "salt on icy roads", "cooking in the mountains"]


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})


def _records(docs):
    return [{"_id": d.id, "title": d.title, "text": d.text, **d.metadata} for d in docs]


def _ranked(index, mode="hybrid"):
    return [[(h.id, round(h.score, 6)) for h in hs] for hs in index.search(QUERIES, k=4, mode=mode)]


# --------------------------------------------------------------------------------------------------
# the package namespace
# --------------------------------------------------------------------------------------------------
def test_import_reasonir_is_cheap_and_names_load_on_first_use():
    out = _python("import json, sys, reasonir\n"
                  "before = sorted(sys.modules)\n"
                  "index = reasonir.Index\n"
                  "print(json.dumps([before, sorted(sys.modules)]))")
    assert out.returncode == 0, out.stderr
    before, after = json.loads(out.stdout)
    heavy = {"torch", "transformers", "sentence_transformers", "numpy", "pytrec_eval"}
    assert not heavy & set(before)
    assert [m for m in before if m.startswith("reasonir")] == ["reasonir"]
    assert "reasonir.index.searcher" in after


def test_every_public_name_resolves_and_unknown_names_raise():
    assert reasonir.__all__[0] == "__version__" and len(set(reasonir.__all__)) == len(reasonir.__all__)
    for name in ["load_encoder", "Index", "evaluate", "load_dataset", "load_llm", "Document", "Hit", "read_run",
                 "write_run", "BM25Retriever", "EvalResult", "ReasonIRError"]:
        assert name in reasonir.__all__ and name in dir(reasonir)
    for name in reasonir.__all__:
        assert getattr(reasonir, name) is not None
    assert reasonir.Index is Index and reasonir.Hit is Hit and reasonir.Document is Document
    with pytest.raises(AttributeError, match="no attribute 'load_everything'"):
        reasonir.load_everything  # noqa: B018


def test_evaluate_stays_the_function_whichever_module_was_imported_first():
    out = _python("import reasonir.evaluate, reasonir.workflows.search, reasonir\n"
                  "from reasonir import evaluate\n"
                  "from reasonir.evaluate import EvalResult\n"
                  "print(reasonir.evaluate.__name__, evaluate is reasonir.evaluate, callable(evaluate),\n"
                  "      reasonir.EvalResult is EvalResult)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["evaluate", "True", "True", "True"]


#: every top-level name but the version and the exception classes has a docstring example
DOCUMENTED = ["load_encoder", "load_llm", "Document", "load_dataset", "read_corpus", "read_queries", "read_qrels",
              "read_run", "write_run", "Index", "Hit", "BM25Retriever", "evaluate", "EvalResult"]


def test_every_public_object_is_in_the_documented_list():
    errors = {n for n in reasonir.__all__ if isinstance(getattr(reasonir, n), type)
              and issubclass(getattr(reasonir, n), ReasonIRError)}
    assert sorted(set(reasonir.__all__) - errors - {"__version__"}) == sorted(DOCUMENTED)


@pytest.mark.parametrize("name", DOCUMENTED)
def test_public_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    obj = getattr(reasonir, name)
    module = sys.modules[obj.__module__]
    tests = doctest.DocTestFinder(recurse=False).find(obj, name, module=module, globs=dict(vars(module)))
    examples = sum(len(t.examples) for t in tests)
    assert examples >= 2, f"reasonir.{name} has no docstring example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_python_m_reasonir_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "reasonir", "--version"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"reasonir {reasonir.__version__}"


# --------------------------------------------------------------------------------------------------
# Index.build / add / delete from documents in memory
# --------------------------------------------------------------------------------------------------
def test_build_from_memory_equals_build_from_a_file(tmp_path):
    write_corpus(tmp_path / "c.jsonl", DOCS)
    with Index.build(tmp_path / "c.jsonl", tmp_path / "file", model="hash", bm25=True) as index:
        expected = _ranked(index)
    mapping = {d.id: {"title": d.title, "text": d.text, **d.metadata} for d in DOCS}
    sources = {"documents": DOCS, "records": _records(DOCS), "generator": (d for d in DOCS), "mapping": mapping}
    for label, source in sources.items():
        with Index.build(source, tmp_path / label, model="hash", bm25=True) as index:
            assert index.num_documents == 4
            assert _ranked(index) == expected, label
            assert index.get("ice") == DOCS[0] and index.get("ice").metadata == {"source": "physics"}
    with Index.build({"a": "ice floats", "b": "iron rusts"}, tmp_path / "texts", model="hash") as index:
        assert index.search("ice", k=1, mode="dense")[0].text == "ice floats"


def test_building_the_same_documents_again_is_a_noop_and_other_documents_are_refused(tmp_path):
    Index.build(DOCS, tmp_path / "idx", model="hash").close()
    with Index.build(list(DOCS), tmp_path / "idx", model="hash") as index:     # same content: nothing to do
        assert index.num_documents == 4
    with pytest.raises(ConfigError, match="already holds an index"):
        Index.build(DOCS[:2], tmp_path / "idx", model="hash")
    with Index.build(DOCS[:2], tmp_path / "idx", model="hash", overwrite=True) as index:
        assert index.num_documents == 2


@pytest.mark.parametrize("documents, where, message", [
    ([DOCS[0], {"_id": "a\tb", "text": "x"}], "documents[1]", "contains a TAB"),
    ([DOCS[0], Document(" pad", "x")], "documents[1]", "starts or ends with whitespace"),
    ([{"title": "no id", "text": "x"}], "documents[0]", "no document id"),
    ([{"_id": "a"}], "documents[0]", "has no text"),
    (["just a text"], "documents[0]", "give each document an id"),
    ([DOCS[0], DOCS[1], DOCS[0]], "documents[2]", "duplicate document id 'ice'"),
    ({"a\nb": "x"}, "documents['a\\nb']", "line break"),
    ({"a": 3}, "documents['a']", "expected the document's text"),
    ([Document("a", "x", metadata={"when": object()})], "documents[0]", "cannot be stored as JSON"),
])
def test_in_memory_documents_are_checked_like_files(tmp_path, documents, where, message):
    with pytest.raises(DataFormatError, match=message) as err:
        Index.build(documents, tmp_path / "idx", model="hash")
    assert str(err.value).startswith(f"{where}: ")
    assert not (tmp_path / "idx").exists()                # a failed build leaves no folder behind


def test_bad_arguments_to_build_name_the_valid_choices(tmp_path):
    with pytest.raises(InputError, match="documents must be a corpus path, a list"):
        Index.build(42, tmp_path / "idx", model="hash")
    with pytest.raises(InputError, match="got set"):
        Index.build({"a", "b"}, tmp_path / "idx", model="hash")
    with pytest.raises(ConfigError, match="unknown index setting.*bm52.*choose among model.*bm25"):
        Index.build(DOCS, tmp_path / "idx", model="hash", bm52=True)


def test_add_and_delete_in_memory_are_seen_at_once_and_match_a_fresh_build(tmp_path):
    with Index.build(DOCS[:2], tmp_path / "grown", model="hash", bm25=True) as index:
        report = index.add(_records(DOCS[2:]))
        assert (report.operation, report.rows_added) == ("add", 2)
        assert index.num_documents == 4
        with Index.build(DOCS, tmp_path / "fresh", model="hash", bm25=True) as fresh:
            assert _ranked(index) == _ranked(fresh)
        with pytest.raises(DataFormatError, match="'rust' is already in the index"):
            index.add([Document("rust", "stainless steel")])
        assert index.num_documents == 4                   # the refused add changed nothing
        index.add([Document("rust", "Stainless steel does not rust.")], replace=True)
        assert index.get("rust").text == "Stainless steel does not rust."
        assert index.search("stainless steel", k=1, mode="bm25")[0].text == "Stainless steel does not rust."
        index.delete("ice")
        assert index.num_documents == 3 and index.get("ice") is None
        assert "ice" not in {h.id for h in index.search("ice floats", k=4, mode="dense")}
    with Index.open(tmp_path / "grown") as reopened:
        assert reopened.num_documents == 3


def test_build_loads_the_encoder_once_for_building_and_searching(tmp_path, monkeypatch):
    from reasonir.index import encoding

    loads = []
    real = encoding.load
    monkeypatch.setattr(encoding, "load", lambda spec: loads.append(spec.model) or real(spec))
    with Index.build(DOCS, tmp_path / "idx", model="hash") as index:
        index.search(QUERIES, k=2, mode="dense")
        index.add([Document("extra", "an extra document")])
        index.search("extra", k=1, mode="dense")
    assert loads == ["hash"]


def test_index_is_a_context_manager_with_a_readable_repr(tmp_path):
    with Index.build(DOCS, tmp_path / "idx", model="hash", bm25=True) as index:
        assert repr(index) == (f"Index({str(tmp_path / 'idx')!r}, model='hash', dim=256, documents=4, "
                               "modes=['dense', 'bm25', 'bm25q', 'hybrid'])")
        assert index.get("ice") == DOCS[0] and index.store._local.conn is not None
    assert index.store._local.conn is None                 # closed on leaving the block


# --------------------------------------------------------------------------------------------------
# hits carry their documents
# --------------------------------------------------------------------------------------------------
def test_hits_carry_id_score_title_text_from_one_store_query(tmp_path, monkeypatch):
    index = Index.build(DOCS, tmp_path / "idx", model="hash", bm25=True)
    calls = []
    real = index.store.get_rows
    monkeypatch.setattr(index.store, "get_rows", lambda rows: calls.append(list(rows)) or real(rows))
    for mode in ("dense", "bm25", "hybrid"):
        calls.clear()
        batch = index.search(QUERIES, k=3, mode=mode)
        assert len(calls) == 1                              # every hit of the batch in one query
        for hits in batch:
            for hit in hits:
                doc = index.get(hit.id)
                assert (hit.docid, hit.title, hit.text, hit.metadata) == (doc.id, doc.title, doc.text, doc.metadata)
                assert hit.document == doc and json.loads(hit.raw)["_id"] == doc.id
    top = index.search("why does ice float", k=1)[0]
    assert top.id == "ice" and top.contents == DOCS[0].full_text
    assert json.loads(top.raw) == {"_id": "ice", "title": "Why ice floats", "text": DOCS[0].text, "source": "physics"}
    calls.clear()
    bare = index.search(QUERIES, k=3, fetch_documents=False)
    run = index.search_run(dict(zip(["q1", "q2", "q3"], QUERIES)), k=3)
    assert not calls                                        # ids only: no document is read
    assert [[(h.id, h.score) for h in hs] for hs in bare] == [[(h.id, h.score) for h in hs] for hs in batch]
    assert all(h.text is None and h.raw is None and h.document is None for hs in bare for h in hs)
    assert run["q1"] == {h.id: h.score for h in batch[0]}
    index.close()


def test_hit_keeps_its_positional_fields_and_a_short_repr():
    hit = Hit("d1", 0.5, 7, dense=0.4, bm25=2.0)
    assert (hit.id, hit.score, hit.row, hit.dense, hit.bm25, hit.text) == ("d1", 0.5, 7, 0.4, 2.0, None)
    assert repr(hit) == "Hit(id='d1', score=0.5)"
    long = Hit("d2", 1.25, title="T", text="x" * 500)
    assert repr(long) == f"Hit(id='d2', score=1.25, title='T', text='{'x' * 57}...')"


# --------------------------------------------------------------------------------------------------
# evaluate on in-memory runs
# --------------------------------------------------------------------------------------------------
def test_evaluate_takes_hit_lists_dicts_and_files_alike(tmp_path):
    qrels = {"q1": {"ice": 1}, "q2": {"salt": 1}, "q3": {"boil": 2}}
    with Index.build(DOCS, tmp_path / "idx", model="hash", bm25=True) as index:
        hits = {q: index.search(text, k=4) for q, text in zip(qrels, QUERIES)}
        run = {q: {h.id: h.score for h in hs} for q, hs in hits.items()}
    from_hits = reasonir.evaluate(qrels, hits, "ndcg@4,mrr")
    assert from_hits.mean == reasonir.evaluate(qrels, run, "ndcg@4,mrr").mean
    write_run(tmp_path / "run.trec", run)
    write_qrels(tmp_path / "qrels.tsv", qrels)
    assert reasonir.evaluate(tmp_path / "qrels.tsv", str(tmp_path / "run.trec"), "ndcg@4,mrr").mean == pytest.approx(
        from_hits.mean, abs=1e-6)
    twice = {"q1": [Hit("rust", 0.9), Hit("ice", 0.1), Hit("ice", 0.95)]}   # a repeated doc keeps its best score
    assert reasonir.evaluate({"q1": {"ice": 1}}, twice, "mrr").mean == {"mrr": 1.0}


def test_evaluate_refuses_swapped_or_malformed_arguments():
    qrels, run = {"q1": {"d1": 1}}, {"q1": {"d1": 0.83, "d2": 0.2}}
    with pytest.raises(DataFormatError, match=r"qrels\['q1'\]\['d1'\] = 0.83 is not an integer grade.*\(qrels, run\)"):
        reasonir.evaluate(run, qrels)
    with pytest.raises(InputError, match="run must be"):
        reasonir.evaluate(qrels, [("q1", "d1", 1.0)])
    with pytest.raises(InputError, match=r"qrels\['q1'\] must be"):
        reasonir.evaluate({"q1": ["d1"]}, run)
    with pytest.raises(InputError, match=r"run\['q1'\] must be"):
        reasonir.evaluate(qrels, {"q1": ["d1"]})
    assert reasonir.evaluate({"q1": {"d1": 1.0}}, run, "mrr").mean == {"mrr": 1.0}      # 1.0 is a grade


# --------------------------------------------------------------------------------------------------
# reprs, the example script
# --------------------------------------------------------------------------------------------------
def test_encoders_and_llms_have_readable_reprs(tmp_path):
    from reasonir.encode import CachedEncoder, EmbeddingCache, LLMEncoder, load_encoder
    from reasonir.llm import FunctionLLM, MicroBatchingLLM, load_llm

    hashing = load_encoder("hash", dim=64)
    assert repr(hashing) == "HashingEncoder(dim=64, bigrams=True)"
    assert repr(CachedEncoder(hashing, EmbeddingCache(tmp_path / "c"))) == (
        f"CachedEncoder(HashingEncoder(dim=64, bigrams=True), cache={str(tmp_path / 'c')!r})")
    pytest.importorskip("transformers")
    from encode_tiny import tiny_model, tiny_tokenizer

    llm_enc = LLMEncoder(tiny_model(), tiny_tokenizer(), name="tiny-llama", max_length=32)
    assert repr(llm_enc) == ("LLMEncoder('tiny-llama', dim=32, pooling='mean', max_length=32, "
                             "prompt_format='reasonir', device='cpu', dtype='fp32')")

    def yes(prompt, params):
        return "yes"

    fn = FunctionLLM(yes, name="always-yes", concurrency=2)
    assert repr(fn) == "FunctionLLM('always-yes', fn=test_encoders_and_llms_have_readable_reprs.<locals>.yes, " \
                       "concurrency=2)"
    batching = MicroBatchingLLM(fn, max_batch=4)
    assert repr(batching) == f"MicroBatchingLLM({fn!r}, max_batch=4, max_wait=0.01)"
    batching.close()
    with load_llm(fn, cache=tmp_path / "llm.sqlite") as llm:
        assert repr(llm) == f"CachedLLM('always-yes', cache=ResponseCache({str(tmp_path / 'llm.sqlite')!r}))"


def test_minilm_encoder_repr_names_model_dim_device_dtype():
    from reasonir.encode import load_encoder

    enc = load_encoder("minilm", device="cpu", dtype="fp32")
    assert repr(enc) == ("SentenceTransformerEncoder('sentence-transformers/all-MiniLM-L6-v2', dim=384, "
                         "pooling='mean', max_length=256, device='cpu', dtype='fp32')")


def test_example_script_builds_searches_and_evaluates_from_memory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)                              # the script does not depend on the folder
    monkeypatch.setattr(sys, "argv", ["python_api.py", "hash", str(tmp_path / "work")])
    env = runpy.run_path(str(ROOT / "examples" / "python_api.py"), run_name="__main__")
    assert env["hits"][0].docid == "ice" and env["hits"][0].title == "Why ice floats"
    assert env["result"].metrics == ["ndcg@5", "recall@5", "mrr"]
    assert env["result"].mean["recall@5"] == 1.0 and 0.0 < env["result"].mean["mrr"] <= 1.0
    assert (tmp_path / "work" / "run.trec").exists()
    printed = capsys.readouterr().out
    assert "Index(" in printed and "5 documents" in printed
