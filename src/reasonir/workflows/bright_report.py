"""The BRIGHT leaderboard of ``reasonir bright``: settings, published numbers, tables and the bar chart.

A *setting* is one column of the benchmark: which queries (``original``, a reasoning-query config such
as ``gpt4_reason``, or a rewritten-query file), which retriever (``bm25``, ``bm25q``, ``dense:MODEL``,
``hybrid:MODEL``) and, optionally, which LLM reranks its top documents. The published numbers the
leaderboard prints beside matching settings are data (``bright_published.yaml``, with their source).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..data import BRIGHT_TASKS
from ..errors import ConfigError
from ..fileio import atomic_write, write_json
from ..query_variants import BRIGHT_REASONING_VARIANTS, is_variant_file, variant_config

#: retriever kinds of ``--retriever``
RETRIEVER_KINDS = ("bm25", "bm25q", "dense", "hybrid")
SHORT_TASK = {"biology": "Bio.", "earth_science": "Earth", "economics": "Econ.", "psychology": "Psy.",
              "robotics": "Rob.", "stackoverflow": "Stack", "sustainable_living": "Sus.", "leetcode": "Leet.",
              "pony": "Pony", "aops": "AoPS", "theoremqa_questions": "TheoQ.", "theoremqa_theorems": "TheoT."}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def queries_label(queries: str) -> str:
    """``original``, the config name (``gpt4_reason``), or ``file-<stem>-<hash8>`` for a variant file."""
    if is_variant_file(queries):
        digest = hashlib.sha256(str(Path(queries).resolve()).encode()).hexdigest()[:8]
        return f"file-{_slug(Path(queries).name.split('.')[0])}-{digest}"
    return variant_config(queries) or "original"


@dataclass(frozen=True)
class Setting:
    """One benchmark setting; ``runs_dir`` set when it is scored from existing runs."""

    queries: str
    retriever: str
    rerank: str | None = None
    runs_dir: str | None = None

    @property
    def kind(self) -> str:
        return self.retriever.partition(":")[0]

    @property
    def model(self) -> str:
        return self.retriever.partition(":")[2]

    @property
    def label(self) -> str:
        text = f"{queries_label(self.queries)} / {self.retriever}"
        if self.rerank:
            text += f" + rerank {self.rerank}"
        if self.runs_dir:
            text += f" (runs: {Path(self.runs_dir).name})"
        return text

    @property
    def slug(self) -> str:
        """A folder name unique to the setting."""
        parts = [queries_label(self.queries), _slug(self.retriever.replace(":", "-").replace("/", "_"))]
        if self.rerank:
            parts.append("rerank-" + _slug(self.rerank.replace(":", "-").replace("/", "_")))
        return "__".join(parts)

    def base(self) -> Setting:
        """The first-stage setting a reranked setting reranks."""
        return Setting(self.queries, self.retriever)


def check_retriever(spec: str) -> str:
    """Validate one ``--retriever`` entry (``dense`` and ``hybrid`` need their model later)."""
    kind, _, model = spec.partition(":")
    if kind not in RETRIEVER_KINDS:
        raise ConfigError(f"unknown retriever {spec!r}; choose from bm25, bm25q, dense:MODEL, hybrid[:MODEL]")
    if kind in ("bm25", "bm25q") and model:
        raise ConfigError(f"retriever {spec!r}: {kind} takes no model")
    if kind == "dense" and not model:
        raise ConfigError("retriever 'dense' needs a model: dense:MODEL (minilm, smollm2, reasonir/ReasonIR-8B, ...)")
    return spec


def infer_from_name(name: str) -> tuple[str, str]:
    """``(queries, retriever)`` guessed from a run folder's name, e.g. ``reasonir-8b_gpt4-reasoning_top100``."""
    low = name.lower()
    queries = "original"
    for config in BRIGHT_REASONING_VARIANTS:
        stem = config.removesuffix("_reason").lower()
        if stem in low:
            queries = config
            break
    model = "reasonir" if "reasonir" in low else "unknown"
    if "hybrid" in low:
        return queries, f"hybrid:{model}"
    if "bm25" in low and "reasonir" not in low:
        return queries, "bm25q"
    return queries, f"dense:{model}"


