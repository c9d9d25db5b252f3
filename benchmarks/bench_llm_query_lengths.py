"""Query lengths: TongSearch-QR-7B reasoned queries vs the original BRIGHT queries, per task.

Reads each task's ``examples.jsonl.gz`` (field ``query``) and ``reasoned_queries/tongsearch-qr-7b.json``
(``{original text: reasoned text}``), matches them the way ``reasonir retrieve --query-variant`` does
(:func:`reasonir.query_variants.apply_query_variant`: exact text, then whitespace-normalised), and
counts tokens with the SmolLM2 tokenizer (a 49k BPE vocabulary similar in granularity to Llama's;
``add_special_tokens=False``); whitespace words are given alongside.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_llm_query_lengths.py``
Writes ``benchmarks/results/llm_query_lengths.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from pathlib import Path

from _common import DATA, ROOT, header

from reasonir.data import BRIGHT_TASKS, load_bright_local
from reasonir.embedded import smollm2_path
from reasonir.query_variants import apply_query_variant


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "bright"))
    ap.add_argument("--variant", default=None, help="default: DATA/reasoned_queries/tongsearch-qr-7b.json")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "llm_query_lengths.md"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(smollm2_path())
    variant = Path(args.variant or Path(args.data) / "reasoned_queries" / "tongsearch-qr-7b.json")
    mapping = json.loads(variant.read_text(encoding="utf-8"))

    def ntok(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]

    rows, all_o, all_r = [], [], []
    all_texts: set[str] = set()
    for task in BRIGHT_TASKS:
        ds = load_bright_local(task, args.data)
        swapped = apply_query_variant(ds, variant)
        rep = swapped.metadata["query_variant"]
        matched = [q for q in ds.queries if q not in set(rep["unmatched_ids"])]
        o = ntok([ds.queries[q] for q in matched])
        r = ntok([swapped.queries[q] for q in matched])
        ow = [len(ds.queries[q].split()) for q in matched]
        rw = [len(swapped.queries[q].split()) for q in matched]
        distinct = len({ds.queries[q] for q in ds.queries})
        all_texts.update(ds.queries.values())
        rows.append((task, len(ds.queries), distinct, rep["matched"], rep["unmatched"], statistics.mean(o),
                     statistics.median(o), statistics.mean(r), statistics.median(r), max(r),
                     statistics.mean(ow), statistics.mean(rw)))
        all_o += o
        all_r += r
    n_q = sum(r[1] for r in rows)
    n_distinct = len(all_texts)
    lines = [
        *header("TongSearch-QR-7B reasoned queries vs original BRIGHT queries: lengths per task"),
        f"- data: `{Path(args.data).name}/<task>/examples.jsonl.gz` (field `query`) and "
        f"`reasoned_queries/{variant.name}` ({len(mapping):,} entries, keyed by the original query text)",
        "- tokenizer: SmolLM2-135M-Instruct BPE (`add_special_tokens=False`); words = whitespace split",
        "- matching: `apply_query_variant` (exact text, then whitespace-normalised); tokens counted over the "
        "matched queries",
        "",
        "| task | queries | distinct texts | matched | missed | original tokens mean | median | reasoned tokens "
        "mean | median | max | ratio (means) | original words | reasoned words |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (task, n, distinct, m, miss, om, omed, rm, rmed, rmax, ow, rw) in rows:
        lines.append(f"| {task} | {n} | {distinct} | {m} | {miss} | {om:.0f} | {omed:.0f} | {rm:.0f} | {rmed:.0f} | "
                     f"{rmax} | {rm / om:.1f}x | {ow:.0f} | {rw:.0f} |")
    lines.append(f"| **all** | {n_q} | {n_distinct} | {sum(r[3] for r in rows)} | {sum(r[4] for r in rows)} | "
                 f"{statistics.mean(all_o):.0f} | {statistics.median(all_o):.0f} | {statistics.mean(all_r):.0f} | "
                 f"{statistics.median(all_r):.0f} | {max(all_r)} | {statistics.mean(all_r) / statistics.mean(all_o):.1f}x"
                 f" | | |")
    lines += ["", f"{n_q:,} queries carry {n_distinct:,} distinct texts across the 12 tasks (queries of different "
                  f"tasks can share a text); the map has {len(mapping):,} entries, one per distinct text "
                  f"it covers, and every query is matched."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
