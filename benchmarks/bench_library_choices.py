"""Hand-written parts vs the maintained library that does the same job, side by side in one process.

Six comparisons (``--parts``), each measured on the same inputs for both sides:

* ``http``: ``reasonir.llm.transport.JSONClient`` (``http.client``) vs ``httpx`` (sync pool and async)
  against a tiny OpenAI-compatible server in a child process: requests/s, p50 latency and client CPU
  per request at concurrency 1 and 16, then the behaviour on a dead endpoint, a timeout, 503 + Retry-After,
  a truncated body, a server that closes keep-alive connections, and a 400.
* ``lock``: ``reasonir.index.lock.WriteLock`` vs ``filelock.FileLock``: a second process, ``kill -9`` of
  the holder, the lock file after release, two locks in one process, mutual exclusion under contention.
* ``config``: ``reasonir.config.build`` vs a pydantic model and jsonargparse: the messages for the same
  bad values, and the import/first-use cost (``python -X importtime``, sum of the modules' own times).
* ``bootstrap``: ``reasonir.rag.stats.paired_bootstrap`` vs ``scipy.stats.bootstrap(paired=True)`` on
  per-query SciFact scores (BM25 vs hybrid): intervals, their seed-to-seed spread, and speed.
* ``neardup``: ``reasonir.synth.pool.NearDuplicateFilter`` vs ``datasketch`` MinHash + MinHashLSH on
  SciFact with injected near-duplicates: agreement with exact 5-gram Jaccard, and speed.
* ``fusion``: ``reasonir.retrieve.fusion`` vs ``ranx.fuse`` (min-max ``wsum`` and RRF) on SciFact BM25 +
  hash-encoder runs: equal scores and rankings, nDCG@10, and speed (incl. conversion to ranx runs).

The HTTP, lock and config parts live in ``_library_choices_systems.py``; this script runs them all.

Run: ``flock /tmp/reasonir-bench.lock .venv/bin/python benchmarks/bench_library_choices.py``
(needs ``pip install ranx datasketch jsonargparse h2``; ``httpx``, ``filelock``, ``pydantic`` and ``scipy``
are already in the environment). Writes ``benchmarks/results/library_choices.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _common import DATA, ROOT, header, timed
from _library_choices_systems import part_config, part_http, part_lock

HERE = ROOT / "benchmarks"
PARTS = ("fusion", "bootstrap", "neardup", "http", "lock", "config")


# ================================================================== SciFact runs (fusion, bootstrap)
_RUNS: dict[str, Any] = {}


def scifact(data: str) -> dict[str, Any]:
    """BM25 and hash-encoder top-100 runs for SciFact's 300 test queries (computed once)."""
    if not _RUNS:
        from reasonir.data import load_beir
        from reasonir.encode.loading import load_encoder
        from reasonir.retrieve.dense_retriever import DenseRetriever
        from reasonir.retrieve.retriever import BM25Retriever

        ds = load_beir(data)
        corpus = ds.require_corpus()
        _RUNS.update(ds=ds, corpus=corpus, bm25=BM25Retriever.from_corpus(corpus).search(ds.queries, k=100),
                     bm25_alt=BM25Retriever.from_corpus(corpus, k1=1.2, b=0.75).search(ds.queries, k=100),
                     dense=DenseRetriever.from_corpus(load_encoder("hash"), corpus).search(ds.queries, k=100))
    return _RUNS


