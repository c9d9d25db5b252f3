"""Build, extend and prune an index: ``build_index``, ``add_documents``, ``delete_documents``.

Every write holds the index's write lock and ends by replacing ``config.json`` (the commit point).
``build`` and ``add`` run in phases, each safe to interrupt at any instant:

1. *ingest*: documents are streamed into the store in committed batches (an interrupted run resumes
   after the last committed batch);
2. *encode*: rows are cut into fixed shards; a shard whose file exists under its input-hash name is
   complete and reused, the others are encoded (here, on local worker processes, or on Ray);
3. *derive*: tombstones, BM25 and ANN files of the new generation are written;
4. *commit*: checksums are recorded and ``config.json`` replaced; then unreferenced files go.

Running the same command again after ``kill -9`` at any point therefore re-encodes nothing already
written and ends with the same index as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._logging import progress
from ..encode.base import Encoder
from ..errors import ConfigError, DataFormatError
from ..outputs import check_output_dir
from . import encoding, milvus_write, state
from .corpus import Corpus, CorpusSource, fingerprint, resolve_corpus
from .derive import build_ann_generation, build_bm25_generation, save_tombstones
from .encoding import fingerprint_identity
from .ingest import ingest
from .layout import (
    FORMAT,
    FORMAT_VERSION,
    STORE,
    VECTORS,
    package_versions,
    read_config,
    sha256_file,
    shard_key,
    shard_name,
    write_config,
)
from .lock import WriteLock
from .milvus_write import MilvusWriter
from .options import IndexOptions, RunOptions
from .state import WriteReport
from .store import DocStore

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# phases shared by build and add
# --------------------------------------------------------------------------------------------------
def _encode(root: Path, store: DocStore, opts: IndexOptions, run: RunOptions, base: int, total: int,
            report: WriteReport, expected_fp: dict[str, Any] | None = None, encoder: Encoder | None = None,
            sink: MilvusWriter | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Encode rows ``[base, total)`` into shards (reusing complete ones). Returns (encoder info, new shards).

    With a Milvus ``sink``, each shard is upserted into Milvus as soon as it is encoded and its file
    removed; a shard Milvus already holds is reused, and no shard file is left for the config to name.
    """
    spec = run.encoder_spec(opts)
    if encoder is None:
        encoder = encoding.load(spec.with_device(run.devices[0]) if run.devices else spec)
    fp = encoder.fingerprint()
    if expected_fp is not None and fingerprint_identity(fp) != fingerprint_identity(expected_fp):
        raise ConfigError(f"the encoder loaded now ({fp}) differs from the one that built this index "
                          f"({expected_fp}); install the same model and versions, or rebuild the index")
    instruction = opts.document_instruction
    shards: list[dict[str, Any]] = []
    jobs: list[encoding.ShardJob] = []
    donors = encoding.donor_shards(run.reuse_vectors) if run.reuse_vectors else {}
    for start in range(base, total, opts.shard_size):
        end = min(total, start + opts.shard_size)
        ids, texts = store.texts(start, end)
        rel = shard_name(start, shard_key(fingerprint_identity(fp), instruction, opts.dtype, ids, texts))
        donor = donors.get(Path(rel).name)
        if donor is not None and not (root / rel).exists():
            encoding.adopt_shard(root / rel, donor, end - start)    # same name: the same vectors, not re-encoded
        if sink is not None and milvus_write.stream_shard(root / rel, sink, start, ids, store):
            report.shards_reused += 1
            continue
        if sink is not None:
            jobs.append(encoding.ShardJob(start, end, str(root / rel)))
            continue
        shards.append({"file": rel, "start": start, "rows": end - start})
        if encoding.shard_exists(root / rel, end - start):
            report.shards_reused += 1
        else:
            jobs.append(encoding.ShardJob(start, end, str(root / rel)))
    (root / "vectors").mkdir(parents=True, exist_ok=True)
    bar = progress(total=sum(j.end - j.start for j in jobs), desc="encoding", unit="doc")

    def done(job: encoding.ShardJob) -> None:
        if sink is not None:
            milvus_write.stream_shard(Path(job.path), sink, job.start, store.ids(job.start, job.end), store)
        report.shards_encoded += 1
        bar.update(job.end - job.start)
        logger.debug("wrote shard %s", job.path)

    def read_texts(start: int, end: int) -> list[str]:
        return store.texts(start, end)[1]

    dim = int(encoder.dim)
    if jobs and (run.ray or run.devices or run.workers > 1):
        del encoder               # workers load their own copy; free this one (it may sit on a GPU)
        encoding.release_memory()
    try:
        if jobs and run.ray:
            from .ray_encoding import encode_ray

            encode_ray(jobs, spec, read_texts, instruction, opts.dtype, done, address=run.ray_address,
                       workers=run.ray_workers, gpus_per_worker=run.ray_gpus_per_worker, expected_fp=fp)
        elif jobs and (run.devices or run.workers > 1):
            encoding.encode_processes(jobs, spec, root / STORE, instruction, opts.dtype, done,
                                      workers=run.workers, devices=run.devices, expected_fp=fp)
        elif jobs:
            encoding.encode_serial(jobs, encoder, read_texts, instruction, opts.dtype, done)
    finally:
        bar.close()
    if shards:
        dim = int(np.load(root / shards[0]["file"], mmap_mode="r").shape[1])
    return {"spec": {k: v for k, v in spec.to_dict().items() if k not in ("device", "batch_size")},
            "fingerprint": fp, "dim": dim}, shards


