"""RAG prompt texts are pinned to PROMPT_VERSION, and keep the format the extractor reads."""

import hashlib

from reasonir.prompts import rag as P
from reasonir.rag.extract import ORDER_GPQA, ORDER_MMLU, extract_answer

# the built-in template files (name order) and the stop strings; the wording moved from Python
# constants into files without a byte changing (see the rendered digest below), so the version stays
TEMPLATES = (*(P.DEFAULT.texts[n] for n in P.TEMPLATE_NAMES), *P.MMLU_STOP)
PINNED = {"rag-1": "96dc98abfc66aa41fea20f06db6388e6b874ede10add044b3d388ddd55eea1ad"}
#: sha256 of the prompts below as the rag-1 Python constants rendered them
RENDERED_RAG_1 = "4c7c6330ed0a7fec809fff26f13f79f67718f98e97e84a9baaed862ef5383265"


def test_templates_change_only_with_a_new_prompt_version():
    digest = hashlib.sha256("\x1f".join(TEMPLATES).encode("utf-8")).hexdigest()
    assert PINNED.get(P.PROMPT_VERSION) == digest, (
        "a RAG prompt changed: bump PROMPT_VERSION in reasonir/prompts/rag.py and pin the new digest here")


def test_rendered_prompts_are_byte_identical_to_rag_1():
    opts = ["w x", "y {z}", "a", "b"]
    rendered = {
        "system": P.SYSTEM,
        "mmlu_rag": P.mmlu_user_message(" Q {1}? ", opts, "college_biology", [" p1 ", "p2\n"]),
        "mmlu_closed": P.mmlu_user_message("Q?", opts, "college_biology"),
        "gpqa_rag": P.gpqa_user_message(" Q? ", opts, [" one ", "two"]),
        "gpqa_closed": P.gpqa_user_message("Q?", opts),
        "rewrite": P.rewrite_user_message(" Q? ", opts),
        "rewrite_plain": P.rewrite_user_message("Q?"),
    }
    digest = hashlib.sha256("\x1f".join(rendered[k] for k in sorted(rendered)).encode("utf-8")).hexdigest()
    assert digest == RENDERED_RAG_1


def test_mmlu_prompt_layout():
    text = P.mmlu_user_message("Q?", ["w", "x", "y", "z"], "college_biology", ["first", "second"])
    assert text.startswith(P.MMLU_BACKGROUND_HEADER + "first\n\nsecond\n\n")
    assert "about college biology." in text and text.endswith("Answer: Let's reason step by step.")
    assert "A. w\nB. x\nC. y\nD. z" in text
    closed = P.mmlu_user_message("Q?", ["w", "x", "y", "z"], "college_biology")
    assert not closed.startswith(P.MMLU_BACKGROUND_HEADER) and closed in text
    # the format the prompt asks for is the first rule the extractor tries
    assert "the answer is (X)" in P.DEFAULT.texts["mmlu_closed_user"] and ORDER_MMLU[0] == "answer_is"
    assert extract_answer("... the answer is (C)", "ABCD", ORDER_MMLU).letter == "C"


def test_gpqa_prompt_layout():
    text = P.gpqa_user_message("Q?", ["w", "x", "y", "z"], ["one", "two"])
    assert text.index("Passage 1:\none") < text.index("Passage 2:\ntwo") < text.index("Question:\nQ?")
    assert "\\boxed{X}" in text and ORDER_GPQA[0] == "boxed"
    closed = P.gpqa_user_message("Q?", ["w", "x", "y", "z"])
    assert "Passage" not in closed and "documents" not in closed and "\\boxed{X}" in closed
    # a model that copies the placeholder has not answered
    assert extract_answer("so \\boxed{X}", "ABCD", ORDER_GPQA).letter is None
