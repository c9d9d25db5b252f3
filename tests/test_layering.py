"""Imports point downward only (cli -> workflows -> components -> model -> services -> foundations), and in no cycle."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "reasonir"

LAYERS = {
    0: {"types", "errors", "io", "config", "prompts", "analysis", "_logging", "embedded", "trainio", "netguard", "hf_spec",
        "outputs", "ids", "fileio", "__init__", "config_paths", "config_aliases", "bright_files", "versions"},
    1: {"data", "evaluate", "llm", "query_variants", "significance"},
    2: {"encode"},
    3: {"retrieve", "rerank", "rewrite", "index", "synth", "train"},
    4: {"workflows", "serve", "rag", "integrations"},
    5: {"cli", "__main__"},
}
LAYER_OF = {name: level for level, names in LAYERS.items() for name in names}
# siblings that must meet only through files / plain types
FORBIDDEN = {("synth", "train"), ("train", "synth"), ("retrieve", "rerank"), ("rerank", "retrieve"),
             ("evaluate", "encode"), ("evaluate", "llm")}


def _top(module_path: Path) -> str:
    rel = module_path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg_parts = list(path.relative_to(PKG).parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - (node.level - 1)] if node.level > 1 else pkg_parts
                target = (base + (node.module.split(".") if node.module else []))
                if not target:
                    names = [a.name for a in node.names]
                    yield from names
                else:
                    yield target[0]
            elif node.module and node.module.startswith("reasonir."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("reasonir."):
                    yield a.name.split(".")[1]


def test_every_top_level_module_has_a_layer():
    tops = {_top(p) for p in PKG.rglob("*.py")}
    assert not tops - set(LAYER_OF), f"assign a layer in tests/test_layering.py to: {tops - set(LAYER_OF)}"


def test_imports_point_downward():
    bad = []
    for path in PKG.rglob("*.py"):
        src = _top(path)
        for dst in _imports(path):
            if dst not in LAYER_OF or dst == src:
                continue
            if LAYER_OF[dst] > LAYER_OF[src] or (src, dst) in FORBIDDEN:
                bad.append(f"{path.relative_to(PKG)} imports {dst}")
    assert not bad, "upward or forbidden imports:\n" + "\n".join(bad)


# --------------------------------------------------------------------------------------------------
# no import cycles between modules, counting imports inside functions (a lazy import only hides one)
# --------------------------------------------------------------------------------------------------
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST):
    """Every import statement that runs (module level or inside a function), not ``if TYPE_CHECKING:`` ones."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in _runtime_imports_of(child))
            continue
        yield from _runtime_imports_of(node)


def _runtime_imports_of(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _runtime_imports(node)


def _targets(name: str, path: Path) -> set[str]:
    """The reasonir modules one module's imports load (``from .x import y`` loads ``x.y`` when y is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            bases = [a.name for a in node.names]
            names: list[str] = []
        else:
            if node.level:
                pkg = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(pkg + (node.module.split(".") if node.module else []))
            else:
                base = node.module or ""
            bases, names = [base], [a.name for a in node.names]
        for base in bases:
            if base in MODULES:
                subs = {f"{base}.{n}" for n in names if f"{base}.{n}" in MODULES}
                out |= subs or {base}
                if len(subs) < len(names):
                    out.add(base)
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _edges_within(comp: list[str], graph: dict[str, set[str]]) -> list[str]:
    members = set(comp)
    return [f"{a} -> {b}" for a in comp for b in sorted(graph[a] & members)]


def test_no_import_cycles():
    graph = {name: _targets(name, path) for name, path in MODULES.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles (split the shared part into a module both can import):\n" + "\n".join(
        "  " + " <-> ".join(c) + "\n    " + "\n    ".join(_edges_within(c, graph)) for c in cycles)


def test_cycle_finder_sees_a_lazy_import_cycle():
    lazy = ast.parse("def f():\n    from .b import x\n")
    assert [n.module for n in _runtime_imports(lazy)] == ["b"]
    typing_only = ast.parse("if TYPE_CHECKING:\n    from .b import x\nelse:\n    from .c import y\n")
    assert [n.module for n in _runtime_imports(typing_only)] == ["c"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_test_modules_import_helpers_not_other_test_modules():
    """Shared test code lives in helper modules (fakes.py, llm_fakes.py, served_index.py...), not in test_*.py."""
    tests_dir = Path(__file__).resolve().parent
    bad = []
    for path in sorted(tests_dir.glob("*.py")):
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            bad += [f"{path.name} imports {n}" for n in names if n.split(".")[0].startswith("test_")]
    assert not bad, "move the shared code into a helper module:\n" + "\n".join(bad)
