"""The rules every document id and query id must follow, checked wherever ids enter the package.

Ids end up in TREC runs and qrels: text lines whose columns are separated by whitespace. A document
id may contain spaces (real BRIGHT ids do: ``pytorch_torch_tensor_functions/Memory Management_2_0.txt``)
because the TREC readers take the doc id as everything between the fixed leading and trailing
columns. Anything else that can split or end a line, or be lost when the line is read back, is
refused at ingestion with an error naming the file and line (or the record), instead of producing a
run that no reader, ours included, can parse later:

* an id must be a string or an integer (JSON numbers and integer parquet columns are written in
  decimal); booleans, floats, lists, objects and null are refused;
* it must not be empty, and must not start or end with whitespace;
* it must not contain whitespace other than the plain space (TAB, newline, carriage return, form
  feed, no-break space, line and paragraph separators...), control characters, or unpaired
  surrogates (which cannot be written as UTF-8);
* a query id must not contain any whitespace at all: TREC readers, ours and ``trec_eval``, take the
  query id as the first whitespace-separated column.
"""

from __future__ import annotations

import numbers
import os
import unicodedata
from collections.abc import Iterable
from typing import Any

from .errors import DataFormatError

#: printed in error messages: what a valid id looks like
DOC_ID_RULE = ("a non-empty string (or integer) without TAB, newline or other control characters, "
               "without whitespace other than inner spaces")
QUERY_ID_RULE = "a non-empty string (or integer) without whitespace or control characters"


def _char_problem(ch: str) -> str | None:
    if ch == "\t":
        return "a TAB"
    if ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029":
        return f"a line break ({ch!r})"
    category = unicodedata.category(ch)
    if category == "Cs":
        return f"an unpaired surrogate ({ch!r}) that cannot be written as UTF-8"
    if category == "Cc":
        return f"a control character ({ch!r})"
    if ch.isspace():
        return f"whitespace other than a space ({ch!r})"
    return None


def id_problem(text: str, allow_spaces: bool) -> str | None:
    """Why ``text`` is not a valid id, or ``None`` when it is one.

    Args:
        text: the candidate id.
        allow_spaces: whether inner plain spaces are allowed (document ids) or not (query ids).
    """
    if not text:
        return "is empty"
    if text.strip() != text:
        return "starts or ends with whitespace"
    if text.isprintable() and (allow_spaces or " " not in text):
        return None                                                   # fast path: the common case
    for ch in text:
        if ch == " ":
            if not allow_spaces:
                return "contains a space"
            continue
        problem = _char_problem(ch)
        if problem:
            return f"contains {problem}"
    return None


def _check(value: Any, allow_spaces: bool, what: str, rule: str, path: str | os.PathLike | None,
           line: int | None) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        text = str(int(value))
    else:
        raise DataFormatError(f"{what} {value!r:.80} is a {type(value).__name__}; an id must be {rule}",
                              path, line)
    problem = id_problem(text, allow_spaces)
    if problem:
        raise DataFormatError(f"{what} {text!r:.120} {problem}; an id must be {rule} (it is written "
                              "into TREC runs and qrels, whose columns are separated by whitespace)", path, line)
    return text


def check_doc_id(value: Any, path: str | os.PathLike | None = None, line: int | None = None,
                 what: str = "document id") -> str:
    """Return ``value`` as a valid document id string, or raise.

    Args:
        value: the id as read (a string or an integer).
        path: the file (or other origin, e.g. ``hf:NAME``) it came from, for the message.
        line: its 1-based line (or record) number, for the message.
        what: how to call the id in the message.

    Raises:
        DataFormatError: naming the id, why it is invalid, and the file and line.
    """
    return _check(value, True, what, DOC_ID_RULE, path, line)


def check_query_id(value: Any, path: str | os.PathLike | None = None, line: int | None = None,
                   what: str = "query id") -> str:
    """Return ``value`` as a valid query id string (no whitespace at all), or raise.

    Args:
        value: the id as read (a string or an integer).
        path: the file (or other origin) it came from, for the message.
        line: its 1-based line (or record) number, for the message.
        what: how to call the id in the message.

    Raises:
        DataFormatError: naming the id, why it is invalid, and the file and line.
    """
    return _check(value, False, what, QUERY_ID_RULE, path, line)


def check_unique_ids(ids: Iterable[str], path: str | os.PathLike | None = None,
                     lines: Iterable[int] | None = None, what: str = "document id") -> None:
    """Raise on the first id that occurs twice, naming both places.

    Args:
        ids: the ids in input order.
        path: where they came from, for the message.
        lines: the line (or record) number of each id; default 1, 2, 3...
        what: how to call the ids in the message.

    Raises:
        DataFormatError: ``duplicate <what> 'x' (first seen at line/row N)`` at the second occurrence.
    """
    seen: dict[str, int] = {}
    line_of = iter(lines) if lines is not None else None
    for i, doc_id in enumerate(ids, start=1):
        here = next(line_of) if line_of is not None else i
        if doc_id in seen:
            raise DataFormatError(f"duplicate {what} {doc_id!r} (first seen at line/row {seen[doc_id]}); "
                                  f"{what}s must be unique, remove or rename the duplicate", path, here)
        seen[doc_id] = here
