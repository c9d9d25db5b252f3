"""The bad inputs of ``probe_bad_inputs.py``: fixtures in a temporary folder and one probe per input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from probe_bad_inputs import Env, Outcome, Probe

TOPICS = ["cancer cells divide", "white matter in newborn brains", "protein folding energy", "vaccine trial results",
          "gut microbiome diversity", "neuron firing rates", "insulin resistance in mice", "DNA repair enzymes"]


def _corpus(n: int = 40, prefix: str = "d") -> list[dict[str, Any]]:
    return [{"_id": f"{prefix}{i}", "title": f"title {i}",
             "text": f"{TOPICS[i % len(TOPICS)]} study number {i} with measured outcomes and cells"} for i in range(n)]


def _fixtures(env: Env) -> dict[str, str]:
    f: dict[str, str] = {}
    f["corpus"] = env.jsonl("corpus.jsonl", _corpus())
    f["corpus_b"] = env.jsonl("corpus_b.jsonl", [{"_id": f"b{i}", "text": f"other text {i} about {TOPICS[-i % 8]}"}
                                                  for i in range(40)])
    f["queries"] = env.jsonl("queries.jsonl", [{"_id": "q1", "text": "why do cancer cells divide"},
                                               {"_id": "q2", "text": "newborn white matter"}])
    f["queries_empty_text"] = env.jsonl("queries_empty.jsonl", [{"_id": "q1", "text": "cells"},
                                                                 {"_id": "q2", "text": "   "}])
    f["qrels"] = env.write("qrels.txt", "q1 0 d0 1\nq2 0 d1 1\n")
    f["qrels_empty"] = env.write("qrels_empty.txt", "")
    f["qrels_disjoint"] = env.write("qrels_disjoint.txt", "zz1 0 d0 1\nzz2 0 d1 1\n")
    f["qrels_no_positive"] = env.write("qrels_zero.txt", "q1 0 d0 0\nq2 0 d1 0\n")
    f["qrels_latin1"] = env.write("qrels_latin1.txt", "q1 0 d\xe90 1\n".encode("latin-1"))
    f["run"] = env.write("run.trec", "q1 Q0 d0 1 2.5 t\nq1 Q0 d3 2 1.5 t\nq2 Q0 d1 1 3.0 t\n")
    f["run_nan"] = env.write("run_nan.trec", "q1 Q0 d0 1 nan t\nq2 Q0 d1 1 3.0 t\n")
    f["run_short"] = env.write("run_short.trec", "q1 Q0 d0 1\n")
    f["dir"] = str(env.path("a_directory"))
    env.path("a_directory").mkdir()
    f["file"] = env.write("a_file.txt", "not an index\n")
    # an index over the corpus: hash encoder (model-free) + BM25
    out = env.cli("index", "build", f["corpus"], str(env.path("idx")), "--model", "hash", "--bm25")
    if out.code != 0:
        raise RuntimeError(f"fixture index build failed: {out.stderr[-2000:]}")
    f["idx"] = str(env.path("idx"))
    return f


def _corpus_variants(env: Env) -> dict[str, str]:
    good = _corpus(4)
    return {
        "id with TAB": env.jsonl("c_tab.jsonl", [*good, {"_id": "bad\tid", "text": "x"}]),
        "id with newline": env.jsonl("c_nl.jsonl", [*good, {"_id": "bad\nid", "text": "x"}]),
        "empty id": env.jsonl("c_emptyid.jsonl", [*good, {"_id": "", "text": "x"}]),
        "duplicate ids": env.jsonl("c_dup.jsonl", [*good, {"_id": "d1", "text": "again"}]),
        "malformed JSON line": env.write("c_badjson.jsonl", json.dumps(good[0]) + "\n{\"_id\": \"x\", \n"),
        "non-UTF-8 bytes": env.write("c_latin1.jsonl", b'{"_id": "x", "text": "caf\xe9"}\n'),
        "missing text field (body instead)": env.jsonl("c_notext.jsonl", [*good, {"_id": "z", "body": "misnamed field"}]),
        "id of wrong type (list)": env.jsonl("c_listid.jsonl", [*good, {"_id": ["a"], "text": "x"}]),
        "empty corpus file": env.write("c_empty.jsonl", ""),
    }


def _leaves_nothing(env: Env, name: str):
    def check(out: Outcome) -> str | None:
        p = env.path(name)
        if p.exists():
            return f"left {name}/ behind: {sorted(x.name for x in p.iterdir())[:5]}"
        return None
    return check


def _same_vectors_as_fresh(env: Env, out_dir: str, corpus: str):
    def check(out: Outcome) -> str | None:
        import numpy as np

        fresh = env.cli("encode", corpus, str(env.path("enc_fresh")), "--model", "hash")
        if fresh.code != 0:
            return f"fresh encoding failed: {fresh.message}"

        def load(d: str) -> tuple[list[str], Any]:
            root = Path(d)
            ids = json.loads((root / "ids.json").read_text())
            shards = sorted(root.glob("*.npy"))
            return ids, np.concatenate([np.load(s, allow_pickle=False) for s in shards]).astype("float32")

        ids_a, va = load(out_dir)
        ids_b, vb = load(str(env.path("enc_fresh")))
        if ids_a != ids_b:
            return "ids differ from a fresh encoding"
        diff = float(np.abs(va - vb).max())
        return None if diff < 1e-5 else f"vectors differ from a fresh encoding (max |diff| {diff:.3f})"
    return check


def build_probes(env: Env, servers: list, server_cls: type, skip_llm: bool = False) -> list[Probe]:  # noqa: PLR0915
    """Every probe, in report order (fixtures are made here, servers are started lazily)."""
    f = _fixtures(env)
    cv = _corpus_variants(env)
    idx = f["idx"]
    cli = env.cli
    probes: list[Probe] = []

    def add(name: str, fn, expect: str = "error", check=None) -> None:
        probes.append(Probe(name, fn, expect, check))

    # --- evaluate
    add("evaluate: empty qrels", lambda: cli("evaluate", "--qrels", f["qrels_empty"], "--run", f["run"]))
    add("evaluate: qrels share no query with the run",
        lambda: cli("evaluate", "--qrels", f["qrels_disjoint"], "--run", f["run"]))
    add("evaluate: qrels without a positive judgement",
        lambda: cli("evaluate", "--qrels", f["qrels_no_positive"], "--run", f["run"]))
    add("evaluate: --qrels is a directory", lambda: cli("evaluate", "--qrels", f["dir"], "--run", f["run"]))
    add("evaluate: --run is a directory", lambda: cli("evaluate", "--qrels", f["qrels"], "--run", f["dir"]))
    add("evaluate: NaN score in the run", lambda: cli("evaluate", "--qrels", f["qrels"], "--run", f["run_nan"]))
    add("evaluate: run line with 4 columns", lambda: cli("evaluate", "--qrels", f["qrels"], "--run", f["run_short"]))
    add("evaluate: non-UTF-8 qrels", lambda: cli("evaluate", "--qrels", f["qrels_latin1"], "--run", f["run"]))
    add("evaluate: unknown metric", lambda: cli("evaluate", "--qrels", f["qrels"], "--run", f["run"],
                                                "--metrics", "ndcg@ten"))
    add("evaluate: missing run file", lambda: cli("evaluate", "--qrels", f["qrels"], "--run", "no-such-run.trec"))
    # --- search
    add("search: empty query", lambda: cli("search", idx, "", "--retriever", "bm25"))
    add("search: whitespace-only query", lambda: cli("search", idx, "   ", "--retriever", "bm25"))
    add("search: query file with an empty query", lambda: cli("search", idx, "--queries", f["queries_empty_text"],
                                                              "--retriever", "bm25", "--out", str(env.path("r1.trec"))))
    add("search: --queries is a directory", lambda: cli("search", idx, "--queries", f["dir"], "--retriever", "bm25"))
    add("search: --out is a directory", lambda: cli("search", idx, "--queries", f["queries"], "--out", f["dir"],
                                                    "--retriever", "bm25"))
    add("search: NaN hybrid weight", lambda: cli("search", idx, "cells", "--weights", "nan,1"))
    add("search: -k 0", lambda: cli("search", idx, "cells", "-k", "0", "--retriever", "bm25"))
    add("search: negative -k", lambda: cli("search", idx, "cells", "-k", "-5", "--retriever", "bm25"))
    add("search: index path does not exist", lambda: cli("search", str(env.path("no-index")), "cells"))
    add("search: index path is a regular file", lambda: cli("search", f["file"], "cells"))
    add("search: recall@100 of a 10-deep run", lambda: cli("search", idx, "--queries", f["queries"], "--qrels",
                                                           f["qrels"], "-k", "10", "--metrics", "recall@100",
                                                           "--retriever", "bm25"))
    add("search: --snippet-chars 3 (used to crash)", lambda: cli("search", idx, "cancer cells", "--snippet-chars", "3",
                                                                "--retriever", "bm25"), expect="ok")
    add("search: unknown mode", lambda: cli("search", idx, "cells", "--retriever", "sparse"))
    add("search: --config value of the wrong type", lambda: cli(
        "search", idx, "cells", "--config", env.write("cfg_k.json", json.dumps({"k": "two"}))))
    add("search: --config with an unknown key", lambda: cli(
        "search", idx, "cells", "--config", env.write("cfg_unknown.json", json.dumps({"kk": 3}))))
    add("search: --config is malformed YAML", lambda: cli(
        "search", idx, "cells", "--config", env.write("cfg_bad.yaml", "k: [1, 2\nmode: : bm25\n")))
    add("search: --config file missing", lambda: cli("search", idx, "cells", "--config", "no-such-config.yaml"))
    # --- index build / add
    for what, path in cv.items():
        name = "idx_" + "".join(c if c.isalnum() else "_" for c in what)
        add(f"index build: corpus with {what}", lambda p=path, n=name: cli("index", "build", p, str(env.path(n)),
                                                                            "--model", "hash"),
            check=_leaves_nothing(env, name))
    add("index build: index path is a regular file", lambda: cli("index", "build", f["corpus"], f["file"],
                                                                 "--model", "hash"))
    add("index build: unknown encoder", lambda: cli("index", "build", f["corpus"], str(env.path("idx_unknown_model")),
                                                    "--model", "no-such-model-here"),
        check=_leaves_nothing(env, "idx_unknown_model"))
    add("index add: a document id already in the index", lambda: cli("index", "add", idx, env.jsonl(
        "add_dup.jsonl", [{"_id": "d0", "text": "again"}])))
    add("index add: id with TAB", lambda: cli("index", "add", idx, env.jsonl(
        "add_tab.jsonl", [{"_id": "new\tone", "text": "text"}])))
    # --- encode
    enc = str(env.path("enc_out"))
    add("encode: --overwrite with other texts reuses nothing", lambda: (
        cli("encode", f["corpus"], enc, "--model", "hash"),
        cli("encode", f["corpus_b"], enc, "--model", "hash", "--overwrite"))[1],
        expect="ok", check=_same_vectors_as_fresh(env, enc, f["corpus_b"]))
    add("encode: output folder is a regular file", lambda: cli("encode", f["corpus"], f["file"], "--model", "hash"))
    # --- retrieve
    beir = env.path("beir")
    (beir / "qrels").mkdir(parents=True)
    env.jsonl("beir/corpus.jsonl", _corpus(10))
    env.jsonl("beir/queries.jsonl", [{"_id": "q1", "text": "cancer"}, {"_id": "q2", "text": " "}])
    env.write("beir/qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td0\t1\nq2\td1\t1\n")
    add("retrieve: --out is a directory", lambda: cli("retrieve", "--dataset", f"beir:{beir}", "--out", f["dir"]))
    add("retrieve: dataset with an empty query", lambda: cli("retrieve", "--dataset", f"beir:{beir}"))
    add("retrieve: BEIR folder does not exist", lambda: cli("retrieve", "--dataset", f"beir:{env.path('nope')}"))
    add("retrieve: unknown BRIGHT task", lambda: cli("retrieve", "--dataset", f"bright:not_a_task@{f['dir']}"))
    add("retrieve: unknown dataset kind", lambda: cli("retrieve", "--dataset", "msmarco:dev"))
    # --- LLM commands against a dead endpoint
    dead = "http://127.0.0.1:9/v1#model"
    add("rewrite: dead LLM endpoint", lambda: cli("rewrite", "--dataset", f"beir:{beir}", "--llm", dead,
                                                  "--max-retries", "0", "--timeout", "2",
                                                  "--out", str(env.path("rw.jsonl"))), check=None)
    add("rerank: dead LLM endpoint", lambda: cli("rerank", "--run", f["run"], "--dataset", f"beir:{beir}",
                                                 "--reranker", dead, "--max-retries", "0", "--timeout", "2",
                                                 "--out", str(env.path("rr.trec"))))
    # --- serve: the CLI refuses an empty key
    add("serve: --api-key '' (unset variable)", lambda: cli("serve", idx, "--api-key", "", "--port", "0", timeout=60))
    probes.extend(_http_probes(env, servers, server_cls, idx))
    if not skip_llm:
        probes.extend(_llm_probes(env, servers, server_cls))
    return probes


def _lazy(servers: list, factory):
    box: dict[str, Any] = {}

    def get():
        if "s" not in box:
            box["s"] = factory()
            servers.append(box["s"])
        return box["s"]
    return get


def _http_probes(env: Env, servers: list, server_cls: type, idx: str) -> list[Probe]:
    open_srv = _lazy(servers, lambda: server_cls(env, ["serve", idx]))
    key_srv = _lazy(servers, lambda: server_cls(env, ["serve", idx, "--api-key", "s3cret-key"]))
    P = Probe
    s = lambda *a, **kw: open_srv().request(*a, **kw)  # noqa: E731
    k = lambda *a, **kw: key_srv().request(*a, **kw)  # noqa: E731
    return [
        P("HTTP /search: empty query", lambda: s("POST", "/search", body={"query": ""})),
        P("HTTP /search: whitespace-only query", lambda: s("POST", "/search", body={"query": "  \n "})),
        P("HTTP /search: NaN weight", lambda: s("POST", "/search", raw=b'{"query": "cells", "weights": [NaN, 1]}')),
        P("HTTP /search: Infinity rrf_k", lambda: s("POST", "/search", raw=b'{"query": "cells", "rrf_k": Infinity}')),
        P("HTTP /search: k = -1", lambda: s("POST", "/search", body={"query": "cells", "k": -1})),
        P("HTTP /search: k over the limit", lambda: s("POST", "/search", body={"query": "cells", "k": 10 ** 7})),
        P("HTTP /search: unknown mode", lambda: s("POST", "/search", body={"query": "cells", "mode": "sparse"})),
        P("HTTP /search: malformed JSON", lambda: s("POST", "/search", raw=b'{"query": "cells",')),
        P("HTTP /search: body over the size cap", lambda: s("POST", "/search",
                                                           body={"query": "x" * (2 << 20)})),
        P("HTTP /search: query is a list", lambda: s("POST", "/search", body={"query": ["a", "b"]})),
        P("HTTP /search: snippet_chars 3 (used to crash)", lambda: s("POST", "/search", body={
            "query": "cancer cells", "mode": "bm25", "snippet_chars": 3}), expect="ok"),
        P("HTTP /search: foreign Host header (DNS rebinding)", lambda: s("POST", "/search", body={"query": "cells"},
                                                                        headers={"host": "evil.example:8000"})),
        P("HTTP /documents: unknown 5,000-character id (404 body capped)",
          lambda: s("GET", "/documents/" + "z" * 5000),
          check=lambda out: None if len(out.body) < 1000 else f"404 body is {len(out.body)} bytes"),
        P("HTTP /v1/embeddings: empty input list", lambda: s("POST", "/v1/embeddings", body={"input": []})),
        P("HTTP /v1/embeddings: input of the wrong type", lambda: s("POST", "/v1/embeddings", body={"input": {"a": 1}})),
        P("HTTP keyed /search without the key", lambda: k("POST", "/search", body={"query": "cells"})),
        P("HTTP keyed /search with a wrong key", lambda: k("POST", "/search", body={"query": "cells"},
                                                           headers={"authorization": "Bearer wrong"})),
        P("HTTP keyed /openapi.json without the key", lambda: k("GET", "/openapi.json")),
        P("HTTP keyed /docs without the key", lambda: k("GET", "/docs")),
    ]


def _llm_probes(env: Env, servers: list, server_cls: type) -> list[Probe]:
    llm = _lazy(servers, lambda: server_cls(env, ["llm-serve", "smollm2"], ready_path="/v1/models", timeout=300))
    chat = lambda **kw: llm().request("POST", "/v1/chat/completions", body={  # noqa: E731
        "model": "smollm2", "messages": [{"role": "user", "content": "Say hi"}], **kw})
    P = Probe
    return [
        P("HTTP llm-serve: max_tokens -1", lambda: chat(max_tokens=-1)),
        P("HTTP llm-serve: max_tokens over the cap", lambda: chat(max_tokens=10 ** 9)),
        P("HTTP llm-serve: logprobs 100000", lambda: chat(max_tokens=2, logprobs=True, top_logprobs=100000)),
        P("HTTP llm-serve: temperature -1", lambda: chat(max_tokens=2, temperature=-1)),
        P("HTTP llm-serve: top_p 5", lambda: chat(max_tokens=2, top_p=5)),
        P("HTTP llm-serve: messages missing", lambda: llm().request("POST", "/v1/chat/completions",
                                                                   body={"model": "smollm2"})),
        P("HTTP llm-serve: malformed JSON", lambda: llm().request("POST", "/v1/chat/completions", raw=b"{")),
    ]
