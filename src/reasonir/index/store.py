"""The document store: one SQLite table of ``(row, id, title, text, metadata)``.

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
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..types import Document

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    row INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_id ON docs(id);
"""


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
    def append(self, start: int, docs: Sequence[Document]) -> None:
        """Insert ``docs`` as rows ``start, start+1, ...`` and commit (one transaction)."""
        conn = self._conn()
        with conn:
            conn.executemany(
                "INSERT INTO docs(row, id, title, text, metadata) VALUES (?, ?, ?, ?, ?)",
                ((start + i, d.id, d.title, d.text, json.dumps(d.metadata, ensure_ascii=False, sort_keys=True))
                 for i, d in enumerate(docs)))

    def truncate(self, num_rows: int) -> int:
        """Delete every row ``>= num_rows`` (an unfinished write's rows); returns how many were removed."""
        conn = self._conn()
        with conn:
            cur = conn.execute("DELETE FROM docs WHERE row >= ?", (num_rows,))
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
