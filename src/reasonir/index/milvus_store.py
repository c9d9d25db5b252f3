"""The Milvus store: where it is, how its collections are laid out, and how a write streams into it.

``--store`` names the store of a new index:

* ``local`` (default): vectors in shard files inside the index folder;
* ``milvus``: Milvus Lite in ``INDEX_DIR/milvus.db`` (a real Milvus engine in a local folder; one
  process at a time may open it);
* ``milvus:PATH.db``: Milvus Lite at ``PATH.db``;
* ``milvus://HOST:PORT[/DB]`` (``milvus+https://`` for TLS): a Milvus standalone server or cluster,
  with credentials from the environment only (``MILVUS_TOKEN``, or ``MILVUS_USER`` and
  ``MILVUS_PASSWORD``); they are never written to ``config.json`` or logged.

Layout, per index (the collection name defaults to ``reasonir_<folder>_<hash of its path>``):

* ``<name>``: one entity per store row, primary key ``row`` (INT64), ``doc_id`` (VARCHAR),
  ``vector`` (FLOAT_VECTOR holding the values of the ``--dtype`` vectors, inner-product metric) and
  ``meta`` (JSON: the document's filter fields, which metadata filters are translated to). Rows
  are append-only, so upserts keyed by row are idempotent: a killed build resumes without duplicates
  or gaps, and a replaced document gets a new row (its old one is deleted once the replacement commits);
* ``<name>_bm25_g<generation>``: ``row``, ``meta`` and ``sparse`` (SPARSE_FLOAT_VECTOR): the BM25 document
  weights of that generation (they depend on the corpus statistics, so each generation has its own
  collection, named in ``config.json`` and dropped when it is no longer committed).

``config.json`` stays the commit point: readers only see rows below the committed count and not
tombstoned, and every write first removes what an interrupted one left behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ReasonIRError, require
from .layout import LITE_FILE

INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT", "IVF_SQ8", "IVF_PQ")
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
#: rows per upsert request (bounded further by _UPSERT_BYTES)
_UPSERT_ROWS = 2000
_UPSERT_BYTES = 16 << 20
#: rows per query request (Milvus caps a query's result window at 16384)
QUERY_ROWS = 10000
#: the JSON field holding each row's filter fields (:func:`reasonir.index.filters.filter_fields`)
META_FIELD = "meta"


class MilvusStoreError(ReasonIRError):
    """The Milvus store could not be reached or refused an operation."""


@dataclass
class MilvusParams:
    """How an index is laid out in Milvus (recorded in ``config.json``; none changes a score).

    Attributes:
        collection: collection name (default: derived from the index folder).
        index_type: vector index: ``FLAT`` (exact, default), ``HNSW``, ``IVF_FLAT``, ``IVF_SQ8`` or ``IVF_PQ``
            (the last three for collections too large for memory); candidates are re-scored here.
        hnsw_m, ef_construction, ef_search: HNSW parameters.
        nlist, nprobe, pq_m: IVF parameters (``pq_m`` default: dim/8).
        consistency: Milvus consistency level; ``Strong`` (default) makes a write visible to the next
            search, as the local store does.
        shards: Milvus shards of the collection (spread writes over data nodes of a cluster).
        margin: extra candidates fetched and re-scored here, so ties and float rounding at the k-th
            place resolve as on the local store.
    """

    collection: str | None = None
    index_type: str = "FLAT"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128
    nlist: int = 1024
    nprobe: int = 32
    pq_m: int | None = None
    consistency: str = "Strong"
    shards: int = 1
    margin: int = 16

    def __post_init__(self) -> None:
        self.index_type = self.index_type.upper()
        if self.index_type not in INDEX_TYPES:
            raise ConfigError(f"unknown Milvus index type {self.index_type!r}; choose one of {', '.join(INDEX_TYPES)}")
        levels = {c.lower(): c for c in CONSISTENCY_LEVELS}
        if self.consistency.lower() not in levels:
            raise ConfigError(f"unknown Milvus consistency level {self.consistency!r}; "
                              f"choose one of {', '.join(CONSISTENCY_LEVELS)}")
        self.consistency = levels[self.consistency.lower()]
        if self.collection is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,200}", self.collection):
            raise ConfigError(f"invalid Milvus collection name {self.collection!r}: use letters, digits and "
                              "underscores, starting with a letter or underscore")
        if self.shards < 1 or self.margin < 0:
            raise ConfigError(f"Milvus shards must be >= 1 and margin >= 0 (got {self.shards}, {self.margin})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> MilvusParams:
        return cls(**{k: v for k, v in (d or {}).items() if k in cls.__dataclass_fields__})

    def vector_index(self, dim: int) -> tuple[str, dict[str, Any]]:
        """``(index_type, build params)`` of the vector field."""
        if self.index_type == "HNSW":
            return "HNSW", {"M": self.hnsw_m, "efConstruction": self.ef_construction}
        if self.index_type == "IVF_PQ":
            m = self.pq_m or next(m for m in (dim // 8, dim // 4, dim // 2, dim, 1) if m and dim % m == 0)
            return "IVF_PQ", {"nlist": self.nlist, "m": m, "nbits": 8}
        if self.index_type in ("IVF_FLAT", "IVF_SQ8"):
            return self.index_type, {"nlist": self.nlist}
        return "FLAT", {}

    def search_params(self, ef_search: int | None, nprobe: int | None, limit: int) -> dict[str, Any]:
        """Search-time parameters of the vector index for ``limit`` results."""
        if self.index_type == "HNSW":
            return {"ef": max(ef_search or self.ef_search, limit)}
        if self.index_type.startswith("IVF"):
            return {"nprobe": nprobe or self.nprobe}
        return {}


def parse_store(spec: str | None, index_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The Milvus target of a ``--store`` value: ``None`` for ``local``, else ``{"uri", "db_name", "lite"}``.

    The returned ``uri`` is what ``config.json`` records: an absolute Milvus Lite path, or the server's
    ``http(s)://HOST:PORT`` (credentials never come from the URI).

    Raises:
        ConfigError: an unknown form, or credentials inside the URI.
    """
    if not spec or spec == "local":
        return None
    if spec == "milvus":
        return {"uri": str(Path(index_dir).absolute() / LITE_FILE), "db_name": None, "lite": True}
    m = re.fullmatch(r"milvus(\+https?)?://([^/]*)(?:/([A-Za-z_][A-Za-z0-9_]*))?/?", spec)
    if m:
        host = m.group(2)
        if "@" in host:
            raise ConfigError("do not put credentials in --store; set MILVUS_TOKEN, or MILVUS_USER and "
                              "MILVUS_PASSWORD, in the environment")
        if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+", host or ""):
            raise ConfigError(f"--store {spec!r}: expected milvus://HOST:PORT[/DB]")
        scheme = "https" if m.group(1) == "+https" else "http"
        return {"uri": f"{scheme}://{host}", "db_name": m.group(3), "lite": False}
    if spec.startswith("milvus:") and spec[len("milvus:"):]:
        path = Path(spec[len("milvus:"):]).expanduser()
        if path.suffix != ".db":
            raise ConfigError(f"--store {spec!r}: a Milvus Lite file must end in .db (milvus:PATH.db)")
        return {"uri": str(path.absolute()), "db_name": None, "lite": True}
    raise ConfigError(f"unknown store {spec!r}; choose local, milvus (Milvus Lite inside the index folder), "
                      "milvus:PATH.db (Milvus Lite) or milvus://HOST:PORT[/DB] (a Milvus server)")


