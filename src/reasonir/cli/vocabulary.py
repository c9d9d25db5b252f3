"""The CLI vocabulary, stated once: one flag name per concept, shared by every command.

:data:`SHARED` holds the flags that mean the same thing wherever they appear (the README's table is
generated from it: :func:`markdown_table`); :data:`COMMAND_FLAGS` the flags only one command has.
``tests/test_cli_vocabulary.py`` walks every command's parser and fails on a flag found in neither,
on a former name left visible, on a shared flag whose config key differs from its name, and on a
flag two commands use without it being shared. Config-file keys are the flag names with ``_`` for
``-`` (``--top-k`` -> ``top_k``); former names still work, hidden, with a warning
(:mod:`reasonir.config_aliases`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One concept of the vocabulary.

    Attributes:
        flag: the long flag (``--top-k``).
        concept: what it means, in one line (the README's table).
        short: a short form, if any (``-k``).
        replaces: former spellings, still accepted as hidden deprecated aliases.
        choices: when set, the only values a command may offer for it (the meaning checked, not only
            the name).
    """

    flag: str
    concept: str
    short: str | None = None
    replaces: tuple[str, ...] = ()
    choices: tuple[str, ...] | None = None


#: flags every command accepts, before or after the command name
GLOBAL: tuple[Term, ...] = (
    Term("--verbose", "more logging (`-vv`: debug)", short="-v"),
    Term("--quiet", "only warnings and errors", short="-q"),
    Term("--no-progress", "no progress bars"),
    Term("--help", "the command's options", short="-h"),
)

