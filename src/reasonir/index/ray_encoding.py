"""Encode shards on a Ray cluster with Ray Data ``map_batches`` (extra ``ray``).

Each input row is one whole shard (its start row and texts), so a shard is encoded by one actor in
one ``encode_document`` call exactly as the local paths do it, and the driver writes the same shard
files (atomically, as results stream back). Actors load the encoder once each; ``num_gpus`` gives
each actor a GPU on a GPU cluster. Workers need ``reasonir`` installed (or a ``runtime_env``); they
need no access to the index directory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import require
from .encoding import EncoderSpec, ShardJob, check_fingerprint, encode_rows, load, write_shard

logger = logging.getLogger(__name__)


class _ShardEncoder:
    """Ray Data callable class: loads the encoder once per actor, encodes one shard per batch."""

    def __init__(self, spec: dict[str, Any], instruction: str | None, dtype: str,
                 expected_fp: dict[str, Any] | None = None):
        self.encoder = load(EncoderSpec(**spec))
        check_fingerprint(self.encoder, expected_fp, "on a Ray worker")
        self.instruction = instruction
        self.dtype = dtype

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out: dict[str, list] = {"start": [], "rows": [], "dim": [], "vectors": []}
        for start, texts in zip(batch["start"], batch["texts"]):
            vecs = encode_rows(self.encoder, [str(t) for t in texts], self.instruction, self.dtype)
            out["start"].append(int(start))
            out["rows"].append(vecs.shape[0])
            out["dim"].append(vecs.shape[1])
            out["vectors"].append(vecs.tobytes())
        return {"start": np.asarray(out["start"], dtype=np.int64), "rows": np.asarray(out["rows"], dtype=np.int64),
                "dim": np.asarray(out["dim"], dtype=np.int64), "vectors": np.asarray(out["vectors"], dtype=object)}


def encode_ray(jobs: Sequence[ShardJob], spec: EncoderSpec, read_texts: Callable[[int, int], list[str]],
               instruction: str | None, dtype: str, on_done: Callable[[ShardJob], None],
               address: str | None = None, workers: int = 2, gpus_per_worker: float = 0.0,
               cpus_per_worker: float = 1.0, expected_fp: dict[str, Any] | None = None) -> None:
    """Encode ``jobs`` with Ray Data and write each shard file as its vectors arrive.

    Args:
        jobs: shards to encode.
        spec: encoder each actor loads.
        read_texts: ``(start, end) -> texts`` from the document store (runs on the driver).
        instruction, dtype: document instruction and storage dtype.
        on_done: called as each shard file is written.
        address: Ray address (``"auto"``, ``"ray://host:10001"``); ``None`` starts or joins a local
            instance with ``workers`` CPUs when none is running.
        workers: number of encoder actors.
        gpus_per_worker, cpus_per_worker: resources each actor reserves.
        expected_fp: the driver's encoder fingerprint; an actor whose model differs fails.
    """
    ray = require("ray", "ray", package="ray[data]")
    require("ray.data", "ray", package="ray[data]")
    if not jobs:
        return
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(workers, int(workers * cpus_per_worker)), log_to_driver=False,
                     include_dashboard=False)
    by_start = {job.start: job for job in jobs}
    items = [{"start": job.start, "texts": read_texts(job.start, job.end)} for job in jobs]
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), max(1, workers * 4)))
    ds = ds.map_batches(_ShardEncoder, batch_size=1, concurrency=workers, num_cpus=cpus_per_worker,
                        num_gpus=gpus_per_worker or None, batch_format="numpy",
                        fn_constructor_kwargs={"spec": spec.to_dict(), "instruction": instruction, "dtype": dtype,
                                               "expected_fp": expected_fp})
    np_dtype = np.float16 if dtype in ("fp16", "float16") else np.float32
    for row in ds.iter_rows():
        job = by_start[int(row["start"])]
        rows, dim = int(row["rows"]), int(row["dim"])
        vecs = np.frombuffer(row["vectors"], dtype=np_dtype).reshape(rows, dim)   # [rows, dim]
        if rows != job.end - job.start:
            raise RuntimeError(f"Ray worker returned {rows} vectors for shard {job.start}..{job.end}")
        write_shard(job.path, vecs)
        on_done(job)
