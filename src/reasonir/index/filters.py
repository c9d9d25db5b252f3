"""Metadata filters: one small expression language, evaluated on the local store and translated for Milvus.

Grammar (keywords are case-insensitive)::

    expr       := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" expr ")" | comparison
    comparison := NAME OP literal | NAME ["not"] "in" "[" literal ("," literal)* [","] "]"
    OP         := "==" | "!=" | "<" | "<=" | ">" | ">="
    NAME       := [A-Za-z_][A-Za-z0-9_]* ("." [A-Za-z_][A-Za-z0-9_]*)*
    literal    := "string" | 'string' | integer | float | true | false

for example ``source == "pubmed" and year >= 2020``, ``not (lang in ["de", "fr"])``, ``a.b > 1.5``.

Semantics, the same on both stores (a Milvus expression is written so its engine agrees, see
:func:`to_milvus`):

* a document's fields are its metadata (:func:`filter_fields`): the extra fields of a corpus record, the
  entries of a ``metadata`` object merged in (a top-level field of the same name wins), nested objects
  reachable by dotted names (``a.b``); a ``null`` value or a list is a missing field (lists are not
  filterable: Milvus compares them with three-valued results);
* a comparison on a missing field is false, whatever the operator; ``x != v`` is true when ``x`` is
  present and not equal to ``v``; ``x not in [...]`` likewise;
* numbers compare as numbers (booleans are 1 and 0, as in JSON engines and Python), strings as strings
  (by code point); a string never equals or orders against a number;
* ``not`` is plain negation, so ``not year == 2020`` also matches documents without a ``year``.

Numbers are compared as float64 on the local store (integers beyond 2**53 lose exactness there).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError

OPS = ("==", "!=", "<", "<=", ">", ">=")
KEYWORDS = ("and", "or", "not", "in", "true", "false")
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<str>"|')
""", re.VERBOSE)
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
Scalar = str | int | float | bool


class FilterError(ConfigError):
    """A filter expression that cannot be parsed; the message names the column (1-based)."""

    def __init__(self, message: str, text: str, pos: int):
        self.column = pos + 1
        super().__init__(f"filter {text!r}, column {pos + 1}: {message}")


# --------------------------------------------------------------------------------------------------
# the expression tree
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: Scalar


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Scalar, ...]
    negate: bool = False


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    op: str                      # "and" | "or"
    operands: tuple[Expr, ...]


Expr = Compare | In | Not | BoolOp


# --------------------------------------------------------------------------------------------------
# tokeniser and recursive-descent parser
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    kind: str      # op, punct, num, name, kw, str, end
    value: Any
    pos: int


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote, i = text[start], start + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            esc = text[i + 1:i + 2]
            if esc not in _ESCAPES:
                raise FilterError(f"unknown escape \\{esc} in a string (use \\\\, \\\", \\', \\n, \\t or \\r)",
                                  text, i)
            out.append(_ESCAPES[esc])
            i += 2
            continue
        if ord(ch) < 32:
            raise FilterError("control character inside a string (write \\n, \\t or \\r)", text, i)
        out.append(ch)
        i += 1
    raise FilterError("unterminated string", text, start)


def tokenize(text: str) -> list[_Tok]:
    """The tokens of ``text`` (ending with an ``end`` token); raises :class:`FilterError` on a bad character."""
    toks, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            hint = " (use == to compare)" if text[i] == "=" else " (use not)" if text[i] == "!" else ""
            raise FilterError(f"unexpected character {text[i]!r}{hint}", text, i)
        kind = m.lastgroup or ""
        if kind == "str":
            value, end = _read_string(text, i)
            toks.append(_Tok("str", value, i))
            i = end
            continue
        word = m.group()
        if kind == "num":
            number = float(word) if any(c in word for c in ".eE") else int(word)
            if isinstance(number, float) and not math.isfinite(number):
                raise FilterError(f"number {word} is out of range", text, i)
            toks.append(_Tok("num", number, i))
        elif kind == "name" and word.lower() in KEYWORDS:
            toks.append(_Tok("kw", word.lower(), i))
        elif kind != "ws":
            toks.append(_Tok(kind, word, i))
        i = m.end()
    toks.append(_Tok("end", None, len(text)))
    return toks


