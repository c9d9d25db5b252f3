"""Educational-value scorers (0-5) for seed documents, behind one small protocol.

* :class:`FineWebEduScorer` — the FineWeb-Edu classifier (``HuggingFaceTB/fineweb-edu-classifier``,
  a regression head whose single logit is the score) or any model folder of the same shape;
* :class:`LLMJudgeScorer` — an LLM rates each document with the prompt in
  :mod:`reasonir.prompts.synth` (only useful with capable models);
* :class:`RegressionEduScorer` — a ridge-regression head over embeddings from any encoder, trained
  from labelled ``{text, score}`` JSONL the user supplies; saved as ``head.json`` + ``weights.npy``.

Scores are clipped to [0, 5]; NaN means "could not rate" and never passes a threshold. The pool
keeps documents scoring ``>= edu_threshold``: 2 by default, the paper's cut ("documents scoring below
2 are removed", arXiv 2504.20595); ReasonIR's released ``fineweb_edu_filter.py`` keeps ``>= 1``
(``--edu-threshold 1`` reproduces the code).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import ConfigError, DataFormatError, require
from ..io import atomic_write, iter_jsonl, read_json_object, write_json
from ..llm.base import LLM, GenerationParams
from ..prompts.synth import DEFAULT as DEFAULT_PROMPTS
from ..prompts.synth import SynthPrompts
from .llmstep import LLMStep, Usage
from .parsing import ParseError
from .pool import truncate_words

logger = logging.getLogger(__name__)
HEAD_FORMAT = 1


@runtime_checkable
class EduScorer(Protocol):
    """Rates texts from 0 (no educational value) to 5."""

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """``[n]`` float64 scores (NaN: could not rate)."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the scores (keys the score cache)."""
        ...


def load_encoder_spec(spec: str):
    """An encoder from a spec: ``hash`` / ``hash:DIM`` (dependency-free), else ``reasonir.encode.load_encoder``."""
    if spec == "hash" or spec.startswith("hash:"):
        from ..encode.hashing import HashingEncoder

        return HashingEncoder(dim=int(spec.partition(":")[2] or 256))
    try:
        from ..encode import load_encoder
    except ImportError as exc:   # pragma: no cover - depends on the installed encoders
        raise ConfigError(f"encoder {spec!r} needs reasonir.encode.load_encoder, which is unavailable: {exc}") from None
    return load_encoder(spec)


# --------------------------------------------------------------------------------------------------
# FineWeb-Edu classifier
# --------------------------------------------------------------------------------------------------
class FineWebEduScorer:
    """A sequence-classification model with one regression output (FineWeb-Edu's classifier).

    Args:
        model: Hub id or local folder.
        batch_size: texts per forward pass.
        max_length: tokens per text (the classifier was trained with 512).
        device: ``cpu`` / ``cuda`` / ``auto``.
        revision: Hub revision.
    """

    def __init__(self, model: str, batch_size: int = 16, max_length: int = 512, device: str = "auto",
                 revision: str | None = None):
        self.torch = require("torch", "encode")
        transformers = require("transformers", "encode")
        self.model_id, self.revision = model, revision
        self.batch_size, self.max_length = batch_size, max_length
        if device == "auto":
            device = "cuda" if self.torch.cuda.is_available() else "cpu"
        self.device = device
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(model, revision=revision)
            self.model = transformers.AutoModelForSequenceClassification.from_pretrained(
                model, revision=revision).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the educational-value classifier {model!r} ({exc}). Without access to the "
                "Hugging Face Hub, pass edu_model=<local folder of the classifier>, or use edu_scorer=regression "
                "with edu_labels=<labelled JSONL>, or edu_scorer=none") from None
        if self.model.config.num_labels != 1:
            raise ConfigError(f"{model}: expected a regression head with 1 output, found "
                              f"{self.model.config.num_labels} labels")

    def fingerprint(self) -> dict[str, Any]:
        return {"scorer": "fineweb-edu", "model": self.model_id, "revision": self.revision,
                "max_length": self.max_length}

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty(len(texts), dtype=np.float64)
        with self.torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start:start + self.batch_size])
                enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt").to(self.device)
                logits = self.model(**enc).logits.float()          # [b, 1]
                out[start:start + len(batch)] = logits[:, 0].cpu().numpy()
        return np.clip(out, 0.0, 5.0)


