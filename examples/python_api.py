"""The Python API on one page: build an index from documents in memory, search it, evaluate it.

Run it as a script, ``python examples/python_api.py [MODEL [WORKDIR]]`` (``MODEL`` defaults to the
embedded ``minilm``; ``hash`` needs no model at all; ``WORKDIR`` defaults to a new temporary
folder), or cell by cell (``# %%``) in VS Code, PyCharm or Jupytext. Nothing depends on the folder
it is run from.
"""

# %% setup
import sys
import tempfile
from pathlib import Path

import reasonir

MODEL = sys.argv[1] if len(sys.argv) > 1 else "minilm"
WORKDIR = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="reasonir-example-"))

# %% documents, queries and judgements in memory: plain dicts, as BEIR loads them
docs = [
    {"_id": "ice", "title": "Why ice floats",
     "text": "Water expands when it freezes, so ice is about 9% less dense than liquid water and floats."},
    {"_id": "rust", "title": "Rust",
     "text": "Iron oxidises when it meets oxygen and water, forming hydrated iron oxide: rust."},
    {"_id": "salt", "title": "Salt on winter roads",
     "text": "Dissolved salt lowers the freezing point of water, so salted roads stay free of ice."},
    {"_id": "boil", "title": "Cooking at altitude",
     "text": "Lower air pressure in the mountains lowers the boiling point, so cooking takes longer."},
]
queries = {
    "q1": "Why do icebergs float on the sea?",
    "q2": "why do they put salt on icy roads",
    "q3": "pasta takes longer cooking in the mountains",
}
qrels = {"q1": {"ice": 1}, "q2": {"salt": 1}, "q3": {"boil": 1}}

# %% build an index from the list (ids are checked as in corpus files) and search it
index = reasonir.Index.build(docs, WORKDIR / "index", model=MODEL, bm25=True)
print(index)

hits = index.search("why does ice float on water", k=2)        # one query string -> one hit list
for hit in hits:
    print(f"{hit.score:.3f}  {hit.docid:<5} {hit.title}: {hit.text[:50]}...")

# %% add documents (Document objects this time): searchable at once, nothing else re-encoded
index.add([reasonir.Document("steel", "Stainless steel does not rust: chromium forms a protective oxide layer.",
                             title="Stainless steel")])
print(index.search("does stainless steel rust?", k=1)[0])

# %% evaluate: a run is {query_id: {doc_id: score}}, or {query_id: hits} straight from search
run = {qid: index.search(text, k=5) for qid, text in queries.items()}
result = reasonir.evaluate(qrels, run, "ndcg@5,recall@5,mrr")
print({metric: round(value, 4) for metric, value in result.mean.items()})

# %% the same run as a TREC file, read back and scored again
reasonir.write_run(WORKDIR / "run.trec", index.search_run(queries, k=5), tag=f"reasonir-{MODEL}")
assert reasonir.evaluate(qrels, reasonir.read_run(WORKDIR / "run.trec"), result.metrics).mean == result.mean

# %% an index is a context manager: reopen the folder later (or from another process) and close it after use
index.close()
with reasonir.Index.open(WORKDIR / "index") as reopened:
    print(reopened.num_documents, "documents,", reopened.modes)

# %% LangChain and LlamaIndex retrievers over this index
# (pip install 'reasonir[langchain,llamaindex]'; ReasonIRServerRetriever(url=..., api_key=...) in the same
# modules searches a `reasonir serve` server instead)
from reasonir.errors import DependencyError

try:
    from reasonir.integrations.langchain import ReasonIRRetriever as LangChainRetriever
    from reasonir.integrations.llamaindex import ReasonIRRetriever as LlamaIndexRetriever
except DependencyError as exc:
    print(exc)
else:
    with reasonir.Index.open(WORKDIR / "index") as index:
        lc_docs = LangChainRetriever(index=index, k=2).invoke("why does ice float on water")
        print([(doc.id, doc.metadata["title"]) for doc in lc_docs])           # LangChain Documents
        li_nodes = LlamaIndexRetriever(index, k=2).retrieve("why does ice float on water")
        print([(node.node.node_id, round(node.score, 3)) for node in li_nodes])  # LlamaIndex NodeWithScore
