"""Collect every benchmark's results file into ``benchmarks/RESULTS.md``.

Each ``bench_*.py`` script writes its figures (command, machine, date, medians, ratios) to
``benchmarks/results/<name>.md``; this script puts them together in one document, grouped by the
part of the toolkit they measure, with a table of contents. Figures are never edited here.

Run: ``python benchmarks/collect_results.py``
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: section title -> filename prefixes of the results files that belong to it (in order)
SECTIONS = [
    ("BM25 and evaluation", ["bm25", "bm25q_gensim", "evaluate"]),
    ("Encoders", ["encode"]),
    ("Index, search and server", ["bench_index_build", "bench_index_search", "index", "hybrid", "milvus",
                                  "scale"]),
    ("LLM layer, query rewriting and reranking", ["llm"]),
    ("Synthesizer", ["synth", "bench_synth"]),
    ("Training", ["bench_train", "train"]),
    ("Retrieval-augmented QA", ["rag"]),
]


def _section_of(name: str) -> int:
    best, best_len = len(SECTIONS), -1
    for i, (_, prefixes) in enumerate(SECTIONS):
        for p in prefixes:
            if name.startswith(p) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


def _demote(text: str, levels: int = 2) -> str:
    """Push every Markdown heading down ``levels`` levels (outside fenced code)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and re.match(r"#{1,6} ", line):
            line = "#" * levels + line
        out.append(line)
    return "\n".join(out).strip() + "\n"


def collect() -> str:
    files = sorted(RESULTS.glob("*.md"))
    groups: dict[int, list[Path]] = {}
    for f in files:
        groups.setdefault(_section_of(f.stem), []).append(f)
    parts = ["# Benchmark results\n",
             "Every figure below was produced by a script in `benchmarks/`; each part names the command, "
             "the machine and the date. Machines are noisy and shared: compare the ratios measured within "
             "one run, not absolute figures across parts. Regenerate this file with "
             "`python benchmarks/collect_results.py`.\n"]
    toc, body = [], []
    for i, (title, _) in enumerate(SECTIONS + [("Other", [])]):
        if i not in groups:
            continue
        toc.append(f"- {title}: " + ", ".join(f"`results/{f.name}`" for f in groups[i]))
        body.append(f"## {title}\n")
        for f in groups[i]:
            body.append(f"<!-- results/{f.name} -->\n" + _demote(f.read_text(encoding="utf-8")))
    return "\n".join(parts + toc + [""] + body)


def main() -> None:
    text = collect()
    target = HERE / "RESULTS.md"
    fd, tmp = tempfile.mkstemp(dir=HERE, prefix=".RESULTS.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    print(f"wrote {target} ({len(text):,} characters)")


if __name__ == "__main__":
    main()