def part_fusion(args: argparse.Namespace) -> list[str]:
    warnings.filterwarnings("ignore", module="ranx")     # numba's type-safety warnings inside ranx's RRF
    import ranx

    from reasonir.evaluate import evaluate
    from reasonir.retrieve.fusion import fuse

    r = scifact(args.data)
    runs, qrels = [r["bm25"], r["dense"]], r["ds"].qrels
    weights = {"interpolate": [0.5, 0.5], "rrf": [1.0, 1.0]}     # ranx's RRF is an unweighted sum
    ours = {m: fuse(runs, m, w) for m, w in weights.items()}
    lib_args = {"interpolate": dict(norm="min-max", method="wsum", params={"weights": [0.5, 0.5]}),
                "rrf": dict(norm=None, method="rrf", params={"k": 60})}

    def via_ranx(method: str) -> dict[str, dict[str, float]]:
        return ranx.fuse([ranx.Run.from_dict(x) for x in runs], **lib_args[method]).to_dict()

    first = {}
    for method in weights:                               # numba compiles (or loads its cache) on first use
        t0 = time.perf_counter()
        via_ranx(method)
        first[method] = time.perf_counter() - t0
    rows = []
    for method in weights:
        _, t_ours, _ = timed(lambda m=method: fuse(runs, m, weights[m]), repeats=args.repeats)
        theirs, t_lib, _ = timed(lambda m=method: via_ranx(m), repeats=args.repeats)
        in_lib = [ranx.Run.from_dict(x) for x in runs]
        _, t_core, _ = timed(lambda m=method: ranx.fuse(in_lib, **lib_args[m]), repeats=args.repeats)
        mine = ours[method]
        diff = max(abs(mine[q][d] - theirs[q].get(d, np.nan)) for q in mine for d in mine[q])
        differ = [(q, d) for q in mine for d in mine[q] if abs(mine[q][d] - theirs[q].get(d, np.nan)) > 1e-12]
        tied = sum(any(d in x[q] and sum(v == x[q][d] for v in x[q].values()) > 1 for x in runs) for q, d in differ)
        same_docs = all(set(mine[q]) == set(theirs[q]) for q in mine)
        order = lambda run, q: [d for d, _ in sorted(run[q].items(), key=lambda x: (-x[1], x[0]))][:10]  # noqa: E731
        lib_order = lambda q: sorted(theirs[q], key=lambda d: -theirs[q][d])[:10]  # noqa: E731 (ranx's own order)
        same10 = sum(order(mine, q) == order(theirs, q) for q in mine)
        same10_lib = sum(order(mine, q) == lib_order(q) for q in mine)
        nd = [evaluate(qrels, x, "ndcg@10").mean["ndcg@10"] for x in (mine, theirs)]
        rows.append(f"| {method} | {t_ours * 1e3:.0f} | {t_lib * 1e3:.0f} | {t_core * 1e3:.0f} | "
                    f"{t_lib / t_ours:.2f}x | {diff:.1e} | {len(differ)} ({tied}) | {same_docs} | {same10}/{len(mine)} "
                    f"({same10_lib} in ranx's tie order) | {nd[0]:.4f} / {nd[1]:.4f} |")
    return [
        "## 6. Fusion: `reasonir.retrieve.fusion` vs `ranx.fuse`", "",
        f"- inputs: SciFact, {len(r['ds'].queries)} test queries; BM25 top-100 and `hash`-encoder top-100 "
        f"(nDCG@10 {evaluate(qrels, runs[0], 'ndcg@10').mean['ndcg@10']:.4f} and "
        f"{evaluate(qrels, runs[1], 'ndcg@10').mean['ndcg@10']:.4f}); weights 0.5/0.5, RRF k=60",
        "- ranx: `fuse(runs, norm='min-max', method='wsum')` and `fuse(runs, norm=None, method='rrf')` "
        "(ranx's RRF takes no weights); numba, parallel; 'ranx end to end' includes `Run.from_dict` and "
        f"`to_dict` (our runs are dicts); first ranx call in this process (numba JIT or cache load, not in "
        f"the medians): interpolate {first['interpolate']:.1f} s, rrf {first['rrf']:.1f} s",
        "- ours with weights 0.5/0.5 (interpolate) and 1/1 (RRF; our default 1/n only scales every score)",
        f"- medians of {args.repeats} runs; score difference = max |ours - ranx| over every fused (query, doc)",
        "",
        "| method | ours ms | ranx end to end ms | ranx fuse only ms | ranx/ours | max score diff | (query, doc) "
        "scores that differ (of which tied in an input run) | same docs | same top-10 (ties by doc id) "
        "| nDCG@10 ours / ranx |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|", *rows, "",
        f"Of {sum(len(v) for v in ours['rrf'].values()):,} fused (query, doc) scores per method. RRF differences "
        "come from documents whose input scores tie: we rank ties by doc id, ranx in its own order, so a tied "
        "document can get another rank and thus another 1/(k + rank).", ""]


