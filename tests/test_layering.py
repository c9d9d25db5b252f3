"""Imports point downward only: cli -> workflows -> components -> model -> services -> foundations."""

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
