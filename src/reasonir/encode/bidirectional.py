"""Turning a decoder LM into a bidirectional encoder, and proving that it worked.

transformers 5.x builds a padding-only (non-causal) attention mask for LLaMA, Qwen2, Qwen3 and
Mistral when ``config.is_causal`` is ``False``; no modelling code is patched. Because a future
release could stop honouring the flag *silently* (the model would keep producing plausible, causal
embeddings), :func:`verify_bidirectional` runs a probe at load time: two inputs that differ only in
their last token must give different hidden states at the *first* token. A causal model cannot pass.

Only the model types in :data:`VALIDATED_MODEL_TYPES` are accepted; others fail with an error that
lists them, rather than being trusted blindly.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import ConfigError, ReasonIRError

logger = logging.getLogger(__name__)

#: decoder families whose bidirectional mode is verified by the test suite
VALIDATED_MODEL_TYPES: tuple[str, ...] = ("llama", "mistral", "qwen2", "qwen3")


class BidirectionalityError(ReasonIRError, RuntimeError):
    """The model still attends causally after being made bidirectional."""


def check_model_type(config: Any, source: str = "") -> str:
    """Return ``config.model_type`` if it is validated, else raise :class:`ConfigError` listing them."""
    model_type = getattr(config, "model_type", None)
    if model_type not in VALIDATED_MODEL_TYPES:
        where = f"{source}: " if source else ""
        raise ConfigError(
            f"{where}model type {model_type!r} is not supported as a bidirectional LLM encoder; validated "
            f"types: {', '.join(VALIDATED_MODEL_TYPES)}. For a sentence-transformers or BERT-style model "
            f"use SentenceTransformerEncoder (load_encoder picks it for folders with modules.json).")
    return model_type


def make_bidirectional(model: Any) -> Any:
    """Set ``config.is_causal = False`` (after checking the model type is validated); returns the model.

    The flag is saved with the config, so a model saved afterwards loads bidirectional again.
    """
    check_model_type(model.config)
    model.config.is_causal = False
    return model


def _probe_ids(vocab_size: int, length: int = 6) -> tuple[list[int], list[int]]:
    base = [(7 * i + 3) % vocab_size for i in range(1, length + 1)]
    other = list(base)
    other[-1] = (other[-1] + 1 + vocab_size // 2) % vocab_size
    return base, other


def first_token_sensitivity(model: Any, **forward_kwargs: Any) -> float:
    """Max |change| of the first token's last hidden state when only the last input token changes.

    Zero (bit-for-bit) for a causal model; clearly positive for a bidirectional one.
    """
    import torch

    vocab = int(getattr(model.config, "vocab_size", 100))
    a, b = _probe_ids(vocab)
    device = next(model.parameters()).device
    mask = torch.ones(1, len(a), dtype=torch.long, device=device)
    with torch.inference_mode():
        ha = model(input_ids=torch.tensor([a], device=device), attention_mask=mask, use_cache=False,
                   **forward_kwargs).last_hidden_state
        hb = model(input_ids=torch.tensor([b], device=device), attention_mask=mask, use_cache=False,
                   **forward_kwargs).last_hidden_state
    return float((ha[0, 0].float() - hb[0, 0].float()).abs().max())


def verify_bidirectional(model: Any, source: str = "") -> float:
    """Raise :class:`BidirectionalityError` unless the first token sees the last one; returns the change."""
    import transformers

    change = first_token_sensitivity(model)
    if not change > 0.0:
        where = f"{source}: " if source else ""
        raise BidirectionalityError(
            f"{where}the model still attends causally although config.is_causal is False (first-token "
            f"hidden state unchanged when the last token changes). transformers {transformers.__version__} "
            f"does not honour the flag for model type {model.config.model_type!r}; install a "
            f"transformers version that does (5.x verified) instead of embedding causally.")
    logger.debug("bidirectionality check passed (first-token change %.3g)", change)
    return change
