"""One BRIGHT task inside ``reasonir bright``: its data (loaded lazily), retrievers, reranker and manifests.

Nothing is loaded until a (task, setting) must be computed: a rerun whose runs are all finished reads
the examples only (to score) and never touches documents, encoders or LLMs.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import logging
import platform
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import build, preset_provenance, preset_values, to_dict
from ..data import BRIGHT_HUB_ID, Dataset, bright_variant_file, load_bright
from ..encode.fingerprint import stable_hash
from ..errors import ConfigError, ReasonIRError
from ..fileio import write_json
from ..io import read_run, write_run
from ..query_variants import apply_query_variant, file_sha256, is_variant_file, variant_config
from ..retrieve.dense_retriever import resolve_instruction
from ..retrieve.retriever import BM25Retriever
from ..types import Run, top_k
from .bright_report import Setting

logger = logging.getLogger(__name__)

_PACKAGES = ("numpy", "torch", "transformers", "sentence-transformers", "pytrec-eval-terrier", "vllm", "datasets")


def package_versions() -> dict[str, str]:
    """Versions of the packages that can change a run (those installed)."""
    out = {"reasonir": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


class _CountingEncoder:
    """Counts the texts an encoder really encodes (under the embedding cache, only the misses)."""

    def __init__(self, encoder: Any, counters: dict[str, int]):
        self.encoder = encoder
        self.counters = counters

    def encode_query(self, texts: Any, instruction: str | None = None, batch_size: int | None = None) -> Any:
        self.counters["encoded_queries"] += 1 if isinstance(texts, str) else len(texts)
        return self.encoder.encode_query(texts, instruction=instruction, batch_size=batch_size)

    def encode_document(self, texts: Any, instruction: str | None = None, batch_size: int | None = None) -> Any:
        self.counters["encoded_documents"] += 1 if isinstance(texts, str) else len(texts)
        return self.encoder.encode_document(texts, instruction=instruction, batch_size=batch_size)

    def __getattr__(self, name: str) -> Any:
        if name == "encoder":
            raise AttributeError(name)
        return getattr(self.encoder, name)


def read_setting_run(folder: str | Path, task: str) -> Run:
    """``folder/<task>.txt`` (a run scored by ``--runs``), or a :class:`ConfigError` naming it."""
    path = Path(folder) / f"{task}.txt"
    if not path.is_file():
        have = sorted(p.stem for p in Path(folder).glob("*.txt"))
        raise ConfigError(f"--runs {folder}: no run {path.name} for task {task} (runs there: "
                          f"{', '.join(have) or 'none'}); choose the tasks with --tasks")
    return read_run(path)


class TaskRunner:
    """Lazy data and components of one task (see the module docstring)."""

    def __init__(self, cfg: Any, task: str):
        self.cfg = cfg
        self.task = task
        self._judged: Dataset | None = None
        self._variants: dict[str, Dataset] = {}
        self._full: Dataset | None = None
        self._bm25: BM25Retriever | None = None
        self._dense: dict[str, Any] = {}
        self._hashes: dict[str, str] = {}

    # ---------------------------------------------------------------------------------------------- data
    def _task_dir(self) -> Path:
        root = Path(self.cfg.data)
        return root / self.task if (root / self.task).is_dir() else root

    def _load(self, with_corpus: bool) -> Dataset:
        try:
            return load_bright(self.task, self.cfg.long_documents, directory=self.cfg.data,
                               revision=self.cfg.revision, with_corpus=with_corpus)
        except (ReasonIRError, FileNotFoundError):
            raise
        except Exception as exc:  # noqa: BLE001 - the Hub client raises many kinds; all mean "not available"
            configs = "examples and documents" if with_corpus else "examples"
            raise ConfigError(
                f"cannot load BRIGHT task {self.task} from the Hub ({type(exc).__name__}: {exc}); it needs the "
                f"{BRIGHT_HUB_ID} configs {configs} (split {self.task}, revision {self.cfg.revision}). Without the "
                f"Hub use --data DIR with {self.task}/examples.jsonl[.gz] and {self.task}/documents.jsonl[.gz]"
            ) from None

    def judgements(self) -> Dataset:
        """Queries, qrels and excluded ids (no documents)."""
        if self._judged is None:
            self._judged = self._load(with_corpus=False)
        return self._judged

    def variant(self, queries: str) -> Dataset:
        """The task with the ``queries`` variant applied (no documents)."""
        if queries not in self._variants:
            self._variants[queries] = apply_query_variant(self.judgements(), queries)
        return self._variants[queries]

    def corpus(self) -> list[Any]:
        if self._full is None:
            self._full = self._load(with_corpus=True)
        return self._full.require_corpus()

    def missing_files(self, settings: list[Setting]) -> list[str]:
        """Local files that retrieving ``settings`` needs and that do not exist (nothing for the Hub)."""
        if self.cfg.data is None:
            return []
        task_dir, out = self._task_dir(), []
        if bright_variant_file(task_dir, "examples") is None:
            out.append(f"{task_dir / 'examples.jsonl'} (the {BRIGHT_HUB_ID} 'examples' config, split {self.task})")
        stem = "long_documents" if self.cfg.long_documents else "documents"
        if bright_variant_file(task_dir, stem) is None:
            out.append(f"{task_dir / (stem + '.jsonl')} (fields id, content: the {BRIGHT_HUB_ID} '{stem}' config, "
                       f"split {self.task})")
        for q in dict.fromkeys(s.queries for s in settings if s.runs_dir is None):
            config = None if is_variant_file(q) else variant_config(q)
            if config and bright_variant_file(task_dir, config) is None:
                out.append(f"{task_dir / (config + '.jsonl')} (rows id, query: the {BRIGHT_HUB_ID} '{config}' config)")
        return out

    def _sha(self, path: str | Path | None) -> str | None:
        if path is None or not Path(path).is_file():
            return None
        key = str(Path(path).resolve())
        if key not in self._hashes:
            self._hashes[key] = file_sha256(path)
        return self._hashes[key]

    def data_identity(self) -> dict[str, Any]:
        """Hub revision, or the local files and their sha256."""
        if self.cfg.data is None:
            return {"source": "hub", "hub_id": BRIGHT_HUB_ID, "revision": self.cfg.revision}
        meta = self.judgements().metadata
        return {"source": "local", "examples": meta.get("examples"), "examples_sha256": self._sha(meta.get("examples")),
                "documents": meta.get("documents"), "documents_sha256": self._sha(meta.get("documents"))}

    def variant_identity(self, queries: str) -> dict[str, Any] | None:
        if is_variant_file(queries):
            return {"file": str(queries), "sha256": self._sha(queries)}
        config = variant_config(queries)
        if config is None:
            return None
        if self.cfg.data is None:
            return {"config": config, "revision": self.cfg.revision}
        path = bright_variant_file(self._task_dir(), config)
        return {"config": config, "file": str(path) if path else None, "sha256": self._sha(path)}

    # ---------------------------------------------------------------------------------------------- keys
    def key(self, s: Setting, bench: Any) -> str:
        """Everything that changes the run of ``s`` on this task."""
        cfg = self.cfg
        parts: dict[str, Any] = {"task": self.task, "retriever": s.retriever, "long": cfg.long_documents,
                                 "data": self.data_identity(), "queries": self.variant_identity(s.queries)}
        if s.rerank:
            parts.update(rerank=to_dict(self.rerank_config(s)), base=self.key(s.base(), bench))
        elif s.kind == "hybrid":
            parts.update(weights=bench.weights, top_k=cfg.top_k,
                         dense=self.key(Setting(s.queries, f"dense:{s.model}"), bench),
                         bm25q=self.key(Setting(s.queries, "bm25q"), bench))
        elif s.kind == "dense":
            parts.update(top_k=cfg.top_k, model=s.model, dtype=cfg.dtype, max_length=cfg.max_length,
                         instruction=self.instruction()["instruction"])
        else:
            parts.update(top_k=cfg.top_k, k1=cfg.k1, b=cfg.b)
        return stable_hash(parts)

    def finished(self, path: Path, manifest: Path, key: str) -> Run | None:
        """The finished run at ``path`` when its manifest carries ``key``, else ``None``."""
        if not (path.is_file() and manifest.is_file()):
            return None
        try:
            old = json.loads(manifest.read_text(encoding="utf-8")).get("key")
        except (OSError, ValueError, AttributeError):
            old = None
        if old != key:
            logger.info("%s: made with other options or data; recomputing", path)
            return None
        return read_run(path)

    def read_external(self, s: Setting) -> Run:
        return read_setting_run(s.runs_dir, self.task)  # type: ignore[arg-type]

    # ---------------------------------------------------------------------------------------------- stages
    def instruction(self) -> dict[str, Any]:
        return resolve_instruction(self.cfg.instruction, self.task, self.cfg.long_documents)

    def _encoder(self, model: str, bench: Any) -> Any:
        if model not in bench.encoders:
            from ..encode.cache import CachedEncoder, EmbeddingCache
            from ..encode.loading import load_encoder

            cfg = self.cfg
            base = load_encoder(model, dtype=cfg.dtype, device=cfg.device, max_length=cfg.max_length,
                                batch_size=cfg.batch_size)
            encoder: Any = _CountingEncoder(base, bench.counters)
            if (cfg.embedding_cache or "") != "off":
                root = cfg.embedding_cache or Path(cfg.out) / "cache" / "embeddings"
                encoder = CachedEncoder(encoder, EmbeddingCache(root))
            bench.encoders[model] = encoder
        return bench.encoders[model]

    def retrieve(self, s: Setting, bench: Any) -> tuple[Run, dict[str, Any]]:
        """A first-stage run (``bm25``, ``bm25q`` or ``dense:MODEL``) and its provenance."""
        ds = self.variant(s.queries)
        excluded = ds.excluded_ids or None
        if s.kind in ("bm25", "bm25q"):
            if self._bm25 is None:
                self._bm25 = BM25Retriever.from_corpus(self.corpus(), mode="bm25", k1=self.cfg.k1, b=self.cfg.b)
            run = BM25Retriever(self._bm25.index, s.kind).search(ds.queries, k=self.cfg.top_k, excluded_ids=excluded)
            return run, {"bm25": {"mode": s.kind, "k1": self.cfg.k1, "b": self.cfg.b}}
        from ..retrieve.dense_retriever import DenseRetriever

        if s.model not in self._dense:
            info = self.instruction()
            self._dense[s.model] = DenseRetriever.from_corpus(
                self._encoder(s.model, bench), self.corpus(), query_instruction=info["instruction"],
                instruction_info=info, batch_size=self.cfg.batch_size)
        retriever = self._dense[s.model]
        run = retriever.search(ds.queries, k=self.cfg.top_k, excluded_ids=excluded)
        return run, {"encoder": retriever.encoder.fingerprint(), "instruction": retriever.instruction_info}

    def rerank_config(self, s: Setting) -> Any:
        """The ``RerankConfig`` of the rerank stage: the preset's rerank section, then this command's options."""
        from .rerank import RerankConfig

        cfg = self.cfg
        values = {**preset_values(RerankConfig, cfg.preset), "run": "-", "dataset": f"bright:{self.task}",
                  "reranker": s.rerank, "top_k": cfg.rerank_top_k, "seed": cfg.seed, "llm_cache": cfg.llm_cache,
                  "long_documents": cfg.long_documents}
        names = {f.name for f in dataclasses.fields(RerankConfig)}
        if "preset" in names and cfg.preset:
            values["preset"] = cfg.preset
        if cfg.device != "auto":                          # the reranking LLM runs where the encoder does
            values["llm_device"] = cfg.device
        return build(RerankConfig, {k: v for k, v in values.items() if k in names}, origin="bright rerank stage")

    def rerank(self, first: Run, s: Setting, bench: Any) -> tuple[Run, dict[str, Any]]:
        """Rerank each query's top ``--rerank-top-k`` of ``first``; the rest follows below, in its order."""
        from ..rerank import combine_scores, rerank_run
        from .rerank import build_reranker

        rcfg = self.rerank_config(s)
        ds = self.variant(s.queries)                      # the reranker sees the queries retrieval used
        documents = {d.id: d.full_text for d in self.corpus()}
        factory = bench.reranker_factory or build_reranker
        reranker, llm = factory(rcfg, ds)
        before = llm.summary() if hasattr(llm, "summary") else {}
        try:
            result = rerank_run(reranker, ds.queries, first, documents, top_k=rcfg.top_k,
                                excluded_ids=ds.excluded_ids or None, pairs_per_call=rcfg.pairs_per_call)
            after = llm.summary() if hasattr(llm, "summary") else {}
        finally:
            if bench.reranker_factory is None and llm is not None:
                llm.close()
        calls = int(after.get("calls", 0)) - int(before.get("calls", 0))
        hits = int(after.get("cache_hits", 0)) - int(before.get("cache_hits", 0))
        bench.counters["llm_calls"] += calls
        bench.counters["llm_cache_hits"] += hits
        final = combine_scores(result.reranker_scores(), result.candidates, rcfg.combine, rcfg.weight,
                               rcfg.failure_score)
        run: Run = {}
        for qid, docs in first.items():
            head = final.get(qid, {})
            floor = min(head.values(), default=0.0)
            tail = [d for d, _ in top_k(docs, 0) if d not in head]
            run[qid] = {**head, **{d: floor - 1.0 - i for i, d in enumerate(tail)}}
        prompt = reranker.prompt("{query}", "{document}") if hasattr(reranker, "prompt") else None
        grades = reranker.counters.to_dict() if hasattr(reranker, "counters") else {}
        return run, {"rerank": {"config": to_dict(rcfg), **preset_provenance(rcfg), "reranker": reranker.name,
                                "prompt_sha256": None if prompt is None else stable_hash(
                                    json.loads(json.dumps(prompt, default=str))),
                                "grades": grades, "llm_calls": calls, "llm_cache_hits": hits}}

    # ---------------------------------------------------------------------------------------------- outputs
    def write(self, path: Path, manifest: Path, run: Run, s: Setting, key: str, extra: dict[str, Any],
              bench: Any) -> None:
        """Write the run, then its manifest (both atomic; the manifest marks the pair finished)."""
        cfg = self.cfg
        path.parent.mkdir(parents=True, exist_ok=True)
        write_run(path, run, tag="reasonir-bright")
        ds = self.variant(s.queries)
        write_json(manifest, {
            "key": key, "task": self.task, "setting": s.label, "queries": s.queries, "retriever": s.retriever,
            "rerank": s.rerank, "versions": package_versions(),
            "options": {"top_k": cfg.top_k, "k1": cfg.k1, "b": cfg.b, "dtype": cfg.dtype, "device": cfg.device,
                        "max_length": cfg.max_length, "batch_size": cfg.batch_size,
                        "long_documents": cfg.long_documents, "hybrid_weights": bench.weights},
            "data": self.data_identity(), "query_variant": ds.metadata.get("query_variant"),
            "num_queries": len(ds.queries), "seed": cfg.seed, **preset_provenance(cfg), **extra})

    def close(self) -> None:
        """Drop the task's documents, indexes and vectors (the encoders stay loaded for the next task)."""
        self._full, self._bm25, self._dense = None, None, {}
