"""LLM backends behind one protocol, with a persistent response cache."""

from .base import LLM, Generation, GenerationParams, Message, Prompt

__all__ = ["LLM", "Generation", "GenerationParams", "Message", "Prompt"]
