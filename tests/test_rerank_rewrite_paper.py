"""`--preset paper` for `reasonir rerank` and `reasonir rewrite`: every preset value reaches the LLM call,
flags override the preset, the reference's strict grade parse, context-only truncation, replaceable
prompt templates whose sha256 is recorded."""

from __future__ import annotations

import hashlib
import json

import pytest
from llm_fakes import make_bright_dir

from reasonir.cli import main
from reasonir.errors import ConfigError
from reasonir.io import read_run
from reasonir.llm import FunctionLLM, load_llm
from reasonir.prompts.presets import preset_digest
from reasonir.prompts.rerank import DEFAULT as RERANK_PROMPTS
from reasonir.rerank import ContextFitter, LLMReranker, combine_scores, parse_grade_strict
from reasonir.workflows import rerank as rerank_workflow
from reasonir.workflows import rewrite as rewrite_workflow
from reasonir.workflows.retrieve import RetrieveConfig, run_retrieve

LONG_WORDS = 2000


class Recorder:
    """A fake LLM function that keeps every (prompt, params) and grades gold documents 4.5, others 1."""

    def __init__(self, answer=None):
        self.calls = []
        self.answer = answer

    def __call__(self, prompt, params):
        self.calls.append((prompt, params))
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        if self.answer:
            return self.answer(text)
        return "Relevance score: 4.5" if "zqx" in text.split("</query>")[-1] else "Relevance score: 1"

    def texts(self):
        return [p if isinstance(p, str) else p[-1]["content"] for p, _ in self.calls]


@pytest.fixture()
def fixture(tmp_path, bright_dir):
    """BRIGHT-format biology data with one 2000-word gold document, a variant file, and a BM25 run
    retrieved with that variant (so its config.json records it)."""
    root, examples, keywords = make_bright_dir(tmp_path / "bright", bright_dir, n=2)
    docs_path = root / "biology" / "documents.jsonl"
    rows = [json.loads(line) for line in docs_path.read_text().splitlines()]
    long_id = examples[0]["gold_ids"][0]
    for r in rows:
        if r["id"] == long_id:
            r["content"] += " " + " ".join(f"w{i}" for i in range(LONG_WORDS))
    docs_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    variant = tmp_path / "variant.jsonl"
    variant.write_text("".join(json.dumps({"id": ex["id"], "query": f"VARIANT about {keywords[ex['id']]}"}) + "\n"
                               for ex in examples))
    run = tmp_path / "first.trec"
    run_retrieve(RetrieveConfig(dataset=f"bright:biology@{root}", retriever="bm25", top_k=10, metrics="ndcg@10",
                                query_variant=str(variant), out=str(run)))
    return {"root": root, "examples": examples, "variant": variant, "run": run, "long_id": long_id,
            "tmp": tmp_path}


def _fake_llm(monkeypatch, module, recorder, backend_attrs=None):
    def open_fake(cfg, spec=None):
        fn = FunctionLLM(recorder, "recorder")
        for k, v in (backend_attrs or {}).items():
            setattr(fn, k, v)
        return load_llm(fn, cache=None)

    monkeypatch.setattr(module, "open_llm", open_fake)


def _rerank(fx, *flags):
    out = fx["tmp"] / "rr.trec"
    for p in fx["tmp"].glob("rr.trec*"):
        p.unlink()
    rc = main(["rerank", "--run", str(fx["run"]), "--dataset", f"bright:biology@{fx['root']}", "--metrics", "ndcg@10",
               "--out", str(out), "--json", *flags])
    assert rc == 0
    saved = json.loads((fx["tmp"] / "rr.trec.config.json").read_text())
    rows = [json.loads(x) for x in (fx["tmp"] / "rr.trec.judgements.jsonl").read_text().splitlines()]
    return saved, rows, read_run(out)