# --------------------------------------------------------------------------------------------------
# LLM judge
# --------------------------------------------------------------------------------------------------
_SCORE_RE = re.compile(r"score\W{0,5}([0-5](?:\.\d+)?)(?![\d])", re.I)


def parse_edu_score(text: str) -> float:
    """The 0-5 score in a judge reply (``Educational score: N``, else a lone digit 0-5).

    Raises:
        ParseError: ``"no_score"``.
    """
    m = list(_SCORE_RE.finditer(text))
    if m:
        return float(m[-1].group(1))
    lone = re.findall(r"(?<![\d.])([0-5])(?![\d.])", text)
    if len(set(lone)) == 1:
        return float(lone[0])
    raise ParseError("no_score", text[:60])


class LLMJudgeScorer:
    """Score documents by asking an LLM (prompt ``edu-judge``), with retries on unparsable replies."""

    def __init__(self, llm: LLM, max_words: int = 1000, max_tokens: int = 16, max_attempts: int = 3,
                 batch_size: int = 32, seed: int = 0, prompts: SynthPrompts = DEFAULT_PROMPTS):
        self.llm = llm
        self.prompts = prompts
        self.max_words = max_words
        self.step = LLMStep(llm, GenerationParams(max_tokens=max_tokens, temperature=0.0, seed=seed),
                            max_attempts=max_attempts, batch_size=batch_size, name="edu-judge")
        self.usage = Usage()

    def fingerprint(self) -> dict[str, Any]:
        return {"scorer": "llm", "llm": self.llm.name, "prompt_version": self.prompts.version("edu_judge"),
                "params": self.step.params.to_dict(), "max_words": self.max_words}

    def score(self, texts: Sequence[str]) -> np.ndarray:
        prompts = [self.prompts.edu_judge_messages(truncate_words(t, self.max_words)) for t in texts]
        results = self.step.run(prompts, lambda _i, text: parse_edu_score(text))
        for r in results:
            self.usage.merge(r.usage)
        return np.array([np.nan if r.value is None else min(max(r.value, 0.0), 5.0) for r in results])


