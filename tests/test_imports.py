"""The house's import rules, read statically from the source (every ``import`` statement, also
those inside functions): no cycles; the shared layers import no method; methods import only
the shared layers and never each other, the command line, the demo or private names."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_LAYERS = ("nn", "data", "metrics", "train", "viz")
# what a method folder may import (docs/adding-a-method.md)
METHOD_MAY_IMPORT = ("kinema.nn", "kinema.data", "kinema.metrics", "kinema.train", "kinema.viz",
                     "kinema.pretrained", "kinema.config", "kinema.registry", "kinema.errors",
                     "kinema.tasks", "kinema.stages", "kinema.apps", "kinema.bench.harness",
                     "kinema.bench.seeds", "kinema.bench.kept", "kinema.outputs", "kinema.validate", "kinema.devices",
                     "kinema.provenance", "kinema.default_models")


def module_files(root: Path) -> dict[str, Path]:
    out = {}
    for f in (root / "kinema").rglob("*.py"):
        name = ".".join(f.relative_to(root).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = f
    return out


def imports_of(name: str, f: Path) -> list[tuple[str, str | None]]:
    """(module, imported name or None) for every kinema import of module ``name``."""
    out = []
    is_package = f.name == "__init__.py"
    for node in ast.walk(ast.parse(f.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([module] if module else []))
            out += [(module, a.name) for a in node.names]
    return [(m, n) for m, n in out if m == "kinema" or m.startswith("kinema.")]


def resolve(module: str, modules: dict) -> str | None:
    while module and module not in modules:
        module = module.rpartition(".")[0]
    return module or None


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], dict[str, list]]:
    modules = module_files(root)
    raw = {n: imports_of(n, f) for n, f in modules.items()}
    graph = {}
    for name, found in raw.items():
        targets = set()
        for module, imported in found:
            # "from kinema.nn import warp" imports the module kinema.nn.warp
            full = f"{module}.{imported}" if imported else module
            target = resolve(full if full in modules else module, modules)
            if target and target != name:
                targets.add(target)
        graph[name] = targets
    return graph, raw


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), leaving out a
    package whose ``__init__`` imports its own submodules."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
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
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    import sys
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for v in graph:
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return [c for c in found
            if not any(all(x == p or x.startswith(p + ".") for x in c) for p in c)]


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def method_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "methods" else None


def violations(root: Path = ROOT) -> list[str]:
    graph, raw = import_graph(root)
    bad = [f"cycle: {' <-> '.join(c)}" for c in cycles(graph)]
    for a, targets in graph.items():
        for b in targets:
            if layer(a) in SHARED_LAYERS and layer(b) == "methods":
                bad.append(f"{a} -> {b}: a shared layer imports a method")
            ma, mb = method_of(a), method_of(b)
            if ma and mb and ma != mb:
                bad.append(f"{a} -> {b}: a method imports another method")
            if ma and not mb and not any(b == ok or b.startswith(ok + ".")
                                         for ok in METHOD_MAY_IMPORT):
                bad.append(f"{a} -> {b}: a method imports outside the shared layers "
                           f"(the command line, the demo, bench internals, ...)")
    for a, found in raw.items():
        for module, imported in found:
            # a method's private helpers are its own business; another part's are not
            if imported and imported.startswith("_") and not imported.startswith("__") \
                    and method_of(a) and method_of(module) != method_of(a):
                bad.append(f"{a} imports the private name {module}.{imported}")
    return sorted(set(bad))


def test_the_package_follows_the_import_rules():
    assert violations() == []


@pytest.mark.parametrize("files, expected", [
    ({"kinema/methods/a/x.py": "from kinema.methods.b import y",
      "kinema/methods/b/y.py": ""}, "kinema.methods.a.x -> kinema.methods.b.y: a method imports another"),
    ({"kinema/nn/x.py": "def f():\n    from kinema.methods.a import m",
      "kinema/methods/a/m.py": ""}, "kinema.nn.x -> kinema.methods.a.m: a shared layer imports a method"),
    ({"kinema/methods/a/x.py": "import kinema.demo", "kinema/demo.py": ""},
     "kinema.methods.a.x -> kinema.demo: a method imports outside the shared layers"),
    ({"kinema/methods/a/x.py": "from kinema.bench.harness import _write",
      "kinema/bench/harness.py": ""}, "imports the private name kinema.bench.harness._write"),
    ({"kinema/methods/a/x.py": "from kinema.methods.a.y import _own",
      "kinema/methods/a/y.py": "from kinema.stages import _private",
      "kinema/stages.py": ""}, "kinema.methods.a.y imports the private name kinema.stages._private"),
    ({"kinema/data/x.py": "from kinema.data import y", "kinema/data/y.py": "from . import x"},
     "cycle: kinema.data.x <-> kinema.data.y"),
])
def test_each_rule_catches_its_violation(tmp_path, files, expected):
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    found = violations(tmp_path)
    assert any(v.startswith(expected) or expected in v for v in found), found


def test_a_package_importing_its_own_modules_is_no_cycle(tmp_path):
    (tmp_path / "kinema" / "methods" / "a").mkdir(parents=True)
    (tmp_path / "kinema" / "methods" / "a" / "__init__.py").write_text("from kinema.methods.a import m")
    (tmp_path / "kinema" / "methods" / "a" / "m.py").write_text("import kinema.methods.a")
    assert violations(tmp_path) == []


def test_the_command_line_loads_no_heavy_library():
    """`kinema --help` builds the whole app (every method's commands): the heavy libraries
    must wait until a command that needs them runs."""
    import subprocess
    import sys

    code = ("import sys, kinema.cli; "
            "print(sorted(m for m in ('diffusers', 'FrEIA', 'cv2', 'skimage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == "[]"
