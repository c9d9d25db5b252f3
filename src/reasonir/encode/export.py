"""Export an encoder as a sentence-transformers-compatible folder plus its encoder settings.

The folder holds:

* the Hugging Face model (``config.json`` — with ``"is_causal": false`` for LLM encoders —,
  safetensors weights) and tokenizer (for LLM encoders whose tokenizer does not add BOS itself, the
  saved tokenizer is given a post-processor that does, so every loader sees the same token ids);
* sentence-transformers module files: ``modules.json`` (Transformer -> Pooling -> Normalize),
  ``sentence_bert_config.json`` (max length), ``1_Pooling/config.json`` (mode; ``include_prompt:
  false`` for LLM encoders, so prompts/instructions are attended to but not pooled) and
  ``config_sentence_transformers.json`` (prompts, cosine similarity);
* ``reasonir_encoder.json`` — the encoder kind and settings (prompt format, pooling, max length,
  BOS policy), the source fingerprint and library versions. ``load_encoder(folder)`` reads it and
  rebuilds the same encoder, so embeddings are identical.

Writes are atomic: the folder is built under a temporary name next to the target and renamed.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..versions import installed_versions
from .settings import ENCODER_CONFIG_FILE

#: the packages whose versions an exported folder records
VERSIONED_PACKAGES = ("reasonir", "torch", "transformers", "sentence-transformers")


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _tokenizer_with_bos(tokenizer: Any) -> Any:
    """A copy of a fast tokenizer whose post-processor prepends BOS (single and pair inputs)."""
    from tokenizers import processors

    tok = copy.deepcopy(tokenizer)
    bos, bos_id = tok.bos_token, tok.bos_token_id
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B:1", special_tokens=[(bos, bos_id)])
    return tok


def _export_llm(encoder: Any, tmp: Path) -> None:
    model, tok = encoder.model, encoder.tokenizer
    model.config.is_causal = False
    model.save_pretrained(tmp)
    if encoder._prepend_bos:
        if not getattr(tok, "is_fast", False):
            raise ConfigError("cannot export a slow tokenizer that needs BOS added; use a fast tokenizer")
        tok = _tokenizer_with_bos(tok)
    if tok.pad_token is None:                      # sentence-transformers pads; the value is masked out
        tok = copy.deepcopy(tok) if tok is encoder.tokenizer else tok
        tok.pad_token = tok.eos_token or tok.bos_token
    tok.save_pretrained(tmp)
    fmt = encoder.prompt_format
    _write_json(tmp / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(tmp / "sentence_bert_config.json", {"max_seq_length": encoder.max_length, "do_lower_case": False})
    _write_json(tmp / "1_Pooling" / "config.json", {
        "word_embedding_dimension": encoder.dim,
        "pooling_mode_cls_token": encoder.pooling == "cls",
        "pooling_mode_mean_tokens": encoder.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": encoder.pooling == "lasttoken",
        "include_prompt": False,
    })
    (tmp / "2_Normalize").mkdir(exist_ok=True)
    _write_json(tmp / "config_sentence_transformers.json", {
        "prompts": {"query": fmt.without_instruction, "document": fmt.without_instruction},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
        "reasonir_query_template": fmt.with_instruction,
    })


def export_encoder(encoder: Any, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``encoder`` (LLM, sentence-transformers or hashing) to the folder ``path``.

    Args:
        encoder: an :class:`LLMEncoder`, :class:`SentenceTransformerEncoder` or :class:`HashingEncoder`.
        path: target folder (created; must not exist unless ``overwrite``).
        overwrite: replace an existing folder.

    Returns:
        The folder. ``load_encoder(path)`` gives an encoder with identical embeddings.

    Raises:
        ConfigError: the target exists (and not ``overwrite``) or the encoder type is unknown.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} already exists; choose another folder or pass overwrite=True")
    kind = getattr(encoder, "kind", None)
    if kind is None and type(encoder).__name__ == "HashingEncoder":
        kind = "hash"
    if kind not in ("llm", "sentence-transformers", "hash"):
        raise ConfigError(f"cannot export {type(encoder).__name__}: expected an LLM, sentence-transformers "
                          f"or hashing encoder")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)                 # mkdtemp creates 0700; exported models are shareable
    try:
        if kind == "llm":
            _export_llm(encoder, tmp)
            settings = encoder.settings()
        elif kind == "sentence-transformers":
            encoder.model.save(str(tmp))
            settings = encoder.settings()
        else:
            settings = {"encoder": "hash", "dim": encoder.dim, "bigrams": encoder.bigrams}
        _write_json(tmp / ENCODER_CONFIG_FILE, {**settings, "source": encoder.fingerprint(),
                                                "versions": installed_versions(VERSIONED_PACKAGES)})
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
