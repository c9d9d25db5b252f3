"""LLM prompt of test-time query rewriting (a reasoning expansion of the query before retrieval).

Intent, as in BRIGHT's GPT-4 reasoning queries and ReasonIR's rewriting: make the model (1) name the
essential problem, (2) reason step by step about what information would help to address it, and (3)
draft an answer; the whole output then replaces (or is appended to) the query. The optional length
clause tells the model its token budget (ReasonIR scales this budget up to 2048 tokens).

Changing the wording changes results: bump :data:`PROMPT_VERSION` (it is written into every output
row and is part of the response-cache key through the prompt text).
"""

from __future__ import annotations

PROMPT_VERSION = "rewrite-1"

Messages = list[dict[str, str]]

SYSTEM = "You are a knowledgeable assistant who thinks problems through before answering."

USER = """\
{query}

Work through the text above as follows:
1. State the essential problem it raises.
2. Reason step by step about which information (facts, concepts, methods, examples, references) \
would help to address it, and why each piece matters.
3. Write a draft answer that carries as much of this reasoning as you can.{length_clause}"""

LENGTH_CLAUSE = "\nKeep your whole response within {max_tokens} tokens."


def rewrite_messages(query: str, max_tokens: int | None = None, flatten_newlines: bool = True) -> Messages:
    """Chat messages asking for a reasoning rewrite of ``query``.

    Args:
        query: the original query (a post, a problem, a claim).
        max_tokens: the output budget to announce in the prompt (``None``: no length clause).
        flatten_newlines: replace line breaks in the query by spaces (as BRIGHT's rewriting does).
    """
    text = " ".join(query.split("\n")) if flatten_newlines else query
    clause = LENGTH_CLAUSE.format(max_tokens=max_tokens) if max_tokens else ""
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": USER.format(query=text.strip(), length_clause=clause)}]
