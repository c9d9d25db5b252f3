"""Hybrid search with standard BM25 vs BRIGHT's query-side BM25 (``bm25`` vs ``bm25q``) inside the fusion.

ReasonIR's hybrid row (BRIGHT 32.0) interpolates the dense score with BRIGHT's BM25, which weights the
query with the BM25 formula too (``bm25q``). This benchmark measures both variants inside
``Index.search(mode="hybrid")`` (min-max interpolation with the default 0.5/0.5 weights, and RRF),
next to dense, ``bm25`` and ``bm25q`` alone, on these query sets (nDCG@10, top 10):

* **SciFact test** (300 short claims, 5,183 abstracts): the BEIR files in ``../shared/data/scifact``.
* **SciFact sample, rewritten**: a fixed sample of test claims rewritten into reasoning texts by
  ``reasonir rewrite --llm smollm2`` (a JSONL file given with ``--rewrites``): the claim alone, the
  reasoning alone (``replace``, what the paper's reason-queries do) and claim + reasoning (``append``).
* **BRIGHT StackExchange -> answers**: the real BRIGHT posts of the 7 StackExchange tasks (749
  queries, their original text and the TongSearch-QR-7B reasoned queries, a stand-in for GPT-4's) searched
  in a corpus made of those posts' gold answers (``gold_answer`` of ``examples``; one relevant
  document per query). BRIGHT's document corpora are not available offline; this keeps BRIGHT's long
  queries but not its documents, so it is a known-item task where vocabulary overlap is higher than
  in BRIGHT.

For each set the per-query difference ``hybrid(bm25q) - hybrid(bm25)`` is reported with a paired
bootstrap 95% interval (10,000 resamples, fixed seed) and win/loss counts.

Run (reuses the indexes under ``benchmarks/_work``; builds those that are missing)::

    python benchmarks/bench_hybrid_bm25_variant.py \
        --rewrites benchmarks/_work/scifact_rewrite_smollm2_50.jsonl
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _common import DATA, ROOT, header

from reasonir.evaluate import evaluate
from reasonir.index import Index
from reasonir.io import read_qrels, read_queries
from reasonir.workflows.index import IndexBuildConfig, run_index_build

HERE = ROOT / "benchmarks"
WORK = HERE / "_work"
SE_TASKS = ("biology", "earth_science", "economics", "psychology", "robotics", "stackoverflow",
            "sustainable_living")

#: (column, Index.search keyword arguments)
SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("dense", {"mode": "dense"}),
    ("bm25", {"mode": "bm25"}),
    ("bm25q", {"mode": "bm25q"}),
    ("hybrid interp +bm25", {"mode": "hybrid", "fusion": "interpolate", "bm25_mode": "bm25"}),
    ("hybrid interp +bm25q", {"mode": "hybrid", "fusion": "interpolate", "bm25_mode": "bm25q"}),
    ("hybrid rrf +bm25", {"mode": "hybrid", "fusion": "rrf", "bm25_mode": "bm25"}),
    ("hybrid rrf +bm25q", {"mode": "hybrid", "fusion": "rrf", "bm25_mode": "bm25q"}),
]
PAIRS = [("interp", "hybrid interp +bm25", "hybrid interp +bm25q"), ("rrf", "hybrid rrf +bm25", "hybrid rrf +bm25q")]


@dataclass
class QuerySet:
    """One evaluated query set: its queries and qrels, and the index it searches."""

    name: str
    index_dir: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def ensure_index(corpus: Path, index_dir: Path) -> Path:
    """Build ``minilm`` + BM25 over ``corpus`` into ``index_dir`` unless a committed index is there."""
    if not (index_dir / "config.json").is_file():
        print(f"building {index_dir} from {corpus} ...", file=sys.stderr)
        run_index_build(IndexBuildConfig(corpus=str(corpus), index_dir=str(index_dir), model="minilm", bm25=True))
    return index_dir


def bright_answers(bright: Path, work: Path) -> tuple[Path, dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """Corpus of the gold answers of BRIGHT's StackExchange posts, and the posts as queries.

    Returns:
        ``(corpus_jsonl, original_queries, reasoned_queries, qrels)``; a query id is ``task/id`` and its
        one relevant document is ``task/id/answer``.
    """
    reasoned_map = json.loads((bright / "reasoned_queries" / "tongsearch-qr-7b.json").read_text(encoding="utf-8"))
    norm = {" ".join(k.split()): v for k, v in reasoned_map.items()}
    docs, original, reasoned, qrels = [], {}, {}, {}
    for task in SE_TASKS:
        with gzip.open(bright / task / "examples.jsonl.gz", "rt", encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                answer = row.get("gold_answer") or ""
                if not answer.strip() or answer.strip() == "N/A":
                    continue
                qid = f"{task}/{row['id']}"
                docs.append({"_id": f"{qid}/answer", "title": "", "text": answer})
                original[qid] = row["query"]
                variant = reasoned_map.get(row["query"]) or norm.get(" ".join(row["query"].split()))
                if variant is None:
                    raise SystemExit(f"no reasoned query for {qid}")
                reasoned[qid] = variant
                qrels[qid] = {f"{qid}/answer": 1}
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "bright_se_answers.jsonl"
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs)
    if not corpus.is_file() or corpus.read_text(encoding="utf-8") != text:
        corpus.write_text(text, encoding="utf-8")
    return corpus, original, reasoned, qrels


class QueryVectors:
    """Query vectors of one index, encoded once per distinct text and kept on disk between runs.

    Encoding long queries is the slow part on a shared CPU; the vectors are a pure function of the
    index's encoder and the text, so they are stored under ``benchmarks/_work`` keyed by both. Every
    search, fusion and metric is recomputed on each run.
    """

    def __init__(self, index: Index, cache_dir: Path | None):
        self.index, self.encode = index, index.encode_queries
        ident = json.dumps(index.config["encoder"], sort_keys=True) + str(index.config["instructions"])
        self.path = cache_dir / f"{hashlib.sha256(ident.encode()).hexdigest()[:16]}.npz" if cache_dir else None
        self.cache: dict[str, np.ndarray] = {}
        if self.path is not None and self.path.is_file():
            with np.load(self.path) as z:
                self.cache = {k: z[k] for k in z.files}
        self.encoded, self.loaded = 0, len(self.cache)
        index.encode_queries = self.encode_queries  # type: ignore[method-assign]

    @staticmethod
    def key(text: str, instruction: str | None) -> str:
        return hashlib.sha256(f"{instruction}\0{text}".encode()).hexdigest()

    def encode_queries(self, texts: str | Sequence[str], instruction: str | None = None) -> np.ndarray:
        batch = [texts] if isinstance(texts, str) else list(texts)
        todo = list(dict.fromkeys(t for t in batch if self.key(t, instruction) not in self.cache))
        if todo:
            for t, v in zip(todo, np.atleast_2d(self.encode(todo, instruction))):
                self.cache[self.key(t, instruction)] = v
            self.encoded += len(todo)
        out = np.stack([self.cache[self.key(t, instruction)] for t in batch])
        return out[0] if isinstance(texts, str) else out

    def save(self) -> None:
        if self.path is not None and self.encoded:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.stem + ".tmp.npz")
            np.savez(tmp, **self.cache)
            tmp.replace(self.path)


def measure(qs: QuerySet, index: Index) -> dict[str, dict[str, float]]:
    """Per setting, ``{query_id: nDCG@10}`` over the judged queries of ``qs``."""
    out: dict[str, dict[str, float]] = {}
    for label, kwargs in SETTINGS:
        t0 = time.perf_counter()
        run = index.search_run(qs.queries, k=10, **kwargs)
        res = evaluate(qs.qrels, run, "ndcg@10", depth=10)
        out[label] = {q: v["ndcg@10"] for q, v in res.per_query.items()}
        print(f"  {qs.name:45s} {label:22s} {res.mean['ndcg@10']:.4f}  {time.perf_counter() - t0:.1f}s",
              file=sys.stderr)
    return out


def paired(a: dict[str, float], b: dict[str, float], resamples: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Mean of ``b - a`` per query, its paired-bootstrap 95% interval, and win/loss counts for ``b``."""
    d = np.array([b[q] - a[q] for q in a])
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"mean": float(d.mean()), "lo": float(lo), "hi": float(hi), "wins": int((d > 1e-12).sum()),
            "losses": int((d < -1e-12).sum())}


