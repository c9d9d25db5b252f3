"""Dense encoders: the ``Encoder`` protocol, LLM bi-encoders, sentence-transformers models.

``load_encoder(name_or_path, ...)`` is the entry point: short names (``minilm``, ``smollm2``,
``hash``), local folders and Hub ids. Torch and transformers are imported only when a model loads.
"""

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