SHARED: tuple[Term, ...] = (
    Term("--config", "options from a YAML/JSON file (keys = flag names); flags given with it win"),
    Term("--json", "print the result as one JSON object (last line of stdout)"),
    Term("--preset", "a settings profile (`paper` = ReasonIR's published settings)"),
    Term("--top-k", "depth: documents retrieved, reranked or shown per query", short="-k", replaces=("--k",)),
    Term("--out", "where the results go (a file or a folder)", replaces=("--output-dir", "OUT_DIR (encode)")),
    Term("--retriever", "the retrieval method (bm25, bm25q, dense, hybrid, ...)",
         replaces=("--mode (search, demo)", "--search (rag)")),
    Term("--weights", "hybrid fusion weights `dense,bm25`", replaces=("--hybrid-weights (bright)",)),
    Term("--model", "the dense encoder: `minilm`, `smollm2`, `hash`, a Hub id or a folder"),
    Term("--dtype", "the encoder's compute dtype", replaces=("--encoder-dtype (index build)",),
         choices=("auto", "bf16", "fp16", "fp32")),
    Term("--vector-dtype", "the dtype of stored vectors (an index's shards)",
         replaces=("--dtype (index build: now the encoder's)",), choices=("fp16", "fp32")),
    Term("--device", "where the encoder runs: auto, cpu, cuda, cuda:1"),
    Term("--devices", "one encoder process per device"),
    Term("--batch-size", "texts or prompts per model call"),
    Term("--max-length", "the encoder's max tokens per text"),
    Term("--instruction", "the encoder's query instruction"),
    Term("--shard-size", "rows per vector shard"),
    Term("--llm", "an LLM spec: smollm2, openai:MODEL, http://HOST:PORT/v1#MODEL, transformers:PATH, vllm:PATH"),
    Term("--llm-dtype", "a local LLM's compute dtype", replaces=("--dtype (rewrite, rerank, llm-serve)",),
         choices=("auto", "bf16", "fp16", "fp32")),
    Term("--llm-device", "where a local LLM (or cross-encoder) runs",
         replaces=("--device (rewrite, rerank, llm-serve)",)),
    Term("--llm-cache", "the LLM response cache: a SQLite path, or `off`", replaces=("--cache (rag)",)),
    Term("--temperature", "sampling temperature (train: the InfoNCE temperature)"),
    Term("--top-p", "nucleus sampling mass"),
    Term("--max-tokens", "generated tokens per LLM answer"),
    Term("--concurrency", "HTTP LLM backends: requests in flight"),
    Term("--timeout", "HTTP LLM backends: seconds per request"),
    Term("--max-retries", "HTTP LLM backends: retries per request"),
    Term("--prompt-template", "replace prompt templates: `NAME=FILE` (or `FILE`)"),
    Term("--seed", "random seed"),
    Term("--dataset", "a dataset: `beir:PATH`, `bright:TASK` (Hub) or `bright:TASK@DIR`"),
    Term("--split", "the dataset split"),
    Term("--queries", "the queries: a file, or a query variant (original, gpt4_reason, a rewritten-query file)",
         replaces=("--query-variant",)),
    Term("--qrels", "relevance judgements (TREC or BEIR TSV)"),
    Term("--run", "a TREC run file", replaces=("--runs (rag-datastore)",)),
    Term("--metrics", "comma-separated metrics (`ndcg@10`, or ir_measures' `nDCG@10`, `R@100`, `RR@10`)"),
    Term("--corpus", "documents: JSONL, TSV (`id<TAB>text`), BEIR folder, parquet or "
                     "`hf:NAME[:CONFIG][@SPLIT][?text=F&id=F]` (the one `hf:` syntax of corpora, queries and "
                     "synthesizer inputs)"),
    Term("--index", "an index folder (positional INDEX_DIR where the index is the subject)",
         replaces=("--index-dir (demo)",)),
    Term("--data", "a local copy of a benchmark (instead of the Hugging Face Hub)"),
    Term("--k1", "BM25 k1"),
    Term("--b", "BM25 b"),
    Term("--bm25", "an index's BM25 (on by default; `--no-bm25`: dense only)"),
    Term("--ann", "an index's FAISS ANN kind (hnsw, ivfpq) or compressed codes (sq8, sq4)"),
    Term("--refine", "compressed codes (ivfpq, sq8, sq4): candidates per result re-scored exactly"),
    Term("--filter", "a metadata filter on an index's documents, applied before the top-k "
                     "(`field == \"x\" and year >= 2020`)"),
    Term("--long-documents", "BRIGHT's long-document setting"),
    Term("--sample-queries", "a fixed random sample of N queries (0 = all)"),
    Term("--sample-seed", "the seed of --sample-queries"),
    Term("--passage-words", "passage length in words"),
    Term("--overwrite", "discard an existing output and start over", replaces=("--rebuild (demo)",)),
    Term("--chart", "draw the PNG chart (needs matplotlib)"),
    Term("--workers", "local encoder processes"),
    Term("--ray", "run on Ray"),
    Term("--ray-address", "the Ray cluster (default: a local one)"),
    Term("--ray-workers", "Ray encoder actors"),
    Term("--ray-gpus-per-worker", "GPUs per Ray actor"),
    Term("--reuse-vectors", "index folders whose encoded shards a write reuses instead of encoding again"),
    Term("--host", "the interface a server binds (127.0.0.1 unless told)"),
    Term("--port", "a server's TCP port (serve: 8000, llm-serve: 8001)"),
    Term("--api-key", "the key clients must send (Authorization: Bearer KEY)"),
    Term("--max-body-bytes", "the largest request body a server accepts"),
)