def query_stats(queries: dict[str, str], index: Index) -> tuple[float, float]:
    """Mean words per query, and the mean share of a query's analysed BM25 tokens that repeat an earlier one."""
    analyzer = index._bm25_parts()[0].analyzer
    shares = []
    for text in queries.values():
        toks = analyzer(text)
        shares.append(1 - len(set(toks)) / len(toks) if toks else 0.0)
    return statistics.mean(len(t.split()) for t in queries.values()), statistics.mean(shares)


def load_sets(args: argparse.Namespace) -> list[QuerySet]:
    scifact = Path(args.scifact)
    sets: list[QuerySet] = []
    if args.scifact:
        sci_index = ensure_index(scifact, Path(args.scifact_index))
        qrels = read_qrels(scifact / "qrels" / "test.tsv")
        queries = {q: t for q, t in read_queries(scifact / "queries.jsonl").items() if q in qrels}
        sets.append(QuerySet("SciFact test: claims", sci_index, queries, qrels))
    if args.scifact and args.rewrites:
        rows = [json.loads(line) for line in Path(args.rewrites).read_text(encoding="utf-8").splitlines() if line]
        sample = {r["id"]: r for r in rows if r["id"] in qrels}
        sq = {q: qrels[q] for q in sample}
        sets += [
            QuerySet(f"SciFact sample ({len(sample)}): claims", sci_index,
                     {q: r["original"] for q, r in sample.items()}, sq),
            QuerySet(f"SciFact sample ({len(sample)}): smollm2 reasoning", sci_index,
                     {q: r["query"] for q, r in sample.items()}, sq),  # the reasoning (claim if it was empty)
            QuerySet(f"SciFact sample ({len(sample)}): claim + reasoning", sci_index,
                     {q: "\n\n".join(filter(None, (r["original"], r["reasoning"]))) for q, r in sample.items()}, sq),
        ]
    if args.bright:
        corpus, original, reasoned, bqrels = bright_answers(Path(args.bright), WORK)
        bidx = ensure_index(corpus, Path(args.bright_index))
        sets += [
            QuerySet(f"BRIGHT-SE->answers ({len(original)}): posts", bidx, original, bqrels),
            QuerySet(f"BRIGHT-SE->answers ({len(original)}): TongSearch reasoned", bidx, reasoned, bqrels),
            QuerySet(f"BRIGHT-SE->answers ({len(original)}): post + reasoned", bidx,
                     {q: original[q] + "\n\n" + reasoned[q] for q in original}, bqrels),
        ]
    return sets


