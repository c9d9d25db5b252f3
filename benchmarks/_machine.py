"""The one-line machine description, for the scripts not yet moved to :mod:`_common` (which holds the code)."""

from __future__ import annotations

from _common import machine as _machine


def machine(extra: str = "") -> str:
    """``str(_common.machine(extra))``: CPU model with its matrix ISA, cores, RAM, Python[, extra]."""
    return str(_machine(extra))
