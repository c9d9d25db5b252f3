"""Query variants are first-class: BRIGHT reasoning configs (Hub or local files) and rewritten-query files,
through `--queries` on every command that takes a dataset; a missing variant is an error, never a fallback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from reasonir.cli import build_parser, main
from reasonir.data import BRIGHT_REVISION, load_beir, load_bright, parse_dataset_spec
from reasonir.errors import ConfigError, DataFormatError
from reasonir.query_variants import BRIGHT_REASONING_VARIANTS, apply_query_variant, is_variant_file, variant_config
from reasonir.workflows.retrieve import RetrieveConfig, run_retrieve

TONGSEARCH = Path("reasoned_queries") / "tongsearch-qr-7b.json"


def _examples(bright_dir: Path, task: str, n: int) -> list[dict]:
    with gzip.open(bright_dir / task / "examples.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh)]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture
def biology_dir(tmp_path, bright_dir):
    """biology with 4 real examples, a small corpus and gpt4_reason.jsonl made from the TongSearch map."""
    examples = _examples(bright_dir, "biology", 4)
    root = tmp_path / "bright"
    _write_jsonl(root / "biology" / "examples.jsonl", examples)
    docs = {g: f"gold passage {i}" for i, ex in enumerate(examples) for g in ex["gold_ids"]}
    _write_jsonl(root / "biology" / "documents.jsonl", [{"id": d, "content": t} for d, t in docs.items()])
    reasoned = json.loads((bright_dir / TONGSEARCH).read_text(encoding="utf-8"))
    _write_jsonl(root / "biology" / "gpt4_reason.jsonl",
                 [{"id": ex["id"], "query": reasoned[ex["query"]]} for ex in examples])
    return root, examples, reasoned


def test_named_variant_missing_locally_is_an_error_naming_the_file(bright_dir, capsys):
    rc = main(["retrieve", "--dataset", f"bright:biology@{bright_dir}", "--queries", "gpt4_reason"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "reasonir retrieve: error:" in err and str(bright_dir / "biology" / "gpt4_reason.jsonl") in err
    assert "xlangai/BRIGHT 'gpt4_reason' config" in err
    with pytest.raises(ConfigError, match="gpt4_reason.jsonl"):            # never silently the original queries
        load_bright("biology", directory=bright_dir, query_variant="gpt4_reason")
    with pytest.raises(ConfigError, match="llama3-70b_reason.jsonl"):
        parse_dataset_spec(f"bright:pony@{bright_dir}", queries="llama3-70b")


def test_local_variant_file_runs_and_replaces_every_query(biology_dir, capsys):
    root, examples, reasoned = biology_dir
    assert main(["retrieve", "--dataset", f"bright:biology@{root}", "--queries", "gpt4_reason", "--retriever",
                 "bm25q", "--top-k", "10", "--metrics", "ndcg@10", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["num_queries"] == 4
    out = run_retrieve(RetrieveConfig(dataset=f"bright:biology@{root}", retriever="bm25q", top_k=10,
                                      metrics="ndcg@10",
                                      query_variant="gpt4_reason"))
    assert out.dataset.queries == {ex["id"]: reasoned[ex["query"]] for ex in examples}
    rep = out.dataset.metadata["query_variant"]
    assert rep["name"] == "gpt4_reason" and rep["source"] == "local" and rep["matched"] == 4
    assert rep["path"].endswith("gpt4_reason.jsonl") and len(rep["sha256"]) == 64
    # the file form of the same variant: the TongSearch map (original text -> reasoned text)
    (root.parent / "map.json").write_text(json.dumps(reasoned), encoding="utf-8")
    via_file = parse_dataset_spec(f"bright:biology@{root}", queries=str(root.parent / "map.json"))
    assert via_file.queries == out.dataset.queries and len(via_file.metadata["query_variant"]["sha256"]) == 64
    # `original` changes nothing; the old flag name still works
    assert parse_dataset_spec(f"bright:biology@{root}", queries="original").queries == {
        ex["id"]: ex["query"] for ex in examples}
    assert main(["retrieve", "--dataset", f"bright:biology@{root}", "--query-variant", "gpt4_reason",
                 "--retriever", "bm25q", "--json"]) == 0


def test_named_variant_must_cover_every_query(biology_dir):
    root, examples, _ = biology_dir
    rows = [json.loads(x) for x in (root / "biology" / "gpt4_reason.jsonl").read_text().splitlines()]
    _write_jsonl(root / "biology" / "gpt4_reason.jsonl", rows[:-1])
    with pytest.raises(DataFormatError, match="lacks 1 of the 4 queries"):
        load_bright("biology", directory=root, query_variant="gpt4")


def test_variant_names_and_files():
    assert variant_config("gpt4") == "gpt4_reason" and variant_config("Gemini-1.0_reason") == "Gemini-1.0_reason"
    assert variant_config("original") is None and variant_config(None) is None
    assert "gpt4_reason" in BRIGHT_REASONING_VARIANTS and "claude-3-opus_reason" in BRIGHT_REASONING_VARIANTS
    with pytest.raises(ConfigError, match="original, one of gpt4_reason"):
        variant_config("gpt 4?")
    assert is_variant_file("rw.jsonl") and is_variant_file("dir/x") and is_variant_file(Path("gpt4_reason"))
    assert not is_variant_file("gpt4_reason")


def test_named_variant_on_a_beir_dataset_is_refused(scifact_dir):
    ds = load_beir(scifact_dir)
    with pytest.raises(ConfigError, match="not a BRIGHT dataset"):
        apply_query_variant(ds, "gpt4_reason")


def test_hub_variant_uses_the_pinned_revision(monkeypatch, bright_dir):
    import datasets

    examples = _examples(bright_dir, "aops", 3)
    calls = []

    def fake_load_dataset(path, name, split=None, revision=None, cache_dir=None):
        calls.append((path, name, split, revision))
        if name == "examples":
            return examples
        if name == "documents":
            return [{"id": g, "content": "x"} for g in dict.fromkeys(g for ex in examples for g in ex["gold_ids"])]
        if name == "gpt4_reason":
            return [{**ex, "query": f"R{ex['id']}"} for ex in examples]
        raise ValueError(f"BuilderConfig {name} not found")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    ds = load_bright("aops", query_variant="gpt4")
    assert ds.queries == {ex["id"]: f"R{ex['id']}" for ex in examples}
    assert ds.metadata["query_variant"]["revision"] == BRIGHT_REVISION
    assert {c[1] for c in calls} == {"examples", "documents", "gpt4_reason"}
    assert all(c[0] == "xlangai/BRIGHT" and c[2] == "aops" and c[3] == BRIGHT_REVISION for c in calls)
    assert ds.excluded_ids                                                 # gold and excluded ids from examples


def test_every_dataset_command_takes_queries():
    parser = build_parser()
    for argv in (["retrieve", "--dataset", "bright:biology"], ["rewrite", "--dataset", "bright:biology", "--out", "o"]):
        assert parser.parse_args(argv + ["--queries", "gpt4_reason"]).query_variant == "gpt4_reason"
        assert parser.parse_args(argv + ["--query-variant", "f.json"]).query_variant == "f.json"
    assert parser.parse_args(["bright", "--queries", "original,gpt4_reason"]).queries == "original,gpt4_reason"