def fmt_delta(p: dict[str, float]) -> str:
    return f"{p['mean'] * 100:+.2f} [{p['lo'] * 100:+.2f}, {p['hi'] * 100:+.2f}] ({p['wins']}/{p['losses']})"


def decision(sets: list[QuerySet], results: list[dict[str, dict[str, float]]]) -> list[str]:
    """The decision rule fixed before measuring, applied to the interpolation columns (the default fusion)."""
    _, a, b = PAIRS[0]
    ge = [statistics.mean(r[b].values()) >= statistics.mean(r[a].values()) for r in results]
    short = [g for qs, g in zip(sets, ge) if qs.name.startswith("SciFact test")]
    long_ = [g for qs, g in zip(sets, ge) if not qs.name.endswith("claims")]
    verdict = "bm25q" if short and long_ and all(short) and all(long_) else "bm25"
    rrf_ge = sum(statistics.mean(r[PAIRS[1][2]].values()) >= statistics.mean(r[PAIRS[1][1]].values())
                 for r in results)
    return [
        "Decision rule (fixed before measuring): the hybrid default becomes `bm25q` only if hybrid "
        "interpolation with `bm25q` is at least as good as with `bm25` on SciFact test **and** on every "
        "long-query set (all sets except the short-claim ones); otherwise it stays `bm25`.",
        f"- interpolation: bm25q >= bm25 on {sum(ge)} of {len(ge)} query sets "
        f"(SciFact test: {('yes' if all(short) else 'no') if short else 'not measured'}; long-query sets: {sum(long_)} of {len(long_)})",
        f"- RRF: bm25q >= bm25 on {rrf_ge} of {len(results)} query sets",
        f"- **default of `search --mode hybrid`: `{verdict}`**; the `paper` preset uses `bm25q` either way "
        "(BRIGHT's BM25 is query-side).",
    ]