def part_bootstrap(args: argparse.Namespace) -> list[str]:
    from scipy import stats

    from reasonir.evaluate import evaluate
    from reasonir.rag.stats import paired_bootstrap
    from reasonir.retrieve.fusion import fuse

    r = scifact(args.data)
    hybrid = fuse([r["bm25"], r["dense"]], "interpolate", [0.5, 0.5])
    scores = {name: evaluate(r["ds"].qrels, run, "ndcg@10,p@1").per_query
              for name, run in (("bm25", r["bm25"]), ("hybrid", hybrid), ("bm25 k1=1.2 b=0.75", r["bm25_alt"]))}
    qids = sorted(scores["bm25"])
    rows = []
    for after, metric in (("hybrid", "ndcg@10"), ("hybrid", "p@1"), ("bm25 k1=1.2 b=0.75", "ndcg@10")):
        b = np.array([scores["bm25"][q][metric] for q in qids])
        a = np.array([scores[after][q][metric] for q in qids])
        for n in (1000, 10000):
            ours, t_ours, _ = timed(lambda n=n: paired_bootstrap(b, a, n, seed=0), repeats=args.repeats)
            spread = [paired_bootstrap(b, a, n, seed=s) for s in range(1, 21)]
            sd = (np.std([x["ci_low"] for x in spread]), np.std([x["ci_high"] for x in spread]))
            for method in ("percentile", "BCa"):
                def lib(n=n, method=method):
                    return stats.bootstrap((b, a), lambda x, y, axis=-1: (y - x).mean(axis=axis), paired=True,
                                           vectorized=True, n_resamples=n, method=method,
                                           rng=np.random.default_rng(0))
                res, t_lib, _ = timed(lib, repeats=args.repeats)
                lo, hi = res.confidence_interval
                p = float((res.bootstrap_distribution <= 0).mean())
                rows.append(f"| {after} - bm25, {metric} | {n:,} | {method} | [{ours['ci_low']:+.4f}, {ours['ci_high']:+.4f}] | "
                            f"[{lo:+.4f}, {hi:+.4f}] | {abs(lo - ours['ci_low']) / sd[0]:.1f} / "
                            f"{abs(hi - ours['ci_high']) / sd[1]:.1f} | {ours['fraction_le_zero']:.4f} / {p:.4f} | "
                            f"{t_ours * 1e3:.1f} | {t_lib * 1e3:.1f} |")
    return [
        "## 4. Paired bootstrap: `reasonir.rag.stats.paired_bootstrap` vs `scipy.stats.bootstrap(paired=True)`",
        "",
        f"- data: per-query scores on SciFact ({len(qids)} test queries) of BM25 (k1=0.9, b=0.4; before) vs "
        "the BM25 + hash-encoder hybrid, and vs BM25 with k1=1.2, b=0.75 (after); statistic mean(after - before); "
        "95 % interval; seed 0 on both sides (scipy draws its resamples with `rng.integers` as ours does, so the "
        "percentile intervals can coincide; BCa corrects bias and skew, so it may differ)",
        "- 'distance in seed sd' = |ours - scipy| at each end divided by the standard deviation of that end "
        "over 20 other seeds of ours (below ~2: the same interval up to resampling noise)",
        "- p(<= 0) = share of resamples with difference <= 0 (ours returns it; scipy via `bootstrap_distribution`)",
        f"- medians of {args.repeats} runs", "",
        "| comparison | resamples | scipy method | ours 95 % CI | scipy 95 % CI | distance in seed sd (low / high) "
        "| p(<= 0) ours / scipy | ours ms | scipy ms |",
        "|---|---:|---|---|---|---|---|---:|---:|", *rows, ""]


# ================================================================== near-duplicates
def _perturb(words: list[str], rate: float, vocab: list[str], rng: random.Random) -> str:
    out = list(words)
    for i in rng.sample(range(len(out)), max(1, round(rate * len(out)))):
        out[i] = rng.choice(vocab)
    return " ".join(out)


