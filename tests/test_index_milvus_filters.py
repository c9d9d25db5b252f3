"""Metadata filters on the Milvus store (Milvus Lite): the same documents as the local store, in every mode."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from filter_strategies import docs_st, render, trees

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from reasonir.index import Index  # noqa: E402
from reasonir.index.filters import matches, parse_filter, to_milvus  # noqa: E402


def corpus(n: int = 80) -> list[dict]:
    rng = np.random.default_rng(1)
    words = "water ice floats melts rust iron oxygen salt freezing point sugar glucose".split()
    return [{"_id": f"d{i}", "text": " ".join(rng.choice(words, 12)), "year": 2000 + i % 25,
             "source": ['pubmed', 'arxiv', 'say "hi"\\ok'][i % 3], **({"flag": bool(i % 2)} if i % 5 else {}),
             **({"metadata": {"lang": "de", "x": {"y": i % 4}}} if i % 7 == 0 else {})} for i in range(n)]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("milvus_filters")
    local = Index.build(corpus(), root / "local", model="hash", bm25=True, shard_size=32)
    milvus = Index.build(corpus(), root / "milvus", model="hash", bm25=True, shard_size=32, store="milvus")
    yield local, milvus
    local.close()
    milvus.close()


FILTERS = ['source == "pubmed" and year >= 2010', 'source == "say \\"hi\\"\\\\ok"', "lang == 'de' or x.y > 2",
           "not flag == true", "flag != 1", "year not in [2001, 2002, 2003] and source in ['arxiv']",
           "missing == 1", "(year < 2005 or year > 2020) and not (source != 'arxiv')"]


@pytest.mark.parametrize("mode", ["dense", "bm25", "bm25q", "hybrid"])
def test_same_filtered_results_as_the_local_store(pair, mode):
    local, milvus = pair
    queries = ["water ice floats", "rust iron oxygen", "sugar glucose salt"]
    docs = {d["_id"]: {k: v for k, v in d.items() if k not in ("_id", "text")} for d in corpus()}
    for flt in FILTERS:
        allowed = {i for i, m in docs.items() if matches(parse_filter(flt), m)}
        for k in (5, 60):
            want = local.search(queries, k=k, mode=mode, filter=flt)
            got = milvus.search(queries, k=k, mode=mode, filter=flt)
            for a, b in zip(want, got):
                assert [h.id for h in a] == [h.id for h in b], (flt, mode, k)
                np.testing.assert_allclose([h.score for h in a], [h.score for h in b], rtol=2e-6, atol=1e-6)
                assert {h.id for h in b} <= allowed
                if mode == "dense":
                    assert len(b) == min(k, len(allowed))


def test_deleted_documents_stay_out_of_filtered_results(tmp_path):
    with Index.build(corpus(30), tmp_path / "m", model="hash", bm25=True, store="milvus") as idx:
        idx.delete("d3")
        for mode in ("dense", "bm25", "hybrid"):
            ids = {h.id for h in idx.search("water", k=30, mode=mode, filter="year == 2003")}
            assert "d3" not in ids


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(trees, docs_st)
def test_property_milvus_translation_agrees_with_the_local_semantics(pair, tree, docs):
    """Random expressions over random metadata: Milvus's answer to to_milvus(expr) is the local mask."""
    _, milvus = pair
    client = milvus.backend.client
    name = "filter_semantics"
    if not client.has_collection(name):
        from pymilvus import DataType

        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("meta", DataType.JSON)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        client.create_collection(name, schema=schema)
        client.create_index(name, index, sync=False)
        client.load_collection(name)
    client.delete(name, filter="row >= 0")
    from reasonir.index.filters import filter_fields

    client.upsert(name, [{"row": i, "meta": filter_fields(d), "vector": [1.0, 0.0]} for i, d in enumerate(docs)])
    got = sorted(r["row"] for r in client.query(name, filter=f"row >= 0 and {to_milvus(tree)}", output_fields=["row"]))
    want = [i for i, d in enumerate(docs) if matches(tree, d)]
    assert got == want, render(tree)
