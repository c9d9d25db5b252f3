"""Installed package versions, recorded beside every artifact (index, embeddings, exported model, run manifest).

One reader of ``importlib.metadata`` for all of them, so each records the same way; each caller names
the packages that matter for reproducing its own artifact.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from importlib import metadata


def installed_versions(packages: Iterable[str], python: bool = False) -> dict[str, str]:
    """``{package: version}`` of those of ``packages`` that are installed (absent ones are left out).

    Args:
        packages: distribution names, e.g. ``("reasonir", "torch")``.
        python: also record the interpreter's version under ``"python"`` (first).
    """
    out = {"python": platform.python_version()} if python else {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
