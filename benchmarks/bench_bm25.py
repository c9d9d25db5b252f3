"""BM25 index + retrieve: reasonir vs ``bm25s`` used directly vs ``rank_bm25``, wall time and peak memory.

Corpora: BEIR SciFact (5,183 documents, 300 test queries) and a generated corpus of 1,000,000
documents (deterministic: Zipf-distributed vocabulary of pronounceable words plus English stop
words, 60-120 tokens per document, sentences with capitals and full stops) with 1,000 queries.

Every system runs in its own subprocess (peak RSS from ``getrusage``; the corpus text is loaded
before the baseline is taken, so "memory" is what indexing and retrieval add on top of it):

* **reasonir** — ``BM25Index.build`` (Lucene-English analysis) + ``search_arrays(k=1000, mode="bm25")``;
* **bm25s** — ``bm25s.tokenize(stopwords="en", stemmer=PyStemmer english)`` + ``BM25(method="lucene")``
  ``.index`` + ``.retrieve(k=1000)`` (numpy backend, one thread);
* **rank_bm25** — ``BM25Okapi`` over the same analysed tokens; its ``get_scores`` loops over every
  document in Python, so on the 1M corpus only a sample of queries is timed and the time is
  extrapolated to all queries (the table says so).

All use k1=0.9, b=0.4. Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_bm25.py``
(``--skip-1m`` for SciFact only). Writes ``benchmarks/results/bm25.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import DATA, ROOT, header

K = 1000
SYSTEMS = ("reasonir", "bm25s", "rank_bm25")
_STOP = ("the of and to in a is that for it as was with be by on not he this are or his from at which "
         "but have an they you were her she there been one all we their has would when if so no").split()


# ----------------------------------------------------------------------------------------------
# deterministic generated corpus
# ----------------------------------------------------------------------------------------------
def make_vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """``size`` distinct pronounceable words: stop words first, then syllable compounds, shortest first."""
    onsets = np.array("b c d f g h j k l m n p r s t v w z br cr dr fl gr pl pr st tr ch sh th sp qu".split())
    nuclei = np.array("a e i o u ai ea io ou ee oa".split())
    codas = np.array(["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "ck", "ng", "rt"])
    suffixes = np.array(["", "", "", "s", "ed", "ing", "tion", "ly", "er", "al", "ness", "ment", "ity"])
    seen, extra = set(_STOP), []
    while len(extra) < size - len(_STOP):
        n = 4 * size
        syl = [np.char.add(np.char.add(onsets[rng.integers(len(onsets), size=n)], nuclei[rng.integers(len(nuclei), size=n)]),
                           codas[rng.integers(len(codas), size=n)]) for _ in range(3)]
        count = rng.choice([1, 2, 3], p=[0.3, 0.5, 0.2], size=n)
        word = np.where(count >= 2, np.char.add(syl[0], syl[1]), syl[0])
        word = np.where(count == 3, np.char.add(word, syl[2]), word)
        word = np.char.add(word, suffixes[rng.integers(len(suffixes), size=n)])
        for w in word.tolist():
            if w not in seen:
                seen.add(w)
                extra.append(w)
    extra = extra[: size - len(_STOP)]
    noise = rng.normal(0, 2.5, size=len(extra))
    order = np.argsort([len(w) + z for w, z in zip(extra, noise.tolist())], kind="stable")
    return list(_STOP) + [extra[i] for i in order.tolist()]   # frequent words tend to be short


def generate(path: Path, n_docs: int, n_queries: int, vocab_size: int = 200_000, seed: int = 0) -> None:
    """Write ``corpus.txt`` (one document per line) and ``queries.txt`` under ``path``."""
    rng = np.random.default_rng(seed)
    words = np.array(make_vocabulary(vocab_size, rng), dtype=object)
    cdf = np.cumsum(1.0 / np.arange(1, vocab_size + 1) ** 1.07)
    cdf /= cdf[-1]
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "corpus.txt.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for start in range(0, n_docs, 20_000):
            n = min(20_000, n_docs - start)
            lengths = rng.integers(60, 121, size=n)
            ranks = np.searchsorted(cdf, rng.random(int(lengths.sum())))
            tokens = words[ranks]
            ends = rng.random(tokens.size) < 1 / 14               # sentence ends
            tokens = np.where(ends, tokens + ".", tokens)
            first = np.r_[True, ends[:-1]]
            tokens[first] = [t[:1].upper() + t[1:] for t in tokens[first]]
            offsets = np.r_[0, np.cumsum(lengths)]
            fh.write("\n".join(" ".join(tokens[a:b]) for a, b in zip(offsets[:-1], offsets[1:])) + "\n")
    os.replace(tmp, path / "corpus.txt")
    qlen = rng.integers(4, 13, size=n_queries)
    qranks = np.searchsorted(cdf, rng.random(int(qlen.sum()))) + 60   # content words, not stop words
    qwords = words[np.minimum(qranks, vocab_size - 1)]
    qoff = np.r_[0, np.cumsum(qlen)]
    (path / "queries.txt").write_text("\n".join(" ".join(qwords[a:b]) for a, b in zip(qoff[:-1], qoff[1:])) + "\n",
                                      encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# one system, in a subprocess
# ----------------------------------------------------------------------------------------------
def rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def worker(system: str, corpus: str, sample: int | None) -> dict:
    if corpus == "scifact":
        from reasonir.data import load_beir

        ds = load_beir(str(DATA / "scifact"))
        texts = [d.full_text for d in ds.require_corpus()]
        doc_ids = [d.id for d in ds.require_corpus()]
        qids = list(ds.queries)
        queries = [ds.queries[q] for q in qids]
    else:
        texts = Path(corpus, "corpus.txt").read_text(encoding="utf-8").splitlines()
        doc_ids = [str(i) for i in range(len(texts))]
        queries = Path(corpus, "queries.txt").read_text(encoding="utf-8").splitlines()
        qids = [str(i) for i in range(len(queries))]
    base = rss_mib()
    t0 = time.perf_counter()
    timed_queries = queries if sample is None else queries[:sample]
    if system == "reasonir":
        from reasonir.retrieve.bm25 import BM25Index

        index = BM25Index.build(texts, doc_ids, k1=0.9, b=0.4, show_progress=False)
        t1 = time.perf_counter()
        results = index.search_arrays(timed_queries, K, "bm25")
    elif system == "bm25s":
        import bm25s
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
        engine = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
        engine.index(tokens, show_progress=False)
        del tokens
        t1 = time.perf_counter()
        q_tokens = bm25s.tokenize(timed_queries, stopwords="en", stemmer=stemmer, show_progress=False)
        docs, scores = engine.retrieve(q_tokens, k=min(K, len(texts)), show_progress=False, n_threads=1)
        results = list(zip(docs, scores))
    elif system == "rank_bm25":
        from rank_bm25 import BM25Okapi

        from reasonir.analysis import Analyzer

        analyzer = Analyzer()
        engine = BM25Okapi([analyzer(t) for t in texts], k1=0.9, b=0.4)
        t1 = time.perf_counter()
        results = []
        for text in timed_queries:
            s = engine.get_scores(analyzer(text))
            top = np.argsort(-s, kind="stable")[:K]
            results.append((top, s[top]))
    else:
        raise SystemExit(f"unknown system {system}")
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"system": system, "index_s": t1 - t0, "retrieve_s": t2 - t1, "timed_queries": len(timed_queries),
           "num_queries": len(queries), "num_docs": len(texts), "base_mib": base, "peak_mib": peak}
    if corpus == "scifact":
        from reasonir.evaluate import evaluate

        run = {q: {doc_ids[i]: float(v) for i, v in zip(np.asarray(idx).tolist(), np.asarray(sc).tolist()) if v > 0}
               for q, (idx, sc) in zip(qids, results)}
        out["ndcg@10"] = evaluate(ds.qrels, run, ["ndcg@10"]).mean["ndcg@10"]
    return out


# ----------------------------------------------------------------------------------------------
# orchestration
# ----------------------------------------------------------------------------------------------
def run_worker(system: str, corpus: str, sample: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", system, "--corpus", corpus]
    if sample:
        cmd += ["--sample", str(sample)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "DISABLE_TQDM": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"{system} on {corpus} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(res), flush=True)
    return res


def table(results: list[dict], title: str) -> list[str]:
    ref = next(r for r in results if r["system"] == "reasonir")
    lines = [f"### {title}", "",
             "| system | index s | retrieve s | queries/s | total s | peak RSS MiB (added) | index vs reasonir "
             "| retrieve vs reasonir | total vs reasonir |" + (" nDCG@10 |" if "ndcg@10" in ref else ""),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if "ndcg@10" in ref else "")]
    ref_total = ref["index_s"] + ref["retrieve_s"]
    ref_retrieve = ref["retrieve_s"] / ref["timed_queries"] * ref["num_queries"]
    for r in results:
        per_q = r["retrieve_s"] / r["timed_queries"]
        retrieve = per_q * r["num_queries"]
        note = f" (extrapolated from {r['timed_queries']} queries)" if r["timed_queries"] < r["num_queries"] else ""
        total = r["index_s"] + retrieve
        qps = f"{1 / per_q:,.0f}" if per_q < 0.1 else f"{1 / per_q:.2f}"
        row = (f"| {r['system']} | {r['index_s']:.1f} | {retrieve:.2f}{note} | {qps} | {total:.1f} | "
               f"{r['peak_mib']:,.0f} ({r['peak_mib'] - r['base_mib']:+,.0f}) | {r['index_s'] / ref['index_s']:.2f}x | "
               f"{retrieve / ref_retrieve:.1f}x | {total / ref_total:.2f}x |")
        if "ndcg@10" in r:
            row += f" {r['ndcg@10']:.4f} |"
        lines.append(row)
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=SYSTEMS)
    ap.add_argument("--corpus", default="scifact")
    ap.add_argument("--sample", type=int, default=None)
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--rank-bm25-sample", type=int, default=10)
    ap.add_argument("--cache", default="/tmp/reasonir-bench-bm25")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bm25.md"))
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.sample)))
        return
    lines = [*header("BM25 index + retrieve: reasonir vs bm25s vs rank_bm25", extra=f"numpy {np.__version__}"),
             "- k=1000, k1=0.9, b=0.4, one thread each; each system in its own process; peak RSS from "
             "getrusage, '(added)' = above the RSS after the corpus text was loaded",
             "- reasonir: Lucene-English analysis + vectorised index build + batched search; bm25s: its own "
             "regex tokenizer, English stop words, PyStemmer english, numpy backend; rank_bm25: BM25Okapi "
             "over reasonir's analysed tokens", ""]
    sci = [run_worker(s, "scifact", None) for s in SYSTEMS]
    lines += table(sci, "SciFact (5,183 documents, 300 test queries)")
    if not args.skip_1m:
        cache = Path(args.cache) / f"docs{args.docs}"
        if not (cache / "queries.txt").exists():
            t0 = time.perf_counter()
            generate(cache, args.docs, 1000)
            print(f"generated {args.docs} documents in {time.perf_counter() - t0:.0f}s", flush=True)
        big = [run_worker("reasonir", str(cache), None), run_worker("bm25s", str(cache), None),
               run_worker("rank_bm25", str(cache), args.rank_bm25_sample)]
        n_tokens = sum(len(line.split()) for line in open(cache / "corpus.txt", encoding="utf-8"))
        lines += table(big, f"Generated corpus ({args.docs:,} documents, {n_tokens:,} words, 1,000 queries)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
