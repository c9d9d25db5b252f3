"""Resumable LLM generation: a JSONL checkpoint of finished generations, keyed by prompt.

Each finished batch is appended to ``<dir>/generations.<stage>.jsonl`` (one line per question:
question id, the key = sha256 of LLM name + sampling parameters + prompt, token counts, finish
reason and the output). A rerun with the same inputs reuses every line whose key still matches and
generates only the rest, so an interrupted evaluation continues where it stopped and a changed prompt,
model or parameter is regenerated rather than reused.

For sensitive benchmarks (GPQA) the output text is not stored — only its sha256 — because a chain of
thought may quote the question or the options; an :class:`Annotator` (the answer-letter extraction)
stores what the scoring needs instead, with its version, so a resumed run scores reused items
without their text. A line whose annotation version differs, or a stage that needs the text (a chain
of thought reused as a retrieval query), regenerates those items (a response cache makes that cheap).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._logging import progress
from ..io import atomic_write
from ..llm.base import LLM, Generation, GenerationParams, Prompt

logger = logging.getLogger(__name__)


@dataclass
class StoredGeneration:
    """A generation as kept by the checkpoint (``text`` is ``None`` when it was not stored)."""

    key: str
    text: str | None
    text_sha256: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    cached: bool = False
    annotation: dict[str, Any] | None = None


@dataclass(frozen=True)
class Annotator:
    """Derived fields stored with each checkpoint line: ``fn(question id, output text) -> dict``.

    ``version`` is stored too; a line without text is reused only when its version matches.
    """

    version: str
    fn: Callable[[str, str], dict[str, Any]]

    def __call__(self, qid: str, text: str) -> dict[str, Any]:
        return {**self.fn(qid, text), "version": self.version}


def generation_key(llm_name: str, params: GenerationParams, prompt: Prompt) -> str:
    """sha256 over everything that changes a generation: model, sampling parameters, prompt."""
    blob = json.dumps({"llm": llm_name, "params": params.to_dict(), "prompt": prompt},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _stored(key: str, gen: Generation, keep_text: bool,
            annotation: dict[str, Any] | None = None) -> StoredGeneration:
    return StoredGeneration(key=key, text=gen.text if keep_text else None,
                            text_sha256=hashlib.sha256(gen.text.encode("utf-8")).hexdigest(),
                            prompt_tokens=int(gen.prompt_tokens or 0),
                            completion_tokens=int(gen.completion_tokens or 0),
                            finish_reason=gen.finish_reason, cached=bool(gen.cached), annotation=annotation)


def _load(path: Path) -> dict[str, dict[str, Any]]:
    """Rows of a checkpoint by question id; torn lines (a crash mid-write) are dropped and the file
    is rewritten without them so later appends start on a clean line."""
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    bad = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                row = json.loads(line)
                done[str(row["id"])] = row
            except (json.JSONDecodeError, KeyError, TypeError):
                bad += line.strip() != ""
    if bad:
        logger.warning("%s: dropped %d unreadable checkpoint line(s); they will be regenerated", path, bad)
        with atomic_write(path) as fh:
            for row in done.values():
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return done


def generate_resumable(llm: LLM, ids: Sequence[str], prompts: Sequence[Prompt], params: GenerationParams,
                       *, checkpoint: str | os.PathLike | None = None, keep_text: bool = True,
                       need_text: bool = False, batch_size: int = 8, annotate: Annotator | None = None,
                       desc: str = "generating") -> dict[str, StoredGeneration]:
    """Generate one output per prompt in batches, reusing and extending a JSONL checkpoint.

    Args:
        llm: the backend.
        ids: question ids, aligned with ``prompts``.
        prompts: chat or string prompts.
        params: sampling parameters.
        checkpoint: the JSONL file (``None``: no checkpoint).
        keep_text: store output texts in the checkpoint (``False`` for sensitive benchmarks).
        need_text: the caller needs texts: checkpoint lines without one are regenerated.
        batch_size: prompts per ``llm.generate`` call (and per checkpoint flush).
        annotate: derived fields stored with every line (and returned as ``annotation``); lines
            stored without text are reused only when their annotation has this version.
        desc: progress-bar label.

    Returns:
        ``{question id: StoredGeneration}`` with ``text`` filled for every item generated now.
    """
    if len(ids) != len(prompts):
        raise ValueError(f"{len(ids)} ids but {len(prompts)} prompts")
    keys = [generation_key(llm.name, params, p) for p in prompts]
    path = Path(checkpoint) if checkpoint is not None else None
    previous = _load(path) if path is not None else {}
    out: dict[str, StoredGeneration] = {}
    todo = []
    for i, (qid, key) in enumerate(zip(ids, keys)):
        row = previous.get(qid)
        usable = row is not None and row.get("key") == key and (
            row.get("text") is not None
            or (not need_text and (annotate is None
                                   or (row.get("annotation") or {}).get("version") == annotate.version)))
        if row is not None and usable:
            stored: dict[str, Any] = {f: row.get(f) for f in StoredGeneration.__dataclass_fields__}
            out[qid] = StoredGeneration(**stored)
        else:
            todo.append(i)
    if out:
        logger.info("%s: %d of %d generations reused from %s", desc, len(out), len(ids), path)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    batch_size = max(1, int(batch_size))
    with progress(total=len(todo), desc=desc, unit="q") as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start: start + batch_size]
            gens = llm.generate([prompts[i] for i in chunk], params)
            if len(gens) != len(chunk):
                raise RuntimeError(f"{llm.name} returned {len(gens)} generations for {len(chunk)} prompts")
            lines = []
            for i, gen in zip(chunk, gens):
                note = annotate(ids[i], gen.text) if annotate is not None else None
                out[ids[i]] = _stored(keys[i], gen, keep_text=True, annotation=note)
                record = _stored(keys[i], gen, keep_text, annotation=note)
                lines.append(json.dumps({"id": ids[i], **record.__dict__}, ensure_ascii=False))
            if path is not None:
                with open(path, "a", encoding="utf-8") as fh:
                    fh.write("\n".join(lines) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            bar.update(len(chunk))
    return out
