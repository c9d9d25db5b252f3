"""The on-disk layout of an index directory and its ``config.json``, the single commit point.

::

    INDEX_DIR/
      config.json                    committed state (written last, atomically); absent = no index yet
      .pending.json                  an unfinished build/add (its parameters), removed at commit
      .lock                          advisory write lock (flock), holder's pid and command inside
      docs.sqlite                    document store: row, id, title, text, metadata
      vectors/shard-<start>-<key>.npy  fp16/fp32 vectors of rows [start, start+rows); key = hash of inputs
      tombstones/g<gen>.npy          sorted int64 rows deleted as of generation <gen>
      bm25/g<gen>/                   BM25 index over the live rows (+ rows.npy: BM25 position -> row)
      ann/g<gen>.faiss               optional FAISS index (row i of the index = store row i)
      milvus.db/                     Milvus Lite store, for ``--store milvus`` (vectors and BM25 weights
                                     then live in Milvus collections named in config.json; no shards)

Everything a reader uses is named by ``config.json``; files it does not name (a shard written before
a crash, the BM25 of an older generation) are ignored by readers and removed by the next writer.
A shard's name carries a hash of everything that determines its vectors, so a resumed build reuses a
shard only when it would be re-encoded to the very same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DataFormatError
from ..io import read_json_object, write_json
from ..versions import installed_versions

FORMAT = "reasonir-index"
FORMAT_VERSION = 1
CONFIG = "config.json"
PENDING = ".pending.json"
LOCK = ".lock"
STORE = "docs.sqlite"
VECTORS = "vectors"
TOMBSTONES = "tombstones"
BM25_DIR = "bm25"
ANN_DIR = "ann"
LITE_FILE = "milvus.db"

#: packages whose versions are recorded in the config (those that change results or file formats)
VERSIONED_PACKAGES = ("reasonir", "numpy", "bm25s", "torch", "transformers", "sentence-transformers",
                      "faiss-cpu", "faiss-gpu", "ray")


class IndexNotFoundError(FileNotFoundError):
    """The directory holds no complete index (nothing, or only an unfinished build)."""


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that matter for reproducing an index (and Python's)."""
    return installed_versions(VERSIONED_PACKAGES, python=True)


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes (sorted keys, no spaces) for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    """Hex sha256 of a file's bytes, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def sha256_files(paths: Iterable[Path], root: Path) -> dict[str, str]:
    """``{path relative to root: sha256}`` for each file."""
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(paths)}


def read_config(index_dir: str | os.PathLike) -> dict[str, Any]:
    """The committed ``config.json`` of an index.

    Raises:
        IndexNotFoundError: when there is no committed index (and says whether a build is unfinished).
        DataFormatError: when the config is not a reasonir index config of a supported version.
    """
    root = Path(index_dir)
    path = root / CONFIG
    if root.is_file():
        raise IndexNotFoundError(f"{root} is a file, not an index directory; give the folder "
                                 "`reasonir index build` created")
    if not path.exists():
        if (root / PENDING).exists():
            pending = read_json_object(root / PENDING, "an unfinished-operation record")
            raise IndexNotFoundError(
                f"{root}: the index is not complete: an unfinished `{pending.get('op', 'build')}` was interrupted. "
                "Rerun the same command to resume it (nothing already encoded is encoded again).")
        if not root.exists():
            raise IndexNotFoundError(f"{root}: no such index directory; create one with `reasonir index build`")
        raise IndexNotFoundError(f"{root}: not an index directory (no {CONFIG}); "
                                 "create one with `reasonir index build`")
    cfg = read_json_object(path, "an index config")
    if cfg.get("format") != FORMAT:
        raise DataFormatError(f"not a reasonir index config (format={cfg.get('format')!r})", path)
    if cfg.get("format_version") != FORMAT_VERSION:
        raise DataFormatError(
            f"index format version {cfg.get('format_version')} is not supported by this reasonir "
            f"(expects {FORMAT_VERSION}); rebuild the index with this version", path)
    return cfg


def write_config(index_dir: str | os.PathLike, cfg: dict[str, Any]) -> None:
    """Atomically replace ``config.json`` (the commit point of every write operation)."""
    write_json(Path(index_dir) / CONFIG, cfg)


def shard_name(start: int, key: str) -> str:
    """File name (relative to the index) of the vector shard starting at ``start`` with input hash ``key``."""
    return f"{VECTORS}/shard-{start:010d}-{key}.npy"


def shard_key(identity: dict[str, Any], instruction: str | None, dtype: str, ids: Sequence[str],
              texts: Sequence[str]) -> str:
    """16 hex digits of sha256 over everything that determines a shard's bytes.

    Args:
        identity: the encoder's fingerprint without its runtime keys (device, batch size).
        instruction, dtype: document instruction and stored vector dtype.
        ids, texts: the shard's documents, in row order.
    """
    h = hashlib.sha256(canonical_json([identity, instruction, dtype]))
    for doc_id, text in zip(ids, texts):
        for s in (doc_id, text):
            b = s.encode("utf-8")
            h.update(len(b).to_bytes(8, "little"))
            h.update(b)
    return h.hexdigest()[:16]