class _Parser:
    def __init__(self, text: str):
        self.text, self.toks, self.i = text, tokenize(text), 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, what: str, tok: _Tok | None = None) -> FilterError:
        tok = tok or self.peek()
        found = "the end of the expression" if tok.kind == "end" else repr(self.text[tok.pos:].split()[0][:20])
        return FilterError(f"expected {what}, found {found}", self.text, tok.pos)

    def is_kw(self, word: str) -> bool:
        return self.peek().kind == "kw" and self.peek().value == word

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise FilterError("empty filter; write e.g. year >= 2020", self.text, 0)
        expr = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail("and, or or the end of the expression")
        return expr

    def _chain(self, word: str, sub: Callable[[], Expr]) -> Expr:
        items = [sub()]
        while self.is_kw(word):
            self.take()
            items.append(sub())
        return items[0] if len(items) == 1 else BoolOp(word, tuple(items))

    def or_expr(self) -> Expr:
        return self._chain("or", self.and_expr)

    def and_expr(self) -> Expr:
        return self._chain("and", self.not_expr)

    def not_expr(self) -> Expr:
        if self.is_kw("not"):
            self.take()
            return Not(self.not_expr())
        tok = self.peek()
        if tok.kind == "punct" and tok.value == "(":
            self.take()
            inner = self.or_expr()
            if not (self.peek().kind == "punct" and self.peek().value == ")"):
                raise self.fail(f"')' to close the '(' at column {tok.pos + 1}")
            self.take()
            return inner
        return self.comparison()

    def literal(self) -> Scalar:
        tok = self.take()
        if tok.kind in ("str", "num"):
            return tok.value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return tok.value == "true"
        raise self.fail("a value (a quoted string, a number, true or false)", tok)

    def comparison(self) -> Expr:
        tok = self.take()
        if tok.kind != "name":
            raise self.fail("a field name, not or '('", tok)
        field = tok.value
        negate = False
        if self.is_kw("not"):
            self.take()
            negate = True
            if not self.is_kw("in"):
                raise self.fail("in after not")
        if self.is_kw("in"):
            self.take()
            if not (self.peek().kind == "punct" and self.peek().value == "["):
                raise self.fail("'[' to start the list")
            open_tok = self.take()
            values = []
            while not (self.peek().kind == "punct" and self.peek().value == "]"):
                values.append(self.literal())
                if self.peek().kind == "punct" and self.peek().value == ",":
                    self.take()
                elif not (self.peek().kind == "punct" and self.peek().value == "]"):
                    raise self.fail("',' or ']'")
            self.take()
            if not values:
                raise FilterError("empty list after in", self.text, open_tok.pos)
            return In(field, tuple(values), negate)
        op = self.take()
        if op.kind != "op":
            raise self.fail(f"an operator after {field} ({', '.join(OPS)}, in, not in)", op)
        return Compare(field, op.value, self.literal())


def parse_filter(text: str) -> Expr:
    """Parse a filter expression.

    Raises:
        FilterError: naming the column of the problem and what was expected there.

    Examples:
        >>> parse_filter('year >= 2020 or lang == "de"')  # doctest: +NORMALIZE_WHITESPACE
        BoolOp(op='or', operands=(Compare(field='year', op='>=', value=2020),
                                  Compare(field='lang', op='==', value='de')))
    """
    if not isinstance(text, str):
        raise ConfigError(f"a filter must be a string expression, got {type(text).__name__}")
    return _Parser(text).parse()


def fields_of(expr: Expr) -> list[str]:
    """The field names ``expr`` reads, in first-use order."""
    if isinstance(expr, (Compare, In)):
        return [expr.field]
    if isinstance(expr, Not):
        return fields_of(expr.operand)
    return list(dict.fromkeys(f for e in expr.operands for f in fields_of(e)))


