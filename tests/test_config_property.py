"""Property tests of ``--config FILE`` for every command: a correct parse or a ConfigError, nothing else.

Random and adversarial option files (JSON and YAML: wrong types, huge or non-finite numbers, unknown
and non-string keys, nested values, arbitrary bytes) go through the same path as the CLI
(``config.from_args``). Each file is compared with an independent statement of the rules: a value of
the declared type is kept as it is, a value the command line would accept (``"3"`` for an integer,
``"yes"`` for a boolean, one value for a list) is converted, anything else is refused with a
``ConfigError`` that names the file and the option.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import typing

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reasonir.cli import build_parser
from reasonir.config import from_args, load_file, preset_values
from reasonir.config_paths import relative_to_file
from reasonir.errors import ConfigError

REJECT = object()
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _config_classes() -> list[type]:
    found: dict[str, type] = {}

    def walk(parser: argparse.ArgumentParser) -> None:
        cls = parser._defaults.get("config_class")
        if cls is not None:
            found[cls.__name__] = cls
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)

    walk(build_parser())
    return [found[name] for name in sorted(found)]


CLASSES = _config_classes()


def test_every_command_config_is_covered():
    names = {c.__name__ for c in CLASSES}
    assert {"EncodeConfig", "IndexBuildConfig", "SearchConfig", "EvaluateConfig", "RetrieveConfig",
            "SynthesizeConfig", "TrainConfig", "RerankConfig", "ServeConfig"} <= names


# --------------------------------------------------------------------------------------------------
# the rules, stated independently of reasonir.config
# --------------------------------------------------------------------------------------------------
def _unwrap(tp):
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, __import__("types").UnionType):
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else str), True
    return tp, False


def _expect_scalar(value, tp):
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        return REJECT
    if isinstance(value, bool):
        return REJECT
    if tp is int:
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if math.isfinite(value) and value == int(value) else REJECT
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return REJECT
        return REJECT
    if tp is float:
        try:
            out = float(value.strip()) if isinstance(value, str) else (
                float(value) if isinstance(value, (int, float)) else None)
        except (ValueError, OverflowError):
            return REJECT
        return out if out is not None and math.isfinite(out) else REJECT
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            try:
                return str(value)
            except ValueError:
                return REJECT
        return REJECT
    return value


def _expect(value, tp, choices):
    base, optional = _unwrap(tp)
    if value is None:
        return None if optional else REJECT
    origin = typing.get_origin(base)
    if origin in (list, tuple):
        item = (typing.get_args(base) or (str,))[0]
        out = [_expect_scalar(v, item) for v in (value if isinstance(value, (list, tuple)) else [value])]
        if any(v is REJECT for v in out) or (choices is not None and any(v not in choices for v in out)):
            return REJECT
        return out
    if origin is dict or base is dict:
        return value if isinstance(value, dict) and all(isinstance(k, str) for k in value) else REJECT
    out = _expect_scalar(value, base)
    if out is not REJECT and choices is not None and out not in choices:
        return REJECT
    return out


def _expected(cls, data):
    """The config ``data`` must give, or ``REJECT``."""
    if not isinstance(data, dict) or any(not isinstance(k, str) for k in data):
        return REJECT
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    other_names = {}                                    # a field's flag spelling and former names
    for f in fields.values():
        for other in (f.metadata.get("flag", ""), *f.metadata.get("aliases", ())):
            other = other.lstrip("-").replace("-", "_")
            if other and other not in fields:
                other_names.setdefault(other, f.name)
    values = {}
    names = [k.replace("-", "_") for k in data]
    names = [n if n in fields else other_names.get(n, n) for n in names]
    if len(set(names)) != len(data):
        return REJECT                                   # one option given twice (a_b and a-b, or k and top_k)
    for name, value in zip(names, data.values()):
        if name not in fields:
            return REJECT
        out = _expect(value, hints[name], fields[name].metadata.get("choices"))
        if out is REJECT:
            return REJECT
        values[name] = out
    if values.get("preset") is not None:               # a preset fills what the file leaves unset
        try:
            preset = preset_values(cls, values["preset"])
        except ConfigError:
            return REJECT
        for name, value in preset.items():
            values.setdefault(name, _expect(value, hints[name], fields[name].metadata.get("choices")))
    for f in fields.values():
        if f.name not in values:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                return REJECT
            values[f.name] = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return values


# --------------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=-1e6, max_value=1e6),
    st.text(max_size=20),
    st.sampled_from(["3", " 7 ", "2.5", "nan", "inf", "-0", "1e400", "yes", "off", "two", "", "1_000", "0x10",
                     "bm25", "dense", "fp16", "query", "document", "hnsw", "none"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


def _mappings(cls):
    fields = [f.name for f in dataclasses.fields(cls)]
    key = st.one_of(st.sampled_from(fields), st.sampled_from([f.replace("_", "-") for f in fields]),
                    st.text(max_size=10))
    return st.dictionaries(key, values, max_size=6)


def _write(tmp_path, data, as_json):
    path = tmp_path / ("c.json" if as_json else "c.yaml")
    if as_json:
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _parse(cls, path):
    return from_args(cls, argparse.Namespace(_config_file=str(path)))


def _check(cls, path, data):
    if isinstance(data, dict) and all(isinstance(k, str) for k in data):
        data = relative_to_file(data, path)            # paths in a file are relative to its folder
    expected = _expected(cls, data)
    try:
        cfg = _parse(cls, path)
    except ConfigError as exc:
        assert expected is REJECT, f"refused a valid config {data!r}: {exc}"
        assert str(path) in str(exc) or "missing required option" in str(exc)
        assert "\n" not in str(exc)
        return
    assert expected is not REJECT, f"accepted {data!r} as {cfg!r}"
    got = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)}
    for name, want in expected.items():
        if isinstance(want, tuple):
            want = list(want)
        assert got[name] == want and type(got[name]) is type(want), (name, got[name], want)


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@SETTINGS
@given(data=st.data(), as_json=st.booleans())
def test_random_option_files_parse_or_raise_config_error(cls, data, as_json, tmp_path):
    mapping = data.draw(_mappings(cls))
    required = {f.name: "x" for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    if data.draw(st.booleans()):
        mapping = {**required, **mapping}
    _check(cls, _write(tmp_path, mapping, as_json), mapping)


@SETTINGS
@given(raw=st.one_of(st.binary(max_size=200),
                     st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     st.sampled_from([b"[1, 2]", b"- a\n- b\n", b"42", b"k: !!python/object:os.system {}\n",
                                      b"{1: 2}", b"null: 3\n", b"? [a, b]\n: 1\n", b"[" * 5000, b"\xff\xfe",
                                      b"k: " + b"9" * 5000 + b"\n", b"top_k: .nan\n", b"top_k: 1e999\n"])),
       suffix=st.sampled_from([".json", ".yaml"]),
       cls=st.sampled_from(CLASSES))
def test_arbitrary_bytes_parse_or_raise_config_error(raw, suffix, cls, tmp_path):
    path = tmp_path / f"c{suffix}"
    path.write_bytes(raw)
    try:
        data = load_file(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        return
    assert isinstance(data, dict)
    _check(cls, path, data)


def test_wrong_type_message_names_file_option_and_expected_type(tmp_path):
    from reasonir.workflows.search import SearchConfig

    path = _write(tmp_path, {"index_dir": "idx", "top_k": "two"}, as_json=True)
    with pytest.raises(ConfigError) as info:
        _parse(SearchConfig, path)
    assert str(info.value) == f"{path}: option 'top_k' expects an integer, got 'two' (str)"


def test_command_line_conversions_apply_to_files(tmp_path):
    from reasonir.workflows.index import IndexBuildConfig

    path = _write(tmp_path, {"corpus": "c.jsonl", "index-dir": "idx", "shard_size": "64", "bm25": "yes",
                             "k1": 1, "devices": "cuda:0", "model": 7}, as_json=False)
    cfg = _parse(IndexBuildConfig, path)
    assert (cfg.shard_size, cfg.bm25, cfg.k1, cfg.devices, cfg.model) == (64, True, 1.0, ["cuda:0"], "7")
    for bad, what in (({"k1": float("nan")}, "finite number"), ({"ann": "annoy"}, "must be one of"),
                      ({"bm25": 2}, "boolean"), ({"devices": [["a"]]}, "list of strings"), ({3: 1}, "strings")):
        with pytest.raises(ConfigError, match=what):
            _parse(IndexBuildConfig, _write(tmp_path, {"corpus": "c", "index_dir": "i", **bad}, as_json=False))
