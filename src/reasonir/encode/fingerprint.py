"""Identities of model weights for cache keys: a Hub revision, a local folder, or in-memory weights.

* Hub checkpoints are identified by the commit hash transformers resolved (``config._commit_hash``).
* Local folders by a digest of their small files (configs, tokenizer) and the name, size and
  modification time of each weight file — cheap for multi-GB checkpoints, and any rewrite of the
  weights changes it (a copy changes it too, which only costs a cache miss, never a stale hit).
* Models built in memory (tests, a trainer's live model) by a digest of their parameters.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".msgpack", ".h5")
_SMALL_LIMIT = 8 << 20      # files below 8 MiB are hashed by content


def folder_fingerprint(path: str | Path) -> str:
    """A short digest identifying the model files under ``path`` (see the module docstring)."""
    root = Path(path)
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root).as_posix()
        if rel.startswith(".") or "/." in rel or rel.startswith("__pycache__"):
            continue
        st = f.stat()
        h.update(rel.encode("utf-8") + b"\0")
        if f.suffix in _WEIGHT_SUFFIXES or st.st_size > _SMALL_LIMIT:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        else:
            h.update(f.read_bytes())
    return h.hexdigest()


def parameters_digest(model: Any) -> str:
    """A digest of every parameter and buffer of a torch module (name, dtype, shape, bytes)."""
    import torch

    h = hashlib.blake2b(digest_size=16)
    for name, t in model.state_dict().items():
        cpu = t.detach().to("cpu").contiguous()
        h.update(f"{name}:{cpu.dtype}:{tuple(cpu.shape)}".encode())
        if cpu.numel():
            h.update(memoryview(cpu.reshape(-1).view(torch.uint8).numpy()))
    return h.hexdigest()


def stable_hash(obj: Any) -> str:
    """blake2b of the canonical JSON of ``obj`` (sorted keys)."""
    data = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class WeightsRevision:
    """Mixin: a ``revision`` property for encoders (the weights identity used in fingerprints).

    It describes the weights as loaded (``_revision``, set by the loader); when unknown it is computed
    from the parameters of ``model``. After changing the weights in place, set ``encoder.revision =
    None`` so it is recomputed.
    """

    _revision: str | None
    model: Any

    @property
    def revision(self) -> str:
        if self._revision is None:
            self._revision = "params:" + parameters_digest(self.model)
        return self._revision

    @revision.setter
    def revision(self, value: str | None) -> None:
        self._revision = value