def test_paper_rerank_preset_reaches_the_llm_call(fixture, monkeypatch, capsys):
    rec = Recorder()
    _fake_llm(monkeypatch, rerank_workflow, rec)
    saved, rows, final = _rerank(fixture, "--preset", "paper")
    assert rec.calls and len(rows) == 19 and len(rec.calls) == len(set(rec.texts()))   # identical prompts asked once
    for prompt, params in rec.calls:
        assert isinstance(prompt, str)                                   # raw prompt, not a chat
        assert (params.temperature, params.top_p, params.max_tokens) == (0.6, 0.9, 32)
    texts = rec.texts()
    # the StackExchange task biology gets the general prompt kind
    general_head = RERANK_PROMPTS.texts["general"].split("{query}")[0]
    assert all(t.startswith(general_head) for t in texts)
    assert not any(t.startswith(RERANK_PROMPTS.texts["stackexchange"].split("{query}")[0]) for t in texts)
    # the query variant the run was retrieved with (recorded in its config.json), not the original posts
    assert all("<query>\nVARIANT about zqx" in t for t in texts)
    assert saved["query_variant"]["path"] == str(fixture["variant"])
    # full documents: the 2000-word document arrives whole
    assert sum(f"w{LONG_WORDS - 1}" in t for t in texts) == 1
    assert saved["grades"]["truncated_words"] == 0 and saved["grades"]["truncated_context"] == 0
    # strict parse: "Relevance score: 4.5" reads the two characters " 4"
    gold = [r for r in rows if r["text"] == "Relevance score: 4.5"]
    assert gold and all(r["grade"] == 4.0 and r["method"] == "strict" for r in gold)
    # final = 0.5 * grade/5 + 0.5 * retriever score over the top 100
    for r in rows:
        assert final[r["qid"]][r["doc_id"]] == pytest.approx(0.5 * r["score"] + 0.5 * r["retriever_score"])
    cfg = saved["config"]
    assert (cfg["top_k"], cfg["weight"], cfg["combine"], cfg["failure_score"]) == (100, 0.5, "interpolate", -1.0)
    assert saved["preset"] == "paper" and saved["preset_sha256"] == preset_digest("paper", "rerank")
    assert saved["prompt_format"] == "raw" and saved["parse_rule"] == "strict" and saved["prompt_family"] == "general"
    assert saved["prompt_templates"]["general"] == {
        "sha256": hashlib.sha256(RERANK_PROMPTS.texts["general"].encode()).hexdigest(), "source": "builtin"}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["preset"] == "paper"


def test_without_the_preset_our_defaults_apply(fixture, monkeypatch):
    rec = Recorder()
    _fake_llm(monkeypatch, rerank_workflow, rec)
    saved, rows, _ = _rerank(fixture)
    for prompt, params in rec.calls:
        assert isinstance(prompt, list) and prompt[-1]["role"] == "user"             # a chat
        assert (params.temperature, params.top_p, params.max_tokens) == (0.0, 1.0, 32)
    texts = rec.texts()
    assert all(t.startswith(RERANK_PROMPTS.texts["stackexchange"].split("{query}")[0]) for t in texts)
    assert not any("VARIANT" in t for t in texts)                       # the dataset's own queries
    assert not any(f"w{LONG_WORDS - 1}" in t for t in texts) and saved["grades"]["truncated_words"] == 1
    gold = [r for r in rows if r["text"] == "Relevance score: 4.5"]
    assert gold and all(r["grade"] == 4.5 and r["method"] == "marker" for r in gold)


def test_flags_override_the_preset(fixture, monkeypatch):
    rec = Recorder()
    _fake_llm(monkeypatch, rerank_workflow, rec)
    saved, rows, _ = _rerank(fixture, "--preset", "paper", "--temperature", "0.1", "--top-p", "0.5",
                             "--no-raw-prompt", "--parse-rule", "lenient", "--stackexchange-prompt",
                             "stackexchange", "--queries", "original", "--max-doc-words", "100", "--top-k", "3",
                             "--metrics", "ndcg@3")
    for prompt, params in rec.calls:
        assert isinstance(prompt, list) and (params.temperature, params.top_p) == (0.1, 0.5)
    texts = rec.texts()
    assert all(t.startswith(RERANK_PROMPTS.texts["stackexchange"].split("{query}")[0]) for t in texts)
    assert not any("VARIANT" in t for t in texts)
    assert all(len(r["qid"]) and r["method"] == "marker" for r in rows) and len(rows) == 3 * 2
    assert saved["config"]["top_k"] == 3 and saved["preset"] == "paper"