def part_neardup(args: argparse.Namespace) -> list[str]:
    from datasketch import MinHash, MinHashLSH

    from reasonir.synth.pool import NearDuplicateFilter, _shingles, words

    class MultiplyShift(NearDuplicateFilter):
        """Ours with a well-mixed permutation hash (64-bit multiply-add-shift): benchmark-only variant."""

        def __init__(self, threshold: float = 0.8) -> None:
            super().__init__(threshold)
            rng = np.random.default_rng(0)
            top = np.iinfo(np.uint64).max
            self.a = rng.integers(0, top, size=len(self.a), dtype=np.uint64, endpoint=True) | np.uint64(1)
            self.b = rng.integers(0, top, size=len(self.b), dtype=np.uint64, endpoint=True)

        def _signature(self, sh: set[int]) -> np.ndarray:
            x = np.fromiter(sh, dtype=np.uint64, count=len(sh))                  # [S]
            return ((x[:, None] * self.a[None, :] + self.b[None, :]) >> np.uint64(32)).min(axis=0)  # [S, P] -> [P]

    corpus = scifact(args.data)["corpus"]
    rng = random.Random(0)
    texts = [d.full_text for d in corpus]
    vocab = sorted({w for t in texts[:500] for w in words(t)})
    rates = (0.01, 0.02, 0.04, 0.08, 0.16)
    injected = []                                          # (index of original, rate)
    for i in rng.sample(range(len(texts)), args.near_dups):
        rate = rates[len(injected) % len(rates)]
        injected.append((i, rate))
        texts.append(_perturb(words(texts[i]), rate, vocab, rng))

    def shingles(t: str) -> set[str]:
        w = words(t)
        return {" ".join(w[i:i + 5]) for i in range(max(1, len(w) - 4))} if w else set()

    jacc = lambda x, y: len(x & y) / len(x | y) if x | y else 1.0  # noqa: E731

    def ours(cls: type = NearDuplicateFilter) -> list[bool]:
        f = cls(0.8)
        return [not f.add(t) for t in texts]

    def lib(verify: bool, params: tuple[int, int] | None = None) -> list[bool]:
        own = [shingles(t) for t in texts]               # timed like ours, which shingles inside add()
        sigs = MinHash.bulk([[s.encode("utf-8") for s in sh] for sh in own], num_perm=128)
        lsh, dropped = MinHashLSH(threshold=0.8, num_perm=128, params=params), []
        for i, (sh, sig) in enumerate(zip(own, sigs)):
            cands = lsh.query(sig)
            dup = any(jacc(sh, own[j]) >= 0.8 for j in cands) if verify else bool(cands)
            dropped.append(dup)
            if not dup:
                lsh.insert(i, sig)
        return dropped

    n0 = len(corpus)
    pairs = [(texts[i], texts[n0 + k]) for k, (i, _) in enumerate(injected)]
    true_j = np.array([jacc(shingles(a), shingles(b)) for a, b in pairs])
    true_dup = true_j >= 0.8

    def sig_error(signature: Callable[[str], Any], estimate: Callable[[Any, Any], float]) -> float:
        return float(np.mean([abs(estimate(signature(a), signature(b)) - j) for (a, b), j in zip(pairs, true_j)]))

    errors = {"ours": sig_error(lambda t: NearDuplicateFilter()._signature(_shingles(t)),
                                lambda x, y: float((x == y).mean())),
              "multiply-shift": sig_error(lambda t: MultiplyShift()._signature(_shingles(t)),
                                          lambda x, y: float((x == y).mean())),
              "datasketch": sig_error(lambda t: MinHash.bulk([[s.encode() for s in shingles(t)]], num_perm=128)[0],
                                      lambda x, y: x.jaccard(y))}
    rows, results = [], {}
    for name, err, fn in (
            ("A. ours: 128-perm MinHash, LSH 32 bands x 4 rows, exact check", "ours", ours),
            ("B. A with a multiply-shift hash (benchmark variant)", "multiply-shift", lambda: ours(MultiplyShift)),
            ("C. datasketch MinHashLSH(0.8) (b=9, r=13), LSH answer", "datasketch", lambda: lib(False)),
            ("D. datasketch MinHashLSH(0.8) (b=9, r=13) + exact check", "datasketch", lambda: lib(True)),
            ("E. datasketch MinHashLSH(params=(32, 4)) + exact check", "datasketch", lambda: lib(True, (32, 4)))):
        dropped, t, _ = timed(fn, repeats=args.repeats)
        results[name] = dropped
        inj = dropped[n0:]
        tp = sum(d and t_ for d, t_ in zip(inj, true_dup))
        fp_inj = sum(d and not t_ for d, t_ in zip(inj, true_dup))
        by_rate = " / ".join(str(sum(inj[k] for k in range(len(injected)) if injected[k][1] == r_)) for r_ in rates)
        rows.append(f"| {name} | {t:.2f} | {errors[err]:.3f} | {sum(dropped)} | {sum(dropped[:n0])} | "
                    f"{tp}/{int(true_dup.sum())} | {fp_inj} | {by_rate} |")
    names = list(results)
    agree = ", ".join(f"{n[0]} {sum(x == y for x, y in zip(results[names[0]], results[n])):,}"
                      for n in names[1:])
    return [
        "## 5. Near-duplicate detection: `reasonir.synth.pool.NearDuplicateFilter` vs `datasketch`", "",
        f"- corpus: {n0:,} SciFact abstracts + {len(injected)} injected copies of random abstracts with "
        f"{', '.join(f'{r:.0%}' for r in rates)} of their words replaced (in turn); {len(texts):,} texts in "
        "input order; word 5-gram shingles (same tokeniser for all); threshold: Jaccard >= 0.8",
        "- truth for the injected copies: exact 5-gram Jaccard with their original (truly >= 0.8 per edit rate: "
        + " / ".join(str(int(sum(t_ for t_, (_, r_) in zip(true_dup, injected) if r_ == r))) for r in rates)
        + f" of {len(injected) // len(rates)}); 'SciFact dropped' = drops among the real abstracts",
        "- signature error = mean |estimated - true Jaccard| over the injected pairs (128 permutations: "
        "about 0.03 expected from sampling alone)",
        f"- datasketch: `MinHash.bulk` (128 permutations, sha1) + `MinHashLSH`; medians of {args.repeats} runs",
        "",
        "| system | seconds | signature error | dropped | SciFact dropped | injected true dups found | injected "
        "false drops | injected dropped by edit rate " + " / ".join(f"{r:.0%}" for r in rates) + " |",
        "|---|---:|---:|---:|---:|---:|---:|---|", *rows, "",
        f"Per-text decisions equal to A's ({len(texts):,} texts): {agree}.", ""]


