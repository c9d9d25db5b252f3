"""Writes through an opened :class:`~reasonir.index.Index`: ``Index.build``, ``Index.add``, ``Index.delete``.

Each is one call of :mod:`reasonir.index.builder` (so it is as resumable and as strictly checked as
the CLI's ``reasonir index build/add/delete``) followed by a reload of the opened index, which then
sees the new generation at once. The encoder is loaded once and shared by the write and the
searches that follow it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from . import encoding
from .builder import add_documents, build_index, delete_documents
from .corpus import Corpus, CorpusSource, resolve_corpus
from .layout import read_config
from .options import IndexOptions, RunOptions
from .state import WriteReport

if TYPE_CHECKING:
    from .searcher import Index

__all__ = ["Corpus", "add", "build", "delete"]


def _options(model: str | None, settings: dict[str, Any]) -> IndexOptions:
    valid = set(IndexOptions.__dataclass_fields__) - {"model"}
    unknown = sorted(set(settings) - valid)
    if unknown:
        raise ConfigError(f"unknown index setting(s) {', '.join(unknown)}; choose among model, "
                          f"{', '.join(sorted(valid))}")
    values = dict(settings)
    if model is not None:
        values["model"] = model
    return IndexOptions(**values)


def _serial(run: RunOptions) -> bool:
    """Whether the write encodes in this process (then it can use an encoder loaded here)."""
    return not (run.ray or run.devices or run.workers > 1)


def build(cls: type[Index], documents: Corpus | CorpusSource, index_dir: str | os.PathLike[str], model: str | None,
          overwrite: bool, device: str, batch_size: int | None, run: RunOptions | None,
          settings: dict[str, Any]) -> Index:
    """``Index.build``: check the settings and the documents, build, open (see that method)."""
    opts = _options(model, settings)
    run = run or RunOptions(device=device, batch_size=batch_size)
    source = resolve_corpus(documents)         # bad documents fail before a model is loaded
    encoder = encoding.load(run.encoder_spec(opts)) if _serial(run) else None
    build_index(source, os.fspath(index_dir), opts, run, overwrite, encoder=encoder)
    index = cls.open(index_dir, device=device, batch_size=batch_size)
    if encoder is not None:
        index._encoder = encoder                # the one that just encoded the documents
    return index


def reload(index: Index) -> None:
    """Point ``index`` at the generation committed now (keeping its loaded encoder)."""
    index.close()
    index._load(read_config(index.root))
    index.check()


def add(index: Index, documents: Corpus | CorpusSource, replace: bool) -> WriteReport:
    """``Index.add``: add documents with the index's own encoder, then reload."""
    source = resolve_corpus(documents)
    run = RunOptions(device=index._spec.device, batch_size=index._spec.batch_size)
    report = add_documents(index.root, source, replace, run, encoder=index.encoder)
    reload(index)
    return report


def delete(index: Index, ids: Sequence[str], missing_ok: bool) -> WriteReport:
    """``Index.delete``: tombstone the documents, then reload."""
    report = delete_documents(os.fspath(index.root), ids, missing_ok)
    reload(index)
    return report
