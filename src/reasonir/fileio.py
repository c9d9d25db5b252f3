"""Atomic writes and line-oriented reading of text files (plain or gzip), shared by every reader.

Import these through :mod:`reasonir.io`, which re-exports them. Writers go through
:func:`atomic_write` (temp file + fsync + rename); readers go through :func:`iter_lines` /
:func:`iter_jsonl` / :func:`iter_tsv_corpus`, which turn every way a file can be unreadable (a folder,
bytes that are not UTF-8, a corrupt gzip stream, JSON that is invalid, too deep or has numbers too long to
convert) into a :class:`~reasonir.errors.DataFormatError` naming the file and line.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from .errors import DataFormatError
from .ids import check_doc_id

#: suffixes of TSV collections (pyserini's and MS MARCO's ``id<TAB>text``)
TSV_CORPUS_SUFFIXES = (".tsv", ".tsv.gz")


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()   # read once at import: os.umask is process-global and not thread-safe


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    A crash or exception leaves ``path`` untouched (old content or absent), never half-written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)   # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Atomically write ``obj`` as JSON (UTF-8, keys in insertion order)."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=indent, ensure_ascii=False)
        fh.write("\n")


def _raw_lines(path: Path) -> Iterator[bytes]:
    if path.suffix != ".gz":
        with open(path, "rb") as fh:
            yield from fh
        return
    try:
        with gzip.open(path, "rb") as gz:
            yield from gz
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(f"cannot decompress this gzip file ({exc}); it is truncated or not gzip, "
                              "check the download or drop the .gz suffix", path) from None


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line of a UTF-8 text file (``.gz`` transparently).

    A byte-order mark at the start and ``\\r\\n`` line ends are removed.

    Raises:
        DataFormatError: on bytes that are not UTF-8 (naming the line and byte offset), a corrupt
            gzip stream, or a folder where a file is expected.
        FileNotFoundError: when the file does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DataFormatError("is a folder; expected a file", path)
    for lineno, raw in enumerate(_raw_lines(path), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(
                f"bytes {raw[max(0, exc.start - 10):exc.end + 10]!r} at byte {exc.start} of the line are not "
                "valid UTF-8; re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                path, lineno,
            ) from None
        if lineno == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield lineno, text.rstrip("\r\n")


def parse_json(text: str, path: str | os.PathLike | None = None, line: int | None = None, hint: str = "") -> Any:
    """Parse one JSON document, reporting every failure as :class:`DataFormatError`.

    Besides syntax errors this covers integers too long to convert, nesting too deep for the parser,
    and ``\\uD800``-style escapes of unpaired surrogates (which no UTF-8 file can hold).

    Args:
        text: the JSON text (a whole file, or one line of a JSONL file when ``line`` is given).
        path: the file, for the message.
        line: the line of ``path`` that ``text`` is, for the message.
        hint: appended to the message of a syntax error (how the file should look).
    """
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"column {exc.colno}" if line is not None else f"line {exc.lineno} column {exc.colno}"
        raise DataFormatError(f"invalid JSON ({exc.msg} at {where}){hint}", path, line) from None
    except ValueError as exc:   # e.g. an integer literal longer than Python converts
        raise DataFormatError(f"invalid JSON ({exc}){hint}", path, line) from None
    except RecursionError:
        raise DataFormatError(f"invalid JSON (nested too deeply){hint}", path, line) from None
    if "\\u" in text and "\\ud" in text.lower():
        try:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise DataFormatError("a \\uD800-\\uDFFF escape encodes an unpaired surrogate, which is not "
                                  "text; fix the escape (write the character itself)", path, line) from None
    return obj


def read_json_file(path: str | os.PathLike) -> Any:
    """The JSON document a whole file holds.

    Raises:
        DataFormatError: naming the file: not UTF-8, or invalid JSON (with line and column, see :func:`parse_json`).
        OSError: the file cannot be read (missing, a folder, no permission).
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"byte {exc.start} is not valid UTF-8; re-encode the file as UTF-8", path) from None
    return parse_json(text, path)


def read_json_object(path: str | os.PathLike, what: str = "a JSON object") -> dict[str, Any]:
    """The JSON object a whole file holds (a metadata or config file: ``config.json``, ``head.json``...).

    Raises:
        DataFormatError: as :func:`read_json_file`, or for JSON that is not an object (the message says
            ``expected {what}``).
        OSError: the file cannot be read (missing, a folder, no permission).
    """
    obj = read_json_file(path)
    if not isinstance(obj, dict):
        raise DataFormatError(f"expected {what}, got {type(obj).__name__}", path)
    return obj


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file.

    Raises:
        DataFormatError: on a line that is not a JSON object.
    """
    for lineno, text in iter_lines(path):
        if not text.strip():
            continue
        obj = parse_json(text, path, lineno, hint="; each line must be one JSON object")
        if not isinstance(obj, dict):
            raise DataFormatError(
                f"expected a JSON object per line, got {type(obj).__name__}", path, lineno
            )
        yield lineno, obj


def write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> int:
    """Atomically write rows as JSONL; returns the number of rows written.

    Raises:
        DataFormatError: for a row holding an unpaired surrogate, which UTF-8 cannot encode (nothing is
            written).
    """
    n = 0
    with atomic_write(path) as fh:
        for row in rows:
            line = json.dumps(row, ensure_ascii=False)
            try:
                fh.write(line + "\n")
            except UnicodeEncodeError as exc:
                raise DataFormatError(f"row {n + 1} to write holds {line[exc.start:exc.end]!r}, an unpaired "
                                      "surrogate that UTF-8 cannot encode; fix the text that produced it",
                                      path) from None
            n += 1
    return n


def is_tsv_corpus(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a TSV collection (``.tsv`` or ``.tsv.gz``)."""
    return Path(path).name.lower().endswith(TSV_CORPUS_SUFFIXES)


def iter_tsv_corpus(path: str | os.PathLike) -> Iterator[tuple[int, str, str]]:
    """Yield ``(line_number, doc_id, text)`` for each ``id<TAB>text`` line of a TSV collection.

    The format of pyserini's and MS MARCO's ``collection.tsv``: the id is everything before the first
    TAB (it follows the rules of :mod:`reasonir.ids`), the text everything after it (a further TAB is
    kept in the text). Blank lines are skipped.

    Raises:
        DataFormatError: a line without a TAB, or an invalid id, naming the file and line.
        FileNotFoundError: when the file does not exist.

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "collection.tsv"
        >>> _ = path.write_text("0\\tIce floats on water.\\n")
        >>> list(iter_tsv_corpus(path))
        [(1, '0', 'Ice floats on water.')]
    """
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        doc_id, tab, text = line.partition("\t")
        if not tab:
            raise DataFormatError("expected `doc_id<TAB>text` (a TSV collection, as pyserini's); this line has "
                                  "no TAB", path, lineno)
        yield lineno, check_doc_id(doc_id.strip(), path, lineno), text
