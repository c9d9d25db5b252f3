"""Reading and writing contrastive training data (the file the synthesizer writes and the trainer reads).

The canonical format is the GritLM / ReasonIR JSONL row::

    {"query": [instruction, text], "pos": [[instruction, text], ...], "neg": [[instruction, text], ...]}

plus optional provenance fields (``source_doc_id``, ``generator``, ``prompt_version``, ...), which
GritLM-style readers ignore and :func:`read_train_examples` keeps in ``TrainExample.metadata``.

The reader also accepts, row by row:

* plain-string forms of the above (``"query": "text"``, ``"pos": ["text", ...]``);
* sentence-transformers columns: ``anchor`` (or ``query``) + ``positive`` + ``negative`` /
  ``negative_1``, ``negative_2``, ...;
* Tevatron rows: ``query`` (+ ``query_id``), ``positive_passages`` / ``negative_passages`` as lists
  of ``{"docid", "title", "text"}`` (title and text are joined with a space).

Inputs may be a ``.jsonl`` / ``.jsonl.gz`` file, a ``.parquet`` file, or a folder of such files
(GritLM's ``--train_data`` folder layout). Every malformed row raises :class:`DataFormatError`
naming the file, the line and the field.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import DataFormatError, require
from .ids import check_doc_id, check_query_id
from .io import atomic_write, iter_jsonl, read_parquet_rows, write_jsonl
from .types import TrainExample

#: keys that carry data in the canonical format (everything else in a row is provenance metadata)
CANONICAL_KEYS = ("query", "pos", "neg")
#: metadata keys used internally to round-trip per-item instructions that differ from the first one
_POS_INSTR = "pos_instructions"
_NEG_INSTR = "neg_instructions"
_INTERNAL = (_POS_INSTR, _NEG_INSTR)
TRAIN_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")


# --------------------------------------------------------------------------------------------------
# parsing one row
# --------------------------------------------------------------------------------------------------
def _pair(value: Any, field: str, path: Any, line: int | None) -> tuple[str, str]:
    """``[instr, text]`` or ``"text"`` -> ``(instr, text)``."""
    if isinstance(value, str):
        return "", value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return value[0], value[1]
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], str):
        return "", value[0]
    raise DataFormatError(
        f"field {field!r} must be a string or an [instruction, text] pair of strings, got {value!r:.80}",
        path, line)


def _pairs(value: Any, field: str, path: Any, line: int | None) -> list[tuple[str, str]]:
    """A list of texts / pairs (a single string or a single pair is accepted as one item)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [("", value)]
    if not isinstance(value, (list, tuple)):
        raise DataFormatError(f"field {field!r} must be a list of texts or [instruction, text] pairs, "
                              f"got {type(value).__name__}", path, line)
    if len(value) == 2 and all(isinstance(v, str) for v in value) and _looks_like_pair(value):
        return [(value[0], value[1])]
    return [_pair(v, f"{field}[{i}]", path, line) for i, v in enumerate(value)]


def _looks_like_pair(value: Any) -> bool:
    """Ambiguity of ``["a", "b"]``: two texts or one ``[instruction, text]`` pair? In the GritLM format
    ``pos``/``neg`` are always lists of pairs, so a flat list of two strings is read as two texts unless
    the first element looks like an instruction (empty, or a short line ending with ':' / newline)."""
    instr = value[0]
    return instr == "" or (len(instr) < 300 and instr.rstrip(" ").endswith(("\n", ":")))


def _split_instructions(items: list[tuple[str, str]], field: str, meta: dict[str, Any]) -> tuple[str, list[str]]:
    if not items:
        return "", []
    instrs = [i for i, _ in items]
    if any(i != instrs[0] for i in instrs):
        meta[field] = instrs
    return instrs[0], [t for _, t in items]