def _commit(root: Path, cfg: dict[str, Any], store: DocStore, new_shards: list[dict[str, Any]], base: int,
            total: int, history: dict[str, Any], sink: MilvusWriter | None = None) -> None:
    for s in new_shards:
        s["sha256"] = sha256_file(root / s["file"])
    cfg["vectors"]["shards"] = cfg["vectors"]["shards"] + new_shards
    if total > base:
        cfg["store"]["segments"].append({"start": base, "end": total, "sha256": store.checksum(base, total)})
    cfg["versions"] = package_versions()
    cfg["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    cfg["history"].append({**history, "generation": cfg["generation"], "time": cfg["updated"]})
    store.close()
    with state.storage_errors("config.json", root / "config.json"):
        state.sync_before_commit(root, cfg)       # every file the new config names is on disk before it is
        write_config(root, cfg)
        state.fsync_dir(root)                     # ... and the commit itself survives a power cut
    state.clear_pending(root)
    state.collect_garbage(root, cfg)
    if sink is not None:
        sink.collect_garbage(cfg, state.load_tombstones(root, cfg))


def _finish(root: Path, cfg: dict[str, Any], store: DocStore, opts: IndexOptions, tombstones: np.ndarray,
            total: int, report: WriteReport, reuse_ann: bool, sink: MilvusWriter | None = None) -> None:
    """Write tombstones, BM25 and ANN of the new generation into ``cfg`` (not yet committed)."""
    gen = cfg["generation"]
    cfg["tombstones"] = save_tombstones(root, gen, tombstones)
    cfg["counts"] = {"rows": total, "deleted": int(tombstones.size), "documents": total - int(tombstones.size)}
    report.documents = cfg["counts"]["documents"]
    t = time.perf_counter()
    if opts.bm25:
        cfg["bm25"] = build_bm25_generation(root, gen, store, total, tombstones, opts.k1, opts.b)
        if sink is not None:
            cfg["milvus"]["bm25"] = milvus_write.upload_bm25_generation(root, cfg["bm25"], sink, gen)
        report.seconds["bm25"] = time.perf_counter() - t
    if opts.ann != "none":
        t = time.perf_counter()
        previous = cfg.get("ann") if reuse_ann else None
        shards = cfg["vectors"]["shards"] + cfg.pop("_new_shards")
        cfg["ann"] = build_ann_generation(root, gen, opts.ann_params, shards, total, previous)
        report.ann_recall_at_10 = cfg["ann"].get("recall_at_10")
        report.seconds["ann"] = time.perf_counter() - t
    cfg.pop("_new_shards", None)


# --------------------------------------------------------------------------------------------------
# public operations
# --------------------------------------------------------------------------------------------------
def build_index(corpus: Corpus | CorpusSource, index_dir: str | os.PathLike, opts: IndexOptions | None = None,
                run: RunOptions | None = None, overwrite: bool = False, *,
                encoder: Encoder | None = None) -> WriteReport:
    """Build an index over ``corpus`` in ``index_dir``, resuming an interrupted build of the same command.

    Args:
        corpus: JSONL file, TSV file (``id<TAB>text``), BEIR folder, parquet file, ``hf:NAME[:CONFIG][@SPLIT]``,
            or documents in memory (``Document`` objects or records, or ``{doc_id: text}``; see :mod:`.corpus`).
        index_dir: the index directory (created).
        opts: what to build (model, dtype, BM25, ANN, instructions, shard size).
        run: how to run it (device, batch size, worker processes, Ray).
        overwrite: discard an existing or unfinished index with other settings.
        encoder: ``opts.model`` already loaded (saves loading it again); used for in-process encoding.

    Raises:
        IndexLockedError: another process is writing to ``index_dir``.
        ConfigError: ``index_dir`` holds an index or unfinished build with other settings.
        DataFormatError: malformed corpus or duplicate ids (naming file and line).
    """
    opts, run = opts or IndexOptions(), run or RunOptions()
    root = check_output_dir(index_dir, "the index (INDEX_DIR)")
    source = resolve_corpus(corpus)           # a missing corpus fails before anything is created
    created = state.missing_dirs(root)
    try:
        return _build(root, source, opts, run, overwrite, encoder)
    finally:
        state.remove_empty(created)                 # a build that failed on its input leaves no empty folder


def _build(root: Path, source: CorpusSource, opts: IndexOptions, run: RunOptions, overwrite: bool,
           encoder: Encoder | None) -> WriteReport:
    report = WriteReport(str(root), "build")
    with WriteLock(root, "index build"), contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        identity = {"options": opts.to_dict(), "corpus": fingerprint(source)}
        committed = state.try_config(root)
        if committed is not None and not overwrite:
            if committed["history"] and committed["history"][0].get("identity") == identity \
                    and committed["generation"] == 1:
                logger.info("%s is already built from this corpus with these settings; nothing to do", root)
                state.clear_pending(root)            # a kill between commit and cleanup leaves these behind
                state.collect_garbage(root, committed)
                report.operation, report.documents = "noop", committed["counts"]["documents"]
                return report
            raise ConfigError(f"{root} already holds an index; add documents with `reasonir index add`, "
                              "or pass --overwrite to rebuild it")
        pending = state.read_pending(root)
        if overwrite and (committed is not None or (pending and not state.same_operation(pending, "build", identity))):
            if committed is not None and committed.get("milvus"):
                milvus_write.open_sink(stack, root, opts, committed).drop()     # type: ignore[union-attr]
            state.wipe(root)
            committed, pending = None, None
        if pending is not None:
            state.check_resumable(pending, "build", identity, "`reasonir index build`")
            logger.info("resuming the unfinished build in %s", root)
        else:
            state.check_empty_or_ours(root)
            state.wipe(root)
            state.write_pending(root, {"op": "build", "identity": identity,
                                       "command": f"reasonir index build {source.spec} {root}"})
        sink = milvus_write.open_sink(stack, root, opts, None)
        if sink is not None:
            sink.start(fresh=pending is None, overwrite=overwrite)
        store = None
        try:
            store = DocStore(root / STORE)
            state.collect_garbage(root, None, keep=state.shard_files(root))
            with state.storage_errors("the document store", root / STORE):
                total = ingest(store, source, 0, np.zeros(0, dtype=np.int64), replace=False)
            if total == 0:
                raise DataFormatError("the corpus has no documents", source.spec)
            report.rows_added = total
            report.seconds["ingest"] = time.perf_counter() - t0
            t = time.perf_counter()
            with state.storage_errors("vector shards", root / VECTORS):
                encoder_info, new_shards = _encode(root, store, opts, run, 0, total, report, encoder=encoder,
                                                   sink=sink)
        except BaseException as exc:
            if state.failed_on_input(exc, root, None):
                state.discard(root, store)           # nothing worth resuming: the input must change first
                if sink is not None:
                    sink.drop()
            raise
        report.seconds["encode"] = time.perf_counter() - t
        cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "generation": 1,
               "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "options": opts.to_dict(),
               "encoder": encoder_info, "instructions": {"query": opts.query_instruction,
                                                         "document": opts.document_instruction},
               "vectors": {"dtype": opts.dtype, "dim": encoder_info["dim"], "shard_size": opts.shard_size,
                           "shards": []},
               "store": {"file": STORE, "segments": []}, "bm25": None, "ann": None, "history": [],
               "_new_shards": new_shards, **({"milvus": sink.entry()} if sink is not None else {})}
        with state.storage_errors("the BM25/ANN files", root):
            _finish(root, cfg, store, opts, np.zeros(0, dtype=np.int64), total, report, reuse_ann=False, sink=sink)
        t = time.perf_counter()
        _commit(root, cfg, store, new_shards, 0, total,
                {"op": "build", "corpus": source.spec, "rows": total, "identity": identity}, sink)
        report.seconds["commit"] = time.perf_counter() - t
    return report


