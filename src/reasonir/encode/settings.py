"""Encoder settings on disk, read without torch: what a model folder says about how it encodes.

Three kinds of file are read here, each by plain JSON parsing so that deciding *which* encoder to
load (and the torch-free query path, :mod:`reasonir.encode.numpy_bert`) never imports torch,
transformers or sentence-transformers:

* ``reasonir_encoder.json`` — written by :func:`reasonir.encode.export.export_encoder` next to an
  exported model: the encoder kind and its settings (prompts, pooling, max length);
* the model's own ``config.json`` (architecture, ``model_type``);
* the sentence-transformers module files (``modules.json``, ``sentence_bert_config.json``, the
  pooling ``config.json``, ``config_sentence_transformers.json``), summarised as
  :class:`SentenceTransformerSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataFormatError
from ..fileio import read_json_file, read_json_object

#: settings file written next to an exported model (``config.json`` there is the model's own)
ENCODER_CONFIG_FILE = "reasonir_encoder.json"
#: sentence-transformers pooling flags (``1_Pooling/config.json``) -> our pooling names
_POOLING_FLAGS = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                  "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
                  "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


def read_json(f: Path, *, require_object: bool = True, what: str = "a JSON object") -> Any:
    """The JSON in ``f``, or ``None`` when the file does not exist.

    Raises:
        DataFormatError: invalid JSON (with the file and line), or not an object when ``require_object``
            (the message says ``expected {what}``).
    """
    if not f.is_file():
        return None
    return read_json_object(f, what) if require_object else read_json_file(f)


def read_encoder_settings(path: str | Path) -> dict[str, Any]:
    """The encoder settings saved in an exported folder (empty dict when there are none)."""
    return read_json(Path(path) / ENCODER_CONFIG_FILE, what="a JSON object of encoder settings") or {}


def read_model_config(path: str | Path) -> dict[str, Any]:
    """A model folder's ``config.json`` (empty dict when missing or not an object)."""
    data = read_json(Path(path) / "config.json", require_object=False)
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class SentenceTransformerSettings:
    """What a sentence-transformers folder's module files say (see :func:`read_st_settings`).

    Attributes:
        modules: the module class names in order (``Transformer``, ``Pooling``, ``Normalize``...).
        transformer_dir: the folder of the Transformer module (the model and tokenizer files).
        max_seq_length: ``sentence_bert_config.json``'s max length (``None``: not set).
        do_lower_case: whether the Transformer module lower-cases texts before tokenizing.
        pooling: ``mean``, ``cls``... (``+``-joined when several are on; ``None`` without a Pooling module).
        include_prompt: whether prompt tokens are pooled (sentence-transformers' default: true).
        prompts: named prompts from ``config_sentence_transformers.json``.
    """

    modules: tuple[str, ...]
    transformer_dir: Path
    max_seq_length: int | None = None
    do_lower_case: bool = False
    pooling: str | None = None
    include_prompt: bool = True
    prompts: dict[str, str] = field(default_factory=dict)


def _pooling_name(cfg: dict[str, Any]) -> str | None:
    mode = cfg.get("pooling_mode")
    if isinstance(mode, str):
        return mode
    on = [name for key, name in _POOLING_FLAGS.items() if cfg.get(key)]
    return "+".join(on) if on else None


def read_st_settings(path: str | Path) -> SentenceTransformerSettings | None:
    """The sentence-transformers settings of the folder ``path`` (``None`` without ``modules.json``).

    Raises:
        DataFormatError: a module file is not valid JSON or ``modules.json`` is not a list of modules.
    """
    root = Path(path)
    modules = read_json(root / "modules.json", require_object=False)
    if modules is None:
        return None
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise DataFormatError("expected a JSON list of module objects", str(root / "modules.json"))
    names = tuple(str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules)
    folders = {n: root / str(m.get("path") or "") for n, m in zip(names, modules)}
    transformer_dir = folders.get("Transformer", root)
    bert_cfg = read_json(transformer_dir / "sentence_bert_config.json") or {}
    pooling_cfg = (read_json(folders["Pooling"] / "config.json") or {}) if "Pooling" in folders else {}
    st_cfg = read_json(root / "config_sentence_transformers.json") or {}
    prompts = st_cfg.get("prompts") or {}
    max_len = bert_cfg.get("max_seq_length")
    return SentenceTransformerSettings(
        modules=names, transformer_dir=transformer_dir,
        max_seq_length=int(max_len) if isinstance(max_len, int) else None,
        do_lower_case=bool(bert_cfg.get("do_lower_case", False)),
        pooling=_pooling_name(pooling_cfg) if "Pooling" in folders else None,
        include_prompt=bool(pooling_cfg.get("include_prompt", True)),
        prompts={str(k): str(v) for k, v in prompts.items() if isinstance(v, str)} if isinstance(prompts, dict) else {})