def rewrite_command(path: str | None) -> list[str]:
    """The ``reasonir rewrite`` command that made ``path``, rebuilt from its ``.config.json`` (if any)."""
    cfg_path = Path(f"{path}.config.json") if path else None
    if cfg_path is None or not cfg_path.is_file():
        return []
    saved = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg, lengths = saved["config"], saved.get("lengths", {})
    flags = ["dataset", "llm", "out", "max_tokens", "mode", "temperature", "top_p", "seed", "sample_queries",
             "sample_seed", "batch_size"]
    argv = ["reasonir", "rewrite"] + [x for f in flags if cfg.get(f) is not None
                                      for x in (f"--{f.replace('_', '-')}", str(cfg[f]))]
    return [f"- SciFact rewrites: `{' '.join(shlex.quote(a) for a in argv)}` ({lengths.get('queries')} queries, "
            f"{lengths.get('mean_words_rewritten')} words and {lengths.get('mean_completion_tokens')} tokens on "
            f"average, {lengths.get('hit_budget')} stopped at the token budget, {saved.get('seconds', 0):.0f}s)"]


def report(sets: list[QuerySet], results: list[dict[str, dict[str, float]]], stats: list[tuple[float, float]],
           command: Sequence[str], seconds: float, per_task: Callable[[int], str], rewrites: str | None = None,
           note: str = "") -> str:
    mean = {lab: [statistics.mean(r[lab].values()) * 100 for r in results] for lab, _ in SETTINGS}
    head = ["query set", "queries", "words", "repeat share"] + [lab for lab, _ in SETTINGS] + \
           ["Δ interp (bm25q-bm25) [95% CI] (wins/losses)", "Δ rrf (bm25q-bm25) [95% CI] (wins/losses)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (len(head) - 2)]
    for i, (qs, r) in enumerate(zip(sets, results)):
        cells = [qs.name, str(len(qs.qrels)), f"{stats[i][0]:.0f}", f"{stats[i][1]:.2f}"]
        best = max(mean[lab][i] for lab, _ in SETTINGS)
        cells += [(f"**{mean[lab][i]:.2f}**" if mean[lab][i] == best else f"{mean[lab][i]:.2f}") for lab, _ in SETTINGS]
        cells += [fmt_delta(paired(r[a], r[b])) for _, a, b in PAIRS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([
        *header("Hybrid search: standard BM25 vs query-side BM25 (bm25q) inside the fusion", argv=command, lock=False),
        f"- wall time {seconds:.0f}s{note}",
        "- retriever: `minilm` (all-MiniLM-L6-v2, 256-token inputs: long queries are truncated on the dense side) "
        "+ BM25 of the index (k1=0.9, b=0.4, Lucene English analyzer), `Index.search`, top 10, "
        "candidates 100 per system, interpolation = min-max over the union with weights 0.5/0.5, RRF k=60",
        *rewrite_command(rewrites),
        "- query vectors are encoded once per distinct text and kept between runs in `--vector-cache` "
        "(keyed by the index's encoder and the text); every search, fusion and metric is recomputed",
        "- metric: nDCG@10 x100 (trec_eval); Δ = per-query hybrid(bm25q) - hybrid(bm25), paired bootstrap 95% "
        "interval, 10,000 resamples, seed 0; *words* = mean whitespace words per query; *repeat share* = mean "
        "share of a query's analysed BM25 tokens that repeat an earlier token of the same query (what "
        "query-side BM25 saturates)",
        "",
        *lines, "",
        *decision(sets, results), "",
        "Query sets:",
        "- *SciFact test*: BEIR SciFact test claims (300) over its 5,183 abstracts.",
        "- *SciFact sample*: a fixed random sample of test claims (`reasonir rewrite --sample-queries`), "
        "rewritten by SmolLM2-135M-Instruct (`reasonir rewrite --llm smollm2`, the command above, "
        "with the paper's rewriting sampling T=0.8, top_p=0.8); *reasoning* replaces the claim with the LLM text (the paper's "
        "reason-query setting), *claim + reasoning* appends it. A 135M model writes weak reasoning: "
        "these queries are long and noisy rather than well reasoned.",
        "- *BRIGHT-SE->answers*: the 749 posts of BRIGHT's 7 StackExchange tasks as queries, each post's "
        "`gold_answer` as the only relevant document, the 749 answers as the corpus (BRIGHT's document "
        "corpora are not available offline). *posts* = BRIGHT's original queries (long questions), *TongSearch "
        "reasoned* = `reasoned_queries/tongsearch-qr-7b.json` (LLM reasoning texts of ~500 tokens, a stand-in "
        "for the `gpt4_reason` queries of the paper's 32.0 row, which replace the post as these do), *post + "
        "reasoned* = the post followed by the reasoned query (BRIGHT's `--separate_reasoning` layout). Limits: a "
        "known-item task on a small corpus (one relevant answer per post, answers often reuse the post's "
        "words), and all-MiniLM-L6-v2 was trained on StackExchange question-answer pairs, so the dense side "
        "is in-domain and strong; the absolute numbers are not BRIGHT numbers, only the bm25 vs bm25q "
        "comparison inside the same fusion is the point.",
        "", per_task(0), ""])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scifact", default=str(DATA / "scifact"),
                    help="BEIR SciFact folder ('' to skip the SciFact query sets)")
    ap.add_argument("--scifact-index", default=str(WORK / "scifact-minilm-bm25"))
    ap.add_argument("--rewrites", default=None, help="`reasonir rewrite` JSONL of a SciFact test sample")
    ap.add_argument("--bright", default=str(DATA / "bright"),
                    help="BRIGHT examples folder ('' to skip the BRIGHT query sets)")
    ap.add_argument("--bright-index", default=str(WORK / "bright-se-answers-minilm-bm25"))
    ap.add_argument("--vector-cache", default=str(WORK / "hybrid_query_vectors"),
                    help="folder keeping query vectors between runs ('' for none)")
    ap.add_argument("--out", default=str(HERE / "results" / "hybrid_bm25_variant.md"))
    args = ap.parse_args(argv)
    command = [sys.argv[0], *(sys.argv[1:] if argv is None else argv)]
    t0 = time.perf_counter()
    sets = load_sets(args)
    results, stats, opened = [], [], {}
    cache_dir = Path(args.vector_cache) if args.vector_cache else None
    for qs in sets:
        if qs.index_dir not in opened:
            index = Index.open(qs.index_dir, device="cpu")
            opened[qs.index_dir] = (index, QueryVectors(index, cache_dir))
        index, vectors = opened[qs.index_dir]
        results.append(measure(qs, index))
        stats.append(query_stats(qs.queries, index))
        vectors.save()
    for index, _ in opened.values():
        index.close()

    def per_task(_: int) -> str:
        rows = []
        for qs, r in zip(sets, results):
            if not qs.name.startswith("BRIGHT"):
                continue
            for task in SE_TASKS:
                qids = [q for q in qs.qrels if q.startswith(task + "/")]
                vals = [statistics.mean(r[lab][q] for q in qids) * 100 for lab, _ in SETTINGS]
                rows.append(f"| {qs.name.split(': ', 1)[1]} | {task} | {len(qids)} | "
                            + " | ".join(f"{v:.2f}" for v in vals) + " |")
        if not rows:
            return ""
        head = "| query variant | task | queries | " + " | ".join(lab for lab, _ in SETTINGS) + " |"
        return "\n".join(["Per task, BRIGHT-SE->answers (nDCG@10 x100):", "", head,
                          "|---|---|" + "---:|" * (len(SETTINGS) + 1), *rows])

    encoded = sum(v.encoded for _, v in opened.values())
    reused = sum(min(v.loaded, len(v.cache)) for _, v in opened.values())
    note = f" ({encoded} query texts encoded in this run, {reused} query vectors read from the cache)"
    text = report(sets, results, stats, command, time.perf_counter() - t0, per_task, args.rewrites, note)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