def _tevatron_text(p: Any, field: str, path: Any, line: int | None) -> tuple[str, str]:
    if not isinstance(p, Mapping) or not isinstance(p.get("text"), str) \
            or not isinstance(p.get("title") or "", str):
        raise DataFormatError(f"field {field!r} must hold objects with a string 'text' "
                              "(and optional 'docid', string 'title')", path, line)
    title = p.get("title") or ""
    text = f"{title} {p['text']}" if title else p["text"]
    doc_id = p.get("docid")
    if doc_id is None or doc_id == "":   # no id: it is provenance only
        return "", text
    return check_doc_id(doc_id, path, line, what=f"{field}.docid"), text


def example_from_record(row: Mapping[str, Any], path: str | os.PathLike | None = None,
                        line: int | None = None) -> TrainExample:
    """Parse one training row in any accepted form (see the module docstring).

    Raises:
        DataFormatError: naming the file, line and field that is wrong.
    """
    if not isinstance(row, Mapping):
        raise DataFormatError(f"a training row must be a JSON object, got {type(row).__name__}", path, line)
    reserved = [k for k in _INTERNAL if k in row]
    if reserved:
        raise DataFormatError(f"field {reserved[0]!r} is reserved; give each positive / negative its own "
                              "instruction as an [instruction, text] pair instead", path, line)
    if "positive_passages" in row:
        return _from_tevatron(row, path, line)
    if "pos" in row:
        return _from_gritlm(row, path, line)
    if "positive" in row or "anchor" in row:
        return _from_sentence_transformers(row, path, line)
    raise DataFormatError(
        "unrecognised training row; expected GritLM fields query/pos/neg, sentence-transformers "
        f"columns anchor/positive/negative, or Tevatron query/positive_passages (found: "
        f"{', '.join(sorted(map(str, row))) or 'no fields'})", path, line)


def _require_text(text: str, field: str, path: Any, line: int | None) -> str:
    if not text.strip():
        raise DataFormatError(f"field {field!r} is empty; every query and positive needs text", path, line)
    return text


def _from_gritlm(row: Mapping[str, Any], path: Any, line: int | None) -> TrainExample:
    if "query" not in row:
        raise DataFormatError("missing field 'query' (expected [instruction, text] or a string)", path, line)
    q_instr, q_text = _pair(row["query"], "query", path, line)
    _require_text(q_text, "query", path, line)
    meta = {k: v for k, v in row.items() if k not in CANONICAL_KEYS}
    pos = _pairs(row["pos"], "pos", path, line)
    if not pos:
        raise DataFormatError("field 'pos' is empty; each example needs at least one positive", path, line)
    for i, (_, t) in enumerate(pos):
        _require_text(t, f"pos[{i}]", path, line)
    neg = _pairs(row.get("neg"), "neg", path, line)
    d_instr, pos_texts = _split_instructions(pos, _POS_INSTR, meta)
    n_instr, neg_texts = _split_instructions(neg, _NEG_INSTR, meta)
    if neg and n_instr != d_instr and _NEG_INSTR not in meta:
        meta[_NEG_INSTR] = [n_instr] * len(neg)
    return TrainExample(query=q_text, pos=pos_texts, neg=neg_texts, query_instruction=q_instr,
                        doc_instruction=d_instr, metadata=meta)


def _from_sentence_transformers(row: Mapping[str, Any], path: Any, line: int | None) -> TrainExample:
    qkey = "anchor" if "anchor" in row else "query"
    if not isinstance(row.get(qkey), str):
        raise DataFormatError(f"field {qkey!r} must be a string (sentence-transformers columns "
                              "anchor/positive/negative)", path, line)
    if not isinstance(row.get("positive"), str):
        raise DataFormatError("field 'positive' must be a string", path, line)
    neg_keys = sorted((k for k in row if k == "negative" or k.startswith("negative_")), key=_negative_order)
    negs = []
    for k in neg_keys:
        if row[k] is None:
            continue
        if not isinstance(row[k], str):
            raise DataFormatError(f"field {k!r} must be a string", path, line)
        negs.append(row[k])
    used = {qkey, "positive", *neg_keys}
    meta = {k: v for k, v in row.items() if k not in used}
    return TrainExample(query=_require_text(row[qkey], qkey, path, line),
                        pos=[_require_text(row["positive"], "positive", path, line)], neg=negs, metadata=meta)