def store_info(cfg: dict[str, Any]) -> dict[str, Any]:
    """What ``index info`` reports about where a committed index keeps its vectors (from ``config.json``)."""
    record = cfg.get("milvus")
    if not record:
        return {"store": "local"}
    p = MilvusParams.from_dict(record.get("params"))
    kind, build = p.vector_index(int(cfg["vectors"]["dim"]))
    return {"store": "milvus", "milvus_uri": record["uri"], "milvus_db": record.get("db_name"),
            "milvus_collection": record["collection"],
            "milvus_bm25_collection": (record.get("bm25") or {}).get("collection"), "milvus_index_type": kind,
            "milvus_index_params": build, "milvus_consistency": p.consistency, "milvus_shards": p.shards,
            "milvus_margin": p.margin}


def default_collection(index_dir: str | os.PathLike[str]) -> str:
    """``reasonir_<folder name>_<8 hex of the absolute path>``: distinct per index on a shared server."""
    root = Path(index_dir).absolute()
    stem = re.sub(r"[^A-Za-z0-9_]", "_", root.name)[:40] or "index"
    return f"reasonir_{stem}_{hashlib.sha256(str(root).encode()).hexdigest()[:8]}"


# --------------------------------------------------------------------------------------------------
# connections: one client per (uri, db) and process, closed when its last user closes it
# --------------------------------------------------------------------------------------------------
_clients: dict[tuple[str, str | None], list[Any]] = {}
_clients_lock = threading.Lock()


