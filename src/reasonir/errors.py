"""Exception types raised for bad input, bad configuration and missing optional dependencies.

Every error a user can cause names *what* is wrong and *where* (file, line, field) and, when there is
one, the fix. Library code raises these; only the CLI turns them into exit codes.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


class ReasonIRError(Exception):
    """Base class of every error this package raises on purpose."""


class DataFormatError(ReasonIRError, ValueError):
    """A data file (corpus, queries, qrels, run, training data) is malformed.

    Args:
        message: what is wrong and how to fix it.
        path: the file that holds the bad input, if any.
        line: 1-based line number in ``path``, if the input is line-oriented.
    """

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None, line: int | None = None):
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + message)


class ConfigError(ReasonIRError, ValueError):
    """A configuration value (flag, YAML key, dataset spec, task name) is invalid."""


class InputError(ConfigError, TypeError):
    """An argument of a library call has the wrong type (e.g. bytes or ``None`` where texts are expected).

    The message names the argument (``texts``, ``queries[3]``, ``pairs``, ...) and what it accepts.
    It is a ``TypeError`` and, so that existing handlers of bad values keep working, a :class:`ConfigError`.
    """


class EmptyQueryError(ReasonIRError, ValueError):
    """A query to search with is empty or whitespace only; the message names its position or id."""


class DependencyError(ReasonIRError, ImportError):
    """An optional dependency needed for a feature is not installed."""


def require(module: str, extra: str, package: str | None = None) -> ModuleType:
    """Import an optional dependency or fail with the exact install line.

    Args:
        module: importable module name, e.g. ``"faiss"``.
        extra: the ``reasonir`` extra that provides it, e.g. ``"ann"``.
        package: the PyPI name when it differs from ``module``.

    Returns:
        The imported module.

    Raises:
        DependencyError: naming ``pip install 'reasonir[extra]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = package or module
        raise DependencyError(
            f"{pkg} is required for this feature but is not installed: "
            f"pip install 'reasonir[{extra}]'  (or: pip install {pkg})"
        ) from exc
