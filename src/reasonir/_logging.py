"""Progress that follows the log level, and the CLI's logging set-up.

Library code never prints: it logs through ``logging.getLogger(__name__)`` and wraps long loops in
:func:`progress`. On a terminal that is a tqdm bar; when stderr is not a terminal (a log file, a batch
job, ``nohup``) it is one INFO log record every ``REASONIR_PROGRESS_INTERVAL`` seconds (default 30)
with done/total, rate and ETA, so long work stays visible without bar redraws in the log. Nothing is
shown when the ``reasonir`` logger is above INFO or progress is off (``REASONIR_PROGRESS=0``,
:func:`set_progress`, the CLI's ``--no-progress``/``-q``). ``-q`` also quietens the bars and logs of
transformers, huggingface_hub, datasets and sentence-transformers (:func:`silence_third_party`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_progress_enabled: bool | None = None
DEFAULT_INTERVAL = 30.0
progress_logger = logging.getLogger("reasonir.progress")


def set_progress(enabled: bool | None) -> None:
    """Force progress on/off (``None``: decide from the log level and ``REASONIR_PROGRESS``).

    Turning progress off also turns off the bars of the Hugging Face libraries (see
    :func:`silence_third_party`).
    """
    global _progress_enabled
    _progress_enabled = enabled
    if enabled is False:
        silence_third_party(logs=False)


def progress_enabled() -> bool:
    """Whether :func:`progress` shows anything (a bar on a terminal, periodic log lines elsewhere)."""
    if _progress_enabled is not None:
        return _progress_enabled
    if os.environ.get("REASONIR_PROGRESS", "1") in ("0", "false", "no"):
        return False
    return logging.getLogger("reasonir").getEffectiveLevel() <= logging.INFO


def progress_interval() -> float:
    """Seconds between progress log lines when stderr is not a terminal (``REASONIR_PROGRESS_INTERVAL``)."""
    raw = os.environ.get("REASONIR_PROGRESS_INTERVAL", "")
    if not raw.strip():
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        from .errors import ConfigError

        raise ConfigError(f"REASONIR_PROGRESS_INTERVAL={raw!r}: expected a positive number of seconds "
                          f"(default {DEFAULT_INTERVAL:g})")
    return value


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class LogProgress(Generic[T]):
    """tqdm's small API (iterate, ``update``, ``close``, ``with``) reporting through log records.

    A record is logged when at least ``interval`` seconds passed since the last one (checked on each
    update), and a summary on ``close`` when the work took at least one interval, so short loops log
    nothing. ``clock`` is injectable for tests (default :func:`time.monotonic`).
    """

    def __init__(self, iterable: Iterable[T] | None = None, *, total: float | None = None,
                 desc: str | None = None, unit: str = "it", interval: float | None = None,
                 clock: Callable[[], float] = time.monotonic, logger: logging.Logger | None = None,
                 **_ignored: Any) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total = total
        self.desc = desc or "progress"
        self.unit = unit
        self.interval = progress_interval() if interval is None else interval
        self.clock = clock
        self.logger = logger or progress_logger
        self.n: float = 0
        self.start = self.last = clock()
        self.records = 0
        self.closed = False
        self._lock = threading.Lock()   # backends may report from worker threads

    def __len__(self) -> int:
        return int(self.total or 0)

    def __iter__(self) -> Iterator[T]:
        if self.iterable is None:
            raise TypeError("LogProgress: nothing to iterate (created with total= only; call update())")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LogProgress[T]:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: float = 1) -> None:
        """Count ``n`` more units done; log a line when an interval has passed."""
        with self._lock:
            self.n += n
            now = self.clock()
            if now - self.last < self.interval:
                return
            self.last = now
            self.records += 1
            line = self.status(now)
        self.logger.info("%s", line)

    def status(self, now: float) -> str:
        """``desc: done/total unit (pct), rate unit/s, ETA`` at time ``now``."""
        elapsed = max(now - self.start, 1e-9)
        rate = self.n / elapsed
        done = f"{self.n:,.0f}"
        if self.total:
            line = f"{self.desc}: {done}/{self.total:,.0f} {self.unit} ({100 * self.n / self.total:.0f}%)"
        else:
            line = f"{self.desc}: {done} {self.unit}"
        line += f", {rate:,.1f} {self.unit}/s, elapsed {_duration(elapsed)}"
        if self.total and rate > 0 and self.n < self.total:
            line += f", ETA {_duration((self.total - self.n) / rate)}"
        return line

    def close(self) -> None:
        """Log a summary when the work lasted at least one interval (once)."""
        if self.closed:
            return
        self.closed = True
        now = self.clock()
        elapsed = now - self.start
        if elapsed >= self.interval:
            rate = self.n / max(elapsed, 1e-9)
            self.logger.info("%s: done, %s %s in %s (%s %s/s)", self.desc, f"{self.n:,.0f}", self.unit,
                             _duration(elapsed), f"{rate:,.1f}", self.unit)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Accepted for tqdm compatibility; log lines carry no postfix."""

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """Rename the work in later log lines."""
        self.desc = desc or self.desc


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> Any:
    """Progress for a long loop: a tqdm bar on a terminal, periodic log lines otherwise.

    Takes tqdm's arguments (``total``, ``desc``, ``unit``, ``disable``); the result is iterable, a
    context manager and has ``update(n)``/``close()``. ``disable=True`` or progress turned off gives a
    silent pass-through.

    Example:
        >>> with progress(total=3, desc="demo", disable=True) as bar:
        ...     bar.update(3)
    """
    disable = kwargs.pop("disable", None)
    if disable is None:
        disable = not progress_enabled()
    if not disable and not _stderr_is_terminal():
        return LogProgress(iterable, **kwargs)
    from tqdm.auto import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, disable=disable, **kwargs)


def silence_third_party(logs: bool = True) -> None:
    """Turn off the progress bars (and with ``logs``, the info/warning logs) of the HF libraries.

    Environment variables cover libraries imported later; those already imported are told directly.
    Nothing is imported here.
    """
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    if logs:
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"
        os.environ["TRANSFORMERS_NO_ADVISORY_WARNINGS"] = "1"
        os.environ["DATASETS_VERBOSITY"] = "error"
    hub = sys.modules.get("huggingface_hub.utils")
    if hub is not None and hasattr(hub, "disable_progress_bars"):
        hub.disable_progress_bars()
    hf_logging = sys.modules.get("transformers.utils.logging")
    if hf_logging is not None:
        hf_logging.disable_progress_bar()
        if logs:
            hf_logging.set_verbosity_error()
    datasets = sys.modules.get("datasets")
    if datasets is not None and hasattr(datasets, "disable_progress_bars"):
        datasets.disable_progress_bars()
        if logs and hasattr(datasets, "logging"):
            datasets.logging.set_verbosity_error()
    if logs:
        for name in ("transformers", "sentence_transformers", "datasets", "huggingface_hub"):
            logging.getLogger(name).setLevel(logging.ERROR)


def configure_logging(verbosity: int = 0) -> None:
    """CLI only: -1 quiet (warnings; no progress, third-party bars and logs silenced), 0 info, 1+ debug.

    Called again, it changes levels only: the handler is added once.
    """
    level = logging.WARNING if verbosity < 0 else logging.INFO if verbosity == 0 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("reasonir").setLevel(level)
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "transformers", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if verbosity < 0:
        silence_third_party(logs=True)