# --------------------------------------------------------------------------------------------------
# a document's filterable fields
# --------------------------------------------------------------------------------------------------
def filter_fields(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The flat ``{dotted name: value}`` view of a document's metadata that filters read.

    A ``metadata`` object's entries are merged in (a top-level field of the same name wins); nested
    objects become dotted names; only scalars are kept (``null`` values and lists are dropped).
    """
    out: dict[str, Any] = {}

    def walk(prefix: str, obj: Mapping[str, Any]) -> None:
        for key, value in obj.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(f"{name}.", value)
            elif isinstance(value, (str, int, float, bool)) and name not in out:
                out[name] = value

    top = {k: v for k, v in metadata.items() if not (k == "metadata" and isinstance(v, Mapping))}
    walk("", top)
    nested = metadata.get("metadata")
    if isinstance(nested, Mapping):
        walk("", nested)
    return out


# --------------------------------------------------------------------------------------------------
# evaluation over columns (the local store)
# --------------------------------------------------------------------------------------------------
KIND_MISSING, KIND_NUMBER, KIND_STRING, KIND_OTHER = 0, 1, 2, 3


@dataclass
class Column:
    """One field over rows ``0 .. n-1``: ``kind`` (missing/number/string/other), ``num`` float64, ``text`` object."""

    kind: np.ndarray
    num: np.ndarray
    text: np.ndarray

    @classmethod
    def build(cls, n: int, values: Mapping[int, Any]) -> Column:
        """A column from ``{row: value}`` (rows absent from the mapping are missing)."""
        kind = np.zeros(n, dtype=np.int8)
        num = np.full(n, np.nan)
        text = np.full(n, None, dtype=object)
        for row, v in values.items():
            if row >= n or v is None:
                continue
            if isinstance(v, (bool, int, float)):
                kind[row], num[row] = KIND_NUMBER, float(v)
            elif isinstance(v, str):
                kind[row], text[row] = KIND_STRING, v
            else:
                kind[row] = KIND_OTHER
        return cls(kind, num, text)


_NUMPY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def _equal(col: Column, value: Scalar) -> np.ndarray:
    if isinstance(value, str):
        return (col.kind == KIND_STRING) & (col.text == value)
    return (col.kind == KIND_NUMBER) & (col.num == float(value))


def _compare(col: Column, op: str, value: Scalar) -> np.ndarray:
    if op == "==":
        return _equal(col, value)
    if op == "!=":
        return (col.kind != KIND_MISSING) & ~_equal(col, value)
    if isinstance(value, str):
        out = np.zeros(col.kind.shape, dtype=bool)
        rows = np.flatnonzero(col.kind == KIND_STRING)
        if rows.size:
            out[rows] = _NUMPY_OPS[op](col.text[rows], value).astype(bool)
        return out
    with np.errstate(invalid="ignore"):
        return (col.kind == KIND_NUMBER) & _NUMPY_OPS[op](col.num, float(value))


def evaluate(expr: Expr, column: Callable[[str], Column]) -> np.ndarray:
    """The boolean mask of rows ``expr`` accepts; ``column(name)`` gives a field's :class:`Column`."""
    if isinstance(expr, Compare):
        return _compare(column(expr.field), expr.op, expr.value)
    if isinstance(expr, In):
        col = column(expr.field)
        hit = np.zeros(col.kind.shape, dtype=bool)
        for v in expr.values:
            hit |= _equal(col, v)
        return ((col.kind != KIND_MISSING) & ~hit) if expr.negate else hit
    if isinstance(expr, Not):
        return ~evaluate(expr.operand, column)
    masks = [evaluate(e, column) for e in expr.operands]
    return np.logical_and.reduce(masks) if expr.op == "and" else np.logical_or.reduce(masks)


def matches(expr: Expr, metadata: Mapping[str, Any]) -> bool:
    """Whether one document's metadata satisfies ``expr`` (the reference semantics, row by row)."""
    fields = filter_fields(metadata)
    return bool(evaluate(expr, lambda name: Column.build(1, {0: fields.get(name)}))[0])


# --------------------------------------------------------------------------------------------------
# translation for Milvus (metadata in a JSON field)
# --------------------------------------------------------------------------------------------------
def _milvus_literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
               .replace("\r", "\\r"))
    return f'"{escaped}"'


_INVERSE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def _milvus_leaf(expr: Compare | In, neg: bool, json_field: str) -> str:
    ref = f'{json_field}["{expr.field}"]'
    if isinstance(expr, In):
        eq = " or ".join(f"{ref} == {_milvus_literal(v)}" for v in expr.values)
        ne = " and ".join(f"{ref} != {_milvus_literal(v)}" for v in expr.values)
        if expr.negate != neg:          # not in, or not (in): every value differs
            return f"(not exists {ref} or ({ne}))" if neg else f"(exists {ref} and {ne})"
        return f"(not exists {ref} or {eq})" if neg else f"(exists {ref} and ({eq}))"
    lit = _milvus_literal(expr.value)
    if expr.op in ("==", "!="):
        op = {"==": "!=", "!=": "=="}[expr.op] if neg else expr.op
        return f"(not exists {ref} or {ref} {op} {lit})" if neg else f"(exists {ref} and {ref} {op} {lit})"
    if not neg:
        return f"(exists {ref} and {ref} {expr.op} {lit})"
    # not (x < 1): x missing, x of the other type (a string against a number and the reverse), or x >= 1
    other = f'{ref} >= ""' if not isinstance(expr.value, str) else f"{ref} < 0 or {ref} >= 0"
    return f"(not exists {ref} or {ref} {_INVERSE[expr.op]} {lit} or {other})"


def _milvus(expr: Expr, neg: bool, json_field: str) -> str:
    if isinstance(expr, (Compare, In)):
        return _milvus_leaf(expr, neg, json_field)
    if isinstance(expr, Not):
        return _milvus(expr.operand, not neg, json_field)
    op = {"and": "or", "or": "and"}[expr.op] if neg else expr.op
    return "(" + f" {op} ".join(_milvus(e, neg, json_field) for e in expr.operands) + ")"


def to_milvus(expr: Expr, json_field: str = "meta") -> str:
    """A Milvus boolean expression over the JSON field holding :func:`filter_fields`, with the semantics above.

    Milvus answers null (neither true nor false) for a comparison on a missing field or an ordering
    between a string and a number, and ``not null`` is null; so negations are pushed down to the
    comparisons (De Morgan) and each negated comparison is written positively (``not x < 1`` becomes
    ``not exists x or x >= 1 or x is a string``). What remains uses only ``and``/``or`` over
    comparisons, where a null acts as false, as a missing field does here. ``in`` is written as
    equalities joined by ``or`` (Milvus's ``in`` does not take JSON paths).
    """
    return _milvus(expr, False, json_field)