def _credentials() -> dict[str, str]:
    token = os.environ.get("MILVUS_TOKEN")
    if token:
        return {"token": token}
    user, password = os.environ.get("MILVUS_USER"), os.environ.get("MILVUS_PASSWORD")
    if user and password:
        return {"user": user, "password": password}
    return {}


def connect(target: dict[str, Any]) -> Any:
    """A ``pymilvus.MilvusClient`` for ``target`` (shared within the process; release with :func:`release`).

    Raises:
        DependencyError: pymilvus (or milvus-lite) is not installed.
        MilvusStoreError: the store cannot be opened (for Milvus Lite: another process has it open).
    """
    key = (target["uri"], target.get("db_name"))
    with _clients_lock:
        if key in _clients:
            _clients[key][1] += 1
            return _clients[key][0]
        pymilvus = require("pymilvus", "milvus")
        if target["lite"]:
            require("milvus_lite", "milvus", package="milvus-lite")
            Path(target["uri"]).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {} if target["lite"] else _credentials()
        if target.get("db_name"):
            kwargs["db_name"] = target["db_name"]
        try:
            client = pymilvus.MilvusClient(target["uri"], **kwargs)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several unrelated types for "cannot open"
            hint = ("Milvus Lite lets one process open a store at a time: close the other process (a server "
                    "or a build on this index), or use a Milvus server for concurrent readers and writers"
                    if target["lite"] else "check that the server is running and the credentials in "
                    "MILVUS_TOKEN or MILVUS_USER/MILVUS_PASSWORD")
            raise MilvusStoreError(f"cannot open the Milvus store {target['uri']} ({type(exc).__name__}: "
                                   f"{str(exc)[:200]}); {hint}") from None
        _clients[key] = [client, 1]
        return client


def release(target: dict[str, Any]) -> None:
    """Drop one use of the shared client of ``target``; the last one closes it."""
    key = (target["uri"], target.get("db_name"))
    with _clients_lock:
        entry = _clients.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _clients[key]
            entry[0].close()
            if target["lite"]:     # stop the embedded engine too: it holds the store's lock until then
                from milvus_lite.server_manager import server_manager_instance  # type: ignore[import-untyped]

                server_manager_instance.release_server(target["uri"])


def target_of(record: dict[str, Any]) -> dict[str, Any]:
    """The connection target of a ``config.json`` ``milvus`` record."""
    return {"uri": record["uri"], "db_name": record.get("db_name"), "lite": bool(record.get("lite"))}


def bm25_collection(name: str, generation: int) -> str:
    return f"{name}_bm25_g{generation}"


def row_filter(num_rows: int, tombstones: np.ndarray | None = None) -> str:
    """Milvus boolean expression selecting committed, live rows."""
    expr = f"row < {int(num_rows)}"
    if tombstones is not None and tombstones.size:
        expr += f" and row not in [{','.join(map(str, tombstones.tolist()))}]"
    return expr


def in_filter(rows: np.ndarray | list[int]) -> str:
    return f"row in [{','.join(str(int(r)) for r in rows)}]"


def upsert_batches(client: Any, name: str, records: list[dict[str, Any]], row_bytes: int) -> None:
    """Upsert ``records`` in requests of at most ``_UPSERT_ROWS`` rows and ~``_UPSERT_BYTES`` bytes."""
    step = max(1, min(_UPSERT_ROWS, _UPSERT_BYTES // max(1, row_bytes)))
    for lo in range(0, len(records), step):
        client.upsert(name, records[lo:lo + step])
