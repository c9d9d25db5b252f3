"""Tiny random decoder models and an offline BPE tokenizer for the encoder tests (no downloads)."""

from __future__ import annotations

import functools

BOS, EOS, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"

CORPUS = [
    "Photosynthesis converts light energy into chemical energy stored in sugars.",
    "The mitochondrion is the powerhouse of the cell and makes ATP.",
    "Given a biology post, retrieve relevant passages that help answer the post",
    "Given a Math problem, retrieve relevant theorems that help answer the problem",
    "<|user|>\n<|embed|>\n",
    "Stock markets fell sharply on Monday as investors worried about interest rates.",
    "BM25 is a bag-of-words ranking function used by search engines.",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
] * 3


@functools.lru_cache(maxsize=2)
def _tokenizer_json(add_bos: bool) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=[BOS, EOS, PAD], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A $B:1", special_tokens=[(BOS, tok.token_to_id(BOS))])
    return tok.to_str()


def tiny_tokenizer(add_bos: bool = True):
    """A byte-level BPE tokenizer (vocab ~420) that prepends BOS like LLaMA-3 (or not, ``add_bos=False``)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(_tokenizer_json(add_bos)),
                                   bos_token=BOS, eos_token=EOS, pad_token=PAD)


def tiny_config(model_type: str = "llama", vocab_size: int = 420):
    """A 2-layer, 32-wide config of a decoder family."""
    import transformers

    kw = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, bos_token_id=0,
              eos_token_id=1, pad_token_id=2)
    cls = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config,
           "qwen3": transformers.Qwen3Config, "mistral": transformers.MistralConfig}[model_type]
    if model_type == "mistral":
        kw["sliding_window"] = 64
    return cls(**kw)


def tiny_model(model_type: str = "llama", seed: int = 0):
    """A random base model (``LlamaModel`` etc.) in eval mode."""
    import torch
    from transformers import AutoModel

    torch.manual_seed(seed)
    return AutoModel.from_config(tiny_config(model_type), attn_implementation="sdpa").eval()