def _reference(text):
    """The reference reranker's score: float() of the 2 characters after the last marker / 5; -1; 0."""
    if "Relevance score:" not in text:
        return 0.0
    i = text.rfind("Relevance score:")
    try:
        return float(text[i + 16:i + 18]) / 5
    except ValueError:
        return -1.0


STRICT_CASES = ["Relevance score: 4.", "Relevance score: 4.5", "Relevance score:4.5", "Relevance score: 10",
                "Relevance score: **3**", "**Relevance score:** 3", "relevance score: 3", "The document is off-topic.",
                "", "Relevance score: 2\nOn reflection, Relevance score: 5", "Relevance score:-1", "Relevance score: -1",
                "Relevance score: 5\n", "Relevance score:", "Relevance score: five"]


@pytest.mark.parametrize("text", STRICT_CASES)
def test_strict_parse_reads_exactly_what_the_reference_reads(text):
    parsed = parse_grade_strict(text)
    score = -1.0 if parsed.grade is None else parsed.grade / 5        # --failure-score -1 (the preset)
    assert score == pytest.approx(_reference(text))


def test_strict_rule_through_the_reranker_and_the_combination():
    answers = iter(STRICT_CASES)
    llm = load_llm(FunctionLLM(lambda p, params: next(answers), "scripted"), cache=None)
    reranker = LLMReranker(llm, parse_rule="strict", chat=False)
    scores = reranker.score([("q", f"d{i}") for i in range(len(STRICT_CASES))])
    final = combine_scores({"q": {f"d{i}": s.score for i, s in enumerate(scores)}},
                           {"q": {f"d{i}": 0.0 for i in range(len(STRICT_CASES))}}, "reranker", failure_score=-1.0)
    assert [final["q"][f"d{i}"] for i in range(len(STRICT_CASES))] == pytest.approx(
        [_reference(t) for t in STRICT_CASES])
    lenient = LLMReranker(load_llm(FunctionLLM(lambda p, params: "Relevance score: 4.5", "s2"), cache=None))
    assert lenient.score(("q", "d")).grade == 4.5                     # ours stays the default
    with pytest.raises(ConfigError, match="lenient, strict"):
        LLMReranker(llm, parse_rule="exact")


def test_context_fit_cuts_only_what_does_not_fit_and_counts(fixture, monkeypatch):
    rec = Recorder()
    # a backend that announces a 600-token context (as a local model's max_position_embeddings)
    from types import SimpleNamespace

    model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=600))
    _fake_llm(monkeypatch, rerank_workflow, rec, {"model": model})
    saved, rows, _ = _rerank(fixture, "--preset", "paper")
    fitter = ContextFitter(load_llm(FunctionLLM(rec, "x"), cache=None), 600, 32)
    assert all(fitter.count(p) <= 600 - 32 for p, _ in rec.calls)
    assert saved["grades"]["truncated_context"] == 1 and saved["grades"]["truncated_words"] == 0
    assert saved["context"] == {"tokens": 600, "counted_by": "estimate (3 characters per token)"}
    long_text = next(t for t in rec.texts() if "w0 w1 w2" in t)
    assert f"w{LONG_WORDS - 1}" not in long_text and long_text.endswith("X is a whole number from 0 to 5.")
    # an explicit context length wins over the backend's
    saved, _, _ = _rerank(fixture, "--preset", "paper", "--context-tokens", "5000")
    assert saved["grades"]["truncated_context"] == 0 and saved["context"]["tokens"] == 5000
    with pytest.raises(ConfigError, match="auto, off or a positive"):
        rerank_workflow.resolve_context(rerank_workflow.RerankConfig(run="r", dataset="d", context_tokens="big"),
                                        None)


