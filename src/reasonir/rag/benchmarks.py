"""Loaders for MMLU and GPQA, from local release files or from the Hugging Face Hub.

MMLU:

* local: the original CSV release — a ``.zip`` or a folder holding ``data/{dev,val,test}/`` (or
  ``{dev,val,test}/`` directly) with ``<subject>_<split>.csv`` files, no header, columns
  ``question, A, B, C, D, answer``;
* Hub: ``cais/mmlu`` (config ``all`` or one subject; columns ``question, subject, choices, answer``).

GPQA (diamond / main / extended / experts):

* local: the authors' password-protected zip (or any zip / folder / ``.csv`` holding
  ``gpqa_<subset>.csv``), read in memory — the questions are never written out;
* Hub: ``Idavidrein/gpqa`` (gated; configs ``gpqa_diamond``, ``gpqa_main``, ...).

GPQA options are stored correct-first, so every GPQA question is shuffled with a seeded, per-question
permutation (:func:`~reasonir.rag.questions.shuffle_options`). Error messages never quote GPQA text.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataFormatError, require
from .questions import MMLU_SUBJECT_GROUP, MCQuestion, check_unique_ids, shuffle_options

logger = logging.getLogger(__name__)

MMLU_HUB_ID = "cais/mmlu"
GPQA_HUB_ID = "Idavidrein/gpqa"
GPQA_PASSWORD = b"deserted-untie-orchid"
GPQA_SUBSETS = ("diamond", "main", "extended", "experts")
MMLU_SPLITS = {"test": "test", "val": "val", "validation": "val", "dev": "dev"}
_HUB_MMLU_SPLIT = {"test": "test", "val": "validation", "dev": "dev"}
_MMLU_MEMBER = re.compile(r"(?:^|/)(dev|val|test)/([a-z_]+)_(dev|val|test)\.csv$")
GPQA_REQUIRED = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                 "Incorrect Answer 3", "Record ID")


# --------------------------------------------------------------------------------------------------
# MMLU
# --------------------------------------------------------------------------------------------------
def _mmlu_split(split: str) -> str:
    if split not in MMLU_SPLITS:
        raise ConfigError(f"unknown MMLU split {split!r}; choose one of test, val, dev")
    return MMLU_SPLITS[split]


def _mmlu_files(path: Path, split: str) -> Iterator[tuple[str, str, bytes]]:
    """Yield ``(subject, member name, bytes)`` of every ``<subject>_<split>.csv`` under ``path``."""
    if path.is_file():
        try:
            zf = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise DataFormatError("not a zip file; pass the MMLU zip or its unpacked folder", path) from None
        with zf:
            for name in sorted(zf.namelist()):
                m = _MMLU_MEMBER.search(name)
                if m and m.group(1) == split and m.group(3) == split:
                    yield m.group(2), f"{path}!{name}", zf.read(name)
        return
    for base in (path / "data" / split, path / split):
        if base.is_dir():
            for file in sorted(base.glob(f"*_{split}.csv")):
                yield file.name[: -len(f"_{split}.csv")], str(file), file.read_bytes()
            return
    raise FileNotFoundError(f"{path}: no data/{split}/ or {split}/ folder of MMLU CSV files")


def parse_mmlu_csv(data: bytes, subject: str, split: str, origin: str) -> list[MCQuestion]:
    """Parse one headerless MMLU CSV (``question,A,B,C,D,answer``) into questions.

    Raises:
        DataFormatError: wrong column count or an answer outside A-D, naming the file and line.
    """
    questions: list[MCQuestion] = []
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    group = MMLU_SUBJECT_GROUP.get(subject, "other")
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 6:
            raise DataFormatError(f"expected 6 columns (question,A,B,C,D,answer), got {len(row)}",
                                  origin, reader.line_num)
        answer = row[5].strip().upper()
        if answer not in ("A", "B", "C", "D"):
            raise DataFormatError(f"answer column must be one of A-D, got {row[5]!r}", origin, reader.line_num)
        questions.append(MCQuestion(
            id=f"{subject}/{split}/{len(questions)}", question=row[0], options=tuple(row[1:5]),
            answer="ABCD".index(answer), subject=subject, group=group, benchmark="mmlu"))
    return questions


def load_mmlu(path: str | os.PathLike | None = None, split: str = "test",
              subjects: Iterable[str] | None = None, *, revision: str | None = None,
              cache_dir: str | None = None) -> list[MCQuestion]:
    """Load MMLU questions of one split, subjects in alphabetical order.

    Args:
        path: the CSV release (zip or folder); ``None`` loads ``cais/mmlu`` from the Hub.
        split: ``test``, ``val`` (``validation``) or ``dev``.
        subjects: read only these subjects (``None``: all). Groups are resolved by the caller.
        revision, cache_dir: Hub dataset revision and ``datasets`` cache.

    Raises:
        FileNotFoundError, DataFormatError: unreadable local files.
        ConfigError: an unknown split or subject.
    """
    split = _mmlu_split(split)
    wanted = set(subjects) if subjects else None
    if wanted:
        bad = sorted(wanted - set(MMLU_SUBJECT_GROUP))
        if bad:
            valid = ", ".join(sorted(MMLU_SUBJECT_GROUP))
            raise ConfigError(f"unknown MMLU subject(s) {', '.join(bad)}; valid: {valid}")
    if path is None:
        return _load_mmlu_hub(split, wanted, revision, cache_dir)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: MMLU data not found (pass the mmlu.zip release or its folder)")
    out: list[MCQuestion] = []
    for subject, origin, data in _mmlu_files(path, split):
        if wanted is None or subject in wanted:
            out.extend(parse_mmlu_csv(data, subject, split, origin))
    if not out:
        raise DataFormatError(f"no MMLU questions found for split {split!r}"
                              + (f" and subjects {sorted(wanted)}" if wanted else ""), path)
    check_unique_ids(out, str(path))
    return out


def _load_mmlu_hub(split: str, wanted: set[str] | None, revision: str | None,
                   cache_dir: str | None) -> list[MCQuestion]:
    datasets = require("datasets", "hf")
    configs = sorted(wanted) if wanted else ["all"]
    out: list[MCQuestion] = []
    for config in configs:
        rows = datasets.load_dataset(MMLU_HUB_ID, config, split=_HUB_MMLU_SPLIT[split],
                                     revision=revision, cache_dir=cache_dir)
        out.extend(mmlu_from_rows(rows, split, f"{MMLU_HUB_ID}/{config}", default_subject=config))
    check_unique_ids(out, MMLU_HUB_ID)
    return out


def mmlu_from_rows(rows: Iterable[dict[str, Any]], split: str, origin: str,
                   default_subject: str = "all") -> list[MCQuestion]:
    """Questions from ``cais/mmlu`` rows (``question``, ``subject``, ``choices``, ``answer`` int)."""
    counts: dict[str, int] = {}
    out = []
    for i, row in enumerate(rows, start=1):
        missing = [k for k in ("question", "choices", "answer") if k not in row]
        if missing:
            raise DataFormatError(f"row lacks field(s) {', '.join(missing)}", origin, i)
        subject = row.get("subject") or default_subject
        choices, answer = list(row["choices"]), row["answer"]
        if isinstance(answer, str) and len(answer) == 1 and answer.upper() in "ABCDEFGHIJ":
            answer = "ABCDEFGHIJ".index(answer.upper())      # a letter instead of an index
        try:
            answer = int(answer)
        except (TypeError, ValueError):
            raise DataFormatError(f"answer {answer!r} is neither an index nor a letter", origin, i) from None
        if not 0 <= answer < len(choices):
            raise DataFormatError(f"answer index {answer} out of range for {len(choices)} choices", origin, i)
        n = counts.get(subject, 0)
        counts[subject] = n + 1
        out.append(MCQuestion(id=f"{subject}/{split}/{n}", question=row["question"], options=tuple(choices),
                              answer=answer, subject=subject,
                              group=MMLU_SUBJECT_GROUP.get(subject, "other"), benchmark="mmlu"))
    return out


# --------------------------------------------------------------------------------------------------
# GPQA
# --------------------------------------------------------------------------------------------------
def _gpqa_subset(subset: str) -> str:
    name = subset.removeprefix("gpqa_")
    if name not in GPQA_SUBSETS:
        raise ConfigError(f"unknown GPQA subset {subset!r}; choose one of {', '.join(GPQA_SUBSETS)}")
    return name


def _read_gpqa_csv_bytes(path: Path, subset: str, password: bytes) -> tuple[bytes, str]:
    target = f"gpqa_{subset}.csv"
    if path.suffix.lower() == ".csv":
        return path.read_bytes(), str(path)
    if path.is_dir():
        hits = sorted(path.rglob(target))
        if not hits:
            raise FileNotFoundError(f"{path}: no {target} inside")
        return hits[0].read_bytes(), str(hits[0])
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DataFormatError("not a zip or .csv file; pass the GPQA release zip", path) from None
    with zf:
        names = [n for n in zf.namelist() if n.rsplit("/", 1)[-1] == target]
        if not names:
            have = [n for n in zf.namelist() if n.endswith(".csv")]
            raise DataFormatError(f"no {target} in the zip (it holds: {', '.join(have) or 'no CSV'})", path)
        try:
            return zf.read(names[0], pwd=password), f"{path}!{names[0]}"
        except RuntimeError as exc:   # wrong or missing password
            raise DataFormatError(f"cannot decrypt {names[0]}: {exc}; pass the release password", path) from None


def gpqa_from_rows(rows: Iterable[dict[str, Any]], origin: str, seed: int) -> list[MCQuestion]:
    """Questions from GPQA CSV/Hub rows, options shuffled per question with ``seed``.

    Raises:
        DataFormatError: missing columns or empty fields (the message names the row, never its text).
    """
    out = []
    for i, row in enumerate(rows, start=1):
        missing = [k for k in GPQA_REQUIRED if not str(row.get(k) or "").strip()]
        if missing:
            raise DataFormatError(f"row {i} lacks field(s) {', '.join(missing)}", origin)
        options = tuple(str(row[k]).strip() for k in GPQA_REQUIRED[1:5])
        q = MCQuestion(id=str(row["Record ID"]).strip(), question=str(row["Question"]).strip(),
                       options=options, answer=0,
                       subject=str(row.get("Subdomain") or "unknown").strip(),
                       group=str(row.get("High-level domain") or "unknown").strip(),
                       benchmark="gpqa", sensitive=True)
        out.append(shuffle_options(q, seed))
    check_unique_ids(out, origin)
    return out


def load_gpqa(path: str | os.PathLike | None = None, subset: str = "diamond", seed: int = 0, *,
              password: bytes = GPQA_PASSWORD, revision: str | None = None,
              cache_dir: str | None = None) -> list[MCQuestion]:
    """Load a GPQA subset with seeded option shuffling.

    Args:
        path: the release zip (password-protected), a folder, or a ``gpqa_<subset>.csv``; ``None``
            loads ``Idavidrein/gpqa`` from the Hub (gated: log in with a token that has access).
        subset: ``diamond``, ``main``, ``extended`` or ``experts``.
        seed: option-shuffling seed (the permutation also depends on each question's Record ID).
        password: zip password (the authors' release password by default).
        revision, cache_dir: Hub dataset revision and ``datasets`` cache.
    """
    subset = _gpqa_subset(subset)
    if path is None:
        datasets = require("datasets", "hf")
        rows = datasets.load_dataset(GPQA_HUB_ID, f"gpqa_{subset}", split="train", revision=revision,
                                     cache_dir=cache_dir)
        return gpqa_from_rows(rows, f"{GPQA_HUB_ID}/gpqa_{subset}", seed)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: GPQA data not found (pass the release zip or gpqa_{subset}.csv)")
    data, origin = _read_gpqa_csv_bytes(path, subset, password)
    text = data.decode("utf-8-sig")
    return gpqa_from_rows(csv.DictReader(io.StringIO(text)), origin, seed)