#: flags of one command only (a flag that a second command needs moves to SHARED)
COMMAND_FLAGS: dict[str, tuple[str, ...]] = {
    "retrieve": (),
    "evaluate": ("--examples", "--names", "--per-query", "--significance", "--alpha", "--permutations"),
    "encode": ("--side",),
    "rag": ("--benchmark", "--subset", "--subjects", "--limit", "--limit-per-subject", "--query", "--conditions",
            "--fallback", "--bootstrap", "--report-only"),
    "rag-datastore": ("--normalize-whitespace",),
    "rewrite": ("--mode", "--length-clause", "--separator"),
    "rerank": ("--reranker", "--prompt", "--stackexchange-prompt", "--combine", "--weight", "--combine-run",
               "--failure-score", "--grade-mode", "--parse-rule", "--logprobs", "--max-doc-words", "--context-tokens",
               "--max-query-words", "--raw-prompt", "--pairs-per-call", "--ce-max-length"),
    "llm-serve": ("--model-name", "--max-tokens-cap", "--micro-batch", "--micro-batch-wait"),
    "index build": ("--hnsw-m", "--ef-construction", "--ef-search", "--nlist", "--pq-m", "--nprobe",
                    "--document-instruction", "--store", "--milvus-collection", "--milvus-index-type",
                    "--milvus-consistency", "--milvus-shards"),
    "index add": ("--replace",),
    "index delete": ("--ids-file", "--missing-ok"),
    "index derive": (),
    "index info": ("--verify",),
    "search": ("--fusion", "--rrf-k", "--candidates", "--bm25-mode", "--exact", "--snippet-chars"),
    "serve": ("--allowed-hosts", "--max-query-chars", "--max-k", "--max-embedding-inputs", "--max-batch",
              "--batch-wait-ms"),
    "demo": ("--questions",),
    "synthesize": (
        "--input", "--kinds", "--retry-temperature", "--max-attempts", "--num-shards", "--shard-id", "--runner",
        "--ray-concurrency", "--ray-cpus-per-actor", "--max-input-docs", "--min-words", "--max-words", "--dedup",
        "--near-dup-threshold", "--edu-scorer", "--edu-model", "--edu-labels", "--edu-encoder", "--edu-threshold",
        "--budget", "--doc-max-words", "--query-instruction", "--doc-instruction", "--lenient", "--hq-per-doc",
        "--hq-min-words", "--hq-mode", "--hq-max-tokens", "--vl-tasks", "--vl-tasks-per-call", "--vl-task-file",
        "--vl-per-task", "--vl-length-range", "--vl-min-words", "--vl-max-overlap", "--vl-max-tokens",
        "--llm-negatives", "--neg-min-words", "--neg-max-tokens", "--mine", "--mine-corpus", "--mine-skip",
        "--mine-negatives", "--mine-depth", "--mine-encoder", "--judge-negatives", "--judge-candidates",
        "--judge-max-tokens", "--min-negatives", "--expand", "--expand-prompt", "--expand-mode", "--expand-max-tokens",
        "--st-export", "--released", "--released-source", "--bright-documents", "--released-limit", "--merge-shards"),
    "train": (
        "--train-data", "--mixed-precision", "--query-max-length", "--passage-max-length", "--similarity",
        "--group-size", "--cross-device", "--cross-device-gradient", "--gradcache", "--chunk-size", "--single-source",
        "--learning-rate", "--lr-scheduler", "--warmup-ratio", "--weight-decay", "--adam-beta1", "--adam-beta2",
        "--adam-epsilon", "--max-grad-norm", "--max-steps", "--epochs", "--gradient-checkpointing", "--lora",
        "--lora-r", "--lora-alpha", "--lora-dropout", "--lora-target-modules", "--logging-steps", "--save-steps",
        "--save-total-limit", "--resume", "--report-to", "--cpu"),
    "bright": ("--tasks", "--rerank", "--rerank-top-k", "--runs", "--revision", "--embedding-cache"),
}

#: the rules every command follows, besides the table (README, "One vocabulary")
RULES: tuple[str, ...] = (
    "Booleans are `--flag` / `--no-flag` (the former `--flag true|false` still works, with a warning).",
    "`-v`, `-q` and `--no-progress` work before or after the command name.",
    "Every command takes `--config FILE`; its keys are the flag names with `_` for `-`.",
    "Metrics are fractions (0-1) in every output, JSON and tables alike; only the BRIGHT leaderboard, "
    "printed beside the paper's numbers, shows nDCG@10 x100 and says so in its header.",
    "`retrieve`, `search --qrels`, `rerank` and `evaluate` report the same default metrics "
    "(ndcg@10, recall@10, recall@100, map@100, mrr@10); a metric deeper than the run's depth is not reported "
    "(a warning names it).",
)

BY_FLAG: dict[str, Term] = {t.flag: t for t in GLOBAL + SHARED}


def markdown_table() -> str:
    """The README's vocabulary table (concept -> flag), generated from :data:`SHARED` and :data:`GLOBAL`."""
    lines = ["| flag | meaning | replaces (still accepted, with a warning) |", "|---|---|---|"]
    for term in GLOBAL + SHARED:
        name = f"`{term.short}`, `{term.flag}`" if term.short else f"`{term.flag}`"
        replaced = ", ".join(f"`{r}`" if " " not in r else f"`{r.split(' ', 1)[0]}` {r.split(' ', 1)[1]}"
                             for r in term.replaces)
        lines.append(f"| {name} | {term.concept} | {replaced} |")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {rule}" for rule in RULES) + "\n"
