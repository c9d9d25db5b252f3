"""``reasonir demo``: the main job end to end on a corpus every Python installation carries.

The corpus is the Python language reference as shipped with the interpreter (``pydoc_data.topics``,
the text behind ``help("topic")``; © Python Software Foundation, PSF License), cut into passages of
about ``passage_words`` words along paragraph boundaries, each titled by its topic and section. The
demo builds (or reuses, or resumes) a hybrid index over it in the cache directory, then answers a
few reasoning-style questions — questions that describe a symptom rather than name the feature —
with hybrid search.
"""

from __future__ import annotations

import logging
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..embedded import cache_dir
from ..index import Index, IndexOptions, RunOptions, WriteReport, build_index, make_snippet
from ..io import write_corpus
from ..types import Document

logger = logging.getLogger(__name__)

DEMO_QUESTIONS = (
    "My function has a list as a default argument and every call seems to remember the items appended by "
    "earlier calls. Why does that happen, and what is the usual way to write it instead?",
    "Inside a function I read a module-level counter and then do counter += 1, and Python complains that a "
    "local variable is referenced before assignment although the global clearly exists. Which rule causes this?",
    "How can I guarantee that a file is closed and a lock released even when the code in between raises an "
    "exception, without writing try/finally around every use?",
    "After I defined __eq__ on my class its instances can no longer be put in a set or used as dictionary "
    "keys. What changed, and what should I add to the class?",
)

_HEADING_RULE = re.compile(r"^([*=\-^~+\"])\1{2,}\s*$")
_BLANK = re.compile(r"\n\s*\n")


@dataclass
class DemoConfig:
    """Options of ``reasonir demo``."""

    index: str | None = field(default=None, metadata={
        "aliases": ("index_dir",), "help": "where to keep the demo index (default: the reasonir cache directory)"})
    model: str = field(default="minilm", metadata={"help": "encoder (minilm, or hash for a model-free run)"})
    retriever: str = field(default="hybrid", metadata={
        "aliases": ("mode",), "help": "retrieval method", "choices": ("dense", "bm25", "hybrid")})
    top_k: int = field(default=3, metadata={"short": "-k", "aliases": ("k",), "help": "passages shown per question"})
    questions: list[str] = field(default_factory=list, metadata={"help": "your own questions (default: built-in)"})
    passage_words: int = field(default=160, metadata={"help": "target passage length in words"})
    overwrite: bool = field(default=False, metadata={
        "aliases": ("rebuild",), "help": "rebuild the demo index from scratch"})


@dataclass
class DemoOutcome:
    index_dir: str
    report: WriteReport
    answers: list[dict[str, Any]]


def python_docs_corpus(passage_words: int = 160) -> list[Document]:
    """Passages of the Python language reference shipped with this interpreter (``pydoc_data.topics``)."""
    from pydoc_data.topics import topics

    version = platform.python_version()
    docs: list[Document] = []
    seen: set[str] = set()
    for topic in sorted(topics):
        section, words = topic, 0
        parts: list[str] = []
        chunks: list[tuple[str, str]] = []
        for para in _BLANK.split(topics[topic]):
            lines = para.strip("\n").splitlines()
            if len(lines) >= 2 and _HEADING_RULE.match(lines[1]) and len(lines[0]) < 80:
                if parts:
                    chunks.append((section, "\n\n".join(parts)))
                    parts, words = [], 0
                section = lines[0].strip()
                lines = lines[2:]
            text = "\n".join(lines).strip()
            if not text:
                continue
            n = len(text.split())
            if parts and words + n > passage_words:
                chunks.append((section, "\n\n".join(parts)))
                parts, words = [], 0
            parts.append(text)
            words += n
        if parts:
            chunks.append((section, "\n\n".join(parts)))
        for i, (sec, text) in enumerate(chunks):
            if text in seen:   # several topics repeat whole sections (e.g. specialnames / customization)
                continue
            seen.add(text)
            title = topic if sec == topic else f"{sec} ({topic})"
            docs.append(Document(id=f"{topic}#{i}", title=title, text=text,
                                 metadata={"topic": topic, "part": i,
                                           "source": f"Python {version} language reference (pydoc_data.topics), "
                                                     "PSF License"}))
    return docs


def run_demo(cfg: DemoConfig) -> DemoOutcome:
    """Build (or reuse) the demo index and answer the questions."""
    version = platform.python_version()
    root = Path(cfg.index) if cfg.index else cache_dir() / f"demo-index-{cfg.model}-py{version}"
    corpus = root.parent / f"{root.name}.corpus.jsonl"
    docs = python_docs_corpus(cfg.passage_words)
    write_corpus(corpus, docs)   # same content -> same fingerprint, so an existing index is reused
    logger.info("demo corpus: %d passages of the Python %s reference -> %s", len(docs), version, root)
    report = build_index(str(corpus), str(root), IndexOptions(model=cfg.model, bm25=True, shard_size=512),
                         RunOptions(), overwrite=bool(cfg.overwrite))
    index = Index.open(root)
    try:
        questions = list(cfg.questions) or list(DEMO_QUESTIONS)
        hits = index.search(questions, k=cfg.top_k, mode=cfg.retriever)
        answers = []
        for question, hs in zip(questions, hits):
            passages = index.documents([h.row for h in hs])
            answers.append({"question": question, "results": [
                {"id": h.id, "title": d.title, "score": h.score, "snippet": make_snippet(d.text, question, 320)}
                for h, d in zip(hs, passages)]})
    finally:
        index.close()
    return DemoOutcome(index_dir=str(root), report=report, answers=answers)
