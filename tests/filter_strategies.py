"""Hypothesis strategies for metadata filters: random expression trees, their text, random metadata, and
the documented semantics written directly on Python values (shared by the local and Milvus filter tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from reasonir.index.filters import BoolOp, Compare, In, Not

FIELDS = ["a", "b", "c.d"]
values = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5]), st.booleans(),
                   st.sampled_from(["", "x", "y", 'q"uote', "é"]))


def render_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


leaves = st.one_of(
    st.builds(Compare, st.sampled_from(FIELDS), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), values),
    st.builds(In, st.sampled_from(FIELDS), st.lists(values, min_size=1, max_size=3).map(tuple), st.booleans()))
trees = st.recursive(leaves, lambda sub: st.one_of(
    st.builds(Not, sub), st.builds(BoolOp, st.sampled_from(["and", "or"]), st.lists(sub, min_size=2, max_size=3)
                                   .map(tuple))), max_leaves=8)


def render(e) -> str:
    if isinstance(e, Compare):
        return f"{e.field} {e.op} {render_value(e.value)}"
    if isinstance(e, In):
        return f"{e.field} {'not in' if e.negate else 'in'} [{', '.join(render_value(v) for v in e.values)}]"
    if isinstance(e, Not):
        return f"not ({render(e.operand)})"
    return f" {e.op} ".join(f"({render(x)})" for x in e.operands)


def reference(e, doc) -> bool:
    """The documented semantics, written directly on Python values."""
    def num(v):
        return isinstance(v, (int, float))                 # bools included

    def eq(v, c):
        return (isinstance(v, str) and isinstance(c, str) and v == c) or (num(v) and num(c) and float(v) == float(c))

    if isinstance(e, Compare):
        v = doc.get(e.field)
        if v is None or isinstance(v, list):
            return False
        if e.op == "==":
            return eq(v, e.value)
        if e.op == "!=":
            return not eq(v, e.value)
        same = (isinstance(v, str) and isinstance(e.value, str)) or (num(v) and num(e.value))
        return same and {"<": v < e.value, "<=": v <= e.value, ">": v > e.value, ">=": v >= e.value}[e.op]
    if isinstance(e, In):
        v = doc.get(e.field)
        if v is None or isinstance(v, list):
            return False
        hit = any(eq(v, c) for c in e.values)
        return not hit if e.negate else hit
    if isinstance(e, Not):
        return not reference(e.operand, doc)
    results = [reference(x, doc) for x in e.operands]
    return all(results) if e.op == "and" else any(results)


docs_st = st.lists(st.dictionaries(st.sampled_from(FIELDS), st.one_of(values, st.none(), st.just([1]))),
                   min_size=1, max_size=6)
