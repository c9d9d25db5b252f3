"""MMLU / GPQA loaders (local release files and a faked Hub), selection and option shuffling.

GPQA text is never printed or compared against literals here: assertions use counts, ids and hashes.
"""

import csv
import io
import sys
import types
import zipfile
from collections import Counter

import pytest
from fakes import gpqa_csv

from reasonir.errors import ConfigError, DataFormatError
from reasonir.rag.benchmarks import load_gpqa, load_mmlu, parse_mmlu_csv
from reasonir.rag.questions import MMLU_GROUPS, MMLU_SUBJECTS, MCQuestion, select_questions, shuffle_options

def test_mmlu_groups_cover_57_subjects_once():
    assert len(MMLU_SUBJECTS) == 57
    assert sum(len(v) for v in MMLU_GROUPS.values()) == 57
    assert {k: len(v) for k, v in MMLU_GROUPS.items()} == {"humanities": 13, "other": 13,
                                                            "social_sciences": 12, "stem": 19}


def test_mmlu_from_the_release_zip(data_dir):
    qs = load_mmlu(data_dir / "mmlu" / "mmlu.zip", "test", subjects=["anatomy", "college_biology"])
    counts = Counter(q.subject for q in qs)
    assert counts == {"anatomy": 135, "college_biology": 144}
    q = qs[0]
    assert q.id == "anatomy/test/0" and q.group == "stem" and len(q.options) == 4 and q.gold in "ABCD"
    assert q.question.startswith("A lesion causing compression of the facial nerve")
    assert len(load_mmlu(data_dir / "mmlu" / "mmlu.zip", "dev")) == 285


def test_mmlu_folder_and_bad_rows(tmp_path):
    d = tmp_path / "data" / "val"
    d.mkdir(parents=True)
    (d / "virology_val.csv").write_text('"What, exactly?",a,b,c,d,B\nSecond,a,b,c,d,D\n', encoding="utf-8")
    qs = load_mmlu(tmp_path, "validation")
    assert [q.gold for q in qs] == ["B", "D"] and qs[0].question == "What, exactly?"
    assert qs[1].id == "virology/val/1" and qs[0].group == "other"
    with pytest.raises(DataFormatError, match=r"x\.csv:2: answer column"):
        parse_mmlu_csv(b"q,a,b,c,d,A\nq2,a,b,c,d,Z\n", "virology", "val", "x.csv")
    with pytest.raises(DataFormatError, match="expected 6 columns"):
        parse_mmlu_csv(b"q,a,b,c,A\n", "virology", "val", "x.csv")
    with pytest.raises(ConfigError, match="unknown MMLU subject"):
        load_mmlu(tmp_path, "val", subjects=["astrology"])


def _fake_datasets(monkeypatch, rows_by_config):
    calls = []

    def load_dataset(name, config, split, revision=None, cache_dir=None):
        calls.append((name, config, split))
        return rows_by_config[config]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return calls


def test_mmlu_from_the_hub_api(monkeypatch):
    rows = [{"question": "Q1", "subject": "anatomy", "choices": ["w", "x", "y", "z"], "answer": 2},
            {"question": "Q2", "subject": "anatomy", "choices": ["w", "x", "y", "z"], "answer": 0}]
    calls = _fake_datasets(monkeypatch, {"anatomy": rows})
    qs = load_mmlu(None, "val", subjects=["anatomy"])
    assert calls == [("cais/mmlu", "anatomy", "validation")]
    assert [(q.id, q.gold) for q in qs] == [("anatomy/val/0", "C"), ("anatomy/val/1", "A")]


