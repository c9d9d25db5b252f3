"""Paths written in a config file are relative to the file's folder, not to the current folder.

``reasonir train examples/train_cpu_demo.yaml`` reads ``beir:../../shared/data/scifact`` from the
example's folder whichever folder the command is started from, as paths in ``mkdocs.yml``,
``docker-compose.yml`` or ``tsconfig.json`` are. Flags given on the command line keep the usual
meaning (relative to the current folder). :data:`PATH_OPTIONS` lists every option this applies to
and how its value is read; values that are not relative paths (absolute paths, ``~/...``, URLs,
Hub ids, ``hf:`` datasets, ``-`` for stdin/stdout, ``off``/``none``) are left as they are.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

#: option name -> how its value names files or folders:
#:
#: * ``path``: a file or folder, or a collection spec holding one (``beir:PATH``,
#:   ``bright:TASK@DIR``); always resolved (outputs too);
#: * ``paths``: a comma-separated list of ``path`` values;
#: * ``local``: a name or a path (a model, a query variant); resolved when written ``./...`` or
#:   ``../...``, or when it exists next to the config file; otherwise it stays a name or a Hub id;
#: * ``locals``: a comma-separated list of ``local`` values;
#: * ``llm``: an LLM spec; the folder of ``transformers:X``, ``hf:X``, ``vllm:X`` (after an optional
#:   ``llm:`` prefix) is read as ``local``;
#: * ``store``: an index store; the file of ``milvus:PATH.db`` (Milvus Lite) is a ``path``;
#: * ``template``: ``NAME=FILE`` or ``FILE`` items (``prompt_template``) or a ``{NAME: FILE}`` mapping
#:   (``prompts``); the files are resolved.
#:
#: List options resolve each item; ``train_data`` entries resolve their ``path`` key. Keys are field
#: names (``reasonir.config.from_args`` maps former names and flag spellings to them first); a few
#: former names stay listed for callers that pass raw keys.
PATH_OPTIONS: dict[str, str] = {
    # outputs
    "out": "path", "out_dir": "path", "output_dir": "path", "index_dir": "path",
    "cache": "path", "llm_cache": "path", "embedding_cache": "path",
    # inputs
    "index": "path", "corpus": "path", "dataset": "path", "input": "path", "mine_corpus": "path",
    "train_data": "path", "data": "path", "run": "path", "runs": "paths", "combine_run": "path",
    "qrels": "path", "examples": "path", "ids_file": "path", "edu_labels": "path", "vl_task_file": "path",
    "released_source": "path", "bright_documents": "path",
    # names or paths
    "model": "local", "edu_model": "local", "edu_encoder": "local", "mine_encoder": "local",
    "queries": "locals", "query_variant": "local", "preset": "local",
    "llm": "llm", "reranker": "llm", "store": "store",
    # prompt template files
    "prompt_template": "template", "prompts": "template",
}

#: how each kind of :data:`PATH_OPTIONS` value is read, in words (for the documentation)
PATH_KINDS: dict[str, str] = {
    "path": "a file or folder (or `beir:PATH`, `bright:TASK@DIR`)",
    "paths": "comma-separated files or folders",
    "local": "a name or a path: a path when written `./...` or `../...`, or when it exists next to the file",
    "locals": "comma-separated names or paths (each as above)",
    "llm": "an LLM spec: the folder of `transformers:`, `hf:` or `vllm:` is a name or a path (as above)",
    "store": "an index store: the file of `milvus:PATH.db`",
    "template": "`NAME=FILE` items or a `{NAME: FILE}` mapping: the files",
}

#: values that switch a path option off or name stdin/stdout rather than a file
_NOT_A_PATH = frozenset({"", "-", "off", "none", "0", "false"})
#: ``scheme:rest`` prefixes whose rest is not a local path (``hf:NAME``, ``openai:MODEL``, URLs, ...)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_LLM_LOCAL_SCHEMES = ("transformers:", "hf:", "vllm:")


def relative_to_file(values: dict[str, Any], config_file: str | os.PathLike) -> dict[str, Any]:
    """``values`` read from ``config_file`` with the relative paths of :data:`PATH_OPTIONS` rebased.

    Only string values are touched (values of other types are left for the type check to judge);
    option names may be spelled with ``-`` or ``_``. The result holds absolute paths.

    Args:
        values: the mapping read from the file.
        config_file: the file it was read from.

    Returns:
        A new mapping; options not in :data:`PATH_OPTIONS` are unchanged.

    Examples:
        >>> import os
        >>> out = relative_to_file({"dataset": "beir:../data/scifact", "k": 10, "llm": "openai:gpt-4o"},
        ...                        "/home/me/project/configs/run.yaml")
        >>> out["dataset"] == "beir:" + os.path.abspath("/home/me/project/data/scifact")
        True
        >>> out["k"], out["llm"]
        (10, 'openai:gpt-4o')
    """
    base = os.path.dirname(os.path.abspath(os.fspath(config_file)))
    out: dict[str, Any] = {}
    for key, value in values.items():
        kind = PATH_OPTIONS.get(key.replace("-", "_")) if isinstance(key, str) else None
        out[key] = value if kind is None else _resolve(value, kind, base)
    return out


def _resolve(value: Any, kind: str, base: str) -> Any:
    if isinstance(value, list):
        return [_resolve(v, kind, base) for v in value]
    if isinstance(value, dict):
        if kind == "template":
            return {k: _path(v, base) for k, v in value.items()}
        if "path" in value:                                      # a train_data source mapping
            return {**value, "path": _resolve(value["path"], kind, base)}
        return value
    if not isinstance(value, str):
        return value
    if kind == "path":
        return _spec(value, base)
    if kind == "paths":
        return ",".join(_spec(v, base) for v in value.split(","))
    if kind == "local":
        return _local(value, base)
    if kind == "locals":
        return ",".join(_local(v, base) for v in value.split(","))
    if kind == "llm":
        prefix = "llm:" if value.startswith("llm:") else ""
        rest = value[len(prefix):]
        for scheme in _LLM_LOCAL_SCHEMES:
            if rest.startswith(scheme):
                return prefix + scheme + _local(rest[len(scheme):], base)
        return value
    if kind == "store":
        rest = value[len("milvus:"):] if value.startswith("milvus:") else ""
        return "milvus:" + _path(rest, base) if rest and not rest.startswith("//") else value
    if kind == "template":
        name, eq, file = value.partition("=")
        return f"{name}={_path(file, base)}" if eq and name.isidentifier() else _path(value, base)
    raise ValueError(f"unknown path kind {kind!r}")


def _path(value: Any, base: str) -> Any:
    """A plain file or folder path."""
    if not isinstance(value, str) or value.strip().lower() in _NOT_A_PATH:
        return value
    if value.startswith("~") or os.path.isabs(value) or "://" in value:
        return value
    return os.path.abspath(os.path.join(base, value))


def _spec(value: str, base: str) -> str:
    """A path, ``beir:PATH`` or ``bright:TASK@DIR``; other ``scheme:`` specs are left alone."""
    if value.startswith("beir:"):
        return "beir:" + _path(value[5:], base)
    if value.startswith("bright:"):
        task, at, directory = value[7:].partition("@")
        return f"bright:{task}@{_path(directory, base)}" if at and directory else value
    if _SCHEME.match(value):
        return value
    return _path(value, base)


def _local(value: str, base: str) -> str:
    """A name or a path: rebased when written as a relative path or when it exists next to the file."""
    stripped = value.strip()
    if stripped.startswith(("./", "../")) or stripped in (".", ".."):
        return _path(value, base)
    if stripped.lower() in _NOT_A_PATH or _SCHEME.match(stripped) or os.path.isabs(stripped):
        return value
    return _path(value, base) if Path(base, stripped).exists() else value