def _negative_order(key: str) -> tuple[int, int, str]:
    """``negative`` first, then ``negative_1``, ``negative_2``, ... ``negative_10`` in numeric order, then
    any other ``negative_*`` column by name (compared as strings: no int() of arbitrary suffixes)."""
    if key == "negative":
        return (0, 0, "")
    suffix = key[9:]
    if suffix.isascii() and suffix.isdigit():
        digits = suffix.lstrip("0")
        return (1, len(digits), digits + "/" + suffix)
    return (2, 0, key)


def _from_tevatron(row: Mapping[str, Any], path: Any, line: int | None) -> TrainExample:
    if not isinstance(row.get("query"), str):
        raise DataFormatError("field 'query' must be a string (Tevatron rows)", path, line)
    pos_raw, neg_raw = row.get("positive_passages"), row.get("negative_passages") or []
    if not isinstance(pos_raw, list) or not pos_raw:
        raise DataFormatError("field 'positive_passages' must be a non-empty list", path, line)
    if not isinstance(neg_raw, list):
        raise DataFormatError("field 'negative_passages' must be a list", path, line)
    pos = [_tevatron_text(p, f"positive_passages[{i}]", path, line) for i, p in enumerate(pos_raw)]
    neg = [_tevatron_text(p, f"negative_passages[{i}]", path, line) for i, p in enumerate(neg_raw)]
    meta = {k: v for k, v in row.items() if k not in ("query", "positive_passages", "negative_passages")}
    if meta.get("query_id") is not None:
        meta["query_id"] = check_query_id(meta["query_id"], path, line)
    meta["pos_ids"] = [d for d, _ in pos]
    meta["neg_ids"] = [d for d, _ in neg]
    return TrainExample(query=_require_text(row["query"], "query", path, line), pos=[t for _, t in pos],
                        neg=[t for _, t in neg], metadata=meta)


