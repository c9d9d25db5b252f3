"""Query-side BM25 (``bm25q``) against BRIGHT's gensim path on BEIR SciFact: rankings and speed.

BRIGHT scores BM25 with gensim: a ``Dictionary`` over the analysed corpus, ``LuceneBM25Model(k1=0.9,
b=0.4)``, ``SparseMatrixSimilarity(normalize_queries=False, normalize_documents=False)``, then per
query ``sorted(dict(doc_id -> score))[:1000]``. Both systems here get the same analysed tokens
(:class:`reasonir.analysis.Analyzer`), so any ranking difference comes from arithmetic alone.

Run: ``flock /tmp/reasonir-bench.lock python benchmarks/bench_bm25q_gensim.py [--data DIR] [--repeats 5]``
Writes ``benchmarks/results/bm25q_gensim.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import DATA, ROOT, header, timed

from reasonir.analysis import Analyzer
from reasonir.data import load_beir
from reasonir.evaluate import evaluate
from reasonir.io import read_queries
from reasonir.retrieve.bm25 import BM25Index

K = 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA / "scifact"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "bm25q_gensim.md"))
    args = ap.parse_args()

    from gensim.corpora import Dictionary
    from gensim.models import LuceneBM25Model
    from gensim.similarities import SparseMatrixSimilarity

    ds = load_beir(args.data)
    corpus = ds.require_corpus()
    texts, doc_ids = [d.full_text for d in corpus], [d.id for d in corpus]
    all_queries = read_queries(Path(args.data) / "queries.jsonl")    # train + test claims, for timing
    qids = list(all_queries)
    queries = [all_queries[q] for q in qids]
    analyzer = Analyzer()

    # --- build both -----------------------------------------------------------------------------
    t0 = time.perf_counter()
    ours = BM25Index.build(texts, doc_ids, k1=0.9, b=0.4, analyzer=analyzer, show_progress=False)
    build_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    tokens = [analyzer(t) for t in texts]
    dictionary = Dictionary(tokens)
    model = LuceneBM25Model(dictionary=dictionary, k1=0.9, b=0.4)
    sim = SparseMatrixSimilarity(model[list(map(dictionary.doc2bow, tokens))], num_docs=len(tokens),
                                 num_terms=len(dictionary), normalize_queries=False, normalize_documents=False)
    build_gensim = time.perf_counter() - t0
    assert set(dictionary.token2id) == set(ours.vocab), "the two vocabularies differ"

    # --- retrieval ------------------------------------------------------------------------------
    def gensim_scores(text: str) -> np.ndarray:
        return sim[model[dictionary.doc2bow(analyzer(text))]]

    def gensim_bright() -> dict:
        run = {}
        for qid, text in zip(qids, queries):           # BRIGHT's loop: all docs into a dict, sorted()
            scores = dict(zip(doc_ids, gensim_scores(text).tolist()))
            run[qid] = dict(sorted(scores.items(), key=lambda x: x[1], reverse=True)[:K])
        return run

    def gensim_numpy() -> list:
        out = []
        for text in queries:
            s = gensim_scores(text)
            cand = np.flatnonzero(s > 0)
            order = np.argsort(-s[cand], kind="stable")[:K]
            out.append((cand[order], s[cand][order]))
        return out

    ours_arr, t_ours_arr, _ = timed(lambda: ours.search_arrays(queries, K, "bm25q"), repeats=args.repeats)
    ours_run, t_ours_run, _ = timed(lambda: ours.search(dict(zip(qids, queries)), K, "bm25q"), repeats=args.repeats)
    _, t_ours_single, _ = timed(lambda: [ours.search_arrays([q], K, "bm25q") for q in queries], repeats=args.repeats)
    reps_slow = max(1, args.repeats // 2)
    gen_arr, t_gen_np, _ = timed(gensim_numpy, repeats=reps_slow)
    gen_run, t_gen_bright, _ = timed(gensim_bright, repeats=reps_slow)
    try:
        import bm25s

        engine = bm25s.BM25(k1=0.9, b=0.4, method="lucene")
        engine.index(tokens, show_progress=False)
        q_tokens = [analyzer(t) for t in queries]
        _, t_bm25s, _ = timed(lambda: engine.retrieve(q_tokens, k=K, show_progress=False, n_threads=1), repeats=args.repeats)
    except ImportError:
        t_bm25s = None

    # --- ranking agreement (documents with a positive score) ------------------------------------
    identical, identical10, max_gap, diffs = 0, 0, 0.0, []
    for qi, ((ia, va), (ib, vb)) in enumerate(zip(ours_arr, gen_arr)):
        if np.array_equal(ia, ib):
            identical += 1
        if np.array_equal(ia[:10], ib[:10]):
            identical10 += 1
        if not np.array_equal(ia, ib):
            n = min(ia.size, ib.size)
            first = int(np.argmax(ia[:n] != ib[:n])) if (ia[:n] != ib[:n]).any() else n
            exact_a = ours.score(queries[qi], "bm25q")
            gap = abs(exact_a[ia[first]] - exact_a[ib[first]]) / max(abs(exact_a[ia[first]]), 1e-12) if first < n else 0.0
            max_gap = max(max_gap, gap)
            diffs.append((qids[qi], first, gap, ia.size, ib.size))
    test_q = set(ds.queries)
    ours_run = {q: r for q, r in ours_run.items() if q in test_q}
    gen_run_pos = {q: {d: s for d, s in r.items() if s > 0} for q, r in gen_run.items() if q in test_q}
    nd_ours = evaluate(ds.qrels, ours_run, ["ndcg@10", "recall@100"]).mean
    nd_gen = evaluate(ds.qrels, gen_run_pos, ["ndcg@10", "recall@100"]).mean

    nq = len(queries)
    rows = [
        ("reasonir `search_arrays` (batched, arrays)", t_ours_arr),
        ("reasonir `search` (batched, run dict)", t_ours_run),
        ("reasonir `search_arrays`, one query per call", t_ours_single),
        ("gensim + numpy top-k (arrays)", t_gen_np),
        ("gensim, BRIGHT's loop (dict + sorted, run dict)", t_gen_bright),
    ]
    if t_bm25s is not None:
        rows.append(("bm25s `retrieve` standard BM25 (context: other scoring)", t_bm25s))
    lines = [
        *header("Query-side BM25 vs BRIGHT's gensim path (SciFact)", extra=f"numpy {np.__version__}"),
        f"- corpus: SciFact, {len(texts):,} documents, {len(ours.vocab):,} terms; all {nq:,} queries (train+test) "
        f"timed, k={K}; nDCG on the {len(test_q)} test queries",
        "- both systems get the same analysed tokens (reasonir Lucene-English analyzer); k1=0.9, b=0.4",
        f"- build: reasonir {build_ours:.2f} s; gensim (analysis + Dictionary + model + similarity) {build_gensim:.2f} s",
        "",
        "| system | seconds (median) | queries/s | reasonir `search` speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name, t in rows:
        lines.append(f"| {name} | {t:.3f} | {nq / t:,.0f} | {t / t_ours_run:.1f}x |")
    lines += [
        "",
        "## Rankings",
        "",
        f"- identical top-{K} rankings (documents with score > 0): **{identical}/{nq}** queries; "
        f"identical top-10: {identical10}/{nq}",
        f"- nDCG@10 on the 300 test queries: reasonir {nd_ours['ndcg@10']:.4f}, gensim {nd_gen['ndcg@10']:.4f}; "
        f"recall@100 {nd_ours['recall@100']:.4f} / {nd_gen['recall@100']:.4f}",
    ]
    if diffs:
        lines += [
            f"- {len(diffs)} queries differ; at the first differing rank the two documents' exact (float64) "
            f"scores differ by at most {max_gap:.1e} relative: gensim stores weights and sums in float32 "
            "(SparseMatrixSimilarity's dtype), so near-ties within float32 rounding (~6e-8) can swap; "
            "reasonir sums float32 document weights times float64 query weights in float64.",
            "",
            "| query | first differing rank | relative score gap | results (reasonir / gensim) |",
            "|---|---:|---:|---|",
        ]
        lines += [f"| {q} | {r + 1} | {g:.1e} | {a} / {b} |" for q, r, g, a, b in diffs[:15]]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