def add_documents(index_dir: str | os.PathLike, corpus: Corpus | CorpusSource, replace: bool = False,
                  run: RunOptions | None = None, *, encoder: Encoder | None = None) -> WriteReport:
    """Add the documents of ``corpus`` to an index (resumable like a build).

    Args:
        index_dir: an existing index.
        corpus: the documents to add (any corpus format, or documents in memory as for :func:`build_index`).
        replace: documents whose id is already live replace the old version; otherwise that is an error.
        run: device, batch size, workers, Ray.
        encoder: the index's encoder already loaded (saves loading it again).

    Raises:
        DataFormatError: an id already in the index (without ``replace``) or repeated in ``corpus``.
    """
    run = run or RunOptions()
    root = Path(index_dir)
    read_config(root)                           # not an index: refused before anything is created
    source = resolve_corpus(corpus)
    report = WriteReport(str(root), "add")
    with WriteLock(root, "index add", create=False), contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        cfg = read_config(root)
        opts = IndexOptions.from_dict(cfg["options"])
        base = cfg["counts"]["rows"]
        identity = {"corpus": fingerprint(source), "replace": replace, "base": base, "generation": cfg["generation"]}
        store = DocStore(root / STORE)
        sink = milvus_write.open_sink(stack, root, opts, cfg)
        pending = state.read_pending(root)
        if pending is not None and state.same_operation(pending, "add", identity):
            logger.info("resuming the unfinished add in %s", root)
            state.collect_garbage(root, cfg, keep=state.shard_files(root))
        else:
            state.rollback(root, cfg, store, pending, sink)
            state.write_pending(root, {"op": "add", "identity": identity,
                                       "command": f"reasonir index add {root} {source.spec}"})
        tombstones = state.load_tombstones(root, cfg)
        try:
            with state.storage_errors("the document store", root / STORE):
                total = ingest(store, source, base, tombstones, replace)
            report.rows_added = total - base
            report.seconds["ingest"] = time.perf_counter() - t0
            t = time.perf_counter()
            with state.storage_errors("vector shards", root / VECTORS):
                _, new_shards = _encode(root, store, opts, run, base, total, report, cfg["encoder"]["fingerprint"],
                                        encoder, sink)
        except BaseException as exc:
            if state.failed_on_input(exc, root, cfg):
                state.rollback(root, cfg, store, state.read_pending(root), sink)   # exactly as committed
                store.close()
            raise
        report.seconds["encode"] = time.perf_counter() - t
        if replace:
            new_ids = store.ids(base, total)
            old = [r for rows in store.rows_of_ids(new_ids, below=base).values() for r in rows]
            report.deleted = len(np.setdiff1d(np.asarray(old, dtype=np.int64), tombstones))
            tombstones = np.union1d(tombstones, np.asarray(old, dtype=np.int64)).astype(np.int64)
        cfg["generation"] += 1
        cfg["_new_shards"] = new_shards
        with state.storage_errors("the BM25/ANN files", root):
            _finish(root, cfg, store, opts, tombstones, total, report, reuse_ann=True, sink=sink)
        _commit(root, cfg, store, new_shards, base, total,
                {"op": "add", "corpus": source.spec, "rows": total - base, "replaced": report.deleted}, sink)
    return report


