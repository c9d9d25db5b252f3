"""The instruction data is pinned: these strings are interface facts of the released ReasonIR-8B model."""

from __future__ import annotations

import pytest

from reasonir.prompts import instructions as ins
from reasonir.retrieve.dense_retriever import resolve_instruction
from reasonir.errors import ConfigError

SE = "Given a {task} post, retrieve relevant passages that help answer the post"
SE_LONG = "Given a {task} post, retrieve relevant documents that help answer the post"
PONY = "Given a {task} question, retrieve relevant passages that help answer the question"
PONY_LONG = "Given a {task} question, retrieve relevant documents that help answer the question"
CODE = "Given a coding problem, retrieve relevant examples that help answer the problem"
MATH = "Given a Math problem, retrieve relevant examples that help answer the problem"
THEOREMS = "Given a Math problem, retrieve relevant theorems that help answer the problem"


def test_templates_are_pinned():
    assert ins.REASONIR_FORMAT.with_instruction == "<|user|>\n{instruction}\n<|embed|>\n"
    assert ins.REASONIR_FORMAT.without_instruction == "<|embed|>\n"
    assert ins.REASONIR_FORMAT.prefix("X") == "<|user|>\nX\n<|embed|>\n"
    assert ins.REASONIR_FORMAT.prefix(None) == ins.REASONIR_FORMAT.prefix("") == "<|embed|>\n"
    assert ins.INSTRUCTIONS_VERSION == 1


def test_bright_instructions_are_pinned():
    expected = {t: SE for t in ("biology", "earth_science", "economics", "psychology", "robotics",
                                "stackoverflow", "sustainable_living")}
    expected.update(pony=PONY, leetcode=CODE, aops=MATH, theoremqa_questions=MATH, theoremqa_theorems=THEOREMS)
    assert ins.BRIGHT_INSTRUCTIONS == expected
    long = {t: SE_LONG for t in ("biology", "earth_science", "economics", "psychology", "robotics",
                                 "stackoverflow", "sustainable_living")}
    long["pony"] = PONY_LONG
    assert ins.BRIGHT_INSTRUCTIONS_LONG == long


def test_task_filled_with_raw_id_by_default_and_pretty_on_request():
    assert ins.bright_instruction("earth_science") == \
        "Given a earth_science post, retrieve relevant passages that help answer the post"
    info = ins.bright_instruction_info("earth_science", task_name="pretty")
    assert info["instruction"] == "Given a Earth Science post, retrieve relevant passages that help answer the post"
    assert info["task_name"] == "pretty" and info["template"] == SE and info["setting"] == "short"
    assert ins.bright_instruction("stackoverflow", task_name="pretty").startswith("Given a Stack Overflow post")
    assert ins.bright_instruction("pony", long_documents=True) == \
        "Given a pony question, retrieve relevant documents that help answer the question"
    assert ins.bright_instruction("aops", task_name="pretty") == MATH


def test_bad_task_setting_or_style_lists_choices():
    with pytest.raises(ValueError, match="biology"):
        ins.bright_instruction("chemistry")
    with pytest.raises(ValueError, match="long-document"):
        ins.bright_instruction("leetcode", long_documents=True)
    with pytest.raises(ValueError, match="raw, pretty"):
        ins.bright_instruction("biology", task_name="fancy")


def test_retriever_instruction_resolution():
    assert resolve_instruction(None, None) == {"instruction": None, "source": "none"}
    auto = resolve_instruction(None, "biology")
    assert auto["instruction"] == SE.format(task="biology") and auto["source"] == "bright"
    assert resolve_instruction(None, "biology", long_documents=True)["instruction"] == SE_LONG.format(task="biology")
    assert resolve_instruction("bright:pretty", "earth_science")["task_name"] == "pretty"
    assert resolve_instruction("none", "biology")["instruction"] is None
    assert resolve_instruction("Find papers", "biology") == {"instruction": "Find papers", "source": "user"}
    with pytest.raises(ConfigError, match="BRIGHT dataset"):
        resolve_instruction("bright", None)
