"""The synthesizer as Ray Data stages on a local Ray gives the same output as the in-process run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _synth_scripted import default_reply
from fakes import ScriptedLLM
from reasonir.synth import SynthesizeConfig, synthesize
from reasonir.trainio import read_train_examples

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.integration


def _factory(cache: str):
    def make():
        from reasonir.llm import load_llm

        return load_llm(ScriptedLLM(default_reply), cache=cache)
    return make


@pytest.mark.slow
def test_ray_runner_matches_local(tmp_path, scifact_dir):
    opts = dict(input=[f"beir:{scifact_dir}"], max_input_docs=60, budget=5, neg_min_words=20, mine="bm25",
                mine_skip=2, batch_size=2, llm="scripted", kinds=["hq", "vl"], vl_tasks=2, vl_tasks_per_call=2,
                vl_length_range=[40, 60], vl_min_words=40, vl_max_overlap=0.6)
    local = synthesize(SynthesizeConfig(out=str(tmp_path / "local"), **opts), llm_factory=_factory(str(tmp_path / "l.sqlite")))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": f"{Path(__file__).parent}:{Path(__file__).parents[1] / 'src'}"}})
    try:
        cfg = SynthesizeConfig(out=str(tmp_path / "ray"), runner="ray", ray_concurrency=2, ray_cpus_per_actor=0.2,
                               **opts)
        res = synthesize(cfg, llm_factory=_factory(str(tmp_path / "r.sqlite")))
        # a second Ray run over the same (shared, multi-process) cache calls the backend 0 times
        again = synthesize(cfg, llm_factory=_factory(str(tmp_path / "r.sqlite")))
    finally:
        ray.shutdown()
    assert len(res.examples) == 7
    assert Path(res.paths["train"]).read_text() == Path(local.paths["train"]).read_text()
    stats = json.loads(Path(res.paths["stats"]).read_text())
    assert stats["llm_total"]["prompts"] == local.stats["llm_total"]["prompts"]
    assert again.stats["llm_total"]["calls"] == 0
    assert [e.metadata["kind"] for e in read_train_examples(res.paths["train"])].count("vl") == 2
