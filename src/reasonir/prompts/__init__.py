"""Every retrieval instruction and every LLM prompt the package uses, as data.

* :mod:`reasonir.prompts.instructions` — encoder instructions (BRIGHT's per-task strings, ReasonIR's
  query/document templates);
* the other modules hold the LLM prompts of one stage each (rewriting, reranking, synthesis, RAG).

Prompt texts are pinned by tests: changing one changes results, so it must be deliberate (bump the
module's ``PROMPT_VERSION`` so caches and provenance fields see the change).
"""
