"""One ``hf:`` syntax for corpora, queries, query variants and synthesizer inputs (reasonir.hf_spec)."""

import sys

import pytest

from reasonir.errors import ConfigError, DataFormatError
from reasonir.hf_spec import HFSpec, parse_hf_spec

datasets = pytest.importorskip("datasets")


@pytest.mark.parametrize("spec, want", [
    ("hf:org/data", ("org/data", None, "train", None, None, None, None)),
    ("hf:BeIR/scifact:corpus@corpus", ("BeIR/scifact", "corpus", "corpus", None, None, None, None)),
    ("hf:org/data@test?text=body&id=key&title=head&revision=v1",
     ("org/data", None, "test", "v1", "body", "key", "head")),
    ("hf:org/data?config=en&split=dev", ("org/data", "en", "dev", None, None, None, None)),
    ("hf:org/data:en@dev?config=en&split=dev", ("org/data", "en", "dev", None, None, None, None)),
])
def test_parse_the_short_and_the_option_forms(spec, want):
    got = parse_hf_spec(spec)
    assert (got.name, got.config, got.split, got.revision, got.text, got.id, got.title) == want


@pytest.mark.parametrize("spec, message", [
    ("hf:", "expected hf:NAME"),
    ("hf:org/data@", "expected hf:NAME"),
    ("hf:org/data:", "expected hf:NAME"),
    ("hf:org/data?color=red", "unknown option 'color'"),
    ("hf:org/data?text=a&text=b", "option 'text' given twice"),
    ("hf:org/data?text=", "option 'text' has no value"),
    ("hf:org/data@test?split=train", "split given twice with different values"),
    ("hf:org/data:en?config=fr", "config given twice with different values"),
    ("org/data", "expected hf:NAME"),
])
def test_malformed_specs_are_refused_naming_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_hf_spec(spec)


def test_a_local_folder_with_a_colon_is_a_name_not_a_config(tmp_path):
    folder = tmp_path / "a:b"
    datasets.Dataset.from_list([{"_id": "d1", "text": "x"}]).save_to_disk(str(folder))
    assert parse_hf_spec(f"hf:{folder}") == HFSpec(f"hf:{folder}", str(folder))


@pytest.fixture
def saved(tmp_path):
    """A saved DatasetDict with documents (own column names) and queries."""
    docs = datasets.Dataset.from_list([{"key": "d1", "body": "Ice floats on water.", "head": "Ice", "year": 2020},
                                       {"key": "d2", "body": "Cells divide by mitosis.", "head": "Cells",
                                        "year": 2021}])
    queries = datasets.Dataset.from_list([{"qid": "q1", "question": "Does ice float?"},
                                          {"qid": "q2", "question": "How do cells divide?"}])
    path = tmp_path / "ds"
    datasets.DatasetDict({"corpus": docs, "queries": queries}).save_to_disk(str(path))
    return path


def test_the_same_spec_reads_corpora_queries_and_synthesizer_inputs(saved, tmp_path):
    from reasonir.index import Index
    from reasonir.index.corpus import iter_documents, resolve_corpus
    from reasonir.io import read_queries
    from reasonir.synth.pool import read_documents

    corpus = f"hf:{saved}@corpus?text=body&id=key&title=head"
    docs = [d for d, _ in iter_documents(resolve_corpus(corpus))]
    assert [(d.id, d.title, d.text, d.metadata) for d in docs] == [
        ("d1", "Ice", "Ice floats on water.", {"year": 2020}), ("d2", "Cells", "Cells divide by mitosis.", {"year": 2021})]
    assert [(d.id, d.text) for d in read_documents(corpus)] == [(d.id, d.text) for d in docs]
    assert read_queries(f"hf:{saved}@queries?text=question&id=qid") == {
        "q1": "Does ice float?", "q2": "How do cells divide?"}
    with Index.build(corpus, tmp_path / "idx", model="hash") as index:
        assert index.search("ice floats", k=1)[0].id == "d1"


