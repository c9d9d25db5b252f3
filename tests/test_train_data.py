"""Training sources (files, folders, qrels pairs), the batch plan and per-query group sampling."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from reasonir.data import load_beir
from reasonir.errors import ConfigError, DataFormatError
from reasonir.train.batching import DOCUMENT, QUERY, BatchPlan, make_batch, sample_group
from reasonir.train.data import DataSource, SourceSpec, load_sources, qrels_to_examples
from reasonir.trainio import write_train_examples
from reasonir.types import TrainExample


def _examples(tag: str, n: int, negs: int = 2) -> list[TrainExample]:
    return [TrainExample(query=f"{tag} q{i}", pos=[f"{tag} p{i}a", f"{tag} p{i}b"],
                         neg=[f"{tag} n{i}.{j}" for j in range(negs)], query_instruction="Find:",
                         doc_instruction="") for i in range(n)]


def _source(name: str, n: int, weight=None, negs: int = 2) -> DataSource:
    return DataSource(name, _examples(name, n, negs), weight)


def test_spec_parsing_rejects_bad_entries():
    assert SourceSpec.parse("a.jsonl").path == "a.jsonl"
    assert SourceSpec.parse({"path": "beir:x", "split": "dev"}).is_dataset
    assert not SourceSpec.parse({"path": "folder/"}).is_dataset
    with pytest.raises(ConfigError, match="unknown key"):
        SourceSpec.parse({"path": "a", "wieght": 2})
    with pytest.raises(ConfigError, match="weight"):
        SourceSpec.parse({"path": "a", "weight": -1})
    with pytest.raises(ConfigError, match="negatives"):
        SourceSpec.parse({"path": "a", "negatives": "hard"})
    with pytest.raises(ConfigError, match="path"):
        SourceSpec.parse({"weight": 1})


def test_files_and_folders_become_sources(tmp_path):
    write_train_examples(tmp_path / "hq.jsonl", _examples("hq", 3))
    folder = tmp_path / "public"
    write_train_examples(folder / "msmarco.jsonl", _examples("ms", 6))
    write_train_examples(folder / "nq.jsonl", _examples("nq", 2))
    st = tmp_path / "st.jsonl"
    st.write_text(json.dumps({"anchor": "a", "positive": "b", "negative": "c"}) + "\n", encoding="utf-8")
    sources = load_sources([{"path": str(tmp_path / "hq.jsonl"), "weight": 0.2, "query_instruction": "X:"},
                            {"path": str(folder), "weight": 0.8}])
    by_name = {s.name: s for s in sources}
    assert set(by_name) == {"hq", "msmarco", "nq"}
    assert by_name["msmarco"].weight == pytest.approx(0.6) and by_name["nq"].weight == pytest.approx(0.2)
    assert by_name["hq"].examples[0].query_instruction == "Find:"        # explicit instruction kept
    plain = load_sources([str(st)])
    assert plain[0].examples[0].neg == ["c"]
    with pytest.raises(ConfigError, match="weight to every"):
        load_sources([{"path": str(tmp_path / "hq.jsonl"), "weight": 1.0}, str(st)])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": ["", "q"], "pos": []}\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match="bad.jsonl:1"):
        load_sources([str(bad)])
    with pytest.raises(ConfigError, match="empty"):
        load_sources([])


def test_query_instruction_fills_only_empty_ones(tmp_path):
    write_train_examples(tmp_path / "a.jsonl", [TrainExample(query="q", pos=["p"])])
    (src,) = load_sources([{"path": str(tmp_path / "a.jsonl"), "query_instruction": "Retrieve papers:"}])
    assert src.examples[0].query_instruction == "Retrieve papers:"


def test_scifact_train_qrels_become_pairs_with_mined_negatives(scifact_dir):
    ds = load_beir(scifact_dir, "train")
    examples = qrels_to_examples(ds, negatives="bm25", num_negatives=4, mine_from=2, mine_to=30)
    assert len(examples) == len(ds.qrels) == 809
    titles = {d.id: d.full_text for d in ds.corpus}
    for ex in examples[:50]:
        qid = ex.metadata["query_id"]
        assert ex.query == ds.queries[qid]
        assert set(ex.metadata["pos_ids"]) == {d for d, g in ds.qrels[qid].items() if g > 0}
        assert ex.pos == [titles[d] for d in ex.metadata["pos_ids"]]
        assert len(ex.neg) == 4 and not set(ex.metadata["neg_ids"]) & set(ds.qrels[qid])
    random_neg = qrels_to_examples(ds, negatives="random", num_negatives=3, seed=1)
    assert all(len(e.neg) == 3 and not set(e.metadata["neg_ids"]) & set(ds.qrels[e.metadata["query_id"]])
               for e in random_neg)
    assert all(e.neg == [] for e in qrels_to_examples(ds, negatives="none"))


def test_batch_plan_is_deterministic_single_source_and_complete():
    sources = [_source("a", 23), _source("b", 9), _source("c", 4)]
    plan = BatchPlan(sources, batch_size=4, seed=3)
    again = BatchPlan(sources, batch_size=4, seed=3)
    assert plan.steps_per_epoch == 9                              # 36 examples // 4
    batches = plan.epoch(0)
    assert batches == again.epoch(0) and batches != plan.epoch(1)
    pure = [b for b in batches if len({s for s, _ in b}) == 1]
    assert len(pure) >= 5 + 2 + 1                                 # every full per-source batch is pure
    seen = Counter(x for b in batches for x in b)
    assert max(seen.values()) == 1 and len(seen) == 36            # each example once per epoch
    assert plan.global_batch(9 + 2) == plan.epoch(1)[2]           # steps run across epochs
    mixed = BatchPlan(sources, batch_size=4, seed=3, single_source=False)
    assert sum(len({s for s, _ in b}) > 1 for b in mixed.epoch(0)) > 3
    with pytest.raises(ConfigError, match="exceeds"):
        BatchPlan(sources, batch_size=100)


def test_weights_set_each_sources_share():
    sources = [_source("a", 10, weight=3.0), _source("b", 50, weight=1.0)]
    plan = BatchPlan(sources, batch_size=5, seed=0)
    assert plan.counts == [45, 15]                                # 60 examples split 3:1; "a" repeated
    drawn = Counter(s for b in plan.epoch(0) for s, _ in b)
    assert drawn[0] == 45 and drawn[1] == 15


def test_local_batches_partition_the_global_batch():
    plan = BatchPlan([_source("a", 40)], batch_size=8, seed=1)
    parts = [plan.local_batch(5, r, 4) for r in range(4)]
    assert [x for p in parts for x in p] == plan.global_batch(5)
    with pytest.raises(ConfigError, match="split"):
        plan.local_batch(0, 0, 3)


def test_make_batch_layout_and_negative_sampling():
    sources = [_source("a", 12, negs=5)]
    plan = BatchPlan(sources, batch_size=6, seed=0)
    batch = make_batch(plan, step=1, group_size=3)
    assert len(batch.queries) == 6 and len(batch.passages) == 18 and batch.group_size == 3
    for i, q in enumerate(batch.queries):
        assert q.side == QUERY and q.instruction == "Find:"
        idx = q.text.split("q")[-1]
        pos, *negs = batch.passages[3 * i:3 * i + 3]
        assert pos.side == DOCUMENT and pos.text in (f"a p{idx}a", f"a p{idx}b")
        assert len(set(n.text for n in negs)) == 2 and all(n.text.startswith(f"a n{idx}.") for n in negs)
    assert make_batch(plan, 1, 3).passages == batch.passages          # deterministic
    assert make_batch(plan, 1, 3, rank=1, world_size=2).queries == batch.queries[3:]


def test_negatives_repeat_or_are_borrowed_when_missing():
    rng = np.random.default_rng(0)
    one_neg = _examples("x", 1, negs=1)[0]
    assert [p.text for p in sample_group(one_neg, 4, rng)][1:] == ["x n0.0"] * 3
    pool = _examples("y", 5, negs=0)
    group = sample_group(pool[0], 3, rng, pool)
    assert all(p.text.startswith("y p") and not p.text.startswith("y p0") for p in group[1:])
    with pytest.raises(ConfigError, match="hard negatives"):
        sample_group(pool[0], 2, rng, [pool[0]])
    assert len(sample_group(pool[0], 1, rng)) == 1


def test_per_item_instructions_are_kept():
    ex = TrainExample(query="q", pos=["p1", "p2"], neg=["n"], doc_instruction="D:",
                      metadata={"pos_instructions": ["D:", "E:"], "neg_instructions": ["N:"]})
    rng = np.random.default_rng(4)
    seen = {tuple((p.instruction, p.text) for p in sample_group(ex, 2, rng)) for _ in range(20)}
    assert (("D:", "p1"), ("N:", "n")) in seen and (("E:", "p2"), ("N:", "n")) in seen
