"""Reports of a RAG evaluation: ``report.json``, ``report.md`` and a bar chart (``accuracy.png``).

The report dict is ``{"meta": {...}, **summarize(rows)}``: ``meta`` says what ran (benchmark,
LLM, passage source, k, query mode, prompt version, seeds, wall time, token usage) and the rest is
recomputed from the result rows by :func:`reasonir.rag.stats.summarize`.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from ..errors import require

logger = logging.getLogger(__name__)

_LABELS = {"closed": "closed-book", "rag": "retrieval-augmented"}


def _pct(x: float | None) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _signed(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{100 * x:+.1f}"


def render_markdown(report: dict[str, Any]) -> str:
    """A human-readable Markdown rendering of a report dict."""
    meta, conds = report.get("meta", {}), report["conditions"]
    lines = [f"# RAG evaluation: {meta.get('benchmark', '?')}", ""]
    for key in ("llm", "source", "k", "query", "temperature", "top_p", "max_tokens", "preset", "prompt_version",
                "seed", "fallback", "fallback_seed", "n_questions", "wall_seconds"):
        if key in meta and meta[key] is not None:
            lines.append(f"- {key.replace('_', ' ')}: `{meta[key]}`")
    lines += ["", "## Accuracy (%)", "",
              "| condition | n | accuracy | with random fallback | parse failures | failure rate | hit max tokens |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for c, s in conds.items():
        lines.append(f"| {_LABELS.get(c, c)} | {s['n']} | {_pct(s['accuracy'])} | "
                     f"{_pct(s['accuracy_with_fallback'])} | {s['parse_failures']} | {_pct(s['parse_failure_rate'])} | "
                     f"{s.get('hit_max_tokens', 0)} |")
    diff = report.get("difference")
    if diff:
        b = diff["strict"]
        lines += ["", "## Retrieval minus closed-book (percentage points)", "",
                  f"Paired bootstrap over questions, {b['samples']} resamples, seed {b['seed']}, "
                  f"{100 * b['confidence']:.0f}% percentile interval.", "",
                  "| scoring | delta | interval | relative | share of resamples <= 0 |", "|---|---:|---|---:|---:|"]
        for name, d in diff.items():
            lines.append(f"| {name.replace('_', ' ')} | {_signed(d['delta'])} | "
                         f"[{_signed(d['ci_low'])}, {_signed(d['ci_high'])}] | {_signed(d['relative'])}% | "
                         f"{'—' if d['fraction_le_zero'] is None else format(d['fraction_le_zero'], '.3f')} |")
    for title, key in (("Per group", "groups"), ("Per subject", "subjects")):
        part = report.get(key) or {}
        if not part:
            continue
        cs = list(conds)
        lines += ["", f"## {title} (accuracy %)", "",
                  "| name | n | " + " | ".join(_LABELS.get(c, c) for c in cs)
                  + (" | delta |" if "delta" in next(iter(part.values())) else " |"),
                  "|---|---:|" + "---:|" * len(cs) + ("---:|" if "delta" in next(iter(part.values())) else "")]
        for name, e in part.items():
            cells = " | ".join(_pct(e[c]["accuracy"]) for c in cs)
            delta = f" | {_signed(e['delta'])} |" if "delta" in e else " |"
            lines.append(f"| {name} | {e['n']} | {cells}{delta}")
    timing = meta.get("timings")
    if timing:
        lines += ["", "## Wall time (s)", ""] + [f"- {k.replace('_', ' ')}: {v:.1f}" for k, v in timing.items()]
    return "\n".join(lines) + "\n"


def plot_accuracy(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Grouped bars: accuracy per group (and overall) for each condition; returns the image path.

    Raises:
        DependencyError: matplotlib is not installed (``pip install 'reasonir[rag]'``).
    """
    matplotlib = require("matplotlib", "rag")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    from ..io import atomic_write

    conds = list(report["conditions"])
    names = ["overall", *report.get("groups", {})]
    values = {c: [report["conditions"][c]["accuracy"]] + [g[c]["accuracy"] for g in report.get("groups", {}).values()]
              for c in conds}
    x = np.arange(len(names))
    width = 0.8 / max(1, len(conds))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(names) + 1.5), 3.6))
    for i, c in enumerate(conds):
        bars = ax.bar(x + (i - (len(conds) - 1) / 2) * width, [100 * v for v in values[c]], width,
                      label=_LABELS.get(c, c))
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    ax.set_xticks(x, names, rotation=20 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    meta = report.get("meta", {})
    ax.set_title(f"{meta.get('benchmark', '')}  {meta.get('llm', '')}  n={report['n']}", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=120)
    plt.close(fig)
    return path


def write_report(report: dict[str, Any], out_dir: str | os.PathLike, chart: bool = True) -> dict[str, str]:
    """Write ``report.json``, ``report.md`` and (when ``chart`` and matplotlib is available)
    ``accuracy.png`` into ``out_dir``; returns ``{kind: path}``."""
    from ..io import atomic_write, write_json

    out = Path(out_dir)
    write_json(out / "report.json", report)
    with atomic_write(out / "report.md") as fh:
        fh.write(render_markdown(report))
    paths = {"json": str(out / "report.json"), "markdown": str(out / "report.md")}
    if chart:
        paths["chart"] = str(plot_accuracy(report, out / "accuracy.png"))
    return paths
