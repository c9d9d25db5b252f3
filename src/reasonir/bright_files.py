"""BRIGHT's layout on disk and on the Hub: where a task's config files are and how to read their rows.

Both the dataset loaders (:mod:`reasonir.data`) and the query variants (:mod:`reasonir.query_variants`)
read BRIGHT config files; they share these readers from below, so neither imports the other back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .io import iter_jsonl, read_parquet_rows

BRIGHT_HUB_ID = "xlangai/BRIGHT"
CONFIG_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def find_config_file(directory: Path, stems: tuple[str, ...]) -> Path | None:
    """The first ``directory/<stem><suffix>`` that exists (stems in order; suffixes: :data:`CONFIG_SUFFIXES`)."""
    for stem in stems:
        for suffix in CONFIG_SUFFIXES:
            if (directory / f"{stem}{suffix}").exists():
                return directory / f"{stem}{suffix}"
    return None


def read_bright_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a local BRIGHT config file (``.jsonl``, ``.jsonl.gz`` or ``.parquet``)."""
    p = Path(path)
    if p.suffix == ".parquet":
        return read_parquet_rows(p)
    return [obj for _, obj in iter_jsonl(p)]


def bright_variant_file(task_dir: str | os.PathLike, config: str) -> Path | None:
    """``task_dir/<config>.jsonl[.gz]`` / ``.parquet`` (a local copy of a Hub config), or ``None``."""
    return find_config_file(Path(task_dir), (config,))
