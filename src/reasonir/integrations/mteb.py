"""Run reasonir encoders in MTEB, and build MTEB retrieval tasks from local BEIR folders (no Hub).

:class:`ReasonIRMTEBEncoder` implements MTEB's encoder protocol (``mteb.models.AbsEncoder``): MTEB
asks for query or document embeddings of a task, and the adapter answers with the wrapped
encoder's ``encode_query`` / ``encode_document`` and the instruction chosen for that task and side:

1. from ``prompts``, keys tried in MTEB's order: ``"{task}-{side}"``, ``"{task}"``,
   ``"{task type}-{side}"``, ``"{task type}"``, ``"{side}"`` (side: ``query`` or ``document``);
2. else, with ``use_task_prompts``, the task's own prompt (``TaskMetadata.prompt``: its ``query`` /
   ``document`` entry, or a plain string, which applies to queries only);
3. else no instruction (the encoder's own default prompt for that side).

Vectors are L2-normalised, so the similarity is the dot product (= cosine), as in reasonir's search.

:func:`local_retrieval_task` turns a reasonir :class:`~reasonir.data.Dataset` or a BEIR folder into an
``AbsTaskRetrieval`` that MTEB evaluates like any other (nDCG@10 as main score), optionally cut to a
few queries and documents for quick checks.

Examples:
    >>> import mteb  # doctest: +SKIP
    >>> from reasonir.integrations.mteb import ReasonIRMTEBEncoder, local_retrieval_task  # doctest: +SKIP
    >>> task = local_retrieval_task("data/scifact", name="SciFactLocal")  # doctest: +SKIP
    >>> result = mteb.evaluate(ReasonIRMTEBEncoder("minilm", dtype="fp32"), task, cache=None)  # doctest: +SKIP
    >>> result.task_results[0].get_score()  # doctest: +SKIP

Needs ``pip install 'reasonir[mteb]'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..data import Dataset, load_beir
from ..encode.base import Encoder
from ..errors import ConfigError, require

require("mteb", "mteb")

from mteb.abstasks.retrieval import AbsTaskRetrieval  # noqa: E402
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData  # noqa: E402
from mteb.abstasks.task_metadata import TaskMetadata  # noqa: E402
from mteb.models import ModelMeta  # noqa: E402
from mteb.models.abs_encoder import AbsEncoder  # noqa: E402
from mteb.models.model_meta import ScoringFunction  # noqa: E402
from mteb.types import PromptType  # noqa: E402

if TYPE_CHECKING:
    from mteb.types import Array, BatchedInput, EncodeKwargs
    from torch.utils.data import DataLoader
    from typing_extensions import Unpack

logger = logging.getLogger(__name__)

__all__ = ["ReasonIRMTEBEncoder", "local_retrieval_task"]


def _encoder_name(encoder: Encoder) -> str:
    fp = encoder.fingerprint() if hasattr(encoder, "fingerprint") else {}
    name = str(fp.get("model") or fp.get("name") or type(encoder).__name__)
    return name if "/" in name else f"reasonir/{name}"


class ReasonIRMTEBEncoder(AbsEncoder):
    """An MTEB encoder over any reasonir :class:`~reasonir.encode.base.Encoder`.

    Args:
        encoder: an encoder object, or a name/path for :func:`reasonir.encode.load_encoder`
            (``minilm``, ``smollm2``, ``hash``, a folder, a Hub id).
        revision: model revision, when ``encoder`` is a name (MTEB's loader passes it).
        device: where a named encoder runs (``auto``, ``cpu``, ``cuda``, ...).
        prompts: instructions by MTEB key (see the module docstring), e.g.
            ``{"SciFact-query": "Given a claim, retrieve evidence", "query": "Retrieve relevant text"}``.
        use_task_prompts: use the task's own prompt when ``prompts`` has none for it.
        batch_size: texts per forward pass; default: the ``batch_size`` MTEB passes in ``encode_kwargs``.
        **load_kwargs: further options of ``load_encoder`` (``dtype``, ``max_length``, ...).

    Raises:
        ConfigError: ``prompts`` is not a mapping of strings.
    """

    def __init__(self, encoder: Encoder | str | os.PathLike[str], revision: str | None = None, *,
                 device: str | None = "auto", prompts: Mapping[str, str] | None = None,
                 use_task_prompts: bool = True, batch_size: int | None = None, **load_kwargs: Any):
        if isinstance(encoder, str | os.PathLike):
            from ..encode.loading import load_encoder

            if revision is not None:
                load_kwargs["revision"] = revision
            encoder = load_encoder(os.fspath(encoder), device=device or "auto", **load_kwargs)
        if prompts is not None and (not isinstance(prompts, Mapping)
                                    or not all(isinstance(k, str) and isinstance(v, str)
                                               for k, v in prompts.items())):
            raise ConfigError("prompts must map MTEB keys ('TaskName-query', 'Retrieval', 'query', ...) to "
                              f"instruction strings, got {prompts!r}")
        self.model = encoder
        self.prompts = dict(prompts or {})
        self.use_task_prompts = use_task_prompts
        self.batch_size = batch_size
        self.name = _encoder_name(encoder)
        self.mteb_model_meta = ModelMeta.create_empty({
            "name": self.name, "revision": revision, "embed_dim": int(encoder.dim),
            "similarity_fn_name": ScoringFunction.DOT_PRODUCT, "use_instructions": bool(prompts) or use_task_prompts,
        })

    def __repr__(self) -> str:
        return f"ReasonIRMTEBEncoder({self.name!r}, prompts={len(self.prompts)}, " \
               f"use_task_prompts={self.use_task_prompts})"

    def instruction_for(self, task_metadata: TaskMetadata, prompt_type: PromptType | None) -> str | None:
        """The instruction for one side of a task (see the module docstring for the order)."""
        side = prompt_type.value if prompt_type is not None else None
        keys = [task_metadata.name, task_metadata.type]
        candidates = ([f"{k}-{side}" for k in keys[:1]] + keys[:1] + [f"{k}-{side}" for k in keys[1:]] + keys[1:]
                      + [side]) if side else keys
        for key in candidates:
            if key and key in self.prompts:
                return self.prompts[key]
        if not self.use_task_prompts:
            return None
        own = task_metadata.prompt
        if isinstance(own, Mapping):
            value = own.get(side) if side else None
            return value if isinstance(value, str) and value else None
        if isinstance(own, str) and own and side != PromptType.document.value:
            return own
        return None

    def encode(self, inputs: DataLoader[BatchedInput], *, task_metadata: TaskMetadata, hf_split: str,
               hf_subset: str, prompt_type: PromptType | None = None, **kwargs: Unpack[EncodeKwargs]) -> Array:
        """Embed every text of ``inputs`` as queries or documents of ``task_metadata``'s task.

        Returns:
            ``[n, d]`` float32, L2-normalised, in the order of ``inputs``.
        """
        texts: list[str] = []
        for batch in inputs:
            texts.extend(str(t) for t in batch["text"])
        if not texts:
            return np.zeros((0, int(self.model.dim)), dtype=np.float32)
        instruction = self.instruction_for(task_metadata, prompt_type)
        batch_size = self.batch_size or kwargs.get("batch_size")
        logger.info("MTEB %s/%s/%s: %d %s texts, instruction %r", task_metadata.name, hf_subset, hf_split,
                    len(texts), prompt_type.value if prompt_type else "plain", instruction)
        if prompt_type == PromptType.document:
            out = self.model.encode_document(texts, instruction=instruction, batch_size=batch_size)
        else:
            out = self.model.encode_query(texts, instruction=instruction, batch_size=batch_size)
        return np.asarray(out, dtype=np.float32)                                             # [n, d]


def _subset(data: Dataset, max_queries: int | None, max_documents: int | None) -> Dataset:
    """The first ``max_queries`` judged queries, their judged documents, then corpus order up to ``max_documents``."""
    corpus = data.require_corpus()
    qids = [q for q in data.queries if q in data.qrels][:max_queries] if max_queries else list(data.queries)
    keep: dict[str, None] = {}
    if max_documents:
        for q in qids:
            for d in data.qrels.get(q, {}):
                keep[d] = None
        for doc in corpus:
            if len(keep) >= max_documents:
                break
            keep[doc.id] = None
    docs = [d for d in corpus if d.id in keep] if max_documents else corpus
    have = {d.id for d in docs}
    qrels = {q: {d: g for d, g in data.qrels.get(q, {}).items() if d in have} for q in qids}
    qrels = {q: docs_ for q, docs_ in qrels.items() if any(g > 0 for g in docs_.values())}
    return Dataset(name=data.name, queries={q: data.queries[q] for q in qrels}, qrels=qrels, corpus=docs,
                   metadata=dict(data.metadata))


def local_retrieval_task(data: Dataset | str | os.PathLike[str], *, split: str = "test", name: str | None = None,
                         prompt: str | Mapping[str, str] | None = None, max_queries: int | None = None,
                         max_documents: int | None = None, description: str | None = None) -> AbsTaskRetrieval:
    """An MTEB retrieval task holding a local collection (nothing is fetched from the Hub).

    Args:
        data: a reasonir :class:`~reasonir.data.Dataset` with its corpus, or a BEIR folder
            (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
        split: the qrels split (MTEB's eval split has the same name).
        name: the task name MTEB reports (default: ``"{dataset name}Local"``).
        prompt: the task's prompt, as in ``TaskMetadata.prompt`` (``{"query": ...}`` or a string).
        max_queries: keep only the first judged queries (quick checks).
        max_documents: keep the kept queries' judged documents, then corpus order up to this many.
        description: the task description (default: names the source).

    Returns:
        An ``AbsTaskRetrieval`` with data loaded, main score ``ndcg_at_10``.

    Raises:
        ConfigError: an empty collection (after cutting), or a bad cut size.
        FileNotFoundError / DataFormatError: from reading a BEIR folder.
    """
    for label, value in (("max_queries", max_queries), ("max_documents", max_documents)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise ConfigError(f"{label} must be a positive integer or None, got {value!r}")
    dataset = data if isinstance(data, Dataset) else load_beir(data, split=split)
    if max_queries or max_documents:
        dataset = _subset(dataset, max_queries, max_documents)
    corpus = dataset.require_corpus()
    if not corpus or not dataset.queries:
        raise ConfigError(f"dataset {dataset.name} has {len(corpus)} documents and {len(dataset.queries)} judged "
                          "queries: an MTEB task needs both")
    if dataset.excluded_ids:
        logger.warning("dataset %s excludes documents per query (BRIGHT's excluded_ids); MTEB has no such rule, so "
                       "its scores will differ from reasonir's evaluation of the same run", dataset.name)
    task_name = name or f"{dataset.name.replace('/', '_')}Local"
    metadata = TaskMetadata(
        name=task_name, description=description or f"{dataset.name} ({split}) read locally by reasonir",
        dataset={"path": str(dataset.metadata.get("path", dataset.name)), "revision": "local"},
        type="Retrieval", category="t2t", modalities=["text"], eval_splits=[split], eval_langs=["eng-Latn"],
        main_score="ndcg_at_10", prompt=cast(Any, dict(prompt) if isinstance(prompt, Mapping) else prompt),
        reference=None, date=None, domains=None, task_subtypes=None, license=None, annotations_creators=None,
        dialect=None, sample_creation=None, bibtex_citation="")
    split_data = _split_data(dataset)
    # MTEB reads ``metadata`` from the class (unloading a task drops instance metadata): one class per task
    task_class = type(f"Local_{task_name}", (_LocalRetrievalTask,), {"metadata": metadata})
    task = task_class({"default": {split: split_data}})
    logger.info("MTEB task %s: %d documents, %d queries", task_name, len(corpus), len(dataset.queries))
    return task


def _split_data(dataset: Dataset) -> RetrievalSplitData:
    datasets = require("datasets", "mteb")
    corpus = dataset.require_corpus()
    return RetrievalSplitData(
        corpus=datasets.Dataset.from_dict({"id": [d.id for d in corpus], "title": [d.title for d in corpus],
                                           "text": [d.text for d in corpus]}),
        queries=datasets.Dataset.from_dict({"id": list(dataset.queries), "text": list(dataset.queries.values())}),
        relevant_docs={q: {d: int(g) for d, g in docs.items()} for q, docs in dataset.qrels.items()},
        top_ranked=None,
    )


class _LocalRetrievalTask(AbsTaskRetrieval):
    """A retrieval task whose data is given at construction (see :func:`local_retrieval_task`)."""

    def __init__(self, data: dict[str, dict[str, RetrievalSplitData]], **kwargs: Any):
        super().__init__(**kwargs)
        self._local_data = data

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """Use the data given at construction."""
        if self.data_loaded:
            return
        self.dataset = {subset: dict(splits) for subset, splits in self._local_data.items()}
        self.data_loaded = True