# --------------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------------
def train_files(path: str | os.PathLike) -> list[Path]:
    """The training files at ``path``: the file itself, or a folder's ``*.jsonl[.gz]``/``*.parquet`` sorted."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(TRAIN_SUFFIXES)
                       and not f.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"{p}: no training files (*.jsonl, *.jsonl.gz, *.parquet) in this folder")
        return files
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such training file")
    return [p]


def iter_train_examples(path: str | os.PathLike) -> Iterator[TrainExample]:
    """Yield training examples from a file or folder, in file order (see :func:`train_files`).

    Raises:
        DataFormatError: on the first malformed row, naming file, line and field.
        FileNotFoundError: when nothing is found at ``path``.
    """
    for f in train_files(path):
        if f.suffix == ".parquet":
            for i, row in enumerate(read_parquet_rows(f), start=1):
                yield example_from_record(row, f, i)
            continue
        for lineno, obj in iter_jsonl(f):
            yield example_from_record(obj, f, lineno)


def read_train_examples(path: str | os.PathLike) -> list[TrainExample]:
    """Read every training example at ``path`` (file or folder; any accepted row form)."""
    return list(iter_train_examples(path))


def example_to_record(ex: TrainExample, provenance: bool = True) -> dict[str, Any]:
    """The GritLM / ReasonIR row of ``ex``; ``provenance`` adds its metadata as extra top-level fields."""
    meta = ex.metadata or {}
    pos_instr = meta.get(_POS_INSTR) or [ex.doc_instruction] * len(ex.pos)
    neg_instr = meta.get(_NEG_INSTR) or [ex.doc_instruction] * len(ex.neg)
    if len(pos_instr) != len(ex.pos) or len(neg_instr) != len(ex.neg):   # stale per-item lists: fall back
        pos_instr, neg_instr = [ex.doc_instruction] * len(ex.pos), [ex.doc_instruction] * len(ex.neg)
    row: dict[str, Any] = {
        "query": [ex.query_instruction, ex.query],
        "pos": [[i, t] for i, t in zip(pos_instr, ex.pos)],
        "neg": [[i, t] for i, t in zip(neg_instr, ex.neg)],
    }
    if provenance:
        for k, v in meta.items():
            if k not in _INTERNAL and k not in CANONICAL_KEYS:
                row[k] = v
    return row


def validate_example(ex: TrainExample, where: str = "example") -> None:
    """Raise :class:`DataFormatError` when ``ex`` cannot be written as a training row."""
    if not isinstance(ex.query, str) or not ex.query.strip():
        raise DataFormatError(f"{where}: the query is empty")
    if not ex.pos or any(not isinstance(t, str) or not t.strip() for t in ex.pos):
        raise DataFormatError(f"{where}: needs at least one non-empty positive")
    if any(not isinstance(t, str) for t in ex.neg):
        raise DataFormatError(f"{where}: negatives must be strings")


def write_train_examples(path: str | os.PathLike, examples: Iterable[TrainExample],
                         provenance: bool = True) -> int:
    """Atomically write examples as GritLM / ReasonIR JSONL; returns the number written.

    Args:
        path: output ``.jsonl`` file (parent folders are created).
        examples: the examples, written in order.
        provenance: also write each example's metadata (source doc id, generator, prompt version...)
            as extra top-level fields, which GritLM-style readers ignore.

    Raises:
        DataFormatError: for an example with an empty query or no positive, or text that UTF-8 cannot
            encode (nothing is written).
    """
    def rows() -> Iterator[dict[str, Any]]:
        for i, ex in enumerate(examples):
            validate_example(ex, f"example {i}")
            yield example_to_record(ex, provenance)
    return write_jsonl(path, rows())


def write_sentence_transformers(path: str | os.PathLike, examples: Iterable[TrainExample],
                                num_negatives: int | None = None, with_instructions: bool = False) -> dict[str, int]:
    """Write examples as a sentence-transformers training table (JSONL, or parquet by suffix).

    Columns: ``anchor``, ``positive`` (the first positive) and, when negatives are written,
    ``negative`` (one) or ``negative_1..n``. Every row has the same columns, as ``datasets`` requires:
    with ``num_negatives=None`` the count is the smallest number of negatives any example has;
    examples with fewer than ``num_negatives`` are skipped.

    Args:
        path: ``.jsonl`` or ``.parquet`` output (load with ``datasets.load_dataset("json"|"parquet", ...)``).
        examples: training examples.
        num_negatives: negatives per row (``None``: as many as every example has).
        with_instructions: prefix the query with its instruction (sentence-transformers usually gets
            instructions through ``prompts=`` instead, so the default leaves them out).

    Returns:
        ``{"written": n, "skipped": m, "num_negatives": k}``.
    """
    exs = list(examples)
    k = num_negatives if num_negatives is not None else min((len(e.neg) for e in exs), default=0)
    rows, skipped = [], 0
    for e in exs:
        if len(e.neg) < k or not e.pos:
            skipped += 1
            continue
        anchor = f"{e.query_instruction}{e.query}" if with_instructions else e.query
        row = {"anchor": anchor, "positive": e.pos[0]}
        if k == 1:
            row["negative"] = e.neg[0]
        else:
            for j in range(k):
                row[f"negative_{j + 1}"] = e.neg[j]
        rows.append(row)
    p = Path(path)
    if p.suffix == ".parquet":
        pa = require("pyarrow", "parquet")
        pq = require("pyarrow.parquet", "parquet", package="pyarrow")
        cols = list(rows[0]) if rows else ["anchor", "positive"]
        table = pa.table({c: [r[c] for r in rows] for c in cols})
        with atomic_write(p, "wb") as fh:
            pq.write_table(table, fh)
    else:
        write_jsonl(p, rows)
    return {"written": len(rows), "skipped": skipped, "num_negatives": k}
