"""``reasonir train`` end to end: learning, logs, checkpoints, exact resume, CLI, retrieve and serve."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from encode_tiny import tiny_model, tiny_tokenizer  # noqa: E402

from reasonir.encode import LLMEncoder, load_encoder  # noqa: E402
from reasonir.errors import ConfigError  # noqa: E402
from reasonir.train import TrainConfig, TrainModel, train  # noqa: E402
from reasonir.trainio import write_train_examples  # noqa: E402
from reasonir.types import TrainExample  # noqa: E402

SUBJECTS = ["photosynthesis light sugar", "mitochondrion cell energy", "stock markets investors rates",
            "BM25 ranking search engines", "fibonacci function code", "plate tectonics earthquakes",
            "insulin glucose pancreas", "neurons synapses brain"]


def toy_examples(n: int = 48) -> list[TrainExample]:
    out = []
    for i in range(n):
        s, other = SUBJECTS[i % len(SUBJECTS)], SUBJECTS[(i + 3) % len(SUBJECTS)]
        out.append(TrainExample(query=f"what about {s.split()[0]} {i}?", pos=[f"{s} passage {i}"],
                                neg=[f"{other} passage {i}"], query_instruction="Find the passage"))
    return out


def tiny_train_model(seed: int = 0) -> TrainModel:
    enc = LLMEncoder(tiny_model("llama", seed=seed), tiny_tokenizer(), name="tiny-llama", max_length=128)
    return TrainModel(enc, query_max_length=32, passage_max_length=32)


def config(tmp_path, **kw) -> TrainConfig:
    data = tmp_path / "train.jsonl"
    if not data.exists():
        write_train_examples(data, toy_examples())
    base = dict(train_data=[str(data)], output_dir=str(tmp_path / "run"), model="tiny", batch_size=8,
                group_size=2, learning_rate=3e-3, warmup_ratio=0.0, temperature=0.05, logging_steps=1,
                max_steps=6, seed=7)
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_the_loss_and_writes_logs_and_a_loadable_model(tmp_path):
    cfg = config(tmp_path, max_steps=12, gradcache=True, chunk_size=5)
    out = train(cfg, model=tiny_train_model())
    losses = [h["loss"] for h in out.history]
    assert len(losses) == 12 and np.mean(losses[-3:]) < np.mean(losses[:3])
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert all(r["examples_per_s"] > 0 and r["peak_memory_mb"] > 0 and r["lr"] == pytest.approx(3e-3) for r in rows)
    record = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert record["total_steps"] == 12 and record["sources"][0]["examples"] == 48
    enc = load_encoder(out.model_dir, device="cpu", dtype="fp32")
    assert enc.kind == "llm" and enc.encode_query(["what about BM25?"], instruction="Find the passage").shape == (1, 32)


def test_resume_after_a_crash_continues_exactly(tmp_path):
    cfg = config(tmp_path, save_steps=3, save_total_limit=0)
    first = train(cfg, model=tiny_train_model())
    run = tmp_path / "run"
    assert sorted(p.name for p in run.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    reference = load_encoder(run / "checkpoint-6", device="cpu", dtype="fp32").encode_document(SUBJECTS)
    shutil.rmtree(run / "checkpoint-6")                # "crash" after step 3's checkpoint
    shutil.rmtree(run / "model")
    again = train(config(tmp_path, save_steps=3, save_total_limit=0), model=tiny_train_model(seed=99))
    assert again.resumed_from == run / "checkpoint-3"
    assert [h["step"] for h in again.history] == [4, 5, 6]
    for a, b in zip(first.history[3:], again.history):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    resumed = load_encoder(run / "checkpoint-6", device="cpu", dtype="fp32").encode_document(SUBJECTS)
    np.testing.assert_allclose(resumed, reference, atol=1e-5)
    with pytest.raises(ConfigError, match="not a training checkpoint"):
        train(config(tmp_path, resume=str(tmp_path)), model=tiny_train_model())


def test_bad_options_fail_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="divisible|exceeds"):
        train(config(tmp_path, batch_size=500), model=tiny_train_model())
    with pytest.raises(ConfigError, match="temperature"):
        train(config(tmp_path, temperature=0.0), model=tiny_train_model())
    with pytest.raises(ConfigError, match="lr_scheduler"):
        config(tmp_path, lr_scheduler="exotic").check()


@pytest.mark.slow
def test_cli_trains_minilm_and_the_checkpoint_serves_retrieve_and_http(tmp_path, capsys):
    """`reasonir train CONFIG.yaml --flags` -> model folder -> `reasonir retrieve --model` and the HTTP server."""
    from reasonir.cli import main
    from reasonir.io import write_corpus, write_qrels, write_queries
    from reasonir.types import Document

    write_train_examples(tmp_path / "train.jsonl", toy_examples(32))
    (tmp_path / "cfg.yaml").write_text(
        f"train_data: [{tmp_path / 'train.jsonl'}]\noutput_dir: {tmp_path / 'run'}\nmodel: minilm\n"
        "batch_size: 8\nmax_steps: 20\nlearning_rate: 1.0e-4\ntemperature: 0.05\n", encoding="utf-8")
    assert main(["-q", "train", str(tmp_path / "cfg.yaml"), "--max-steps", "2", "--save-steps", "1", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["steps"] == 2 and summary["model_dir"].endswith("model")
    beir = tmp_path / "beir"
    docs = [Document(f"d{i}", f"{s} passage", title="") for i, s in enumerate(SUBJECTS)]
    write_corpus(beir / "corpus.jsonl", docs)
    write_queries(beir / "queries.jsonl", {f"q{i}": f"what about {s.split()[0]}?" for i, s in enumerate(SUBJECTS)})
    write_qrels(beir / "qrels" / "test.tsv", {f"q{i}": {f"d{i}": 1} for i in range(len(SUBJECTS))})
    for model in (summary["model_dir"], str(tmp_path / "run" / "checkpoint-1")):
        assert main(["-q", "retrieve", "--dataset", f"beir:{beir}", "--retriever", "dense", "--model", model,
                     "--json"]) == 0
        metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert metrics["ndcg@10"] > 0.5
    from fastapi.testclient import TestClient

    from reasonir.index import IndexOptions, build_index
    from reasonir.serve.server import ServeConfig, build_app

    build_index(str(beir / "corpus.jsonl"), str(tmp_path / "idx"), IndexOptions(model=summary["model_dir"]))
    client = TestClient(build_app(ServeConfig(index_dir=str(tmp_path / "idx"))), base_url="http://127.0.0.1")
    hits = client.post("/search", json={"query": "what about insulin?", "k": 3}).json()
    assert hits["results"][0]["id"] == "d6"


@pytest.mark.slow
@pytest.mark.integration
def test_torchrun_two_processes_follow_the_single_process_trajectory(tmp_path):
    """`torchrun --nproc_per_node 2 reasonir train` (gloo DDP, gathered negatives, cross_device_gradient: sum
    -- the single-process gradient, not GritLM's mean over processes) logs the same losses and
    ends with the same weights as one process on the same global batches (|Δloss| <= 1e-5, |Δemb| <= 1e-5)."""
    import os
    import socket
    import subprocess
    import sys

    tiny_train_model().export(tmp_path / "tiny")
    write_train_examples(tmp_path / "train.jsonl", toy_examples())
    (tmp_path / "cfg.yaml").write_text(
        f"train_data: [{tmp_path / 'train.jsonl'}]\nmodel: {tmp_path / 'tiny'}\nbatch_size: 8\nmax_steps: 4\n"
        "learning_rate: 1.0e-3\nwarmup_ratio: 0\ntemperature: 0.05\nlogging_steps: 1\nquery_max_length: 32\n"
        "passage_max_length: 32\ncpu: true\ncross_device_gradient: sum\n", encoding="utf-8")   # sum: same as 1 process
    exe = os.path.join(os.path.dirname(sys.executable), "reasonir")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                    "--no-python", exe, "-q", "train", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "two")],
                   check=True, env=env, capture_output=True)
    subprocess.run([exe, "-q", "train", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "one")],
                   check=True, env=env, capture_output=True)
    logs = {k: [json.loads(x) for x in (tmp_path / k / "log.jsonl").read_text().splitlines()] for k in ("one", "two")}
    assert len(logs["two"]) == 4                        # one log line per step: only the main process writes
    for a, b in zip(logs["one"], logs["two"]):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    one = load_encoder(tmp_path / "one" / "model", device="cpu", dtype="fp32").encode_document(SUBJECTS)
    two = load_encoder(tmp_path / "two" / "model", device="cpu", dtype="fp32").encode_document(SUBJECTS)
    np.testing.assert_allclose(one, two, atol=1e-5)


def test_example_configs_are_valid():
    from pathlib import Path

    from reasonir.config import build, load_file
    from reasonir.train.data import SourceSpec

    root = Path(__file__).resolve().parents[1] / "examples"
    recipe = build(TrainConfig, load_file(root / "train_reasonir_8b.yaml"), "8b")
    recipe.check()
    assert (recipe.temperature, recipe.group_size, recipe.batch_size, recipe.max_steps, recipe.learning_rate,
            recipe.warmup_steps(recipe.total_steps(1)), recipe.query_max_length) == (0.02, 2, 2048, 1000, 2e-5, 60, 2048)
    assert [SourceSpec.parse(s).weight for s in recipe.train_data] == [0.80, 0.14, 0.06]
    demo = build(TrainConfig, load_file(root / "train_cpu_demo.yaml"), "demo")
    demo.check()
    assert SourceSpec.parse(demo.train_data[0]).is_dataset and demo.model == "smollm2"
    for name in ("single_gpu", "fsdp_8gpu", "fsdp_multinode_hybrid"):
        acc = load_file(root / "accelerate" / f"{name}.yaml")
        assert acc["mixed_precision"] == "bf16"
    assert load_file(root / "accelerate" / "fsdp_multinode_hybrid.yaml")["fsdp_config"]["fsdp_sharding_strategy"] == "HYBRID_SHARD"


def test_cli_checkpoint_of_a_tiny_llm_loads_in_retrieve_index_and_server(tmp_path, capsys):
    """`reasonir train` (tiny bidirectional LLM) -> model folder -> `reasonir retrieve --model PATH`,
    `reasonir index build --model PATH` and the HTTP app all score with the trained weights."""
    from fastapi.testclient import TestClient

    from reasonir.cli import main
    from reasonir.io import read_run, write_corpus, write_qrels, write_queries
    from reasonir.serve.server import ServeConfig, build_app
    from reasonir.types import Document

    tiny_train_model().export(tmp_path / "tiny")
    write_train_examples(tmp_path / "train.jsonl", toy_examples(32))
    (tmp_path / "cfg.yaml").write_text(
        f"train_data: [{tmp_path / 'train.jsonl'}]\nmodel: {tmp_path / 'tiny'}\nbatch_size: 8\nmax_steps: 3\n"
        "learning_rate: 3.0e-3\nwarmup_ratio: 0\ntemperature: 0.05\nquery_max_length: 32\npassage_max_length: 32\n"
        "cpu: true\n", encoding="utf-8")
    assert main(["-q", "train", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "run"), "--json"]) == 0
    model_dir = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["model_dir"]

    docs = [Document(f"d{i}", f"{s} passage", title="") for i, s in enumerate(SUBJECTS)]
    queries = {f"q{i}": f"what about {s.split()[0]}?" for i, s in enumerate(SUBJECTS)}
    beir = tmp_path / "beir"
    write_corpus(beir / "corpus.jsonl", docs)
    write_queries(beir / "queries.jsonl", queries)
    write_qrels(beir / "qrels" / "test.tsv", {f"q{i}": {f"d{i}": 1} for i in range(len(SUBJECTS))})
    trained = load_encoder(model_dir, device="cpu", dtype="fp32")
    scores = trained.similarity(trained.encode_query(list(queries.values())),
                                trained.encode_document([d.text for d in docs]))            # [8, 8]
    initial = load_encoder(tmp_path / "tiny", device="cpu", dtype="fp32").encode_document([d.text for d in docs])
    assert np.abs(initial - trained.encode_document([d.text for d in docs])).max() > 1e-3   # training changed it

    assert main(["-q", "retrieve", "--dataset", f"beir:{beir}", "--retriever", "dense", "--model", model_dir,
                 "--dtype", "fp32", "--top-k", "8", "--metrics", "ndcg@8,recall@8", "--out", str(tmp_path / "run.trec"),
                 "--json"]) == 0
    assert 0.0 <= json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ndcg@8"] <= 1.0
    run = read_run(tmp_path / "run.trec")
    for i, qid in enumerate(queries):
        for j, doc in enumerate(docs):
            assert run[qid][doc.id] == pytest.approx(float(scores[i, j]), abs=1e-4)

    assert main(["-q", "index", "build", str(beir / "corpus.jsonl"), str(tmp_path / "idx"), "--model", model_dir,
                 "--dtype", "fp32", "--vector-dtype", "fp32"]) == 0
    capsys.readouterr()
    client = TestClient(build_app(ServeConfig(index_dir=str(tmp_path / "idx"), device="cpu")),
                        base_url="http://127.0.0.1")
    for i, (qid, text) in enumerate(queries.items()):
        hits = client.post("/search", json={"query": text, "k": 3, "mode": "dense"}).json()["results"]
        assert hits[0]["id"] == f"d{int(np.argmax(scores[i]))}"
        assert hits[0]["score"] == pytest.approx(float(scores[i].max()), abs=1e-3)