def delete_documents(index_dir: str, ids: Sequence[str], missing_ok: bool = False) -> WriteReport:
    """Delete documents by id (tombstones; BM25 is rebuilt over the remaining documents).

    Raises:
        KeyError: when an id is not in the index and ``missing_ok`` is false (nothing is changed).
    """
    root = Path(index_dir)
    read_config(root)                           # not an index: refused before anything is created
    report = WriteReport(str(root), "delete")
    with WriteLock(root, "index delete", create=False), contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        cfg = read_config(root)
        opts = IndexOptions.from_dict(cfg["options"])
        store = DocStore(root / STORE)
        sink = milvus_write.open_sink(stack, root, opts, cfg)
        state.rollback(root, cfg, store, state.read_pending(root), sink)
        tombstones = state.load_tombstones(root, cfg)
        total = cfg["counts"]["rows"]
        found = store.rows_of_ids(list(dict.fromkeys(ids)), below=total)
        dead = set(tombstones.tolist())
        live = {i: [r for r in rows if r not in dead] for i, rows in found.items()}
        missing = [i for i in dict.fromkeys(ids) if not live.get(i)]
        if missing and not missing_ok:
            raise KeyError(f"{len(missing)} id(s) not in the index: {', '.join(map(repr, missing[:10]))}"
                           f"{' ...' if len(missing) > 10 else ''} "
                           "(nothing was deleted; pass --missing-ok to skip them)")
        rows = np.asarray(sorted(r for rs in live.values() for r in rs), dtype=np.int64)
        report.deleted = int(rows.size)
        if rows.size == 0:
            report.operation, report.documents = "noop", cfg["counts"]["documents"]
            return report
        cfg["generation"] += 1
        cfg["_new_shards"] = []
        with state.storage_errors("the BM25/ANN files", root):
            _finish(root, cfg, store, opts, np.union1d(tombstones, rows).astype(np.int64), total, report,
                    reuse_ann=True, sink=sink)
        _commit(root, cfg, store, [], total, total, {"op": "delete", "ids": len(rows)}, sink)
        report.seconds["delete"] = time.perf_counter() - t0
    return report
