"""Tolerant extraction of JSON from LLM replies.

LLMs wrap JSON in Markdown fences, write reasoning before it, stop in the middle of it (max tokens),
put raw newlines inside strings, leave trailing commas, answer with a Python list instead of JSON, or
return objects where strings were asked for. The helpers here recover what can be recovered and
raise :class:`ParseError` (with a short reason that the statistics count) when nothing usable is
found.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

_DECODER = json.JSONDecoder(strict=False)   # strict=False: raw control characters allowed in strings
_FENCE_RE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```|$)", re.S)
_TRAILING_COMMA_RE = re.compile(r",\s*([\]}])")
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


class ParseError(ValueError):
    """The reply holds nothing usable; ``reason`` is a short category for the statistics."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


def _candidates(text: str) -> list[str]:
    """The fenced blocks of ``text`` (last first, as the answer usually ends a reply), then the text."""
    blocks = [m.group(1) for m in _FENCE_RE.finditer(text)]
    return blocks[::-1] + [text]


def _decode_at(text: str, start: int) -> Any:
    try:
        return _DECODER.raw_decode(text, start)[0]
    except json.JSONDecodeError:
        pass
    # repair pass on the remainder: smart quotes, trailing commas
    fixed = _TRAILING_COMMA_RE.sub(r"\1", text[start:].translate(_SMART_QUOTES))
    try:
        return _DECODER.raw_decode(fixed, 0)[0]
    except json.JSONDecodeError:
        pass
    end = _matching_close(text, start)
    if end is not None:   # a Python literal, e.g. ['a', 'b'] or {'k': 'v'}
        try:
            return ast.literal_eval(text[start:end + 1])
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    raise ValueError("undecodable")


def _matching_close(text: str, start: int) -> int | None:
    """Index of the bracket closing ``text[start]``, skipping quoted strings; ``None`` if unclosed."""
    pairs = {"{": "}", "[": "]"}
    stack = [pairs[text[start]]]
    quote = None
    i = start + 1
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in "]}":
            if not stack or ch != stack.pop():
                return None
            if not stack:
                return i
        i += 1
    return None


def iter_json(text: str) -> Iterator[Any]:
    """Every decodable JSON (or Python-literal) object/array in ``text``, fenced blocks first."""
    for cand in _candidates(text):
        for m in re.finditer(r"[\[{]", cand):
            try:
                yield _decode_at(cand, m.start())
            except ValueError:
                continue


def extract_json(text: str, want: type | tuple[type, ...] = (dict, list)) -> Any:
    """The first complete JSON value of type ``want`` found in ``text`` (fenced blocks first).

    Raises:
        ParseError: ``"no_json"`` when no decodable value of that type exists.
    """
    for value in iter_json(text):
        if isinstance(value, want):
            return value
    raise ParseError("no_json", text[:80])


def salvage_list(text: str, key: str | None = None) -> list[Any]:
    """Recover the complete items of a JSON array that was cut off (e.g. by ``max_tokens``).

    Finds ``"key": [`` (or the first ``[`` when ``key`` is None) and decodes items one by one until
    the array ends or an item is incomplete. Returns the items decoded so far (possibly empty).
    """
    if key is not None:
        m = re.search(r'["\']' + re.escape(key) + r'["\']\s*:\s*\[', text)
        if not m:
            return []
        pos = m.end()
    else:
        pos = text.find("[")
        if pos < 0:
            return []
        pos += 1
    items: list[Any] = []
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            break
        try:
            value, pos = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        items.append(value)
    return items


def _item_text(item: Any) -> str | None:
    """A question from a list item: a string, or a dict with scenario/question-like fields."""
    if isinstance(item, str):
        return item.strip() or None
    if isinstance(item, dict):
        parts = [str(item[k]).strip() for k in ("scenario", "context", "background") if item.get(k)]
        for k in ("question", "query", "hard_query", "text", "q"):
            if isinstance(item.get(k), str) and item[k].strip():
                parts.append(item[k].strip())
                break
        else:
            if not parts:
                strings = [v.strip() for v in item.values() if isinstance(v, str) and v.strip()]
                parts = strings[:1]
        return " ".join(parts) or None
    return None


def parse_string_list(text: str, keys: tuple[str, ...] = (), allow_partial: bool = True) -> tuple[list[str], bool]:
    """Strings from a reply that should hold ``{"<key>": [...]}`` or a bare ``[...]``.

    Accepts lists of strings or of dicts (``{"scenario", "question"}`` are joined), fenced JSON,
    Python literals and, with ``allow_partial``, the complete items of a truncated array.

    Returns:
        ``(items, partial)`` — ``partial`` is True when the items were salvaged from cut-off JSON.

    Raises:
        ParseError: ``"no_json"`` / ``"empty"`` / ``"wrong_shape"``.
    """
    reason = "no_json"
    for value in iter_json(text):
        lst = _list_in(value, keys)
        if lst is None:
            reason = "wrong_shape"
            continue
        items = [t for t in (_item_text(x) for x in lst) if t]
        if items:
            return items, False
        reason = "empty"
    if allow_partial:
        for k in (*keys, None):
            items = [t for t in (_item_text(x) for x in salvage_list(text, k)) if t]
            if items:
                return items, True
    raise ParseError(reason, text[:80])


def _list_in(value: Any, keys: tuple[str, ...]) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for k in keys:
            if isinstance(value.get(k), list):
                return value[k]
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if not lists and any(k in value for k in ("question", "query", "scenario")):
            return [value]   # a single question object
    return None


def _text_value(v: Any) -> str | None:
    """A field's text: a string, or the text of a nested ``{"title", "content"|"text"|"body"}`` object."""
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, dict):
        body = next((v[k] for k in ("content", "text", "body") if isinstance(v.get(k), str) and v[k].strip()), None)
        if body:
            title = v.get("title")
            title = title.strip() if isinstance(title, str) else ""
            return f"{title}\n{body.strip()}".strip()
    return None


def parse_object_fields(text: str, fields: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Required string fields of a JSON object in the reply, each looked up under several names.

    Args:
        text: the LLM reply.
        fields: ``{canonical name: (accepted key, ...)}``; the first present key wins.

    Raises:
        ParseError: ``"no_json"`` / ``"missing_field"``.
    """
    reason, detail = "no_json", text[:80]
    for obj in iter_json(text):
        if not isinstance(obj, dict):
            continue
        out: dict[str, str] = {}
        lower = {str(k).lower().strip(): v for k, v in obj.items()}
        for name, keys in fields.items():
            for k in keys:
                v = _text_value(lower.get(k.lower()))
                if v:
                    out[name] = v
                    break
            else:
                reason, detail = "missing_field", f"{name} (looked for {', '.join(keys)})"
                break
        else:
            return out
    raise ParseError(reason, detail)
