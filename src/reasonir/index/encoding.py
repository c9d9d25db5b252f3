"""Encoding document shards: in this process, across several local processes/GPUs, or on Ray.

A shard is the unit of work *and* of determinism: its rows are always encoded together, in one
``encode_document`` call, whatever runs it, so an interrupted and resumed build, a build on four
worker processes and a build on a Ray cluster all write byte-identical shard files.

Workers never receive documents over a pipe: a local worker is told a row range and reads the texts
from the document store itself, then writes the shard file atomically (temp file + rename).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..encode.base import Encoder
from ..errors import ConfigError, DataFormatError
from ..io import atomic_write

logger = logging.getLogger(__name__)

STORAGE_DTYPES = {"fp16": np.float16, "float16": np.float16, "fp32": np.float32, "float32": np.float32}
#: encoder-fingerprint keys that describe where or how fast a model runs, not what it computes
RUNTIME_KEYS = ("device", "devices", "batch_size")


def fingerprint_identity(fp: dict[str, Any]) -> dict[str, Any]:
    """An encoder fingerprint without the keys that only say where/how fast it runs."""
    return {k: v for k, v in fp.items() if k not in RUNTIME_KEYS}


def check_fingerprint(encoder: Encoder, expected: dict[str, Any] | None, where: str) -> None:
    """Raise unless ``encoder`` computes what ``expected`` describes (a worker must match the driver)."""
    if expected is None:
        return
    got = fingerprint_identity(encoder.fingerprint())
    if got != fingerprint_identity(expected):
        raise ConfigError(f"the encoder loaded {where} ({got}) differs from the expected one "
                          f"({fingerprint_identity(expected)}); give --encoder-dtype explicitly so every device "
                          "loads the model the same way, and use the same package versions everywhere")


@dataclass(frozen=True)
class EncoderSpec:
    """How to (re)create the document/query encoder in any process.

    Attributes:
        model: ``minilm``, ``smollm2``, ``hash``, a Hub id or a local model folder.
        dtype: compute dtype passed to the encoder loader (``auto``, ``bf16``, ``fp16``, ``fp32``).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``...
        max_length: max tokens per text (``None``: the model's default).
        batch_size: encoding batch size (``None``: the model's default).
    """

    model: str = "minilm"
    dtype: str = "auto"
    device: str = "auto"
    max_length: int | None = None
    batch_size: int | None = None

    def with_device(self, device: str) -> EncoderSpec:
        return EncoderSpec(self.model, self.dtype, device, self.max_length, self.batch_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load(spec: EncoderSpec) -> Encoder:
    """Instantiate the encoder described by ``spec`` (via :func:`reasonir.encode.load_encoder`)."""
    from ..encode import load_encoder

    return load_encoder(spec.model, dtype=spec.dtype, device=spec.device, max_length=spec.max_length,
                        batch_size=spec.batch_size)


def load_for_queries(spec: EncoderSpec, fingerprint: dict[str, Any]) -> Encoder | None:
    """A torch-free query encoder for ``spec`` that computes what ``fingerprint`` describes, or ``None``.

    See :func:`reasonir.encode.loading.load_query_encoder`; one whose fingerprint differs from the
    index's (another dtype, max length, prompt...) is not used.
    """
    from ..encode.loading import load_query_encoder

    encoder = load_query_encoder(spec.model, dtype=spec.dtype, device=spec.device, max_length=spec.max_length,
                                 batch_size=spec.batch_size)
    if encoder is None:
        return None
    if fingerprint_identity(encoder.fingerprint()) != fingerprint_identity(fingerprint):
        logger.debug("the NumPy query encoder of %s differs from the index's encoder; loading the full one",
                     spec.model)
        return None
    return encoder


def encode_rows(encoder: Encoder, texts: Sequence[str], instruction: str | None, dtype: str) -> np.ndarray:
    """Encode ``texts`` as documents and return ``[n, dim]`` vectors in the storage dtype.

    Raises:
        DataFormatError: when the encoder returns the wrong shape or non-finite values.
    """
    vecs = encoder.encode_document(list(texts), instruction=instruction)
    vecs = np.asarray(vecs, dtype=np.float32)
    if vecs.ndim != 2 or vecs.shape[0] != len(texts):
        raise DataFormatError(f"encoder returned shape {vecs.shape} for {len(texts)} texts")
    if not np.isfinite(vecs).all():
        raise DataFormatError("encoder returned non-finite values (NaN/inf); check the model and its dtype")
    return vecs.astype(STORAGE_DTYPES[dtype])


def write_shard(path: str | os.PathLike, vectors: np.ndarray) -> None:
    """Write one shard ``.npy`` atomically: a shard file that exists is always complete."""
    with atomic_write(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(vectors), allow_pickle=False)


@dataclass(frozen=True)
class ShardJob:
    """One shard to encode: rows ``[start, end)`` of the store, written to ``path``."""

    start: int
    end: int
    path: str


def encode_serial(jobs: Sequence[ShardJob], encoder: Encoder, read_texts: Callable[[int, int], list[str]],
                  instruction: str | None, dtype: str, on_done: Callable[[ShardJob], None]) -> None:
    """Encode shards one after another in this process."""
    for job in jobs:
        write_shard(job.path, encode_rows(encoder, read_texts(job.start, job.end), instruction, dtype))
        on_done(job)


# --------------------------------------------------------------------------------------------------
# several local processes (one per device, or N CPU processes)
# --------------------------------------------------------------------------------------------------
_worker: dict[str, Any] = {}


def _init_worker(spec: dict[str, Any], store_path: str, instruction: str | None, dtype: str,
                 torch_threads: int | None, expected_fp: dict[str, Any] | None) -> None:
    if torch_threads:
        try:
            import torch

            torch.set_num_threads(torch_threads)
        except ImportError:
            pass
    from .store import DocStore

    _worker["encoder"] = load(EncoderSpec(**spec))
    check_fingerprint(_worker["encoder"], expected_fp, f"in worker process {os.getpid()} ({spec['device']})")
    _worker["store"] = DocStore(store_path, readonly=True)
    _worker["args"] = (instruction, dtype)


def _encode_job(job: ShardJob) -> ShardJob:
    instruction, dtype = _worker["args"]
    _, texts = _worker["store"].texts(job.start, job.end)
    write_shard(job.path, encode_rows(_worker["encoder"], texts, instruction, dtype))
    return job


def encode_processes(jobs: Sequence[ShardJob], spec: EncoderSpec, store_path: str | os.PathLike,
                     instruction: str | None, dtype: str, on_done: Callable[[ShardJob], None],
                     workers: int = 2, devices: Sequence[str] | None = None,
                     expected_fp: dict[str, Any] | None = None) -> None:
    """Encode shards on several local processes.

    Args:
        jobs: shards to encode.
        spec: encoder to load in each worker.
        store_path: the document store the workers read texts from.
        instruction, dtype: document instruction and storage dtype.
        on_done: called in this process as each shard is written.
        workers: number of processes when ``devices`` is not given (CPU: threads are split evenly).
        devices: one process per device, e.g. ``["cuda:0", "cuda:1"]``.
        expected_fp: the driver's encoder fingerprint; a worker whose model differs refuses to start.
    """
    import multiprocessing as mp

    devices = list(devices or [])
    n = len(devices) or workers
    if n < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    threads = None if devices else max(1, (os.cpu_count() or 1) // n)
    ctx = mp.get_context("spawn")   # CUDA and torch's thread pools do not survive fork
    pools = []
    try:
        for w in range(n):
            wspec = spec.with_device(devices[w]) if devices else spec
            pools.append(ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker,
                                             initargs=(wspec.to_dict(), str(store_path), instruction, dtype, threads,
                                                       expected_fp)))
        queue = list(jobs)
        running = {}
        for pool in pools:   # each worker process takes the next shard as soon as it is free
            if queue:
                running[pool.submit(_encode_job, queue.pop(0))] = pool
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                pool = running.pop(fut)
                on_done(fut.result())
                if queue:
                    running[pool.submit(_encode_job, queue.pop(0))] = pool
    finally:
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def shard_exists(path: str | os.PathLike, rows: int) -> bool:
    """Whether a complete shard with ``rows`` rows is at ``path`` (files are renamed into place whole)."""
    p = Path(path)
    if not p.exists():
        return False
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError):
        return False
    return arr.ndim == 2 and arr.shape[0] == rows


def release_memory() -> None:
    """Return freed model memory (Python objects, CUDA cache) before worker processes load theirs."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def donor_shards(index_dirs: Sequence[str | os.PathLike]) -> dict[str, Path]:
    """``{shard file name: path}`` of the vector shards in other index folders (``RunOptions.reuse_vectors``).

    A shard's name carries its start row and a hash of everything that determines its vectors (encoder
    fingerprint, instruction, dtype, ids and texts), so a donor shard with the same name as a shard a
    build needs holds exactly the vectors that build would encode.

    Raises:
        ConfigError: a folder that is not an index with vector shards.
    """
    out: dict[str, Path] = {}
    for d in index_dirs:
        folder = Path(d) / "vectors"
        if not (Path(d) / "config.json").is_file() or not folder.is_dir():
            raise ConfigError(f"{d}: not an index with vector shards (reuse_vectors / --reuse-vectors names index "
                              "folders whose encoded shards a build may reuse)")
        out.update({p.name: p for p in folder.glob("shard-*.npy")})
    return out


def adopt_shard(path: Path, donor: Path, rows: int) -> bool:
    """Put the complete donor shard at ``path`` (a hard link, else an atomic copy); ``False`` if incomplete."""
    if not shard_exists(donor, rows):
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(donor, tmp)
    except OSError:                                   # another filesystem: copy
        shutil.copyfile(donor, tmp)
    os.replace(tmp, path)
    return True

