"""RAG prompts keep the format the extractor reads (their texts are pinned in prompt_pins.py)."""

from reasonir.prompts import rag as P
from reasonir.rag.extract import ORDER_GPQA, ORDER_MMLU, extract_answer


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
