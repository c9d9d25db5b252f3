"""InfoNCE, cross-device gathering and GradCache: exact equivalences with stated tolerances.

* loss vs a naive per-query loop (float64): |Δ| <= 1e-5;
* 2 gloo processes (DDP, gathered negatives, ``gradient="sum"``) vs one process on the concatenated batch: loss
  |Δ| <= 1e-6 + 1e-6·|L| (float32 summation order), parameter gradients max |Δ| <= 1e-6 + 1e-4·max|g|;
* GradCache vs full batch: parameter gradients max |Δ| <= 1e-6 + 1e-4·max|g| (float32).
"""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reasonir.errors import ConfigError
from reasonir.train.gradcache import chunk_indices, full_batch_step, gradcache_step
from reasonir.train.loss import ContrastiveLoss, info_nce

D_IN, D_OUT = 12, 8


def naive_loss(q: np.ndarray, p: np.ndarray, tau: float) -> float:
    """Per-query loop in float64: -log softmax of the query's own positive over every passage."""
    g = len(p) // len(q)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(q)):
        logits = [float(qn[i] @ pn[j]) / tau for j in range(len(p))]
        m = max(logits)
        log_z = m + math.log(sum(math.exp(x - m) for x in logits))
        total += log_z - logits[i * g]
    return total / len(q)


@pytest.mark.parametrize("n,g,tau", [(1, 1, 0.02), (4, 1, 0.05), (5, 2, 0.02), (3, 4, 1.0), (16, 2, 0.02)])
def test_info_nce_equals_naive_loop(n, g, tau):
    rng = np.random.default_rng(n * 10 + g)
    q = rng.normal(size=(n, 16)).astype(np.float32)
    p = rng.normal(size=(n * g, 16)).astype(np.float32)
    got = info_nce(torch.from_numpy(q), torch.from_numpy(p), temperature=tau).item()
    assert got == pytest.approx(naive_loss(q.astype(np.float64), p.astype(np.float64), tau), abs=1e-5, rel=1e-5)
    out = ContrastiveLoss(temperature=tau)(torch.from_numpy(q), torch.from_numpy(p))
    assert out.loss.item() == pytest.approx(got, abs=1e-6)
    assert out.objective.item() == pytest.approx(got, abs=1e-6)     # no process group: no scaling


def test_target_is_the_positive_not_the_negative():
    # queries identical to their positive: near-zero loss; swapping pos/neg layout makes it large
    q = torch.eye(8)[:4]
    pos, neg = torch.eye(8)[:4], torch.eye(8)[4:]
    grouped = torch.stack([pos, neg], dim=1).reshape(8, 8)        # [pos_0, neg_0, pos_1, neg_1, ...]
    column = torch.cat([pos, neg])                                 # [pos_0..pos_3, neg_0..neg_3]
    assert info_nce(q, grouped, 0.02).item() < 1e-6
    assert info_nce(q, column, 0.02).item() > 10


def test_bad_layout_and_bad_options_raise():
    with pytest.raises(ConfigError, match="same number of passages"):
        info_nce(torch.randn(2, 4), torch.randn(5, 4))
    with pytest.raises(ConfigError, match="temperature"):
        ContrastiveLoss(temperature=0)
    with pytest.raises(ConfigError, match="similarity"):
        ContrastiveLoss(similarity="l2")


# ------------------------------------------------------------------------------------------------
# a tiny trainable "encoder": items are row indices of a fixed feature table
# ------------------------------------------------------------------------------------------------
def _tiny_model(dropout: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.Tanh(), torch.nn.Dropout(dropout),
                               torch.nn.Linear(16, D_OUT))


def _features(n: int, seed: int = 1) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, D_IN)).astype(np.float32))


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in model.parameters()]


