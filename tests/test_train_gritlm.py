"""Training matches GritLM (the trainer of ReasonIR-8B) where the published recipe depends on it.

* Cross-device gradient: every process computes the full gathered InfoNCE and differentiates it
  through its own shard; the engine averages. The synchronised gradient must equal the **mean over
  processes** of those per-process gradients (a single-process reference written out below), in the
  plain and the GradCache step, and gradient clipping at 1.0 must then act as it does on that mean.
  Tolerances: max |Δg| <= 1e-6 + 1e-4·max|g| per parameter tensor (float32 summation order).
* Instruction formatting: GritLM strips ``"\\t\\n :"`` from both ends of an instruction before putting
  it into ``"<|user|>\\n{instruction}\\n<|embed|>\\n"``; inference (the released ``encode``) prepends the
  caller's instruction verbatim. Both are pinned here, and BRIGHT's instructions format identically.
* The ``paper`` preset of ``reasonir train``: every value.
"""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from reasonir.config import build  # noqa: E402
from reasonir.errors import ConfigError  # noqa: E402
from reasonir.train.config import TrainConfig  # noqa: E402
from reasonir.train.gradcache import full_batch_step, gradcache_step  # noqa: E402
from reasonir.train.loss import ContrastiveLoss  # noqa: E402

D_IN, D_OUT = 12, 8
N_PER_RANK, GROUP = (3, 5), 2          # unequal shards: rank 0 embeds 3 queries + 6 passages, rank 1 5 + 10
#: temperatures putting the mean-gradient norm below 1 (0.56: clipping must not engage; the old
#: world-size-scaled gradient, 1.12, was clipped) and far above 1 (clipping engages either way)
TAUS = {"below": 1.0, "above": 0.05}
MAX_NORM = 1.0
#: the two ways a step back-propagates: one full-batch backward, or GradCache (chunks of 2 texts)
MODES = ("full", "gradcache")


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.Tanh(), torch.nn.Linear(16, D_OUT))


def _features() -> torch.Tensor:
    n = sum(N_PER_RANK)
    return torch.from_numpy(np.random.default_rng(7).normal(size=(n + n * GROUP, D_IN)).astype(np.float32))


def _shards() -> list[tuple[list[int], list[int]]]:
    """(query rows, passage rows) of each rank; passages ``[pos_i, neg_i]`` per query."""
    n, out, start = sum(N_PER_RANK), [], 0
    for size in N_PER_RANK:
        queries = list(range(start, start + size))
        out.append((queries, [n + i * GROUP + j for i in queries for j in range(GROUP)]))
        start += size
    return out


