"""Multiple-choice questions as one type, MMLU's subject groups, selection and option shuffling.

Both benchmarks load into :class:`MCQuestion`. ``subject`` is the finest label (an MMLU subject, a
GPQA subdomain) and ``group`` the coarse one (an MMLU group — humanities, other, social_sciences,
stem — or a GPQA high-level domain). ``sensitive`` marks questions whose text must never be written
out in plain text (GPQA): writers store :func:`text_sha256` digests instead.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import ConfigError

LETTERS = "ABCDEFGHIJ"

#: MMLU subject -> group (the groups of the lm-evaluation-harness ``mmlu`` task)
MMLU_GROUPS: dict[str, tuple[str, ...]] = {
    "humanities": (
        "formal_logic", "high_school_european_history", "high_school_us_history",
        "high_school_world_history", "international_law", "jurisprudence", "logical_fallacies",
        "moral_disputes", "moral_scenarios", "philosophy", "prehistory", "professional_law",
        "world_religions"),
    "other": (
        "business_ethics", "clinical_knowledge", "college_medicine", "global_facts", "human_aging",
        "management", "marketing", "medical_genetics", "miscellaneous", "nutrition",
        "professional_accounting", "professional_medicine", "virology"),
    "social_sciences": (
        "econometrics", "high_school_geography", "high_school_government_and_politics",
        "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
        "human_sexuality", "professional_psychology", "public_relations", "security_studies",
        "sociology", "us_foreign_policy"),
    "stem": (
        "abstract_algebra", "anatomy", "astronomy", "college_biology", "college_chemistry",
        "college_computer_science", "college_mathematics", "college_physics", "computer_security",
        "conceptual_physics", "electrical_engineering", "elementary_mathematics", "high_school_biology",
        "high_school_chemistry", "high_school_computer_science", "high_school_mathematics",
        "high_school_physics", "high_school_statistics", "machine_learning"),
}
MMLU_SUBJECT_GROUP: dict[str, str] = {s: g for g, subjects in MMLU_GROUPS.items() for s in subjects}
MMLU_SUBJECTS: tuple[str, ...] = tuple(sorted(MMLU_SUBJECT_GROUP))


@dataclass(frozen=True)
class MCQuestion:
    """One multiple-choice question.

    Attributes:
        id: unique id (MMLU ``subject/split/row``; GPQA ``Record ID``).
        question: the question text.
        options: option texts in the order shown to the model.
        answer: index of the correct option in ``options``.
        subject: fine label (MMLU subject, GPQA subdomain).
        group: coarse label (MMLU group, GPQA high-level domain).
        benchmark: ``"mmlu"`` or ``"gpqa"``.
        sensitive: never write the text out in plain text.
        metadata: extra provenance (e.g. ``option_order`` after shuffling).
    """

    id: str
    question: str
    options: tuple[str, ...]
    answer: int
    subject: str
    group: str
    benchmark: str
    sensitive: bool = False
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def letters(self) -> str:
        """The valid answer letters, ``"ABCD"`` for four options."""
        return LETTERS[: len(self.options)]

    @property
    def gold(self) -> str:
        """The letter of the correct option."""
        return LETTERS[self.answer]

    def digest(self) -> str:
        """sha256 of the question and its options in shown order (identifies the exact item shown)."""
        return text_sha256("\x1f".join((self.question, *self.options)))


def text_sha256(text: str) -> str:
    """Hex sha256 of a UTF-8 string (what the result files keep instead of sensitive text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def item_seed(seed: int, *parts: str) -> int:
    """A 64-bit seed derived from ``seed`` and string parts: per-item randomness that does not
    depend on the order or the subset of items processed."""
    h = hashlib.sha256(("\x1f".join((str(seed), *parts))).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "little")


def shuffle_options(q: MCQuestion, seed: int) -> MCQuestion:
    """Return ``q`` with its options permuted by a seed-and-id-derived permutation.

    ``metadata["option_order"]`` lists, for each shown position, the index of the option in the
    input order, so the original order can be recovered from the result files without any text.
    """
    order = np.random.default_rng(item_seed(seed, "options", q.id)).permutation(len(q.options))
    options = tuple(q.options[i] for i in order)
    answer = int(np.flatnonzero(order == q.answer)[0])
    return replace(q, options=options, answer=answer,
                   metadata={**q.metadata, "option_order": [int(i) for i in order]})


def select_questions(questions: Sequence[MCQuestion], subjects: Iterable[str] | None = None,
                     limit: int | None = None, limit_per_subject: int | None = None,
                     known: Iterable[str] | None = None) -> list[MCQuestion]:
    """Filter by subject/group names, then cap per subject and overall (input order kept).

    Args:
        questions: loaded questions.
        subjects: names matched (case-insensitively, ``-``/space = ``_``) against each question's
            ``subject`` and ``group``; ``None`` keeps all.
        limit: keep at most this many questions in total.
        limit_per_subject: keep at most this many per ``subject``.
        known: extra valid names reported in the error message.

    Raises:
        ConfigError: a requested name matches no question, listing the available names.
    """
    out = list(questions)
    if subjects:
        def norm(s: str) -> str:
            return s.strip().lower().replace("-", "_").replace(" ", "_")

        wanted = {norm(s) for s in subjects if s.strip()}
        available = {norm(q.subject) for q in out} | {norm(q.group) for q in out}
        unknown = sorted(wanted - available)
        if unknown:
            names = sorted(available | {norm(k) for k in (known or ())})
            raise ConfigError(f"--subjects: unknown subject/group {', '.join(unknown)}; "
                              f"available: {', '.join(names)}")
        out = [q for q in out if norm(q.subject) in wanted or norm(q.group) in wanted]
    if limit_per_subject is not None:
        if limit_per_subject < 1:
            raise ConfigError(f"--limit-per-subject must be >= 1, got {limit_per_subject}")
        seen: Counter[str] = Counter()
        kept = []
        for q in out:
            if seen[q.subject] < limit_per_subject:
                seen[q.subject] += 1
                kept.append(q)
        out = kept
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {limit}")
        out = out[:limit]
    return out


def check_unique_ids(questions: Sequence[MCQuestion], origin: str) -> None:
    """Raise :class:`~reasonir.errors.DataFormatError` when two questions share an id."""
    from ..errors import DataFormatError

    dup = [i for i, c in Counter(q.id for q in questions).items() if c > 1]
    if dup:
        raise DataFormatError(f"duplicate question id(s) {', '.join(sorted(dup)[:5])}", origin)