def test_context_fit_with_the_backend_tokenizer():
    pytest.importorskip("transformers")
    from types import SimpleNamespace

    import transformers

    from reasonir.errors import DependencyError
    from reasonir.llm.local import smollm2_model_dir

    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(smollm2_model_dir()))
    except DependencyError as exc:
        pytest.skip(str(exc))
    backend = SimpleNamespace(name="tok", tokenizer=tok, backend=None)
    fitter = ContextFitter(SimpleNamespace(backend=backend), 300, 32)
    document = " ".join(f"word{i}" for i in range(1000))
    build = lambda d: RERANK_PROMPTS.text("general", "a query", d)  # noqa: E731
    prompt, cut = fitter.fit(build, document)
    n = len(tok(prompt)["input_ids"])
    assert cut and n <= 300 - 32 and n > 300 - 32 - 40                 # cut, and not by much more than needed
    assert prompt.split("<document>\n")[1].startswith("word0 word1")
    assert fitter.fit(build, "short document") == (build("short document"), False)


def test_replaced_rerank_template_changes_the_prompt_and_is_recorded(fixture, monkeypatch):
    rec = Recorder(lambda text: "Relevance score: 3")
    _fake_llm(monkeypatch, rerank_workflow, rec)
    mine = fixture["tmp"] / "mine.txt"
    mine.write_text("Q={query}\nD={document}\nSay 'Relevance score: X' {{0-5}}.\n")
    saved, rows, _ = _rerank(fixture, "--preset", "paper", "--prompt-template", str(mine))
    texts = rec.texts()
    assert texts and all(t.startswith("Q=VARIANT about zqx") and t.endswith("\nSay 'Relevance score: X' {0-5}.")
                         for t in texts)
    digest = hashlib.sha256(mine.read_text()[:-1].encode()).hexdigest()
    assert saved["prompt_templates"] == {"general": {"sha256": digest, "source": str(mine)}}
    assert saved["prompt_version"].startswith("rerank-1+user-") and saved["reranker"].count("rerank-1+user-") == 1
    # FAMILY=FILE replaces one family only; a bad placeholder fails before any LLM call
    saved, _, _ = _rerank(fixture, "--prompt-template", f"aops={mine}")
    assert saved["prompt_templates"]["stackexchange"]["source"] == "builtin"
    bad = fixture["tmp"] / "bad.txt"
    bad.write_text("{query} {passage}")
    calls = len(rec.calls)
    with pytest.raises(ConfigError, match=r"\{passage\}.*\{document\}, \{query\}"):
        rerank_workflow.run_rerank(rerank_workflow.RerankConfig(
            run=str(fixture["run"]), dataset=f"bright:biology@{fixture['root']}", prompt_template=[str(bad)]))
    assert len(rec.calls) == calls


def test_from_run_needs_the_runs_record(fixture, tmp_path):
    (tmp_path / "bare.trec").write_text(fixture["run"].read_text())
    cfg = rerank_workflow.RerankConfig(run=str(tmp_path / "bare.trec"), dataset=f"bright:biology@{fixture['root']}",
                                       query_variant="from-run")
    with pytest.raises(ConfigError, match=r"bare.trec.config.json is missing.*--queries original"):
        rerank_workflow.run_rerank(cfg)


def test_rerank_follows_a_named_bright_variant_the_run_was_retrieved_with(fixture, monkeypatch):
    rec = Recorder()
    _fake_llm(monkeypatch, rerank_workflow, rec)
    root, examples = fixture["root"], fixture["examples"]
    with pytest.raises(ConfigError, match=r"gpt4_reason\.jsonl"):             # never a silent fall-back
        rerank_workflow.run_rerank(rerank_workflow.RerankConfig(
            run=str(fixture["run"]), dataset=f"bright:biology@{root}", query_variant="gpt4_reason"))
    (root / "biology" / "gpt4_reason.jsonl").write_text(
        "".join(json.dumps({"id": ex["id"], "query": f"GPT4 reasoning {ex['id']}"}) + "\n" for ex in examples))
    run = fixture["tmp"] / "gpt4.trec"
    run_retrieve(RetrieveConfig(dataset=f"bright:biology@{root}", retriever="bm25", top_k=10, metrics="ndcg@10",
                                query_variant="gpt4_reason", out=str(run)))
    saved, _, _ = _rerank({**fixture, "run": run}, "--preset", "paper")
    assert rec.texts() and all("<query>\nGPT4 reasoning " in t for t in rec.texts())
    assert saved["query_variant"]["name"] == "gpt4_reason"