# ------------------------------------------------------------------------------------------------
# the single-process GritLM-style reference
# ------------------------------------------------------------------------------------------------
def _gathered_infonce(q: torch.Tensor, p: torch.Tensor, tau: float) -> torch.Tensor:
    """Cosine scores / tau over every gathered passage, cross-entropy against each query's positive."""
    scores = F.normalize(q, dim=-1) @ F.normalize(p, dim=-1).T / tau
    return F.cross_entropy(scores, torch.arange(q.shape[0]) * (p.shape[0] // q.shape[0]))


def _reference(tau: float) -> tuple[float, list[torch.Tensor]]:
    """Mean over ranks r of d/dθ InfoNCE(all embeddings), with only rank r's embeddings differentiable."""
    model, feats = _tiny_model(), _features()
    params = list(model.parameters())
    per_rank = []
    for r in range(len(N_PER_RANK)):
        qs, ps = [], []
        for s, (q_rows, p_rows) in enumerate(_shards()):
            q, p = model(feats[q_rows]), model(feats[p_rows])
            qs.append(q if s == r else q.detach())
            ps.append(p if s == r else p.detach())
        loss = _gathered_infonce(torch.cat(qs), torch.cat(ps), tau)
        per_rank.append(torch.autograd.grad(loss, params))
    mean = [torch.stack(gs).mean(dim=0) for gs in zip(*per_rank)]
    return float(loss.detach()), mean


def _clipped(grads: list[torch.Tensor], max_norm: float) -> tuple[float, list[torch.Tensor]]:
    """Global-norm clipping written out: scale by max_norm / (norm + 1e-6) when that is below 1."""
    norm = float(torch.sqrt(sum((g.double() ** 2).sum() for g in grads)))
    coef = min(1.0, max_norm / (norm + 1e-6))
    return norm, [g * coef for g in grads]


def _close(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(float((x - y).abs().max()) <= 1e-6 + 1e-4 * float(y.abs().max()) for x, y in zip(a, b))


# ------------------------------------------------------------------------------------------------
# two gloo processes running our steps under DDP
# ------------------------------------------------------------------------------------------------
def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        feats = _features()
        queries, passages = _shards()[rank]
        arrays = {}
        for mode, (regime, tau) in ((m, r) for m in MODES for r in TAUS.items()):
            key = f"{mode}_{regime}"
            model = torch.nn.parallel.DistributedDataParallel(_tiny_model())
            embed = lambda idx, m=model: m(feats[list(idx)])                     # noqa: E731
            loss_fn = ContrastiveLoss(tau, cross_device=True)                  # default: GritLM's mean
            if mode == "full":
                out = full_batch_step(embed, queries, passages, loss_fn)
            else:
                out = gradcache_step(embed, queries, passages, loss_fn, chunk_size=2, no_sync=model.no_sync)
            params = list(model.module.parameters())
            arrays[f"{key}_loss"] = np.asarray([out.loss.item()])
            for i, p in enumerate(params):
                arrays[f"{key}_g{i}"] = p.grad.numpy().copy()
            norm = torch.nn.utils.clip_grad_norm_(params, MAX_NORM)             # what the trainer does next
            arrays[f"{key}_norm"] = np.asarray([float(norm)])
            for i, p in enumerate(params):
                arrays[f"{key}_c{i}"] = p.grad.numpy().copy()
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **arrays)
        torch.distributed.barrier()                    # nobody tears down while a peer still talks
    finally:
        torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration             # two spawned processes: ~30 s on a busy 2-core machine
def test_synchronised_gradient_is_the_mean_over_processes_and_clips_like_gritlm(tmp_path):
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    for mode, (regime, tau) in ((m, r) for m in MODES for r in TAUS.items()):
        key = f"{mode}_{regime}"
        ref_loss, ref = _reference(tau)
        ref_norm, ref_clipped = _clipped(ref, MAX_NORM)
        if regime == "below":          # the case that tells the conventions apart (see TAUS)
            assert 0.5 * MAX_NORM < ref_norm < MAX_NORM
            assert _clipped([2 * g for g in ref], MAX_NORM)[0] > MAX_NORM
        else:
            assert ref_norm > 2 * MAX_NORM
        for rank in range(2):
            got = np.load(tmp_path / f"rank{rank}.npz")
            assert float(got[f"{key}_loss"][0]) == pytest.approx(ref_loss, abs=1e-6, rel=1e-6)
            grads = [torch.from_numpy(got[f"{key}_g{i}"]) for i in range(len(ref))]
            assert _close(grads, ref), (mode, regime, rank)
            assert not _close(grads, [2 * g for g in ref])          # not the world-size-scaled sum
            assert float(got[f"{key}_norm"][0]) == pytest.approx(ref_norm, rel=1e-4)
            clipped = [torch.from_numpy(got[f"{key}_c{i}"]) for i in range(len(ref))]
            assert _close(clipped, ref_clipped), (mode, regime, rank)
        if regime == "below":          # world-size scaling would have clipped here: a different update
            assert not _close(_clipped([2 * g for g in ref], MAX_NORM)[1], ref_clipped)


def test_loss_gradient_option_and_its_validation():
    assert TrainConfig(train_data=["x"], output_dir="o").cross_device_gradient == "mean"
    assert ContrastiveLoss().gradient == "mean" and ContrastiveLoss(gradient="sum").gradient == "sum"
    with pytest.raises(ConfigError, match="mean, sum"):
        ContrastiveLoss(gradient="max")
    with pytest.raises(ConfigError, match="cross_device_gradient"):
        build(TrainConfig, {"train_data": ["x"], "output_dir": "o", "cross_device_gradient": "max"})
    q, p = torch.randn(3, 4), torch.randn(6, 4)        # no process group: the objective is the loss either way
    for gradient in ("mean", "sum"):
        out = ContrastiveLoss(0.1, gradient=gradient)(q, p)
        assert out.objective.item() == pytest.approx(out.loss.item())


# ------------------------------------------------------------------------------------------------
# instruction formatting: GritLM's training collator vs the released encoder at inference
# ------------------------------------------------------------------------------------------------
TEXT = "Photosynthesis converts light energy into chemical energy stored in sugars."


@pytest.fixture(scope="module")
def tiny_llm():
    pytest.importorskip("transformers")
    from encode_tiny import tiny_model, tiny_tokenizer

    from reasonir.encode import LLMEncoder

    return LLMEncoder(tiny_model("llama", seed=0), tiny_tokenizer(), name="tiny-llama", max_length=256)


def _gritlm_reference(enc, instruction: str | None, text: str) -> tuple[list[int], int]:
    """GritLM's collator written out, with the real BOS: (token ids, tokens excluded from pooling)."""
    stripped = (instruction or "").strip("\t\n :")
    prefix = f"<|user|>\n{stripped}\n<|embed|>\n" if stripped else "<|embed|>\n"
    ids = enc.tokenizer(prefix + text, add_special_tokens=True)["input_ids"]
    return ids, len(enc.tokenizer(prefix, add_special_tokens=True)["input_ids"])


@pytest.mark.parametrize("instruction", ["Retrieve documents: ", "\tGiven a claim, find evidence:\n",
                                         " : \n", "Given a biology post, retrieve relevant passages that help "
                                                  "answer the post"])
@pytest.mark.parametrize("side", ["query", "document"])
def test_training_strips_instructions_like_gritlm(tiny_llm, instruction, side):
    from reasonir.train.batching import Item
    from reasonir.train.model import TrainModel

    tm = TrainModel(tiny_llm, query_max_length=256, passage_max_length=256)
    ids, starts = tm.token_ids([Item(side, instruction, TEXT)])
    want_ids, want_start = _gritlm_reference(tiny_llm, instruction, TEXT)
    assert (ids[0], starts[0]) == (want_ids, want_start)
    if not instruction.strip("\t\n :"):                   # nothing left: the instruction-less format
        assert tm.token_ids([Item(side, "", TEXT)]) == (ids, starts)


def test_inference_keeps_the_callers_instruction_verbatim(tiny_llm):
    """The released encode() prepends the formatted instruction as given: no strip at inference."""
    fmt = tiny_llm.prompt_format
    assert fmt.prefix("Retrieve documents: ") == "<|user|>\nRetrieve documents: \n<|embed|>\n"
    assert tiny_llm.prefix_ids("Retrieve documents: ") == tiny_llm.tokenizer(
        "<|user|>\nRetrieve documents: \n<|embed|>\n", add_special_tokens=True)["input_ids"]


def test_bright_instructions_train_and_encode_identically(tiny_llm):
    """Every BRIGHT instruction is unchanged by GritLM's strip, so the training forward of a query equals
    its inference embedding (|Δ| <= 2e-5, float32)."""
    from reasonir.prompts.instructions import BRIGHT_INSTRUCTIONS, BRIGHT_INSTRUCTIONS_LONG, bright_instruction
    from reasonir.train.batching import QUERY, Item
    from reasonir.train.model import INSTRUCTION_STRIP, TrainModel, training_instruction

    assert INSTRUCTION_STRIP == "\t\n :"
    filled = {bright_instruction(t, long_documents=long, task_name=style)
              for long, table in ((False, BRIGHT_INSTRUCTIONS), (True, BRIGHT_INSTRUCTIONS_LONG))
              for t in table for style in ("raw", "pretty")}
    assert len(filled) > 12 and all(training_instruction(x) == x for x in filled)
    tm = TrainModel(tiny_llm, query_max_length=256, passage_max_length=256)
    instr = bright_instruction("theoremqa_theorems")
    with torch.no_grad():
        trained = F.normalize(tm.module(**tm.features([Item(QUERY, instr, TEXT)])).float(), dim=-1).numpy()
    np.testing.assert_allclose(trained[0], tiny_llm.encode_query([TEXT], instruction=instr)[0], atol=2e-5)


# ------------------------------------------------------------------------------------------------
# the `paper` preset
# ------------------------------------------------------------------------------------------------
PAPER_TRAIN = {
    "model": "meta-llama/Llama-3.1-8B", "dtype": "bf16", "mixed_precision": "bf16",
    "query_max_length": 2048, "passage_max_length": 2048, "temperature": 0.02, "similarity": "cos",
    "group_size": 2, "batch_size": 2048, "cross_device": True, "cross_device_gradient": "mean",
    "gradcache": True, "single_source": True, "learning_rate": 2e-5, "lr_scheduler": "constant_with_warmup",
    "warmup_ratio": 0.06, "weight_decay": 0.0, "adam_beta1": 0.9, "adam_beta2": 0.999, "adam_epsilon": 1e-8,
    "max_grad_norm": 1.0, "max_steps": 1000, "gradient_checkpointing": True, "save_steps": 500, "seed": 42,
}


def test_paper_preset_holds_the_published_recipe():
    from importlib import resources

    from reasonir.prompts.presets import load_preset, preset_digest

    assert TrainConfig.PRESET_SECTION == "train"
    values = load_preset("paper", TrainConfig.PRESET_SECTION)
    assert values == PAPER_TRAIN
    text = (resources.files("reasonir.prompts.presets") / "paper" / "train.yaml").read_text(encoding="utf-8")
    for key in PAPER_TRAIN:                             # every value cites where it comes from
        line = next(x for x in text.splitlines() if x.startswith(f"{key}:"))
        assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, key
    cfg = build(TrainConfig, {**values, "train_data": ["data/"], "output_dir": "runs/x", "preset": "paper"})
    cfg.check()
    assert cfg.preset == "paper" and cfg.warmup_steps(cfg.total_steps(1)) == 60
    from reasonir.train.trainer import preset_record

    assert preset_record(cfg) == {"name": "paper", "sha256": preset_digest("paper", "train")}
    assert preset_record(build(TrainConfig, {"train_data": ["d"], "output_dir": "o"})) is None
