"""The document store: one SQLite table of ``(row, id, title, text, metadata)``, and one of filter fields.

Each document's filterable metadata (:func:`reasonir.index.filters.filter_fields`) is also written, in the
same transaction, as ``(name, row, kind, value)`` rows of a ``fields`` table indexed by name, so a
metadata filter reads only the fields it names, never the document texts or whole metadata objects.
Stores written before that table existed are filled in when a writer first opens them; a reader of
such a store parses the metadata column instead.

Rows are numbered from 0 in the order documents were added and never renumbered: row ``i`` is vector
``i`` of the shards. Rows at or beyond the committed row count (``config.json``) belong to an
unfinished write and are invisible to readers; deletions are tombstones kept outside the store (see
:mod:`reasonir.index.layout`), so a crash can never leave the store and the config disagreeing about
what is live. Ids are not unique across rows (a replaced document keeps its old, tombstoned row);
the live row of an id is the one not tombstoned.

Every connection is per thread (SQLite connections must not be shared across threads); readers open
with ``query_only`` so they cannot modify the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..types import Document
from .filters import filter_fields

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_id ON docs(id);
CREATE TABLE IF NOT EXISTS fields (
    name TEXT NOT NULL,
    row INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value
);
CREATE INDEX IF NOT EXISTS fields_name ON fields(name, row);
"""
#: ``PRAGMA user_version`` of a store whose ``fields`` table covers every row
_FIELDS_VERSION = 1


def _field_rows(row: int, metadata: dict) -> list[tuple[str, int, str, object]]:
    """``(name, row, kind, value)`` of a document's filter fields (kinds: ``b`` bool, ``n`` number, ``s`` string)."""
    out: list[tuple[str, int, str, object]] = []
    for name, v in filter_fields(metadata).items():
        if isinstance(v, bool):
            out.append((name, row, "b", int(v)))
        elif isinstance(v, (int, float)):
            out.append((name, row, "n", v))
        else:
            out.append((name, row, "s", v))
    return out