def _assert_grads_close(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    for x, y in zip(a, b):
        tol = 1e-6 + 1e-4 * float(y.abs().max())
        assert float((x - y).abs().max()) <= tol


@pytest.mark.parametrize("chunk", [1, 3, 8, 100])
def test_gradcache_gradients_equal_full_batch(chunk):
    n, g = 7, 3
    feats = _features(n + n * g)
    loss_fn = ContrastiveLoss(temperature=0.05)
    model = _tiny_model()
    embed = lambda idx: model(feats[list(idx)])                                  # noqa: E731
    queries, passages = list(range(n)), list(range(n, n + n * g))
    ref = full_batch_step(embed, queries, passages, loss_fn)
    ref_grads = _grads(model)
    model.zero_grad()
    lengths = [int(i * 7 % 5) for i in passages]                                 # exercise length bucketing
    out = gradcache_step(embed, queries, passages, loss_fn, chunk, passage_lengths=lengths)
    assert out.loss.item() == pytest.approx(ref.loss.item(), abs=1e-6, rel=1e-6)
    _assert_grads_close(_grads(model), ref_grads)


def test_gradcache_replays_dropout_masks():
    """With dropout, GradCache's second pass must see the first pass's masks (random state replayed)."""
    n, g, chunk = 6, 2, 4
    feats = _features(n + n * g, seed=3)
    loss_fn = ContrastiveLoss(temperature=0.1)
    model = _tiny_model(dropout=0.5).train()
    embed = lambda idx: model(feats[list(idx)])                                  # noqa: E731
    queries, passages = list(range(n)), list(range(n, n + n * g))
    torch.manual_seed(123)
    q = torch.cat([embed(queries[i:i + chunk]) for i in range(0, n, chunk)])      # reference: same chunks,
    p = torch.cat([embed(passages[i:i + chunk]) for i in range(0, len(passages), chunk)])   # graphs kept
    ref = loss_fn(q, p)
    ref.objective.backward()
    ref_grads = _grads(model)
    model.zero_grad()
    torch.manual_seed(123)
    out = gradcache_step(embed, queries, passages, loss_fn, chunk)
    assert out.loss.item() == pytest.approx(ref.loss.item(), abs=1e-6, rel=1e-6)
    _assert_grads_close(_grads(model), ref_grads)


def test_chunk_indices_cover_everything_once():
    plan = chunk_indices(10, 3, lengths=[5, 1, 9, 9, 2, 0, 7, 3, 3, 8])
    flat = np.concatenate(plan)
    assert sorted(flat.tolist()) == list(range(10)) and [len(c) for c in plan] == [3, 3, 3, 1]
    assert flat[0] in (2, 3)                                    # longest first
    with pytest.raises(ConfigError):
        chunk_indices(3, 0)


# ------------------------------------------------------------------------------------------------
# two processes (gloo, CPU): gathered loss and DDP-averaged gradients == one process, whole batch
# ------------------------------------------------------------------------------------------------
N_PER_RANK, GROUP = (3, 5), 2      # unequal shards on purpose


def _single_reference(mode: str):
    n = sum(N_PER_RANK)
    feats = _features(n + n * GROUP, seed=5)
    model = _tiny_model()
    embed = lambda idx: model(feats[list(idx)])                                  # noqa: E731
    out = full_batch_step(embed, list(range(n)), list(range(n, n + n * GROUP)), ContrastiveLoss(0.02))
    return out.loss.item(), _grads(model)


def _worker(rank: int, world: int, port: int, mode: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        n = sum(N_PER_RANK)
        feats = _features(n + n * GROUP, seed=5)
        start = sum(N_PER_RANK[:rank])
        queries = list(range(start, start + N_PER_RANK[rank]))
        passages = [n + i * GROUP + j for i in queries for j in range(GROUP)]   # [pos_i, neg_i] per query
        model = torch.nn.parallel.DistributedDataParallel(_tiny_model())
        embed = lambda idx: model(feats[list(idx)])                              # noqa: E731
        loss_fn = ContrastiveLoss(0.02, cross_device=True, gradient="sum")   # GritLM's mean: test_train_gritlm
        if mode == "full":
            out = full_batch_step(embed, queries, passages, loss_fn)
        else:
            out = gradcache_step(embed, queries, passages, loss_fn, chunk_size=2, no_sync=model.no_sync)
        arrays = {f"g{i}": p.grad.numpy() for i, p in enumerate(model.module.parameters())}
        arrays["loss"] = np.asarray([out.loss.item()])
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **arrays)
        torch.distributed.barrier()                    # nobody tears down while a peer still talks
    finally:
        torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["full", "gradcache"])
def test_two_processes_equal_one_process(tmp_path, mode):
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), mode, str(tmp_path)), nprocs=2, join=True)
    ref_loss, ref_grads = _single_reference(mode)
    for rank in range(2):
        got = np.load(tmp_path / f"rank{rank}.npz")
        assert float(got["loss"][0]) == pytest.approx(ref_loss, abs=1e-6, rel=1e-6)
        grads = [torch.from_numpy(got[f"g{i}"]) for i in range(len(ref_grads))]
        _assert_grads_close(grads, ref_grads)
        with pytest.raises(AssertionError):            # the check is sharp: without the x world-size
            _assert_grads_close([g / 2 for g in grads], ref_grads)   # scaling DDP's mean halves them


def test_normalised_cosine_is_scale_invariant():
    q, p = torch.randn(3, 5), torch.randn(6, 5)
    assert info_nce(q, p).item() == pytest.approx(info_nce(q * 7, p * 0.1).item(), abs=1e-5)
    assert F.normalize(q).shape == q.shape