def _rewrite(tmp_path, root, *flags):
    out = tmp_path / "rw.jsonl"
    for p in tmp_path.glob("rw.jsonl*"):
        p.unlink()
    assert main(["rewrite", "--dataset", f"bright:biology@{root}", "--out", str(out), "--json", *flags]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    return json.loads((tmp_path / "rw.jsonl.config.json").read_text()), rows


def test_paper_rewrite_preset_reaches_the_llm_call_and_flags_override_it(tmp_path, bright_dir, monkeypatch):
    root, examples, _ = make_bright_dir(tmp_path / "bright", bright_dir, n=2)
    rec = Recorder(lambda text: "some reasoning")
    _fake_llm(monkeypatch, rewrite_workflow, rec)
    saved, rows = _rewrite(tmp_path, root, "--preset", "paper")
    assert len(rec.calls) == 2
    for prompt, params in rec.calls:
        assert (params.temperature, params.top_p, params.max_tokens) == (0.8, 0.8, 2048)
        assert prompt[-1]["content"].endswith("within 2048 tokens.")
    assert all(r["query"] == "some reasoning" and r["max_tokens"] == 2048 for r in rows)     # replace mode
    assert saved["preset"] == "paper" and saved["preset_sha256"] == preset_digest("paper", "rewrite")

    rec.calls.clear()
    _rewrite(tmp_path, root, "--preset", "paper", "--max-tokens", "100", "--temperature", "0", "--top-p", "1")
    assert {(p.temperature, p.top_p, p.max_tokens) for _, p in rec.calls} == {(0.0, 1.0, 100)}
    rec.calls.clear()
    _rewrite(tmp_path, root)
    assert {(p.temperature, p.top_p, p.max_tokens) for _, p in rec.calls} == {(0.0, 1.0, 512)}


def test_replaced_rewrite_templates_change_the_prompt_and_are_recorded(tmp_path, bright_dir, monkeypatch):
    root, examples, _ = make_bright_dir(tmp_path / "bright", bright_dir, n=2)
    rec = Recorder(lambda text: "r")
    _fake_llm(monkeypatch, rewrite_workflow, rec)
    user = tmp_path / "user.txt"
    user.write_text("Think about: {query}{length_clause}\n")
    system = tmp_path / "system.txt"
    system.write_text("You reason.")
    saved, rows = _rewrite(tmp_path, root, "--max-tokens", "64", "--prompt-template", str(user),
                           f"system={system}")
    first = " ".join(examples[0]["query"].split("\n")).strip()
    assert rec.calls[0][0][0] == {"role": "system", "content": "You reason."}
    assert rec.calls[0][0][1]["content"] == f"Think about: {first}\nKeep your whole response within 64 tokens."
    templates = saved["prompt_templates"]
    assert templates["user"] == {"sha256": hashlib.sha256(b"Think about: {query}{length_clause}").hexdigest(),
                                 "source": str(user)}
    assert templates["length_clause"]["source"] == "builtin"
    assert rows[0]["prompt_version"].startswith("rewrite-1+user-") and saved["prompt_version"] == rows[0]["prompt_version"]
    user.write_text("{question}")
    with pytest.raises(ConfigError, match=r"\{question\}.*\{length_clause\}, \{query\}"):
        rewrite_workflow.run_rewrite(rewrite_workflow.RewriteConfig(
            dataset=f"bright:biology@{root}", out=str(tmp_path / "x.jsonl"), prompt_template=[str(user)]))
    with pytest.raises(ConfigError, match="unknown template 'assistant'"):
        rewrite_workflow.run_rewrite(rewrite_workflow.RewriteConfig(
            dataset=f"bright:biology@{root}", out=str(tmp_path / "x.jsonl"), prompt_template=[f"assistant={user}"]))
