"""``SynthesizeConfig``: every option of ``reasonir synthesize`` (YAML keys = flag names).

One flat dataclass, so every option is both a YAML key and a ``--flag``; related options share a
prefix (``hq_``, ``vl_``, ``neg_``, ``mine_``, ``edu_``, ``expand_``, ``released_``).

``--preset paper`` sets the published system's values (``reasonir/prompts/presets/paper/synthesize.yaml``,
each value with its source): two-phase HQ generation, BRIGHT's query-side BM25 for mined negatives,
the FineWeb-Edu cut, the reasoning expansion prompt. The prompt wording is ours either way; every
prompt is a template file a user can replace (``prompts:`` / ``--prompt-template NAME=FILE``, see
:mod:`reasonir.prompts.synth`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ConfigError
from ..prompts.presets import preset_digest
from ..prompts.synth import TEMPLATE_NAMES, SynthPrompts
from ..prompts.template_files import replacement_files

KINDS = ("hq", "vl")
EDU_SCORERS = ("none", "fineweb-edu", "llm", "regression")
MINERS = ("none", "bm25", "bm25q", "dense")
HQ_MODES = ("one-phase", "two-phase")
EXPAND_PROMPTS = ("rewrite", "reason")
RUNNERS = ("local", "ray")
FINEWEB_EDU_MODEL = "HuggingFaceTB/fineweb-edu-classifier"
DEFAULT_QUERY_INSTRUCTION = "Given a question, retrieve documents that help answer the question"


@dataclass
class SynthesizeConfig:
    """Options of ``reasonir synthesize`` (see ``examples/synth_*.yaml``)."""

    PRESET_SECTION: ClassVar[str] = "synthesize"

    out: str = field(metadata={"help": "output folder (train.jsonl, stats.json, config.json, ...)"})
    input: list[str] = field(default_factory=list, metadata={
        "help": "documents: JSONL / BEIR folder / parquet, beir:PATH, bright:TASK[@DIR], "
                "hf:NAME[:CONFIG][@SPLIT][?text=FIELD&id=FIELD]"})
    kinds: list[str] = field(default_factory=lambda: ["hq"], metadata={
        "help": "what to generate: hq (hard queries from documents), vl (varied-length pairs)", "choices": KINDS})
    # LLM ------------------------------------------------------------------------------------------
    llm: str = field(default="smollm2", metadata={
        "help": "LLM spec: smollm2, transformers:PATH, openai:MODEL, openai-batch:MODEL, "
                "http://HOST:PORT/v1#MODEL, vllm:PATH"})
    llm_cache: str | None = field(default=None, metadata={
        "help": "SQLite response cache (default: OUT/llm_cache.sqlite; 'off' disables resuming)"})
    llm_options: dict[str, Any] = field(default_factory=dict, metadata={
        "cli": False, "help": "backend options for load_llm (concurrency, timeout, batch_size, ...)"})
    preset: str | None = field(default=None, metadata={
        "help": "settings profile: paper = ReasonIR's published settings; or a folder of <command>.yaml files"})
    prompts: dict[str, str] = field(default_factory=dict, metadata={
        "cli": False, "help": "replace prompt templates: {NAME: FILE} (names in reasonir.prompts.synth)"})
    prompt_template: list[str] = field(default_factory=list, metadata={
        "help": "replace prompt templates: NAME=FILE ... (e.g. hq_reason_system=my.txt; names and placeholders "
                "in reasonir.prompts.synth; overrides the prompts: section)"})
    seed: int = field(default=0, metadata={"help": "seed of sampling, length draws and retries"})
    temperature: float = field(default=0.0, metadata={"help": "first-attempt temperature (0 = greedy)"})
    retry_temperature: float = field(default=0.7, metadata={"help": "temperature of retries"})
    max_attempts: int = field(default=3, metadata={"help": "attempts per LLM request before it counts as failed"})
    batch_size: int = field(default=32, metadata={"help": "prompts per LLM call (0: all pending at once)"})
    # scale-out --------------------------------------------------------------------------------------
    num_shards: int = field(default=1, metadata={"help": "split the work into this many shards"})
    shard_id: int = field(default=0, metadata={"help": "which shard this run produces (0-based)"})
    runner: str = field(default="local", metadata={"help": "local or ray (Ray Data stages)", "choices": RUNNERS})
    ray_address: str | None = field(default=None, metadata={"help": "Ray cluster address (default: local Ray)"})
    ray_concurrency: int = field(default=2, metadata={"help": "Ray actors per stage"})
    ray_cpus_per_actor: float = field(default=1.0, metadata={
        "help": "CPUs reserved per Ray actor (every stage's actors run at once: keep the sum within the cluster)"})
    # document pool ----------------------------------------------------------------------------------
    max_input_docs: int | None = field(default=None, metadata={"help": "read at most this many documents"})
    min_words: int = field(default=20, metadata={"help": "drop documents shorter than this (words)"})
    max_words: int | None = field(default=None, metadata={"help": "drop documents longer than this (words)"})
    dedup: bool = field(default=True, metadata={"help": "drop exact duplicates (normalised text)"})
    near_dup_threshold: float = field(default=0.8, metadata={
        "help": "drop near-duplicates with word-5-gram Jaccard >= this (0 disables)"})
    edu_scorer: str = field(default="none", metadata={
        "help": "educational-value scorer", "choices": EDU_SCORERS})
    edu_model: str | None = field(default=None, metadata={
        "help": f"fineweb-edu: model id or folder (default {FINEWEB_EDU_MODEL}); regression: head folder"})
    edu_labels: str | None = field(default=None, metadata={
        "help": "regression: labelled JSONL {text, score} to train the head from (saved to edu_model)"})
    edu_encoder: str = field(default="hash", metadata={"help": "regression: encoder spec for the embeddings"})
    edu_threshold: float = field(default=2.0, metadata={
        "help": "drop documents scoring below this (0-5); 2 as in the paper (its released code uses 1)"})
    budget: int | None = field(default=None, metadata={
        "help": "keep at most this many documents, highest educational score first"})
    doc_max_words: int = field(default=1500, metadata={"help": "truncate documents to this many words in prompts"})
    # training-example format ------------------------------------------------------------------------
    query_instruction: str = field(default=DEFAULT_QUERY_INSTRUCTION, metadata={
        "help": "instruction stored with HQ queries (VL queries use their task)"})
    doc_instruction: str = field(default="", metadata={"help": "instruction stored with documents"})
    lenient: bool = field(default=False, metadata={
        "help": "for weak models: accept replies without JSON (HQ: their question lines; negatives: the "
                "plain text, if long enough and free of JSON)"})
    # HQ ------------------------------------------------------------------------------------------------
    hq_per_doc: int = field(default=1, metadata={"help": "hard queries asked per document"})
    hq_min_words: int = field(default=8, metadata={"help": "reject generated queries shorter than this"})
    hq_mode: str = field(default="one-phase", metadata={
        "help": "one-phase: ask for the questions as JSON; two-phase: the LLM first works step by step, "
                "then a second turn reformats its questions as JSON", "choices": HQ_MODES})
    hq_max_tokens: int = field(default=1024, metadata={"help": "LLM budget of each HQ request (each phase)"})
    # VL ------------------------------------------------------------------------------------------------
    vl_tasks: int = field(default=20, metadata={"help": "retrieval tasks to brainstorm"})
    vl_tasks_per_call: int = field(default=10, metadata={"help": "tasks asked per brainstorming request"})
    vl_task_file: str | None = field(default=None, metadata={"help": "use these tasks (one per line) instead"})
    vl_per_task: int = field(default=1, metadata={"help": "examples per task"})
    vl_length_range: list[int] = field(default_factory=lambda: [300, 2000], metadata={
        "help": "target lengths (words) of VL queries and documents are drawn from this range"})
    vl_min_words: int = field(default=300, metadata={
        "help": "VL queries, positives and negatives shorter than this are regenerated, never written"})
    vl_max_overlap: float = field(default=0.4, metadata={
        "help": "reject VL pairs whose query/positive term-set Jaccard exceeds this"})
    vl_max_tokens: int = field(default=4096, metadata={"help": "LLM budget of a VL pair request"})
    # negatives -------------------------------------------------------------------------------------
    llm_negatives: bool = field(default=True, metadata={"help": "write a hard negative with the LLM"})
    neg_min_words: int = field(default=300, metadata={"help": "minimum length of an HQ LLM negative (words)"})
    neg_max_tokens: int = field(default=1024, metadata={"help": "LLM budget of a negative request"})
    mine: str = field(default="bm25", metadata={
        "help": "mine negatives with this retriever (bm25q: BRIGHT's query-side BM25, as the paper)",
        "choices": MINERS})
    mine_corpus: list[str] = field(default_factory=list, metadata={
        "help": "documents to mine from (default: all input documents)"})
    mine_skip: int = field(default=20, metadata={"help": "skip this many top ranks (likely false negatives)"})
    mine_negatives: int = field(default=1, metadata={"help": "mined negatives per query"})
    mine_depth: int = field(default=30, metadata={"help": "candidates considered after the skipped ranks"})
    mine_encoder: str = field(default="hash", metadata={"help": "encoder spec for dense mining"})
    judge_negatives: bool = field(default=False, metadata={
        "help": "ask the LLM whether each mined negative answers the query, and reject it if so"})
    judge_candidates: int = field(default=3, metadata={"help": "candidates judged per wanted mined negative"})
    judge_max_tokens: int = field(default=8, metadata={"help": "LLM budget of a judge verdict (Yes/No)"})
    min_negatives: int = field(default=1, metadata={"help": "drop examples with fewer negatives than this"})
    # reasoning expansion -----------------------------------------------------------------------------
    expand: bool = field(default=False, metadata={"help": "expand generated queries with LLM reasoning"})
    expand_prompt: str = field(default="rewrite", metadata={
        "help": "rewrite: the test-time rewriting prompt (reasonir rewrite); reason: the LLM reasons about the "
                "query (essential problem, what relevant documents contain, a draft answer)",
        "choices": EXPAND_PROMPTS})
    expand_mode: str = field(default="replace", metadata={
        "help": "replace the query by the reasoning, or append it", "choices": ("replace", "append")})
    expand_max_tokens: int = field(default=512, metadata={"help": "LLM budget of the expansion"})
    # outputs ---------------------------------------------------------------------------------------------
    st_export: bool = field(default=True, metadata={"help": "also write a sentence-transformers table"})
    # released data -------------------------------------------------------------------------------------
    released: str | None = field(default=None, metadata={
        "help": "instead of generating, convert reasonir/reasonir-data (hq or vl)", "choices": ("hq", "vl")})
    released_source: str | None = field(default=None, metadata={
        "help": "local JSONL/parquet copy of the released subset (default: the Hub)"})
    bright_documents: str | None = field(default=None, metadata={
        "help": "BRIGHT documents ({id, content} JSONL file or folder) to resolve hq ids (default: the Hub)"})
    released_limit: int | None = field(default=None, metadata={"help": "convert at most this many rows"})

    def check(self) -> SynthesizeConfig:
        """Validate option values and combinations.

        Raises:
            ConfigError: naming the option and the valid values.
        """
        if not self.out:
            raise ConfigError("out: an output folder is required")
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise ConfigError(f"kinds: {bad or 'empty'}; choose from {', '.join(KINDS)}")
        if self.num_shards < 1 or not 0 <= self.shard_id < self.num_shards:
            raise ConfigError(f"shard_id must be in [0, num_shards); got shard_id={self.shard_id}, "
                              f"num_shards={self.num_shards}")
        for name, choices in (("edu_scorer", EDU_SCORERS), ("mine", MINERS), ("runner", RUNNERS),
                              ("hq_mode", HQ_MODES), ("expand_prompt", EXPAND_PROMPTS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name}: {getattr(self, name)!r}; choose one of {', '.join(choices)}")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be >= 1")
        if len(self.vl_length_range) != 2 or not 0 < self.vl_length_range[0] <= self.vl_length_range[1]:
            raise ConfigError(f"vl_length_range must be [low, high] with 0 < low <= high, got {self.vl_length_range}")
        if not 0 <= self.near_dup_threshold <= 1 or not 0 <= self.vl_max_overlap <= 1:
            raise ConfigError("near_dup_threshold and vl_max_overlap must lie in [0, 1]")
        if self.edu_scorer == "regression" and not (self.edu_model or self.edu_labels):
            raise ConfigError("edu_scorer=regression needs edu_model (a trained head folder) or edu_labels "
                              "(labelled JSONL {text, score} to train one)")
        if "hq" in self.kinds and not self.input and not self.released:
            raise ConfigError("kinds includes hq but no input documents were given (input: [PATH, ...])")
        if self.hq_per_doc < 1 or self.vl_per_task < 1 or self.mine_negatives < 0 or self.mine_skip < 0:
            raise ConfigError("hq_per_doc and vl_per_task must be >= 1; mine_negatives and mine_skip >= 0")
        if not isinstance(self.llm_options, dict):
            raise ConfigError("llm_options must be a mapping of backend option: value")
        self.prompt_set()                        # replaced templates: names, files and placeholders
        if self.preset:
            preset_digest(self.preset, self.PRESET_SECTION)     # an unknown preset fails here, by name
        return self

    def template_files(self) -> dict[str, str]:
        """The replaced prompt templates, ``{name: file}`` (``prompt_template`` entries win over ``prompts``).

        Raises:
            ConfigError: an entry that is not ``NAME=FILE``, or an unknown template name.
        """
        return replacement_files(self.prompts, self.prompt_template, TEMPLATE_NAMES)

    def prompt_set(self) -> SynthPrompts:
        """The run's prompt templates: the built-in ones with this configuration's replacements."""
        return SynthPrompts(self.template_files())
