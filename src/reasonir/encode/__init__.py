"""Dense encoders: the ``Encoder`` protocol, LLM bi-encoders, sentence-transformers models.

``load_encoder(name_or_path, ...)`` is the entry point: short names (``minilm``, ``smollm2``,
``hash``), local folders and Hub ids. Torch and transformers are imported only when a model loads,
and the names below only on first access, so importing one submodule (``reasonir.encode.base`` for
the protocol, the NumPy query encoder of a one-off search) does not import the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name -> submodule that defines it; each is imported on first access
_EXPORTS: dict[str, str] = {
    "Encoder": "base", "check_texts": "base", "l2_normalize": "base", "similarity": "base",
    "VALIDATED_MODEL_TYPES": "bidirectional", "BidirectionalityError": "bidirectional",
    "make_bidirectional": "bidirectional", "verify_bidirectional": "bidirectional",
    "CachedEncoder": "cache", "EmbeddingCache": "cache",
    "export_encoder": "export",
    "HashingEncoder": "hashing",
    "LLMEncoder": "llm",
    "load_encoder": "loading",
    "SentenceTransformerEncoder": "st",
}

if TYPE_CHECKING:
    from .base import Encoder, check_texts, l2_normalize, similarity
    from .bidirectional import VALIDATED_MODEL_TYPES, BidirectionalityError, make_bidirectional, verify_bidirectional
    from .cache import CachedEncoder, EmbeddingCache
    from .export import export_encoder
    from .hashing import HashingEncoder
    from .llm import LLMEncoder
    from .loading import load_encoder
    from .st import SentenceTransformerEncoder

__all__ = [
    "BidirectionalityError", "CachedEncoder", "EmbeddingCache", "Encoder", "HashingEncoder", "LLMEncoder",
    "SentenceTransformerEncoder", "VALIDATED_MODEL_TYPES", "check_texts", "export_encoder", "l2_normalize",
    "load_encoder", "make_bidirectional", "similarity", "verify_bidirectional",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562) and keep it as a module attribute."""
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
