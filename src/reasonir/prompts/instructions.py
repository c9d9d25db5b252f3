"""Encoder instructions as data: ReasonIR's input templates and BRIGHT's per-task retrieval instructions.

These strings are interface facts of the released ReasonIR-8B model (and of BRIGHT's GritLM
configurations it reuses): changing one changes every embedding, so they are pinned by a test and any
edit must bump :data:`INSTRUCTIONS_VERSION`, which is part of every encoder fingerprint.

ReasonIR's input format (BOS is added by the tokenizer; pooling skips BOS and the whole prefix):

* query with an instruction: ``"<|user|>\\n{instruction}\\n<|embed|>\\n" + text``
* any text without an instruction (documents): ``"<|embed|>\\n" + text``

BRIGHT's instructions contain ``{task}``. The official ReasonIR evaluation fills it with the raw task
id (``"earth_science"``); BRIGHT's own harness has a pretty-name map (``"Earth Science"``) that some
ports use. :func:`bright_instruction` supports both and :func:`bright_instruction_info` says which
was used, so runs record it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: bump when any string below changes (it is part of every cache key that involves instructions)
INSTRUCTIONS_VERSION = 1


@dataclass(frozen=True)
class PromptFormat:
    """How an LLM encoder wraps a text: ``with_instruction`` (contains ``{instruction}``) or
    ``without_instruction`` is prepended; the prefix is attended to but excluded from pooling."""

    name: str
    with_instruction: str
    without_instruction: str

    def prefix(self, instruction: str | None) -> str:
        """The prefix put before a text for ``instruction`` (``None``/empty: no instruction)."""
        if instruction:
            return self.with_instruction.format(instruction=instruction)
        return self.without_instruction


#: ReasonIR / GritLM embedding format
REASONIR_FORMAT = PromptFormat(name="reasonir", with_instruction="<|user|>\n{instruction}\n<|embed|>\n",
                               without_instruction="<|embed|>\n")
#: plain format for decoder LMs not trained with ReasonIR's markers: "instruction\n" + text
PLAIN_FORMAT = PromptFormat(name="plain", with_instruction="{instruction}\n", without_instruction="")
PROMPT_FORMATS: dict[str, PromptFormat] = {f.name: f for f in (REASONIR_FORMAT, PLAIN_FORMAT)}

_STACKEXCHANGE = "Given a {task} post, retrieve relevant passages that help answer the post"
_STACKEXCHANGE_LONG = "Given a {task} post, retrieve relevant documents that help answer the post"
_PONY = "Given a {task} question, retrieve relevant passages that help answer the question"
_PONY_LONG = "Given a {task} question, retrieve relevant documents that help answer the question"
_CODING = "Given a coding problem, retrieve relevant examples that help answer the problem"
_MATH_EXAMPLES = "Given a Math problem, retrieve relevant examples that help answer the problem"
_MATH_THEOREMS = "Given a Math problem, retrieve relevant theorems that help answer the problem"

#: BRIGHT query instructions (short-document setting), before ``{task}`` is filled
BRIGHT_INSTRUCTIONS: dict[str, str] = {
    "biology": _STACKEXCHANGE, "earth_science": _STACKEXCHANGE, "economics": _STACKEXCHANGE,
    "psychology": _STACKEXCHANGE, "robotics": _STACKEXCHANGE, "stackoverflow": _STACKEXCHANGE,
    "sustainable_living": _STACKEXCHANGE, "pony": _PONY, "leetcode": _CODING, "aops": _MATH_EXAMPLES,
    "theoremqa_questions": _MATH_EXAMPLES, "theoremqa_theorems": _MATH_THEOREMS,
}
#: BRIGHT query instructions in the long-document setting ("documents" instead of "passages")
BRIGHT_INSTRUCTIONS_LONG: dict[str, str] = {
    "biology": _STACKEXCHANGE_LONG, "earth_science": _STACKEXCHANGE_LONG, "economics": _STACKEXCHANGE_LONG,
    "psychology": _STACKEXCHANGE_LONG, "robotics": _STACKEXCHANGE_LONG, "stackoverflow": _STACKEXCHANGE_LONG,
    "sustainable_living": _STACKEXCHANGE_LONG, "pony": _PONY_LONG,
}
#: BRIGHT's pretty task names (its harness's TASK_MAP), the alternative filling of ``{task}``
BRIGHT_TASK_NAMES: dict[str, str] = {
    "biology": "Biology", "earth_science": "Earth Science", "economics": "Economics",
    "psychology": "Psychology", "robotics": "Robotics", "stackoverflow": "Stack Overflow",
    "sustainable_living": "Sustainable Living", "pony": "Pony",
}
#: how ``{task}`` can be filled
TASK_NAME_STYLES = ("raw", "pretty")


def bright_instruction_info(task: str, long_documents: bool = False, task_name: str = "raw") -> dict[str, str]:
    """The BRIGHT query instruction for ``task`` with its provenance.

    Args:
        task: a BRIGHT task id (``"biology"``, ``"earth_science"``, ...).
        long_documents: the long-document wording (only tasks that have that setting).
        task_name: ``"raw"`` fills ``{task}`` with the task id, as the official ReasonIR evaluation
            does; ``"pretty"`` with BRIGHT's display name (``"Earth Science"``).

    Returns:
        ``{"instruction", "template", "task", "task_name", "setting"}`` (JSON-serialisable).

    Raises:
        ValueError: unknown task, style, or a long setting the task does not have; lists the choices.
    """
    if task_name not in TASK_NAME_STYLES:
        raise ValueError(f"task_name must be one of {', '.join(TASK_NAME_STYLES)}, got {task_name!r}")
    table = BRIGHT_INSTRUCTIONS_LONG if long_documents else BRIGHT_INSTRUCTIONS
    if task not in table:
        which = "long-document " if long_documents else ""
        raise ValueError(f"no BRIGHT {which}instruction for task {task!r}; choose one of: {', '.join(table)}")
    template = table[task]
    filler = BRIGHT_TASK_NAMES.get(task, task) if task_name == "pretty" else task
    return {"instruction": template.format(task=filler), "template": template, "task": task,
            "task_name": task_name, "setting": "long" if long_documents else "short"}


def bright_instruction(task: str, long_documents: bool = False, task_name: str = "raw") -> str:
    """The BRIGHT query instruction for ``task`` (see :func:`bright_instruction_info`)."""
    return bright_instruction_info(task, long_documents, task_name)["instruction"]
