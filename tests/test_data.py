import pytest

from reasonir.data import BRIGHT_TASKS, load_beir, load_bright, parse_dataset_spec
from reasonir.errors import ConfigError, DataFormatError
from reasonir.io import write_corpus
from reasonir.types import Document

BRIGHT_COUNTS = dict(biology=103, earth_science=116, economics=103, psychology=101, robotics=101,
                     stackoverflow=117, sustainable_living=108, leetcode=142, pony=112, aops=111,
                     theoremqa_questions=194, theoremqa_theorems=76)


def test_scifact_beir(scifact_dir):
    ds = load_beir(scifact_dir)
    assert len(ds.corpus) == 5183 and len(ds.queries) == 300
    assert sum(len(v) for v in ds.qrels.values()) == 339
    train = load_beir(scifact_dir, split="train")
    assert len(train.queries) == 809
    with pytest.raises(FileNotFoundError, match="available splits"):
        load_beir(scifact_dir, split="dev")


def test_bright_local_all_tasks(bright_dir):
    assert set(BRIGHT_COUNTS) == set(BRIGHT_TASKS)
    for task, n in BRIGHT_COUNTS.items():
        ds = load_bright(task, directory=bright_dir)
        assert len(ds.queries) == n and ds.corpus is None and ds.task == task
        has_excluded = task in ("leetcode", "aops", "theoremqa_questions")
        assert bool(ds.excluded_ids) == has_excluded, task
        assert all("N/A" not in ids for ids in ds.excluded_ids.values())
    long = load_bright("biology", long_documents=True, directory=bright_dir)
    assert all(d.endswith(".txt") for docs in long.qrels.values() for d in docs)
    with pytest.raises(ConfigError, match="no long-document setting"):
        load_bright("leetcode", long_documents=True, directory=bright_dir)


def test_bright_missing_documents_message(bright_dir):
    ds = parse_dataset_spec(f"bright:pony@{bright_dir}")
    with pytest.raises(ConfigError) as err:
        ds.require_corpus()
    assert "documents.jsonl" in str(err.value) and "bright:pony" in str(err.value)


def test_bright_local_documents_and_unknown_gold(tmp_path, bright_dir, caplog):
    import shutil
    (tmp_path / "pony").mkdir()
    shutil.copy(bright_dir / "pony" / "examples.jsonl.gz", tmp_path / "pony")
    write_corpus(tmp_path / "pony" / "documents.jsonl", [Document("some_doc.txt", "text")])
    ds = load_bright("pony", directory=tmp_path)
    assert [d.id for d in ds.require_corpus()] == ["some_doc.txt"]
    assert "judged documents are not in the corpus" in caplog.text


def test_unknown_task_and_bad_specs():
    with pytest.raises(ConfigError, match="unknown BRIGHT task 'biolgy'; choose one of: biology"):
        parse_dataset_spec("bright:biolgy")
    with pytest.raises(ConfigError, match="unknown dataset scheme"):
        parse_dataset_spec("msmarco:x")
    with pytest.raises(ConfigError, match="must look like"):
        parse_dataset_spec("scifact")


def test_bright_example_missing_field(tmp_path):
    import json
    (tmp_path / "aops").mkdir()
    (tmp_path / "aops" / "examples.jsonl").write_text(json.dumps({"id": "1", "query": "q"}) + "\n")
    with pytest.raises(DataFormatError, match=r"examples.jsonl:1: BRIGHT example has no 'gold_ids' field"):
        load_bright("aops", directory=tmp_path)
