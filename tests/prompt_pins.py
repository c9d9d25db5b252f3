"""Every pinned prompt in one registry: the texts that decide an LLM's input, their version, their digest.

A prompt's wording changes results, so each built-in prompt carries a version that is recorded beside
every output. A pin ties the version to the sha256 of the texts; ``test_prompt_pins.py`` checks them all
the same way. Changing a wording means bumping its version in ``reasonir/prompts`` and updating the
pin here, together, deliberately.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from reasonir.prompts import rag, rerank, rewrite, synth


@dataclass(frozen=True)
class Pin:
    """``texts()`` rendered by the prompt at ``current()`` must hash to ``sha256`` while it is ``version``."""

    name: str
    current: Callable[[], str]
    version: str
    texts: Callable[[], Sequence[str]]
    sha256: str


def digest(texts: Sequence[str]) -> str:
    """The one pin scheme: sha256 (hex) of the texts joined by the unit separator ``\\x1f``."""
    return hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()


def _rag_rendered() -> list[str]:
    """The RAG user messages as the rag-1 Python constants rendered them (before the template files)."""
    opts = ["w x", "y {z}", "a", "b"]
    rendered = {
        "system": rag.SYSTEM,
        "mmlu_rag": rag.mmlu_user_message(" Q {1}? ", opts, "college_biology", [" p1 ", "p2\n"]),
        "mmlu_closed": rag.mmlu_user_message("Q?", opts, "college_biology"),
        "gpqa_rag": rag.gpqa_user_message(" Q? ", opts, [" one ", "two"]),
        "gpqa_closed": rag.gpqa_user_message("Q?", opts),
        "rewrite": rag.rewrite_user_message(" Q? ", opts),
        "rewrite_plain": rag.rewrite_user_message("Q?"),
    }
    return [rendered[k] for k in sorted(rendered)]


def _rerank_rendered() -> list[str]:
    texts = {f: rerank.rerank_text(f, "QQQ", "DDD") for f in rerank.FAMILIES}
    return [json.dumps(texts, sort_keys=True)]


def _synth(name: str) -> Pin:
    version, want = SYNTH[name]
    return Pin(f"synth/{name}", lambda: synth.TEMPLATES[name][0], version, lambda: synth.TEMPLATES[name][1], want)


#: synthesizer prompt -> (version, sha256)
SYNTH = {
    "hq": ("hq-1", "780d3a547313cbecdfb7067942d6fc5fa29489b961daf5e5aa78d0228ab7897f"),
    "hq_reason": ("hq-reason-1", "e71910612a327a4bfbdc3855138a73a6a24075752147fffbf5a88fd638bfa110"),
    "expand_reason": ("expand-reason-1", "50e70413ec966928d66ad15d7273c9dc7add434438745e3ac389450466afb778"),
    "vl_tasks": ("vl-tasks-1", "6719dcd819b644bf0e09f649f9a474fd4ce61fb90e65270a4e799a5aef358840"),
    "vl_pair": ("vl-pair-1", "cb66a4264906eaedcbd1d71569b4585b108b9f107741d169ec86c23365242cce"),
    "negative": ("neg-1", "e6ec2a347d69671696152ffe83fc2872ab8af96d9208e8f89691a99f412eb9c6"),
    "neg_judge": ("negjudge-1", "753e2fa8557f5be4d2b5be00a9f5235f7a367cc9e62f869646cfbbd4d2e8741a"),
    "edu_judge": ("edujudge-1", "af37bcab5bec09d7f76fbfd6e44acfeb0f2700319ca64f053f5648f26b32e658"),
}

PINS: list[Pin] = [
    # the template files (name order) and the stop strings; moved from Python constants byte for byte
    Pin("rag/templates", lambda: rag.PROMPT_VERSION, "rag-1",
        lambda: [*(rag.DEFAULT.texts[n] for n in rag.TEMPLATE_NAMES), *rag.MMLU_STOP],
        "96dc98abfc66aa41fea20f06db6388e6b874ede10add044b3d388ddd55eea1ad"),
    Pin("rag/rendered", lambda: rag.PROMPT_VERSION, "rag-1", _rag_rendered,
        "4c7c6330ed0a7fec809fff26f13f79f67718f98e97e84a9baaed862ef5383265"),
    Pin("rerank/rendered", lambda: rerank.PROMPT_VERSION, "rerank-1", _rerank_rendered,
        "67b772bf1a2dfd54d76cbc3aef66fc7138022ae5b37602fa288652716546b553"),
    Pin("rewrite/templates", lambda: rewrite.PROMPT_VERSION, "rewrite-1",
        lambda: [rewrite.SYSTEM, rewrite.USER, rewrite.LENGTH_CLAUSE],
        "ed33d3f8527379d2fecaf1637fcb9cb53d189473375af0408ecada9d2d39241e"),
    *(_synth(name) for name in SYNTH),
]