# --------------------------------------------------------------------------------------------------
# published numbers
# --------------------------------------------------------------------------------------------------
def published_numbers() -> dict[str, Any]:
    """The published rows and their source (``bright_published.yaml``)."""
    text = resources.files(__package__).joinpath("bright_published.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def match_published(setting: Setting, table: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The published row for ``setting``, or ``None``."""
    table = table or published_numbers()
    label = queries_label(setting.queries)
    for row in table["rows"]:
        if row["queries"] != label or row["retriever"] != setting.kind:
            continue
        if row.get("model") and row["model"].lower() not in setting.model.lower():
            continue
        if bool(row.get("rerank")) != bool(setting.rerank):
            continue
        if row.get("rerank") and row["rerank"].lower() not in (setting.rerank or "").lower():
            continue
        return row
    return None


# --------------------------------------------------------------------------------------------------
# leaderboard
# --------------------------------------------------------------------------------------------------
def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def leaderboard(scores: dict[Setting, dict[str, dict[str, Any]]], tasks: list[str]) -> dict[str, Any]:
    """The leaderboard as data: per setting, per task nDCG@10 x100, the average, published values, deltas.

    Args:
        scores: ``{setting: {task: {"ndcg@10": float (0-1), "queries": int, ...}}}``.
        tasks: the tasks in table order.
    """
    table = published_numbers()
    rows = []
    for setting, per_task in scores.items():
        vals = {t: 100.0 * per_task[t]["ndcg@10"] for t in tasks if t in per_task}
        avg = sum(vals.values()) / len(vals) if vals else None
        pub = match_published(setting, table)
        pub_tasks = (pub or {}).get("tasks") or {}
        full = len(vals) == len(BRIGHT_TASKS)
        pub_avg = pub["average"] if pub and full else None
        rows.append({
            "setting": setting.label, "queries": queries_label(setting.queries), "retriever": setting.retriever,
            "rerank": setting.rerank, "runs_dir": setting.runs_dir,
            "tasks": {t: {"ndcg@10": round(v, 4), "queries": per_task[t].get("queries"), "paper": pub_tasks.get(t),
                          "delta": None if t not in pub_tasks else round(v - pub_tasks[t], 4)}
                      for t, v in vals.items()},
            "average": None if avg is None else round(avg, 4),
            "paper": {"name": pub["name"], "average": pub_avg,
                      "delta": None if pub_avg is None or avg is None else round(avg - pub_avg, 4)} if pub else None})
    return {"metric": "ndcg@10 x100 (excluded ids removed; queries without results count 0)",
            "tasks": tasks, "settings": rows, "published_source": table["source"].strip()}


def leaderboard_markdown(board: dict[str, Any]) -> str:
    """Markdown: a summary (settings x tasks) and, per setting, the task table beside the paper."""
    tasks = board["tasks"]
    lines = ["# BRIGHT nDCG@10 (x100)", "",
             "| setting | " + " | ".join(SHORT_TASK.get(t, t) for t in tasks) + " | avg | paper | Δ |",
             "|---|" + "---:|" * (len(tasks) + 3)]
    for row in board["settings"]:
        cells = [_fmt(row["tasks"][t]["ndcg@10"]) if t in row["tasks"] else "—" for t in tasks]
        pub = row["paper"] or {}
        lines.append(f"| {row['setting']} | " + " | ".join(cells) +
                     f" | {_fmt(row['average'])} | {_fmt(pub.get('average'))} | {_fmt(pub.get('delta'), True)} |")
    for row in board["settings"]:
        pub = row["paper"] or {}
        lines += ["", f"## {row['setting']}", ""]
        if pub:
            lines += [f"Published: {pub['name']}.", ""]
        lines += ["| task | queries | nDCG@10 | paper | Δ |", "|---|---:|---:|---:|---:|"]
        for t in tasks:
            cell = row["tasks"].get(t)
            if cell is None:
                continue
            lines.append(f"| {t} | {cell['queries'] or ''} | {_fmt(cell['ndcg@10'])} | {_fmt(cell['paper'])} | "
                         f"{_fmt(cell['delta'], True)} |")
        lines.append(f"| **average** | | **{_fmt(row['average'])}** | {_fmt(pub.get('average'))} | "
                     f"{_fmt(pub.get('delta'), True)} |")
    lines += ["", f"Published numbers: {board['published_source']}", ""]
    return "\n".join(lines)


def write_leaderboard(board: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``leaderboard.json`` and ``leaderboard.md`` under ``out`` (atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "leaderboard.json", board)
    with atomic_write(out / "leaderboard.md") as fh:
        fh.write(leaderboard_markdown(board))
    return out / "leaderboard.json", out / "leaderboard.md"


def write_chart(board: dict[str, Any], path: Path) -> Path:
    """A grouped bar chart (PNG): per task and the average, one bar per setting; paper values as black ticks."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = board["tasks"]
    groups = [SHORT_TASK.get(t, t) for t in tasks] + ["Avg."]
    rows = board["settings"]
    n = max(len(rows), 1)
    width = 0.8 / n
    x = np.arange(len(groups))                                                          # [groups]
    fig, ax = plt.subplots(figsize=(max(8.0, 1.0 * len(groups)), 5.2 + 0.25 * ((len(rows) + 1) // 2)))
    labelled = False
    for i, row in enumerate(rows):
        vals = [row["tasks"].get(t, {}).get("ndcg@10") for t in tasks] + [row["average"]]
        pub = [row["tasks"].get(t, {}).get("paper") for t in tasks] + [(row["paper"] or {}).get("average")]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, [v if v is not None else 0.0 for v in vals], width, label=row["setting"])
        marks = [(p, v) for p, v in zip(pos, pub) if v is not None]
        if marks:
            ax.scatter([p for p, _ in marks], [v for _, v in marks], marker="_", s=max(40.0, 600.0 * width),
                       color="black", linewidths=2, zorder=3, label=None if labelled else "paper")
            labelled = True
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylabel("nDCG@10 (x100)")
    ax.set_title("BRIGHT nDCG@10 per task")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path
