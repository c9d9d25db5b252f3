"""End-to-end synthesis with a scripted LLM: outputs, statistics, zero-cost re-runs, resume after a
kill, shards whose union is the unsharded output, VL minimum lengths, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from _synth_scripted import default_reply
from fakes import ScriptedLLM
from reasonir.llm import load_llm
from reasonir.synth import SynthesizeConfig, merge_shards, synthesize
from reasonir.trainio import read_train_examples


def base_cfg(out: Path, scifact_dir: Path, **kw) -> SynthesizeConfig:
    opts = dict(out=str(out), input=[f"beir:{scifact_dir}"], max_input_docs=80, budget=6, hq_per_doc=1,
                neg_min_words=20, mine="bm25", mine_skip=3, mine_negatives=1, batch_size=4, llm="scripted")
    opts.update(kw)
    return SynthesizeConfig(**opts)


def cached(cache: Path, **kw):
    backend = ScriptedLLM(**{"reply": default_reply, **kw})
    return load_llm(backend, cache=str(cache)), backend


def test_end_to_end_hq_outputs_stats_and_zero_cost_rerun(tmp_path, scifact_dir):
    cfg = base_cfg(tmp_path / "out", scifact_dir)
    llm, backend = cached(tmp_path / "cache.sqlite")
    res = synthesize(cfg, llm=llm)
    assert backend.calls == 12                                   # 6 HQ requests + 6 LLM negatives
    train = Path(res.paths["train"])
    exs = read_train_examples(train)                             # the trainer's reader
    assert len(exs) == 6
    for ex in exs:
        assert ex.query_instruction == cfg.query_instruction and len(ex.pos) == 1
        assert ex.metadata["neg_sources"] == ["llm", "bm25"] and len(ex.neg) == 2
        assert ex.metadata["generator"] == "scripted" and ex.metadata["prompt_version"] == "hq-1"
        assert ex.metadata["source_doc_id"] and ex.metadata["mined_neg_ids"][0] != ex.metadata["source_doc_id"]
        assert ex.neg[1] != ex.pos[0]
    assert [e.metadata["example_id"] for e in exs] == sorted(e.metadata["example_id"] for e in exs)
    row = json.loads(train.read_text().splitlines()[0])
    assert row["query"][0] == cfg.query_instruction and row["pos"][0][0] == "" and len(row["neg"]) == 2
    stats = json.loads(Path(res.paths["stats"]).read_text())
    assert stats["pool"]["input"] == 80 and stats["pool"]["selected"] == 6 and stats["pool"]["dropped_budget"] > 0
    assert stats["stages"]["hq"]["llm"]["prompts"] == 6 and stats["stages"]["hq"]["llm"]["parse_failure_rate"] == 0
    assert stats["llm_total"]["calls"] == 12 and stats["llm_total"]["cached"] == 0
    assert stats["output"]["examples"] == 6 and stats["output"]["negatives_by_source"] == {"llm": 6, "bm25": 6}
    assert stats["output"]["lengths_words"]["query"]["count"] == 6
    assert sum(stats["output"]["lengths_words"]["positive"]["histogram"].values()) == 6
    st = [json.loads(x) for x in Path(res.paths["sentence_transformers"]).read_text().splitlines()]
    assert len(st) == 6 and set(st[0]) == {"anchor", "positive", "negative_1", "negative_2"}
    assert json.loads(Path(res.paths["config"]).read_text())["config"]["budget"] == 6
    first = train.read_bytes()

    llm2, backend2 = cached(tmp_path / "cache.sqlite")
    res2 = synthesize(cfg, llm=llm2)
    assert backend2.calls == 0 and res2.stats["llm_total"]["calls"] == 0 and res2.stats["llm_total"]["cached"] == 12
    assert train.read_bytes() == first


def test_killed_run_resumes_without_repeating_answered_calls(tmp_path, scifact_dir):
    cfg = base_cfg(tmp_path / "out", scifact_dir, batch_size=2)
    full, full_backend = cached(tmp_path / "ref.sqlite")
    synthesize(base_cfg(tmp_path / "ref", scifact_dir, batch_size=2), llm=full)
    total = full_backend.calls
    killed, kb = cached(tmp_path / "cache.sqlite", fail_after=total // 2)
    with pytest.raises(KeyboardInterrupt):
        synthesize(cfg, llm=killed)
    assert kb.calls == total // 2 and not (tmp_path / "out" / "train.jsonl").exists()
    resumed, rb = cached(tmp_path / "cache.sqlite")
    synthesize(cfg, llm=resumed)
    assert rb.calls == total - total // 2
    assert (tmp_path / "out" / "train.jsonl").read_text() == (tmp_path / "ref" / "train.jsonl").read_text()


def test_union_of_shards_equals_unsharded(tmp_path, scifact_dir):
    llm, _ = cached(tmp_path / "a.sqlite")
    whole = synthesize(base_cfg(tmp_path / "whole", scifact_dir, budget=10), llm=llm)
    sizes = []
    for shard in range(3):
        llm, _ = cached(tmp_path / f"s{shard}.sqlite")
        res = synthesize(base_cfg(tmp_path / "sharded", scifact_dir, budget=10, num_shards=3, shard_id=shard), llm=llm)
        sizes.append(len(res.examples))
        assert res.paths["train"].name == f"train.shard-{shard:05d}-of-00003.jsonl"
    assert sum(sizes) == 10 and max(sizes) < 10
    merged = merge_shards(tmp_path / "sharded")
    assert merged.read_text() == Path(whole.paths["train"]).read_text()


def test_vl_end_to_end_never_writes_short_texts(tmp_path):
    def reply(prompt, params):
        t = "\n".join(m["content"] for m in prompt)
        # every other pair request answers too short on its first attempt
        if "Retrieval task:" in t and params.seed == 0 and hash(t) % 2 == 0:
            return json.dumps({"input": "short", "positive_document": "short"})
        return default_reply(prompt, params)

    cfg = SynthesizeConfig(out=str(tmp_path / "vl"), kinds=["vl"], vl_tasks=4, vl_tasks_per_call=2, vl_per_task=2,
                           vl_length_range=[40, 80], vl_min_words=40, vl_max_overlap=0.6, mine="none", llm="scripted")
    llm, _ = cached(tmp_path / "c.sqlite", reply=reply)
    res = synthesize(cfg, llm=llm)
    exs = read_train_examples(res.paths["train"])
    assert len(exs) == 8
    for ex in exs:
        assert ex.metadata["kind"] == "vl" and ex.query_instruction == ex.metadata["task"]
        assert min(len(ex.query.split()), len(ex.pos[0].split()), len(ex.neg[0].split())) >= 40
    assert res.stats["stages"]["vl_tasks"]["llm"]["prompts"] == 2
    # a model that only writes short texts: nothing is written, every slot is counted as dropped
    short = lambda p, prm: (json.dumps({"input": "tiny", "positive_document": "tiny"})  # noqa: E731
                            if "Retrieval task:" in "\n".join(m["content"] for m in p) else default_reply(p, prm))
    llm, _ = cached(tmp_path / "d.sqlite", reply=short)
    res = synthesize(SynthesizeConfig(**{**cfg.__dict__, "out": str(tmp_path / "vl2")}), llm=llm)
    assert res.examples == [] and read_train_examples(res.paths["train"]) == []
    assert res.stats["stages"]["vl_pair"]["dropped"] == {"no_valid_pair": 8}


def test_min_negatives_drops_examples_without_negatives(tmp_path, scifact_dir):
    def reply(prompt, params):
        if "<positive_document>" in prompt[1]["content"]:
            return "no json"
        return default_reply(prompt, params)

    llm, _ = cached(tmp_path / "c.sqlite", reply=reply)
    res = synthesize(base_cfg(tmp_path / "o", scifact_dir, mine="none", min_negatives=1, max_attempts=1), llm=llm)
    assert res.examples == [] and res.stats["stages"]["finalize"]["dropped"] == {"too_few_negatives": 6}
    assert res.stats["stages"]["llm_negative"]["llm"]["parse_failure_rate"] == 1.0
    dropped = [json.loads(x) for x in Path(res.paths["dropped"]).read_text().splitlines()]
    assert len(dropped) == 6 and dropped[0]["reason"] == "too_few_negatives" and dropped[0]["query"]


def test_cli_with_yaml_config_against_an_http_server(tmp_path, scifact_dir, capsys):
    from reasonir.cli import main
    from reasonir.llm.server import LLMServer

    with LLMServer(ScriptedLLM(default_reply)) as server:
        conf = {"out": str(tmp_path / "cli"), "input": [f"beir:{scifact_dir}"], "max_input_docs": 30, "budget": 3,
                "llm": server.spec, "neg_min_words": 20, "mine": "bm25q", "mine_skip": 2,
                "llm_options": {"concurrency": 2}}
        path = tmp_path / "synth.yaml"
        path.write_text(yaml.safe_dump(conf))
        assert main(["synthesize", str(path), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["examples"] == 3 and summary["llm_calls"] == 6
        assert main(["synthesize", str(path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["llm_calls"] == 0
    assert (tmp_path / "cli" / "llm_cache.sqlite").exists()
    assert main(["synthesize", "--out", str(tmp_path / "x"), "--num-shards", "2", "--shard-id", "5",
                 "--input", "y"]) == 2


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "examples").glob("synth_*.yaml")))
def test_example_configs_are_valid(path):
    from reasonir.config import build, load_file

    build(SynthesizeConfig, load_file(path), origin=str(path)).check()


@pytest.mark.parametrize("kw, match", [
    ({"kinds": ["hq", "xx"]}, "kinds"),
    ({"num_shards": 2, "shard_id": 2}, "shard_id"),
    ({"vl_length_range": [500, 300]}, "vl_length_range"),
    ({"edu_scorer": "regression"}, "edu_labels"),
    ({"input": []}, "no input documents"),
    ({"mine": "splade"}, "mine"),
])
def test_config_errors_name_the_option(kw, match):
    from reasonir.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        SynthesizeConfig(**{"out": "o", "input": ["x"], **kw}).check()
