"""Paths a command writes to or reads from, checked before any work, and write failures as one line.

Every command that writes an output file calls :func:`check_output_file` (or :func:`check_output_dir`)
on it before it starts working, so a folder given for a file, a path under a file or a folder without
write permission is refused at once, naming what the path was for. :func:`writing` turns a full disk
or a refused write while an output is being written into an :class:`OutputError` that names the path
and what was being written; :func:`describe_os_error` gives the CLI one line for such errors.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError, ReasonIRError


class OutputError(ReasonIRError):
    """An output could not be written (full disk, read-only file system, no permission)."""


#: errno values that mean "this output cannot be written here", with the advice given for each
_WRITE_ERRNOS = {errno.ENOSPC: "free some space (or choose another folder) and run the command again",
                 errno.EDQUOT: "the disk quota is exhausted; free some space and run the command again",
                 errno.EROFS: "the file system is read-only; choose another folder",
                 errno.EACCES: "no permission; choose a folder you can write to",
                 errno.EPERM: "no permission; choose a folder you can write to"}


def _existing_ancestor(p: Path) -> Path:
    anc = p.absolute()
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    return anc


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """Refuse, before any work is done, an output path that cannot become a file.

    Args:
        path: where the command will write a file.
        what: what the file is, for the message (e.g. ``"the run (--out)"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: ``path`` is a folder, lies under a file, or its folder cannot be written to.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p} is a directory; {what} is a file: give a file path such as {p / 'out.trec'}")
    anc = _existing_ancestor(p.parent)
    if not anc.is_dir():
        raise ConfigError(f"{p}: {anc} is a file, not a folder; cannot write {what} there")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ConfigError(f"{p}: no permission to write {what} in {anc}")
    return p


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Refuse, before any work is done, an output folder that is a file or cannot be created/written.

    Raises:
        ConfigError: naming ``path`` and ``what``.
    """
    p = Path(path)
    anc = _existing_ancestor(p)
    if not anc.is_dir():
        where = "is a file" if anc == p.absolute() else f"lies under the file {anc}"
        raise ConfigError(f"{p} {where}; {what} is a folder: give a folder path")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise ConfigError(f"{p}: no permission to write {what} in {anc}")
    return p


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """Refuse an input path that is a folder, or does not exist, naming what it was given for.

    Raises:
        ConfigError: ``path`` is a folder.
        FileNotFoundError: ``path`` does not exist.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{p} is a directory; {what} must be a file")
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file ({what})")
    return p


def describe_os_error(exc: OSError, what: str | None = None) -> str | None:
    """One line for an ``OSError`` a user can fix (a folder for a file, full disk, no permission), else ``None``."""
    writing = f" while writing {what}" if what else ""
    name = f"{exc.filename}" if exc.filename is not None else "a path"
    if isinstance(exc, IsADirectoryError):
        return f"{name} is a directory; a file was expected there{writing}"
    if isinstance(exc, NotADirectoryError):
        return f"{name}: a part of this path is a file, not a folder{writing}"
    if isinstance(exc, FileExistsError):
        return f"{name} already exists and is not a folder{writing}"
    if exc.errno in _WRITE_ERRNOS:
        where = f"{exc.filename}: " if exc.filename is not None else ""
        return f"{where}{exc.strerror or exc}{writing}; {_WRITE_ERRNOS[exc.errno]}"
    return None


@contextlib.contextmanager
def writing(what: str, path: str | os.PathLike) -> Iterator[None]:
    """Turn a full disk or a refused write inside the block into :class:`OutputError` naming ``what`` and ``path``."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, ReasonIRError) or exc.errno not in _WRITE_ERRNOS:
            raise
        if exc.filename is None:
            exc.filename = str(path)
        raise OutputError(describe_os_error(exc, what) or str(exc)) from exc