def test_gpqa_csv_is_shuffled_with_a_fixed_seed(tmp_path):
    path = tmp_path / "gpqa_diamond.csv"
    path.write_text(gpqa_csv(40), encoding="utf-8")
    a = load_gpqa(path, seed=1)
    assert a == load_gpqa(path, seed=1)
    assert [q.gold for q in a] != [q.gold for q in load_gpqa(path, seed=2)]
    assert len({q.gold for q in a}) == 4                     # the correct option is not always A
    for q in a:
        order = q.metadata["option_order"]
        assert sorted(order) == [0, 1, 2, 3] and order[q.answer] == 0
        assert q.options[q.answer].startswith("right") and q.sensitive
    assert {q.group for q in a} == {"Biology", "Physics"}


def test_gpqa_zip_subset_and_errors_never_quote_text(tmp_path):
    z = tmp_path / "dataset.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("dataset/gpqa_main.csv", gpqa_csv(3))
    assert len(load_gpqa(z, "main")) == 3
    with pytest.raises(DataFormatError, match="no gpqa_diamond.csv"):
        load_gpqa(z, "diamond")
    with pytest.raises(ConfigError):
        load_gpqa(z, "platinum")
    bad = tmp_path / "gpqa_diamond.csv"
    bad.write_text(gpqa_csv(2).replace("rec001", ""), encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        load_gpqa(bad)
    assert "Record ID" in str(err.value) and "Synthetic" not in str(err.value)


def test_gpqa_from_the_hub_api(monkeypatch):
    rows = list(csv.DictReader(io.StringIO(gpqa_csv(4))))
    calls = _fake_datasets(monkeypatch, {"gpqa_extended": rows})
    qs = load_gpqa(None, "extended", seed=3)
    assert calls == [("Idavidrein/gpqa", "gpqa_extended", "train")]
    assert [q.id for q in qs] == ["rec000", "rec001", "rec002", "rec003"]


def test_real_gpqa_diamond_zip(data_dir):
    qs = load_gpqa(data_dir / "gpqa" / "gpqa_diamond.zip", "diamond", seed=12345)
    assert len(qs) == 198 and len({q.id for q in qs}) == 198
    assert Counter(q.group for q in qs) == {"Chemistry": 93, "Physics": 86, "Biology": 19}
    golds = Counter(q.gold for q in qs)
    assert set(golds) == set("ABCD") and max(golds.values()) < 80
    with pytest.raises(DataFormatError, match="cannot decrypt"):
        load_gpqa(data_dir / "gpqa" / "gpqa_diamond.zip", password=b"wrong")


def test_select_questions_by_subject_group_and_limits():
    qs = [MCQuestion(f"{s}/{i}", "q", ("a", "b"), 0, s, g, "mmlu")
          for s, g in (("anatomy", "stem"), ("virology", "other")) for i in range(5)]
    assert len(select_questions(qs, ["stem"])) == 5
    assert len(select_questions(qs, ["Anatomy", "virology"], limit_per_subject=2)) == 4
    assert [q.id for q in select_questions(qs, None, limit=3)] == ["anatomy/0", "anatomy/1", "anatomy/2"]
    with pytest.raises(ConfigError, match="available: anatomy"):
        select_questions(qs, ["astronomy"])
    with pytest.raises(ConfigError):
        select_questions(qs, None, limit=0)


def test_shuffle_depends_on_id_not_on_position():
    q = MCQuestion("rec1", "q", ("r", "w1", "w2", "w3"), 0, "s", "g", "gpqa")
    a = shuffle_options(q, 5)
    assert a.options[a.answer] == "r" and a == shuffle_options(q, 5)


def test_mmlu_hub_rows_accept_letters_and_reject_bad_answers():
    from reasonir.rag.benchmarks import mmlu_from_rows

    qs = mmlu_from_rows([{"question": "q", "subject": "virology", "choices": ["a", "b"], "answer": "B"}], "test", "x")
    assert qs[0].gold == "B"
    with pytest.raises(DataFormatError, match="out of range"):
        mmlu_from_rows([{"question": "q", "choices": ["a", "b"], "answer": 3}], "test", "x")
    with pytest.raises(DataFormatError, match="x:1: row lacks"):
        mmlu_from_rows([{"question": "q", "answer": 0}], "test", "x")
