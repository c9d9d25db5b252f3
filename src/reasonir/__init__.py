"""reasonir: retrieval for reasoning-intensive queries.

The ReasonIR retriever (a decoder LLM made bidirectional), its synthetic-data generator and trainer,
BM25 baselines faithful to BRIGHT, evaluation, rerankers, a persistent index with a CLI and an HTTP
server, and retrieval-augmented QA evaluation.

The objects a user needs first are importable from here::

    import reasonir

    index = reasonir.Index.build(docs, "my-index", model="minilm", bm25=True)
    hits = index.search("why does ice float?", k=10)
    result = reasonir.evaluate(qrels, {qid: index.search(text) for qid, text in queries.items()})

They are imported on first use, so ``import reasonir`` stays cheap (no torch, no model code).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__version__ = "0.1.0"

#: public name -> (module, attribute); each is imported on first access
_EXPORTS: dict[str, tuple[str, str]] = {
    # encoders and LLMs
    "load_encoder": ("reasonir.encode.loading", "load_encoder"),
    "load_llm": ("reasonir.llm.spec", "load_llm"),
    # data and files
    "Document": ("reasonir.types", "Document"),
    "load_dataset": ("reasonir.data", "load_dataset"),
    "read_corpus": ("reasonir.io", "read_corpus"),
    "read_queries": ("reasonir.io", "read_queries"),
    "read_qrels": ("reasonir.io", "read_qrels"),
    "read_run": ("reasonir.io", "read_run"),
    "write_run": ("reasonir.io", "write_run"),
    # retrieval and evaluation
    "Index": ("reasonir.index.searcher", "Index"),
    "Hit": ("reasonir.types", "Hit"),
    "BM25Retriever": ("reasonir.retrieve.retriever", "BM25Retriever"),
    "evaluate": ("reasonir.evaluate", "evaluate"),
    "EvalResult": ("reasonir.evaluate", "EvalResult"),
    # errors
    "ReasonIRError": ("reasonir.errors", "ReasonIRError"),
    "ConfigError": ("reasonir.errors", "ConfigError"),
    "DataFormatError": ("reasonir.errors", "DataFormatError"),
    "InputError": ("reasonir.errors", "InputError"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Import a public object on first access (PEP 562) and keep it as a module attribute."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'reasonir' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(ModuleType):
    """The package module: a submodule named like a public function never replaces the function.

    Importing a submodule sets it as an attribute of its package; ``reasonir.evaluate`` must stay
    the function whichever code imported the ``reasonir.evaluate`` module first (the module itself
    is ``sys.modules["reasonir.evaluate"]``, and ``from reasonir.evaluate import ...`` still works).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and name in _EXPORTS and _EXPORTS[name][0] == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
