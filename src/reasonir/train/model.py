"""The trainable side of an encoder: the same tokenisation, prefixes and pooling as inference, with grad.

:func:`build_train_model` loads the encoder with :func:`reasonir.encode.load_encoder` and wraps its
backbone in :class:`PooledBackbone`, an ``nn.Module`` whose forward maps token ids to pooled
embeddings (the module accelerate wraps in DDP/FSDP). Texts become token ids through the encoder's
own helpers, so training and inference format a text identically:

* :class:`~reasonir.encode.LLMEncoder` — ``prompt_format.prefix(instruction) + text`` tokenised by
  ``LLMEncoder.tokenize`` (real BOS), pooled from ``len(prefix_ids(instruction))`` on (BOS and the
  instruction prefix excluded), right padding, mean pooling (:mod:`reasonir.encode.pooling`). As in
  GritLM's training collator (which trained ReasonIR-8B), the instruction is first stripped of
  :data:`INSTRUCTION_STRIP` at both ends (``"Retrieve documents: "`` trains as
  ``"<|user|>\nRetrieve documents\n<|embed|>\n"``) and one that strips to nothing takes the
  instruction-less prefix (:func:`training_instruction`). Inference does not strip (neither does the
  released model's ``encode``); BRIGHT's instructions are unchanged by the strip, so training and
  evaluation format them identically;
* :class:`~reasonir.encode.SentenceTransformerEncoder` with a Transformer -> Pooling [-> Normalize]
  stack — the encoder's prompt for the side/instruction, its tokenizer and ``prompt_length`` rule
  (``include_prompt``), the same pooling helpers.

Options: bf16/fp32 weights, gradient checkpointing (non-reentrant), LoRA adapters (peft; merged into
the weights on export). Export writes the encoder's own folder format via
:func:`reasonir.encode.export_encoder`, so ``--model PATH`` loads a checkpoint anywhere.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, require
from .batching import DOCUMENT, QUERY, Item
from .config import TrainConfig

logger = logging.getLogger(__name__)

#: LoRA targets when none are given: attention and MLP projections of LLaMA/Qwen/Mistral and BERT
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
                        "query", "key", "value", "dense")
#: characters kept per text before tokenising (GritLM cuts at 10 characters per allowed token)
CHARS_PER_TOKEN = 10
#: characters GritLM's collator strips from both ends of an instruction before formatting it
INSTRUCTION_STRIP = "\t\n :"


def training_instruction(instruction: str | None) -> str | None:
    """The instruction an LLM encoder trains with: stripped of :data:`INSTRUCTION_STRIP` (GritLM).

    Returns:
        The stripped instruction, or ``None`` when nothing is left (the instruction-less prefix).

    Example:
        >>> training_instruction("Retrieve documents: ")
        'Retrieve documents'
        >>> training_instruction(" :\n") is None
        True
    """
    stripped = (instruction or "").strip(INSTRUCTION_STRIP)
    return stripped or None


class PooledBackbone(torch.nn.Module):
    """``backbone(input_ids, attention_mask) -> last_hidden_state``, pooled from each row's ``start``.

    Args:
        backbone: a transformers base model (LLaMA/Qwen/... or BERT-style), possibly a peft wrapper.
        pooling: ``mean`` | ``cls`` | ``lasttoken``.
        forward_kwargs: extra arguments for every forward (e.g. ``use_cache=False``).
    """

    def __init__(self, backbone: torch.nn.Module, pooling: str, forward_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.forward_kwargs = dict(forward_kwargs or {})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """``[B, L]`` ids and mask, ``[B]`` first pooled positions -> ``[B, D]`` float32 embeddings."""
        from ..encode.pooling import pool, pool_mask

        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **self.forward_kwargs)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]   # [B, L, D]
        return pool(hidden, pool_mask(attention_mask, starts), self.pooling)               # [B, D]


def pad_batch(ids: Sequence[Sequence[int]], starts: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token lists: ``input_ids [B, L]``, ``attention_mask [B, L]``, ``starts [B]``."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), int(pad_id), dtype=torch.long)          # [B, L]
    mask = torch.zeros((len(ids), width), dtype=torch.long)                           # [B, L]
    for row, x in enumerate(ids):
        input_ids[row, :len(x)] = torch.as_tensor(list(x), dtype=torch.long)
        mask[row, :len(x)] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "starts": torch.as_tensor(list(starts), dtype=torch.long)}


class TrainModel:
    """An encoder plus its trainable module; see the module docstring.

    Args:
        encoder: an ``LLMEncoder`` or a fast-path ``SentenceTransformerEncoder``.
        query_max_length, passage_max_length: token limits per side.
        lora: LoRA settings ``{"r", "alpha", "dropout", "target_modules"}`` or ``None``.
        gradient_checkpointing: recompute activations during backward.
    """

    def __init__(self, encoder: Any, *, query_max_length: int, passage_max_length: int,
                 lora: dict[str, Any] | None = None, gradient_checkpointing: bool = False):
        self.encoder = encoder
        self.kind = getattr(encoder, "kind", None)
        if self.kind == "llm":
            backbone, forward_kwargs = encoder.model, {"use_cache": False}
            tok = encoder.tokenizer
            self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.bos_token_id or 0)
        elif self.kind == "sentence-transformers":
            if getattr(encoder, "_engine", None) is None:
                raise ConfigError(f"{encoder.name}: only Transformer -> Pooling [-> Normalize] sentence-transformers "
                                  "models can be trained here (this one has other modules)")
            backbone, forward_kwargs = next(iter(encoder.model)).auto_model, {}
            self.pad_id = encoder.tokenizer.pad_token_id or 0
            pooler = getattr(backbone, "pooler", None)      # BERT's [CLS] head never reaches the embedding:
            if isinstance(pooler, torch.nn.Module):         # frozen, so DDP does not wait for its gradients
                pooler.requires_grad_(False)
        else:
            raise ConfigError(f"cannot train a {type(encoder).__name__}: use an LLM (e.g. smollm2, a LLaMA/Qwen "
                              "checkpoint) or a sentence-transformers model (e.g. minilm)")
        self.max_length = {QUERY: int(query_max_length), DOCUMENT: int(passage_max_length)}
        if gradient_checkpointing:
            backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if hasattr(backbone, "enable_input_require_grads") and lora:
                backbone.enable_input_require_grads()   # checkpointed frozen embeddings need a grad path
        self.lora = dict(lora) if lora else None
        if self.lora:
            backbone = _apply_lora(backbone, self.lora)
        self.module = PooledBackbone(backbone, encoder.pooling, forward_kwargs)

    # ------------------------------------------------------------------ formatting (shared with inference)
    @contextlib.contextmanager
    def _limit(self, n: int) -> Iterator[None]:
        old = self.encoder.max_length
        self.encoder.max_length = n
        try:
            yield
        finally:
            self.encoder.max_length = old

    def token_ids(self, items: Sequence[Item]) -> tuple[list[list[int]], list[int]]:
        """Token ids and first pooled position of each item, exactly as the encoder formats them."""
        enc = self.encoder
        ids: list[list[int]] = [[] for _ in items]
        starts = [0] * len(items)
        groups: dict[tuple[str, str], list[int]] = {}
        for i, it in enumerate(items):                  # one tokenizer call per (side, instruction)
            groups.setdefault((it.side, it.instruction), []).append(i)
        for (side, instr), rows in groups.items():
            limit = self.max_length[side]
            texts = [items[i].text[: limit * CHARS_PER_TOKEN] for i in rows]
            instruction = instr or None
            if self.kind == "llm":
                instruction = training_instruction(instruction)
                prefix = enc.prompt_format.prefix(instruction)
                with self._limit(limit):
                    got = enc.tokenize([prefix + t for t in texts])
                    start = len(enc.prefix_ids(instruction))
            else:
                prompt = enc._prompt(instruction, enc.query_prompt if side == QUERY else enc.document_prompt)
                got = enc.tokenizer([prompt + t for t in texts], add_special_tokens=True, truncation=True,
                                    max_length=limit, return_attention_mask=False,
                                    return_token_type_ids=False)["input_ids"]
                start = enc.prompt_length(prompt) if (prompt and not enc.include_prompt) else 0
            for i, x in zip(rows, got):
                ids[i], starts[i] = x, start
        return ids, starts

    def features(self, items: Sequence[Item]) -> dict[str, torch.Tensor]:
        """Padded model inputs for ``items`` (CPU tensors)."""
        ids, starts = self.token_ids(items)
        return pad_batch(ids, starts, self.pad_id)

    @staticmethod
    def length(item: Item) -> int:
        """A cheap size proxy used to bucket GradCache chunks."""
        return len(item.text) + len(item.instruction)

    # ------------------------------------------------------------------ export
    def trained_backbone(self, module: PooledBackbone | None = None,
                         state_dict: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
        """A plain backbone holding the trained weights (LoRA merged).

        Args:
            module: the unwrapped training module (default: ``self.module``).
            state_dict: a full state dict of the training module (sharded engines gather one); the
                weights are then loaded into a CPU copy of the architecture.
        """
        live: Any = (module or self.module).backbone      # a transformers model, possibly a peft wrapper
        if state_dict is not None:
            prefix = "backbone."
            weights = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
            dtype = next(v.dtype for v in weights.values() if v.is_floating_point())
            live = _cpu_skeleton(live, dtype)
            live.load_state_dict(weights, assign=True)
            return live.merge_and_unload() if self.lora else live      # a private copy: merge in place
        if self.lora:
            return copy.deepcopy(live).merge_and_unload()
        return live

    def export(self, path: str | Path, module: PooledBackbone | None = None,
               state_dict: dict[str, torch.Tensor] | None = None) -> Path:
        """Write the trained encoder to ``path`` in the encoder's folder format (replacing it)."""
        from ..encode import export_encoder

        trained = self.trained_backbone(module, state_dict)
        with self._swapped(trained):
            return export_encoder(self.encoder, path, overwrite=True)

    @contextlib.contextmanager
    def _swapped(self, backbone: torch.nn.Module) -> Iterator[None]:
        if self.kind == "llm":
            old = self.encoder.model
            self.encoder.model = backbone
            try:
                yield
            finally:
                self.encoder.model = old
        else:
            first = next(iter(self.encoder.model))
            old = first.auto_model
            first.auto_model = backbone
            try:
                yield
            finally:
                first.auto_model = old

    def describe(self) -> dict[str, Any]:
        """Model facts for the run record (encoder settings, parameter counts, LoRA)."""
        params = list(self.module.parameters())
        return {"model": getattr(self.encoder, "name", "?"), "encoder": self.encoder.settings(),
                "parameters": sum(p.numel() for p in params),
                "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
                "lora": self.lora, "dtype": str(params[0].dtype).removeprefix("torch.")}