# ================================================================== main
PART_FUNCS: dict[str, Callable[[argparse.Namespace], list[str]]] = {
    "fusion": part_fusion, "bootstrap": part_bootstrap, "neardup": part_neardup, "http": part_http,
    "lock": part_lock, "config": part_config}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--requests", type=int, default=1000, help="HTTP requests at concurrency 1 (x2 at 16)")
    ap.add_argument("--near-dups", type=int, default=500, help="near-duplicates injected into SciFact")
    ap.add_argument("--lock-attempts", type=int, default=300)
    ap.add_argument("--out", default=str(HERE / "results" / "library_choices.md"))
    ap.add_argument("--note", default="", help="a remark on the conditions of this run, written with the date")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        ap.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    load = os.getloadavg()[0]
    sections: dict[str, list[str]] = {}
    for part in parts:
        t0 = time.perf_counter()
        sections[part] = PART_FUNCS[part](args)
        print(f"{part}: {time.perf_counter() - t0:.1f} s", flush=True)
    libs = ", ".join(f"{d} {md.version(d)}" for d in ("httpx", "h2", "filelock", "pydantic", "jsonargparse",
                                                      "scipy", "datasketch", "ranx", "numba"))
    order = ("http", "lock", "config", "bootstrap", "neardup", "fusion")
    text = "\n".join([
        *header("Library choices: our hand-written parts vs maintained libraries", extra=f"numpy {np.__version__}",
                lock=False),
        f"- load average at start: {load:.1f}, at end: {os.getloadavg()[0]:.1f} "
        "(shared machine: compare the ratios within a table, not absolute figures)"
        + (f"; {args.note}" if args.note else ""),
        f"- libraries: {libs}",
        "- decisions drawn from these figures: `docs/decisions/library-choices.md`", "",
        *[line for p in order if p in sections for line in sections[p]]])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
