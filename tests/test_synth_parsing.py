"""Tolerant JSON extraction from LLM replies."""

from __future__ import annotations

import pytest

from reasonir.synth.parsing import ParseError, extract_json, parse_object_fields, parse_string_list, salvage_list

KEYS = ("hard_query", "questions")


@pytest.mark.parametrize("reply, expected, partial", [
    ('{"hard_query": ["Why A?", "How B?"]}', ["Why A?", "How B?"], False),
    ('Sure.\n```json\n{"hard_query": ["Why A?"]}\n```\nHope it helps', ["Why A?"], False),
    ("```\n['Why A?', 'How B?']\n```", ["Why A?", "How B?"], False),
    ('{"hard_query": [{"scenario": "A farm floods.", "question": "What now?"}]}', ["A farm floods. What now?"], False),
    ('{"questions": ["Q1?",]}', ["Q1?"], False),                                       # trailing comma
    ('\u201chard_query\u201d', None, None),                                               # nothing usable
    ('{"hard_query": ["Complete one?", "Complete two?", "cut in the mid', ["Complete one?", "Complete two?"], True),
    ('As noted in [1], see below.\n{"hard_query": ["Real?"]}', ["Real?"], False),        # skip non-string lists
    ('{"hard_query": ["line one\nline two?"]}', ["line one\nline two?"], False),         # raw newline in string
    ('{"question": "Only one?"}', ["Only one?"], False),
])
def test_parse_string_list(reply, expected, partial):
    if expected is None:
        with pytest.raises(ParseError) as err:
            parse_string_list(reply, KEYS)
        assert err.value.reason == "no_json"
        return
    assert parse_string_list(reply, KEYS) == (expected, partial)


def test_partial_disabled_and_empty_lists():
    with pytest.raises(ParseError):
        parse_string_list('{"hard_query": ["a?", "b', KEYS, allow_partial=False)
    with pytest.raises(ParseError) as err:
        parse_string_list('{"hard_query": []}', KEYS)
    assert err.value.reason == "empty"
    with pytest.raises(ParseError) as err:
        parse_string_list('{"a": [1], "b": [2]}', KEYS)
    assert err.value.reason in ("wrong_shape", "empty")


def test_salvage_list_stops_at_incomplete_item():
    assert salvage_list('{"k": ["x", {"a": 1}, "y', "k") == ["x", {"a": 1}]
    assert salvage_list("no list", "k") == []
    assert salvage_list('["a", "b"]') == ["a", "b"]


def test_extract_json_prefers_fenced_block_and_repairs():
    text = 'draft {"a": 1}\n```json\n{"a": 2,}\n```'
    assert extract_json(text) == {"a": 2}
    with pytest.raises(ParseError):
        extract_json("plain text", dict)


def test_parse_object_fields_aliases_and_missing():
    fields = {"query": ("input", "query"), "positive": ("positive_document", "positive")}
    got = parse_object_fields('```json\n{"Input": "long q", "positive": "long p"}\n```', fields)
    assert got == {"query": "long q", "positive": "long p"}
    with pytest.raises(ParseError) as err:
        parse_object_fields('{"input": "q", "positive_document": ""}', fields)
    assert err.value.reason == "missing_field"
    # the first object lacks the fields, a later one has them
    assert parse_object_fields('{"note": 1} then {"input": "a", "positive": "b"}', fields)["positive"] == "b"


def test_nested_title_content_objects_are_read_as_text():
    fields = {"negative": ("hard_negative_document",)}
    reply = '{"hard_negative_document": {"title": "Roots", "content": "Plant roots absorb water."}}'
    assert parse_object_fields(reply, fields) == {"negative": "Roots\nPlant roots absorb water."}
    with pytest.raises(ParseError):
        parse_object_fields('{"hard_negative_document": {"title": "only a title"}}', fields)
