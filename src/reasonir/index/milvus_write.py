"""Writes into the Milvus store: vectors streamed shard by shard, BM25 weights per generation, cleanup.

The builder encodes a shard exactly as for the local store (in this process, on worker processes or
on Ray: the shard file is the hand-off), then :meth:`MilvusWriter.upload` upserts its rows keyed by
row and removes the file. A shard counts as done when Milvus holds its rows with the store's ids, so
a build killed at any instant resumes by re-upserting at most the shards it had not finished.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from ..retrieve.bm25 import BM25Index
from .encoding import shard_exists
from .layout import STORE
from .milvus_store import (
    META_FIELD,
    QUERY_ROWS,
    MilvusParams,
    bm25_collection,
    connect,
    default_collection,
    in_filter,
    parse_store,
    release,
    target_of,
    upsert_batches,
)
from .store import DocStore

if TYPE_CHECKING:
    from .options import IndexOptions

logger = logging.getLogger(__name__)


class MilvusWriter:
    """One write operation's handle on the index's Milvus collections.

    Args:
        record: the ``milvus`` entry of ``config.json`` (``uri``, ``db_name``, ``lite``, ``collection``,
            ``params``).
    """

    def __init__(self, record: dict[str, Any]):
        self.record = record
        self.params = MilvusParams.from_dict(record.get("params"))
        self.name: str = record["collection"]
        self.target = target_of(record)
        self.client = connect(self.target)
        self._loaded: set[str] = set()

    @classmethod
    def for_index(cls, root: Path, store: str, params: dict[str, Any] | None,
                  committed: dict[str, Any] | None) -> MilvusWriter | None:
        """The writer of an index whose options say ``store`` (``None`` for the local store)."""
        if committed is not None and committed.get("milvus"):
            return cls(committed["milvus"])
        target = parse_store(store, root)
        if target is None:
            return None
        p = MilvusParams.from_dict(params)
        return cls({**target, "collection": p.collection or default_collection(root), "params": p.to_dict()})

    def close(self) -> None:
        release(self.target)

    # ---------------------------------------------------------------------------------------------
    def _collections(self) -> list[str]:
        return [c for c in self.client.list_collections()
                if c == self.name or c.startswith(f"{self.name}_bm25_g")]

    def drop(self) -> None:
        """Drop every collection of this index (an overwritten or discarded build)."""
        for c in self._collections():
            self.client.drop_collection(c)
            self._loaded.discard(c)
            logger.info("dropped the Milvus collection %s", c)

    def start(self, fresh: bool, overwrite: bool) -> None:
        """Before a build: a fresh one refuses (or, with ``overwrite``, drops) collections already there."""
        if not fresh:
            return
        found = self._collections()
        if found and not overwrite:
            raise ConfigError(f"the Milvus collection {self.name} already exists at {self.target['uri']}; pass "
                              "--overwrite to replace it, or choose another name with --milvus-collection")
        self.drop()

    def _exists(self, name: str) -> bool:
        """Whether collection ``name`` exists; loads it (once) for queries, as a reopened store needs."""
        if name in self._loaded:
            return True
        if not self.client.has_collection(name):
            return False
        self.client.load_collection(name)
        self._loaded.add(name)
        return True

    def _create(self, name: str, schema: Any, index: Any) -> None:
        self.client.create_collection(name, schema=schema, consistency_level=self.params.consistency,
                                      num_shards=self.params.shards)
        self.client.create_index(name, index, sync=False)    # Milvus Lite cannot wait on index timestamps
        self.client.load_collection(name)
        self._loaded.add(name)

    def ensure(self, dim: int) -> None:
        """Create the vector collection (row, doc_id, vector) if it does not exist yet."""
        from pymilvus import DataType

        if self._exists(self.name):
            have = next(f for f in self.client.describe_collection(self.name)["fields"] if f["name"] == "vector")
            if int(have["params"]["dim"]) != dim:
                raise ConfigError(f"the Milvus collection {self.name} holds {have['params']['dim']}-d vectors, the "
                                  f"encoder makes {dim}-d ones; pass --overwrite to rebuild it")
            return
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=65535)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field(META_FIELD, DataType.JSON)
        index = self.client.prepare_index_params()
        kind, build = self.params.vector_index(dim)
        index.add_index("vector", index_type=kind, metric_type="IP", params=build)
        self._create(self.name, schema, index)
        logger.info("created the Milvus collection %s (%s, %d-d, %s consistency, %d shard(s))", self.name, kind, dim,
                    self.params.consistency, self.params.shards)

    # ---------------------------------------------------------------------------------------------
    def stored_ids(self, start: int, end: int) -> dict[int, str]:
        """``{row: doc_id}`` of the rows ``[start, end)`` held in the vector collection."""
        out: dict[int, str] = {}
        if not self._exists(self.name):
            return out
        for lo in range(start, end, QUERY_ROWS):
            hi = min(end, lo + QUERY_ROWS)
            for rec in self.client.query(self.name, filter=f"row >= {lo} and row < {hi}",
                                         output_fields=["row", "doc_id"], limit=hi - lo):
                out[int(rec["row"])] = rec["doc_id"]
        return out

    def shard_done(self, start: int, ids: list[str]) -> bool:
        """Whether rows ``start ..`` hold exactly the documents ``ids`` (a complete, current shard)."""
        have = self.stored_ids(start, start + len(ids))
        return len(have) == len(ids) and all(have.get(start + i) == d for i, d in enumerate(ids))

    def upload(self, start: int, ids: list[str], vectors: np.ndarray, metadata: list[dict] | None = None) -> None:
        """Upsert rows ``start ..`` (idempotent: keyed by row) with their filter fields (``metadata``, row-aligned)."""
        vecs = np.asarray(vectors, dtype=np.float32)     # fp16 values are exact in fp32
        if vecs.shape[0] != len(ids) or (metadata is not None and len(metadata) != len(ids)):
            raise ConfigError(f"{vecs.shape[0]} vectors and {len(metadata or ids)} metadata records for {len(ids)} "
                              f"documents at row {start}")
        self.ensure(int(vecs.shape[1]))
        metas = metadata if metadata is not None else [{} for _ in ids]
        records = [{"row": start + i, "doc_id": d, "vector": v, META_FIELD: m}
                   for i, (d, v, m) in enumerate(zip(ids, vecs, metas))]
        upsert_batches(self.client, self.name, records, row_bytes=4 * vecs.shape[1] + 64)

    def upload_bm25(self, generation: int, bm25: BM25Index, rows: np.ndarray,
                    metadata: Callable[[int], dict] | None = None) -> dict[str, Any]:
        """Write generation ``generation``'s BM25 document weights as sparse vectors (with each row's filter
        fields from ``metadata(row)``); returns its record."""
        from pymilvus import DataType
        from scipy import sparse

        name = bm25_collection(self.name, generation)
        if self.client.has_collection(name):
            self.client.drop_collection(name)        # left by an interrupted write: rewrite it whole
            self._loaded.discard(name)
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field(META_FIELD, DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self._create(name, schema, index)
        # postings are term-major (CSC over [documents, terms]); one sparse row per document
        csr = sparse.csc_matrix((bm25.data, bm25.indices, bm25.indptr),
                                shape=(bm25.num_docs, len(bm25.vocab))).tocsr()
        records = []
        for pos in range(csr.shape[0]):
            lo, hi = csr.indptr[pos], csr.indptr[pos + 1]
            if hi > lo:                                # a document without terms matches nothing
                row = int(rows[pos])
                records.append({"row": row, "sparse": dict(zip(csr.indices[lo:hi].tolist(), csr.data[lo:hi].tolist())),
                                META_FIELD: metadata(row) if metadata is not None else {}})
        upsert_batches(self.client, name, records, row_bytes=16 * max(1, csr.nnz // max(1, csr.shape[0])))
        logger.info("wrote BM25 weights of %d documents to the Milvus collection %s", len(records), name)
        return {"collection": name, "documents": len(records)}

    def entry(self) -> dict[str, Any]:
        """The ``milvus`` record for ``config.json`` (no credentials: they come from the environment)."""
        return {"uri": self.target["uri"], "db_name": self.target.get("db_name"), "lite": self.target["lite"],
                "collection": self.name, "params": self.params.to_dict()}

    # ---------------------------------------------------------------------------------------------
    def collect_garbage(self, cfg: dict[str, Any] | None, tombstones: np.ndarray) -> None:
        """Remove what ``cfg`` (the committed state) does not name: rows past its count, tombstoned rows and
        BM25 collections of other generations (``cfg=None``: nothing committed, drop everything)."""
        if cfg is None:
            self.drop()
            return
        keep = (cfg["milvus"].get("bm25") or {}).get("collection")
        for c in self._collections():
            if c != self.name and c != keep:
                self.client.drop_collection(c)
                self._loaded.discard(c)
        if not self._exists(self.name):
            return
        self.client.delete(self.name, filter=f"row >= {int(cfg['counts']['rows'])}")
        for lo in range(0, tombstones.size, QUERY_ROWS):
            self.client.delete(self.name, filter=in_filter(tombstones[lo:lo + QUERY_ROWS]))


def stream_shard(path: Path, sink: MilvusWriter, start: int, ids: list[str], store: DocStore | None = None) -> bool:
    """Whether Milvus holds rows ``start ..`` as ``ids``, after upserting the shard file at ``path`` if complete
    (with the rows' filter fields read from ``store``)."""
    if sink.shard_done(start, ids):
        path.unlink(missing_ok=True)
        return True
    if not shard_exists(path, len(ids)):
        return False
    metadata = store.metadata_of_range(start, start + len(ids)) if store is not None else None
    sink.upload(start, ids, np.load(path, allow_pickle=False), metadata)     # encoded before an interruption
    path.unlink()
    return True


def open_sink(stack: contextlib.ExitStack, root: Path, opts: IndexOptions,
               committed: dict[str, Any] | None) -> MilvusWriter | None:
    """The Milvus writer of this index (``None`` on the local store), closed when ``stack`` closes."""
    sink = MilvusWriter.for_index(root, opts.store, opts.milvus, committed)
    return None if sink is None else stack.enter_context(contextlib.closing(sink))


def upload_bm25_generation(root: Path, entry: dict[str, Any], sink: MilvusWriter, gen: int) -> dict[str, Any] | None:
    """Upload the BM25 document weights of generation ``gen`` (written to ``entry["dir"]``) to Milvus."""
    if not entry.get("dir"):
        return None
    d = root / entry["dir"]
    store = DocStore(root / STORE, readonly=True)
    try:
        rows = np.load(d / "rows.npy", allow_pickle=False)
        fields = dict(zip(rows.tolist(), store.metadata_of_rows(rows.tolist())))
        return sink.upload_bm25(gen, BM25Index.load(d, mmap=True), rows, fields.__getitem__)
    finally:
        store.close()
