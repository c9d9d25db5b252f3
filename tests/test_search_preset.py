"""`reasonir search --preset paper`: hybrid fuses with BRIGHT's query-side BM25; flags still win."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from reasonir import config
from reasonir.cli import main
from reasonir.index import Index, IndexOptions, build_index
from reasonir.io import write_corpus
from reasonir.prompts.presets import load_preset, preset_digest
from reasonir.types import Document
from reasonir.workflows.search import SearchConfig

WORDS = ("protein cell membrane gene enzyme neuron cortex plasma tumor virus vaccine immune receptor signal "
         "pathway mutation kinase insulin glucose liver kidney heart lung muscle bone blood oxygen").split()
# a long query whose terms repeat: standard BM25 counts every repetition, query-side BM25 saturates them
QUERY = ("kinase kinase kinase kinase mutation mutation tumor tumor tumor signal pathway receptor "
         "kinase mutation tumor insulin")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    rng = np.random.default_rng(3)
    docs = [Document(id=f"d{i:03d}", title="", text=" ".join(rng.choice(WORDS, size=int(rng.integers(6, 40)))))
            for i in range(150)]
    root = tmp_path_factory.mktemp("search_preset")
    write_corpus(root / "corpus.jsonl", docs)
    build_index(str(root / "corpus.jsonl"), str(root / "idx"), IndexOptions(model="hash", bm25=True))
    return root / "idx"


def _search_json(capsys, argv: list[str]) -> dict:
    assert main(["search", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _bm25_of_hits(index_dir, mode: str, ids: list[str]) -> list[float]:
    index = Index.open(index_dir)
    try:
        _, _, full = index.bm25(QUERY, 1, mode)
        rows = index.store.rows_of_ids(ids, below=index.num_rows)
        return [float(full[rows[i][-1]]) for i in ids]
    finally:
        index.close()


def _hybrid(index_dir, bm25_mode: str) -> list[tuple[str, float]]:
    index = Index.open(index_dir)
    try:
        return [(h.id, h.score) for h in index.search(QUERY, k=8, mode="hybrid", bm25_mode=bm25_mode)]
    finally:
        index.close()


def test_the_paper_preset_sets_query_side_bm25_interpolated_half_and_half():
    values = load_preset("paper", "search")
    assert values == {"bm25_mode": "bm25q", "fusion": "interpolate", "weights": "0.5,0.5"}
    cfg = config.build(SearchConfig, {"index_dir": "idx", "query": "q", **values})
    assert (cfg.bm25_mode, cfg.fusion, cfg.weights) == ("bm25q", "interpolate", "0.5,0.5")


def test_preset_paper_makes_a_hybrid_search_fuse_with_bm25q(index_dir, capsys):
    assert _hybrid(index_dir, "bm25") != _hybrid(index_dir, "bm25q")   # the query tells the variants apart
    out = _search_json(capsys, [str(index_dir), QUERY, "-k", "8", "--retriever", "hybrid", "--preset", "paper"])
    assert (out["preset"], out["fusion"], out["bm25_mode"]) == ("paper", "interpolate", "bm25q")
    hits = out["results"]
    assert [(h["id"], pytest.approx(h["score"])) for h in hits] == _hybrid(index_dir, "bm25q")
    ids = [h["id"] for h in hits]
    assert [h["bm25"] for h in hits] == pytest.approx(_bm25_of_hits(index_dir, "bm25q", ids))
    assert [h["bm25"] for h in hits] != pytest.approx(_bm25_of_hits(index_dir, "bm25", ids))


def test_an_explicit_bm25_mode_overrides_the_preset(index_dir, capsys, tmp_path):
    out = _search_json(capsys, [str(index_dir), QUERY, "-k", "8", "--retriever", "hybrid", "--preset", "paper",
                                "--bm25-mode", "bm25"])
    assert (out["preset"], out["bm25_mode"]) == ("paper", "bm25")
    hits = out["results"]
    assert [(h["id"], pytest.approx(h["score"])) for h in hits] == _hybrid(index_dir, "bm25")
    assert [h["bm25"] for h in hits] == pytest.approx(_bm25_of_hits(index_dir, "bm25", [h["id"] for h in hits]))
    cfg_file = tmp_path / "search.yaml"                              # a --config file outranks the preset too
    cfg_file.write_text("preset: paper\nbm25_mode: bm25\nfusion: rrf\n")
    out = _search_json(capsys, [str(index_dir), QUERY, "--retriever", "hybrid", "--config", str(cfg_file)])
    assert (out["preset"], out["bm25_mode"], out["fusion"]) == ("paper", "bm25", "rrf")


def test_a_batch_run_records_the_preset_and_its_hash(index_dir, tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"_id": "q1", "text": QUERY}) + "\n")
    run = tmp_path / "run.trec"
    assert main(["search", str(index_dir), "--queries", str(queries), "--out", str(run), "--preset", "paper"]) == 0
    saved = json.loads((tmp_path / "run.trec.config.json").read_text())
    assert saved["preset"] == "paper" and saved["preset_sha256"] == preset_digest("paper", "search")
    assert saved["config"]["bm25_mode"] == "bm25q"
    capsys.readouterr()


def test_every_search_entry_point_has_the_same_hybrid_bm25_default(index_dir):
    pytest.importorskip("fastapi")
    from reasonir.serve.app import create_app

    cli_default = SearchConfig.__dataclass_fields__["bm25_mode"].default
    api_default = inspect.signature(Index.search).parameters["bm25_mode"].default
    index = Index.open(index_dir)
    try:
        schema = create_app(index).openapi()["components"]["schemas"]["SearchRequest"]
    finally:
        index.close()
    assert cli_default == api_default == schema["properties"]["bm25_mode"]["default"]