class DocStore:
    """SQLite-backed document store.

    Args:
        path: the ``docs.sqlite`` file.
        readonly: open for reading only (no schema creation, ``PRAGMA query_only``).
    """

    def __init__(self, path: str | os.PathLike, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._local = threading.local()
        if not readonly:
            conn = self._conn()
            conn.executescript(_SCHEMA)
            conn.commit()
            if conn.execute("PRAGMA user_version").fetchone()[0] < _FIELDS_VERSION:
                self._fill_fields(conn)
        elif not self.path.exists():
            raise FileNotFoundError(f"{self.path}: document store missing; the index is damaged, rebuild it")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0)
            conn.execute("PRAGMA journal_mode=WAL" if not self.readonly else "PRAGMA query_only=1")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close when they are collected)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if not self.readonly:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            self._local.conn = None

    # ---------------------------------------------------------------------------------------------
    # writing
    # ---------------------------------------------------------------------------------------------
    def _fill_fields(self, conn: sqlite3.Connection) -> None:
        """Write the filter fields of every stored row (a store from before the ``fields`` table)."""
        with conn:
            conn.execute("DELETE FROM fields")
            for row, meta in conn.execute("SELECT row, metadata FROM docs WHERE metadata != '{}'").fetchall():
                conn.executemany("INSERT INTO fields(name, row, kind, value) VALUES (?, ?, ?, ?)",
                                 _field_rows(int(row), json.loads(meta)))
            conn.execute(f"PRAGMA user_version={_FIELDS_VERSION}")

    def append(self, start: int, docs: Sequence[Document]) -> None:
        """Insert ``docs`` as rows ``start, start+1, ...`` with their filter fields and commit (one transaction)."""
        conn = self._conn()
        with conn:
            conn.executemany(
                "INSERT INTO docs(row, id, title, text, metadata) VALUES (?, ?, ?, ?, ?)",
                ((start + i, d.id, d.title, d.text, json.dumps(d.metadata, ensure_ascii=False, sort_keys=True))
                 for i, d in enumerate(docs)))
            conn.executemany("INSERT INTO fields(name, row, kind, value) VALUES (?, ?, ?, ?)",
                             (f for i, d in enumerate(docs) if d.metadata for f in _field_rows(start + i, d.metadata)))

    def truncate(self, num_rows: int) -> int:
        """Delete every row ``>= num_rows`` (an unfinished write's rows); returns how many were removed."""
        conn = self._conn()
        with conn:
            cur = conn.execute("DELETE FROM docs WHERE row >= ?", (num_rows,))
            conn.execute("DELETE FROM fields WHERE row >= ?", (num_rows,))
        return cur.rowcount

    # ---------------------------------------------------------------------------------------------
    # reading
    # ---------------------------------------------------------------------------------------------
    def max_row(self) -> int:
        """Number of rows stored, committed or not (= 1 + the largest row, rows being contiguous)."""
        value = self._conn().execute("SELECT MAX(row) FROM docs").fetchone()[0]
        return 0 if value is None else int(value) + 1

    def rows_of_ids(self, ids: Sequence[str], below: int) -> dict[str, list[int]]:
        """``{id: [rows]}`` for the given ids among rows ``< below`` (ids absent from the store are omitted)."""
        out: dict[str, list[int]] = {}
        conn = self._conn()
        for i in range(0, len(ids), 500):
            part = list(ids[i:i + 500])
            marks = ",".join("?" * len(part))
            for doc_id, row in conn.execute(
                    f"SELECT id, row FROM docs WHERE row < ? AND id IN ({marks}) ORDER BY row", (below, *part)):
                out.setdefault(doc_id, []).append(int(row))
        return out

    def _select_rows(self, columns: str, rows: Sequence[int], chunk: int = 500) -> Iterable[tuple]:
        """``SELECT columns`` of the given rows, in chunks below SQLite's bound-parameter limit."""
        conn = self._conn()
        for i in range(0, len(rows), chunk):
            part = list(rows[i:i + chunk])
            marks = ",".join("?" * len(part))
            yield from conn.execute(f"SELECT {columns} FROM docs WHERE row IN ({marks})", part)

    def get_rows(self, rows: Sequence[int]) -> list[Document]:
        """The documents at ``rows``, in the order given.

        Raises:
            KeyError: when a row does not exist.
        """
        found: dict[int, Document] = {}
        uniq = sorted(set(int(r) for r in rows))
        for row, doc_id, title, text, meta in self._select_rows("row, id, title, text, metadata", uniq):
            found[row] = Document(id=doc_id, text=text, title=title, metadata=json.loads(meta))
        missing = [r for r in uniq if r not in found]
        if missing:
            raise KeyError(f"rows {missing[:5]} are not in the document store {self.path}")
        return [found[int(r)] for r in rows]

    def ids_of_rows(self, rows: Sequence[int]) -> list[str]:
        """Document ids of the given rows, in the order given.

        Raises:
            KeyError: when a row does not exist.
        """
        found: dict[int, str] = dict(self._select_rows("row, id", sorted(set(int(r) for r in rows))))
        try:
            return [found[int(r)] for r in rows]
        except KeyError as exc:
            raise KeyError(f"row {exc.args[0]} is not in the document store {self.path}") from None

    def iter_range(self, start: int, end: int, batch: int = 10000) -> Iterable[tuple[int, Document]]:
        """Yield ``(row, document)`` for rows ``start <= row < end`` in row order."""
        conn = self._conn()
        for lo in range(start, end, batch):
            hi = min(end, lo + batch)
            for row, doc_id, title, text, meta in conn.execute(
                    "SELECT row, id, title, text, metadata FROM docs WHERE row >= ? AND row < ? ORDER BY row",
                    (lo, hi)):
                yield int(row), Document(id=doc_id, text=text, title=title, metadata=json.loads(meta))

    def texts(self, start: int, end: int) -> tuple[list[str], list[str]]:
        """``(ids, full_texts)`` of rows ``[start, end)``, in row order."""
        ids, texts = [], []
        for _, doc in self.iter_range(start, end):
            ids.append(doc.id)
            texts.append(doc.full_text)
        if len(ids) != end - start:
            raise KeyError(f"rows {start}..{end} are incomplete in the document store {self.path}")
        return ids, texts

    def field_values(self, name: str, below: int) -> dict[int, object]:
        """``{row: value}`` of filter field ``name`` over rows ``< below`` (rows without it are absent)."""
        conn = self._conn()
        if conn.execute("PRAGMA user_version").fetchone()[0] < _FIELDS_VERSION:   # an older store
            out: dict[int, object] = {}
            for row, meta in conn.execute("SELECT row, metadata FROM docs WHERE row < ? AND metadata != '{}'",
                                          (below,)):
                value = filter_fields(json.loads(meta)).get(name)
                if value is not None:
                    out[int(row)] = value
            return out
        decode: dict[str, Callable[[Any], object]] = {"b": bool, "n": lambda v: v, "s": lambda v: v}
        return {int(row): decode[kind](value) for row, kind, value in conn.execute(
            "SELECT row, kind, value FROM fields WHERE name = ? AND row < ?", (name, below))}

    def metadata_of_range(self, start: int, end: int) -> list[dict]:
        """The filter fields of rows ``[start, end)``, in row order (what Milvus stores beside each vector)."""
        cur = self._conn().execute("SELECT metadata FROM docs WHERE row >= ? AND row < ? ORDER BY row", (start, end))
        return [filter_fields(json.loads(m)) for (m,) in cur]

    def metadata_of_rows(self, rows: Sequence[int]) -> list[dict]:
        """The filter fields of the given rows, in the order given (rows not stored give ``{}``)."""
        found = {int(r): filter_fields(json.loads(m)) for r, m in
                 self._select_rows("row, metadata", sorted(set(int(r) for r in rows)))}
        return [found.get(int(r), {}) for r in rows]

    def ids(self, start: int, end: int) -> list[str]:
        """Document ids of rows ``[start, end)`` in row order."""
        cur = self._conn().execute("SELECT id FROM docs WHERE row >= ? AND row < ? ORDER BY row", (start, end))
        return [r[0] for r in cur]

    def checksum(self, start: int, end: int) -> str:
        """sha256 over the canonical content of rows ``[start, end)`` (row, id, title, text, metadata)."""
        h = hashlib.sha256()
        conn = self._conn()
        for lo in range(start, end, 10000):
            for rec in conn.execute("SELECT row, id, title, text, metadata FROM docs WHERE row >= ? AND row < ? "
                                    "ORDER BY row", (lo, min(end, lo + 10000))):
                h.update(json.dumps(rec, ensure_ascii=False).encode("utf-8"))
                h.update(b"\n")
        return h.hexdigest()


def live_mask(num_rows: int, tombstones: np.ndarray | None) -> np.ndarray:
    """Boolean ``[num_rows]`` mask, True where the row is live."""
    mask = np.ones(num_rows, dtype=bool)
    if tombstones is not None and tombstones.size:
        mask[tombstones] = False
    return mask
