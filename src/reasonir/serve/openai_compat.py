"""OpenAI conventions of ``reasonir serve``'s ``/v1/models`` and ``/v1/embeddings``.

* **Which side.** Instruction-tuned encoders (ReasonIR-8B) embed queries and documents differently.
  A plain OpenAI client sends only ``model`` and ``input``, so the side is chosen by a suffix of the
  model name: ``"<id>#query"`` embeds queries (with the index's query instruction), ``"<id>#document"``
  or the bare ``"<id>"`` embed documents. ``/v1/models`` lists all three. The extension field
  ``input_type`` says the same thing for clients that can send extra fields.
* **Token arrays.** OpenAI's API also accepts ``input`` as token ids (a list of ints, or a list of such
  lists); LangChain's ``OpenAIEmbeddings`` sends exactly that by default: it tokenises with tiktoken,
  using ``tiktoken.encoding_for_model(model)`` and ``cl100k_base`` for names tiktoken does not know
  (every reasonir model id). The server decodes the ids with the same rule and embeds the text. That
  needs ``tiktoken`` and its encoding file (downloaded once into tiktoken's cache, which the client
  needed too); where it cannot be loaded (offline, not installed) token arrays get a 422 that says so
  and how to send text instead (LangChain: ``OpenAIEmbeddings(check_embedding_ctx_length=False)``).
  Ids in the encoder's own vocabulary are not accepted: nothing in a request says which tokenizer made
  them, and decoding tiktoken ids with the wrong tokenizer gives silent garbage.
* **Usage.** ``usage.prompt_tokens`` counts the encoder's own tokens of the embedded texts: its
  tokenizer's ids (special tokens included, truncated at its maximum length) or, for the ``hash``
  encoder, the analysed terms it hashes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any, Literal

from ..errors import ReasonIRError

logger = logging.getLogger(__name__)

Side = Literal["query", "document"]
SIDES: tuple[Side, ...] = ("query", "document")
FALLBACK_ENCODING = "cl100k_base"

__all__ = ["SIDES", "TokenInputError", "count_tokens", "decode_token_arrays", "model_list", "side_of_model"]


class TokenInputError(ReasonIRError):
    """A request's ``input`` or ``model`` that cannot be served (answered with 422)."""


def side_of_model(model: str | None) -> tuple[str | None, Side | None]:
    """Split ``"<id>#query"`` / ``"<id>#document"`` into the id and the side (``None``: no suffix).

    Raises:
        TokenInputError: for a ``#`` suffix other than ``query`` or ``document``.
    """
    if model is None or "#" not in model:
        return model, None
    base, _, suffix = model.rpartition("#")
    if suffix not in SIDES:
        raise TokenInputError(f"model: unknown suffix #{suffix[:40]!r}; use '<model>#query' to embed queries or "
                              "'<model>#document' (or the bare name) to embed documents")
    return base, suffix


def model_list(model_id: str, created: int) -> dict[str, Any]:
    """The ``/v1/models`` body: the encoder's id and its ``#query`` / ``#document`` variants."""
    ids = [model_id] + [f"{model_id}#{side}" for side in SIDES]
    return {"object": "list", "data": [{"id": i, "object": "model", "created": created, "owned_by": "reasonir"}
                                       for i in ids]}


@functools.lru_cache(maxsize=8)
def _load_encoding(name: str) -> Any:
    """A tiktoken encoding by name, or the reason it cannot be loaded (a ``str``; cached: no retry storm)."""
    try:
        import tiktoken
    except ImportError:
        return "tiktoken is not installed on the server (pip install tiktoken)"
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # noqa: BLE001 - any failure to load (offline download, missing file) is reported
        logger.warning("cannot load the tiktoken encoding %s: %s", name, exc)
        return f"the tiktoken encoding {name!r} could not be loaded on the server ({type(exc).__name__})"


def encoding_name(model: str | None) -> str:
    """The tiktoken encoding a client used for ``model`` (``cl100k_base`` for names tiktoken does not know)."""
    try:
        import tiktoken

        return str(tiktoken.encoding_for_model(model or "").name)
    except (ImportError, KeyError):     # unknown names (as LangChain does); no tiktoken: reported when loading
        return FALLBACK_ENCODING


def decode_token_arrays(arrays: Sequence[Sequence[int]], model: str | None) -> list[str]:
    """Token arrays (tiktoken ids, as OpenAI clients and LangChain send them) -> texts.

    Args:
        arrays: one list of token ids per input.
        model: the request's ``model`` (without the side suffix), which picks the tiktoken encoding.

    Raises:
        TokenInputError: when tiktoken or the encoding is unavailable, or an id is not in its vocabulary.
    """
    name = encoding_name(model)
    enc = _load_encoding(name)
    if isinstance(enc, str):
        raise TokenInputError(f"input: token arrays are decoded with tiktoken ({name}), but {enc}; send the "
                              "texts as strings instead (LangChain: OpenAIEmbeddings(..., "
                              "check_embedding_ctx_length=False))")
    texts = []
    for i, ids in enumerate(arrays):
        if not ids:
            raise TokenInputError(f"input[{i}] is an empty token array: every input needs tokens to embed")
        try:
            texts.append(enc.decode(list(ids)))
        except (KeyError, ValueError, OverflowError):      # ids outside the vocabulary
            raise TokenInputError(f"input[{i}]: token ids outside the {name} vocabulary (0..{enc.n_vocab - 1}); "
                                  f"token arrays must be tiktoken {name} ids") from None
    return texts


def _base_encoder(encoder: Any) -> Any:
    from ..encode.cache import CachedEncoder

    while isinstance(encoder, CachedEncoder):
        encoder = encoder.encoder
    return encoder


def count_tokens(encoder: Any, texts: Sequence[str]) -> int:
    """How many tokens ``encoder`` reads for ``texts`` (the ``usage.prompt_tokens`` of an embedding request).

    A transformers tokenizer counts its ids (special tokens included, truncated at the encoder's
    ``max_length``); the ``hash`` encoder counts the terms its analyser produces; an encoder with neither
    falls back to whitespace-separated words.
    """
    from ..encode.hashing import HashingEncoder

    base = _base_encoder(encoder)
    if isinstance(base, HashingEncoder):
        analyzer = base._analyzer                       # the very terms it hashes
        return sum(len(analyzer(t)) for t in texts)
    tokenizer = getattr(base, "tokenizer", None)
    if tokenizer is not None and callable(tokenizer):
        limit = getattr(base, "max_length", None)
        kwargs: dict[str, Any] = {"add_special_tokens": True}
        if isinstance(limit, int) and limit > 0:
            kwargs.update(truncation=True, max_length=limit)
        ids = tokenizer(list(texts), **kwargs)["input_ids"]
        return sum(len(x) for x in ids)
    return sum(len(t.split()) for t in texts)