# --------------------------------------------------------------------------------------------------
# regression head over embeddings
# --------------------------------------------------------------------------------------------------
def fit_ridge(x: np.ndarray, y: np.ndarray, l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Closed-form ridge regression with an unpenalised bias: ``(weights [d], bias)``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mu_x, mu_y = x.mean(axis=0), y.mean()
    xc = x - mu_x                                                            # [n, d]
    gram = xc.T @ xc + l2 * np.eye(x.shape[1])                               # [d, n] x [n, d] -> [d, d]
    w = np.linalg.solve(gram, xc.T @ (y - mu_y))                             # [d, n] x [n] -> [d]
    return w, float(mu_y - mu_x @ w)


def read_labels(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Labelled examples ``{"text": ..., "score": 0-5}`` (one JSON object per line).

    Raises:
        DataFormatError: naming the line and field.
    """
    texts, scores = [], []
    for lineno, row in iter_jsonl(path):
        text, score = row.get("text"), row.get("score")
        if not isinstance(text, str) or not text.strip():
            raise DataFormatError("field 'text' must be a non-empty string", path, lineno)
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 5 or math.isnan(score):
            raise DataFormatError(f"field 'score' must be a number in [0, 5], got {score!r}", path, lineno)
        texts.append(text)
        scores.append(float(score))
    if len(texts) < 4:
        raise DataFormatError(f"need at least 4 labelled examples to fit a head, found {len(texts)}", path)
    return texts, np.asarray(scores)


class RegressionEduScorer:
    """``score = clip(embedding · w + b, 0, 5)`` with embeddings from ``encoder`` (document side).

    Build with :meth:`train` or :meth:`load`; persist with :meth:`save` (JSON + ``.npy``, no pickle).
    """

    def __init__(self, encoder: Any, encoder_spec: str, weights: np.ndarray, bias: float,
                 meta: dict[str, Any] | None = None):
        self.encoder, self.encoder_spec = encoder, encoder_spec
        self.weights = np.asarray(weights, dtype=np.float64)
        self.bias = float(bias)
        self.meta = meta or {}
        if self.weights.shape != (encoder.dim,):
            raise ConfigError(f"head has {self.weights.shape[0]} weights but encoder {encoder_spec!r} gives "
                              f"{encoder.dim}-d embeddings; retrain the head for this encoder")

    @classmethod
    def train(cls, texts: Sequence[str], scores: Sequence[float] | np.ndarray, encoder_spec: str = "hash",
              l2: float = 1.0, encoder: Any = None) -> RegressionEduScorer:
        """Fit the head on labelled texts; ``meta`` records the training fit (MAE, n)."""
        encoder = encoder or load_encoder_spec(encoder_spec)
        x = encoder.encode_document(list(texts))                           # [n, d]
        y = np.asarray(scores, dtype=np.float64)
        w, b = fit_ridge(x, y, l2)
        pred = np.clip(x @ w + b, 0, 5)                                    # [n, d] x [d] -> [n]
        meta = {"n_train": len(y), "l2": l2, "train_mae": float(np.abs(pred - y).mean())}
        return cls(encoder, encoder_spec, w, b, meta)

    def fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha1(self.weights.tobytes() + str(self.bias).encode()).hexdigest()[:16]
        enc_fp = self.encoder.fingerprint() if hasattr(self.encoder, "fingerprint") else {}
        return {"scorer": "regression", "encoder": self.encoder_spec, "encoder_fingerprint": enc_fp, "head": digest}

    def score(self, texts: Sequence[str]) -> np.ndarray:
        x = self.encoder.encode_document(list(texts))                      # [n, d]
        return np.clip(np.asarray(x, dtype=np.float64) @ self.weights + self.bias, 0.0, 5.0)   # [n]

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``head.json`` (encoder spec, bias, metadata) and ``weights.npy`` into ``directory``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        with atomic_write(d / "weights.npy", "wb") as fh:
            np.save(fh, self.weights, allow_pickle=False)
        write_json(d / "head.json", {"format": HEAD_FORMAT, "kind": "edu-regression", "encoder": self.encoder_spec,
                                     "dim": int(self.weights.shape[0]), "bias": self.bias, **self.meta})

    @classmethod
    def load(cls, directory: str | os.PathLike, encoder: Any = None) -> RegressionEduScorer:
        """Load a head saved by :meth:`save` (and its encoder, unless one is given).

        Raises:
            FileNotFoundError / DataFormatError: for a missing or foreign folder.
        """
        d = Path(directory)
        if not (d / "head.json").exists():
            raise FileNotFoundError(f"{d}: no head.json; train a head with edu_labels=PATH first")
        meta = read_json_object(d / "head.json", "an educational-score head description")
        if meta.get("kind") != "edu-regression" or meta.get("format") != HEAD_FORMAT:
            raise DataFormatError("not an educational-score regression head (kind/format mismatch)", d / "head.json")
        weights = np.load(d / "weights.npy", allow_pickle=False)
        spec = meta.pop("encoder")
        bias = meta.pop("bias")
        for k in ("format", "kind", "dim"):
            meta.pop(k, None)
        return cls(encoder or load_encoder_spec(spec), spec, weights, bias, meta)


# --------------------------------------------------------------------------------------------------
# score cache (so a re-run or another shard does not rescore the pool)
# --------------------------------------------------------------------------------------------------
def cached_scores(scorer: EduScorer, texts: Sequence[str], cache_path: str | os.PathLike | None) -> np.ndarray:
    """``scorer.score(texts)``, reusing and updating a JSON cache keyed by scorer fingerprint + text hash."""
    if cache_path is None:
        return scorer.score(texts)
    fp = hashlib.sha1(json.dumps(scorer.fingerprint(), sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = Path(cache_path)
    store: dict[str, Any] = {}
    if path.exists():
        try:
            store = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            logger.warning("%s: unreadable score cache; rescoring", path)
    table: dict[str, float | None] = store.get(fp, {})
    keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    todo = [i for i, k in enumerate(keys) if k not in table]
    if todo:
        new = scorer.score([texts[i] for i in todo])
        for i, s in zip(todo, new):
            table[keys[i]] = None if np.isnan(s) else float(s)
        store[fp] = table
        write_json(path, store, indent=None)
    logger.info("educational scores: %d computed, %d from %s", len(todo), len(texts) - len(todo), path)
    return np.array([np.nan if table[k] is None else table[k] for k in keys], dtype=np.float64)
