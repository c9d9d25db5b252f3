"""Progress bars that follow the log level, and the CLI's logging set-up.

Library code never prints: it logs through ``logging.getLogger(__name__)`` and wraps long loops in
:func:`progress`, which shows a tqdm bar only when the ``reasonir`` logger is at INFO or below and
progress has not been turned off (``REASONIR_PROGRESS=0`` or :func:`set_progress`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")
_progress_enabled: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """Force progress bars on/off (``None``: decide from the log level and ``REASONIR_PROGRESS``)."""
    global _progress_enabled
    _progress_enabled = enabled


def progress_enabled() -> bool:
    if _progress_enabled is not None:
        return _progress_enabled
    if os.environ.get("REASONIR_PROGRESS", "1") in ("0", "false", "no"):
        return False
    return logging.getLogger("reasonir").getEffectiveLevel() <= logging.INFO and sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, **kwargs: Any):
    """A tqdm progress bar (docs/s, ETA) when enabled, else a silent pass-through with the same API."""
    from tqdm.auto import tqdm

    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def configure_logging(verbosity: int = 0) -> None:
    """CLI only: -1 quiet (warnings), 0 info, 1+ debug."""
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("reasonir").setLevel(level)
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