def _cpu_skeleton(live: Any, dtype: torch.dtype) -> torch.nn.Module:
    """An unsharded module of ``live``'s architecture whose parameters are still unallocated (meta).

    ``live`` is a transformers model or a peft wrapper of one (typed ``Any``: their attributes are dynamic).
    """
    from accelerate import init_empty_weights

    base = live.get_base_model() if hasattr(live, "get_base_model") else live
    with init_empty_weights():                         # parameters on "meta"; buffers (rotary) real
        skeleton = type(base)._from_config(base.config, dtype=dtype)
        if live is not base:                           # the same adapters, for the same key names
            peft = require("peft", "train")
            skeleton = peft.get_peft_model(skeleton, live.peft_config["default"])
    return skeleton


def _apply_lora(backbone: torch.nn.Module, opts: dict[str, Any]) -> torch.nn.Module:
    peft = require("peft", "train")
    present = {name.rsplit(".", 1)[-1] for name, _ in backbone.named_modules()}
    targets = list(opts.get("target_modules") or [t for t in DEFAULT_LORA_TARGETS if t in present])
    missing = [t for t in targets if t not in present]
    if not targets or missing:
        linear = sorted(n for n in present if "proj" in n or n in ("query", "key", "value", "dense"))
        raise ConfigError(f"lora_target_modules {missing or targets} not found in the model; its linear layers "
                          f"include: {', '.join(linear)}")
    config = peft.LoraConfig(r=int(opts["r"]), lora_alpha=int(opts["alpha"]), lora_dropout=float(opts["dropout"]),
                             target_modules=targets, bias="none")
    wrapped = peft.get_peft_model(backbone, config)
    n_train = sum(p.numel() for p in wrapped.parameters() if p.requires_grad)
    logger.info("LoRA r=%d on %s: %d trainable parameters", config.r, ", ".join(targets), n_train)
    return wrapped


def build_train_model(cfg: TrainConfig, device: str | torch.device = "cpu") -> TrainModel:
    """Load ``cfg.model`` as an encoder and make it trainable as ``cfg`` says.

    Raises:
        ConfigError: for an encoder kind that cannot be trained or bad LoRA targets.
        DependencyError: when transformers / sentence-transformers / peft are missing.
    """
    from ..encode import load_encoder

    encoder = load_encoder(cfg.model, dtype=cfg.dtype, device=str(device))
    lora = ({"r": cfg.lora_r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
             "target_modules": cfg.lora_target_modules} if cfg.lora else None)
    return TrainModel(encoder, query_max_length=cfg.query_max_length, passage_max_length=cfg.passage_max_length,
                      lora=lora, gradient_checkpointing=cfg.gradient_checkpointing)