def test_row_ids_and_missing_ids(saved):
    from reasonir.index.corpus import iter_documents, resolve_corpus
    from reasonir.synth.pool import read_documents

    # the synthesizer numbers rows without ids (from 0); an index corpus asks for id=FIELD or id=_row
    assert [d.id for d in read_documents(f"hf:{saved}@corpus?text=body")] == ["0", "1"]
    with pytest.raises(DataFormatError, match="row 1|:1"):
        list(iter_documents(resolve_corpus(f"hf:{saved}@corpus?text=body")))
    assert [d.id for d, _ in iter_documents(resolve_corpus(f"hf:{saved}@corpus?text=body&id=_row"))] == ["0", "1"]


def test_a_mapped_column_that_does_not_exist_names_the_columns(saved):
    from reasonir.io import read_queries

    with pytest.raises(ConfigError, match=r"text='query' is not a column of this dataset; columns: qid, question"):
        read_queries(f"hf:{saved}@queries?text=query&id=qid")
    with pytest.raises(ConfigError, match="split 'dev' not found; splits: corpus, queries"):
        read_queries(f"hf:{saved}@dev")


def test_duplicate_query_ids_in_a_dataset_name_the_rows(tmp_path):
    from reasonir.io import read_queries

    datasets.Dataset.from_list([{"id": "q1", "text": "a"}, {"id": "q1", "text": "b"}]).save_to_disk(str(tmp_path / "q"))
    with pytest.raises(DataFormatError, match=r":2: duplicate query id 'q1' \(first at row 1\)"):
        read_queries(f"hf:{tmp_path / 'q'}")


def test_query_variants_and_search_take_an_hf_spec(saved, tmp_path):
    from reasonir.data import Dataset
    from reasonir.query_variants import apply_query_variant, is_variant_file

    assert is_variant_file("hf:org/rewrites")
    ds = Dataset(name="t", queries={"q1": "old one", "q2": "old two"}, qrels={"q1": {"d1": 1}})
    out = apply_query_variant(ds, f"hf:{saved}@queries?text=question&id=qid")
    assert out.queries == {"q1": "Does ice float?", "q2": "How do cells divide?"}


def test_the_mapping_is_part_of_the_corpus_fingerprint(saved):
    from reasonir.index.corpus import fingerprint, resolve_corpus

    a = fingerprint(resolve_corpus(f"hf:{saved}@corpus?text=body&id=key"))
    b = fingerprint(resolve_corpus(f"hf:{saved}@corpus?text=head&id=key"))
    assert a != b and a == fingerprint(resolve_corpus(f"hf:{saved}@corpus?id=key&text=body"))


class _OfflineDatasets:
    """A stand-in ``datasets`` module whose Hub is unreachable."""

    class DatasetDict(dict):
        pass

    def load_dataset(self, *args, **kwargs):
        raise ConnectionError("Couldn't reach 'org/data' on the Hub (LocalEntryNotFoundError)")


def test_an_unreachable_hub_names_the_local_alternative_once(monkeypatch):
    from reasonir.io import read_queries

    monkeypatch.setitem(sys.modules, "datasets", _OfflineDatasets())
    with pytest.raises(ConfigError) as err:
        read_queries("hf:org/data@test")
    message = str(err.value)
    assert "cannot load 'org/data' from the Hugging Face Hub" in message and "save_to_disk" in message
    assert message.count("Use a local copy") == 1


def test_cli_batch_search_reads_queries_from_a_dataset(saved, tmp_path, capsys):
    from reasonir.cli import main
    from reasonir.index import Index

    Index.build(f"hf:{saved}@corpus?text=body&id=key", tmp_path / "idx", model="hash").close()
    out = tmp_path / "run.trec"
    assert main(["search", str(tmp_path / "idx"), "--queries", f"hf:{saved}@queries?text=question&id=qid",
                 "--retriever", "bm25", "-k", "1", "--out", str(out), "-q"]) == 0
    rows = [line.split() for line in out.read_text().splitlines()]
    assert [(r[0], r[2]) for r in rows] == [("q1", "d1"), ("q2", "d2")]
