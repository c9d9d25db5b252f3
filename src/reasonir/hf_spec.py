"""One ``hf:`` syntax for every place that reads a Hugging Face dataset: corpora, queries, synthesizer inputs.

    hf:NAME[:CONFIG][@SPLIT][?OPTION=VALUE&...]

``NAME`` is a Hub dataset id (``BeIR/scifact``) or a folder written by ``Dataset.save_to_disk``.
Options (all optional): ``config``, ``split`` and ``revision`` (the first two may also be given in the
short form; giving both forms with different values is an error), and the field mapping ``text``,
``id`` and ``title`` — which column holds the text, the id and the title when the dataset does not use
the usual names. ``id=_row`` numbers the rows (0, 1, ...) for datasets without ids. The split defaults
to ``train``. Examples::

    hf:BeIR/scifact:corpus@corpus                       # BEIR on the Hub: corpus config, corpus split
    hf:BeIR/scifact:queries@queries                     # ... and its queries
    hf:HuggingFaceFW/fineweb-edu?config=sample-10BT&text=text&id=id
    hf:./my_saved_dataset@test?text=question&id=qid

This module only parses and loads; the readers (:mod:`reasonir.index.corpus`, :mod:`reasonir.io`,
:mod:`reasonir.synth.pool`) turn the mapped records into documents or queries with their usual checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from .errors import ConfigError, require

PREFIX = "hf:"
#: the options after ``?``
OPTIONS = ("config", "split", "revision", "text", "id", "title")
#: ``id=`` value that numbers the rows instead of reading a column
ROW_ID = "_row"
SYNTAX = "hf:NAME[:CONFIG][@SPLIT][?config=C&split=S&revision=R&text=FIELD&id=FIELD&title=FIELD]"


@dataclass(frozen=True)
class HFSpec:
    """A parsed ``hf:`` spec.

    Attributes:
        spec: the text the user gave.
        name: Hub dataset id or local folder.
        config: dataset config, if any.
        split: the split to read.
        revision: Hub revision (branch, tag or commit), if any.
        text, id, title: the columns holding each field; ``None`` means the usual names.
    """

    spec: str
    name: str
    config: str | None = None
    split: str = "train"
    revision: str | None = None
    text: str | None = None
    id: str | None = None
    title: str | None = None


def is_hf_spec(value: Any) -> bool:
    """True for a string starting with ``hf:``."""
    return isinstance(value, str) and value.startswith(PREFIX)


def parse_hf_spec(spec: str) -> HFSpec:
    """Parse ``hf:NAME[:CONFIG][@SPLIT][?options]``.

    Raises:
        ConfigError: not an ``hf:`` spec, an empty name, an unknown or repeated option, or the
            short and the option form disagreeing on the config or the split.

    Examples:
        >>> spec = parse_hf_spec("hf:BeIR/scifact:corpus@corpus")
        >>> spec.name, spec.config, spec.split
        ('BeIR/scifact', 'corpus', 'corpus')
        >>> parse_hf_spec("hf:org/data?config=en&text=body&id=key").config
        'en'
    """
    if not is_hf_spec(spec):
        raise ConfigError(f"{spec!r}: expected {SYNTAX}")
    body, _, query = spec[len(PREFIX):].partition("?")
    opts: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if key not in OPTIONS:
            raise ConfigError(f"{spec}: unknown option {key!r}; options are {', '.join(OPTIONS)} ({SYNTAX})")
        if key in opts:
            raise ConfigError(f"{spec}: option {key!r} given twice")
        if not value:
            raise ConfigError(f"{spec}: option {key!r} has no value")
        opts[key] = value
    if query and not opts:
        raise ConfigError(f"{spec}: cannot read the options after '?' ({SYNTAX})")
    name, split = body, None
    if "@" in name:
        name, split = name.rsplit("@", 1)
    config = None
    if ":" in name and not Path(name).exists():
        name, config = name.split(":", 1)
    if not name or split == "" or config == "":
        raise ConfigError(f"{spec}: expected {SYNTAX}, e.g. hf:BeIR/scifact:corpus@corpus")
    for key, short in (("config", config), ("split", split)):
        if short is not None and key in opts and opts[key] != short:
            raise ConfigError(f"{spec}: {key} given twice with different values ({short!r} and {opts[key]!r})")
    return HFSpec(spec, name, config or opts.get("config"), split or opts.get("split", "train"),
                  opts.get("revision"), opts.get("text"), opts.get("id"), opts.get("title"))


def load_hf_dataset(spec: HFSpec) -> Any:
    """The ``datasets.Dataset`` of one split: from a ``save_to_disk`` folder or from the Hub.

    Raises:
        DependencyError: ``datasets`` is not installed (the ``hf`` extra).
        ConfigError: the split is not in a saved ``DatasetDict``; the Hub cannot be reached (the
            message names the local alternative, once).
    """
    datasets = require("datasets", "hf")
    if Path(spec.name).is_dir():
        ds = datasets.load_from_disk(spec.name)
        if isinstance(ds, datasets.DatasetDict):
            if spec.split not in ds:
                raise ConfigError(f"{spec.spec}: split {spec.split!r} not found; splits: {', '.join(ds)}")
            ds = ds[spec.split]
        return ds
    try:
        return datasets.load_dataset(spec.name, spec.config, split=spec.split, revision=spec.revision)
    except (ConnectionError, OSError) as exc:
        raise hub_unreachable(exc, f"{spec.spec}: cannot load {spec.name!r}",
                              "a folder written by Dataset.save_to_disk (hf:FOLDER), or the data as a "
                              "JSONL/TSV/parquet file") from exc


def hub_unreachable(exc: BaseException, what: str, local: str) -> ConfigError:
    """One error for a Hub download that failed: ``what``, why (offline mode named), and the local alternative."""
    offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE", "").lower() in (
        "1", "true", "yes", "on") else ""
    reason = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ConfigError(f"{what} from the Hugging Face Hub{offline}: {reason}. Use a local copy instead: {local}")


def hf_records(spec: HFSpec, *, text_field: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number from 1, record)`` with the spec's field mapping applied.

    A mapped column is copied to the usual name (``_id``, ``title`` and ``text_field``); the other
    columns stay as they are (documents keep them as metadata); a mapped column is moved, not copied.
    ``id=_row`` gives row ``i`` the id ``str(i - 1)``.

    Raises:
        ConfigError: a mapped column that the dataset does not have (named with the columns it has).
    """
    ds = load_hf_dataset(spec)
    columns = list(getattr(ds, "column_names", None) or [])
    for key in ("text", "id", "title"):
        column = getattr(spec, key)
        if column and column != ROW_ID and columns and column not in columns:
            raise ConfigError(f"{spec.spec}: {key}={column!r} is not a column of this dataset; "
                              f"columns: {', '.join(columns)}")
    for row, rec in enumerate(ds, start=1):
        rec = dict(rec)
        if spec.id == ROW_ID:
            rec["_id"] = str(row - 1)
        elif spec.id:
            rec["_id"] = rec.pop(spec.id, None)
        if spec.text:
            rec[text_field] = rec.pop(spec.text, None)
        if spec.title:
            rec["title"] = rec.pop(spec.title, None)
        yield row, rec
