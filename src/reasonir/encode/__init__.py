"""Dense encoders: the ``Encoder`` protocol, LLM bi-encoders, sentence-transformers models."""

from .base import Encoder, l2_normalize, similarity
from .hashing import HashingEncoder

__all__ = ["Encoder", "HashingEncoder", "l2_normalize", "similarity"]
