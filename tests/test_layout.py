"""The package's layering, checked from the source: arrows only go down, torch only in model/,
and no import cycle between modules (lazy, function-level imports included)."""

import ast
from pathlib import Path

import ionflow

SRC = Path(ionflow.__file__).parent

# Lower layers never import higher ones (cli may import anything).
LAYERS = [
    "errors",
    "_scale",
    "_freemem",
    "_pool",
    "io",
    "generate",
    "solve",
    "metrics",
    "rev",
    "cellmodel",
    "surrogate",
    "dataset",
    "plot",
    "model",
]
# The one upward arrow: a model without an ONNX export runs through torch, imported lazily and
# only when installed (``Predictor._torch_runner``).
UPWARD = {
    ("ionflow.surrogate._predictor", "ionflow.model._runner"),
    ("ionflow.surrogate._predictor", "ionflow.model._checkpoint"),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ionflow module or third-party top-level package imported anywhere in the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            for alias in node.names:  # "from . import _x" imports a module
                found.add(f"{mod}.{alias.name}")
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        graph[name] = {m for m in _imports(path) if m in files and m != name}
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


# The GPU backend of the multigrid: torch as an array library, imported lazily, only when a
# CUDA device is asked for (``device="cuda"`` / ``"auto"`` on a machine with an NVIDIA driver).
TORCH_ARRAYS = {"ionflow.solve._torch_mg"}


def test_torch_only_in_model():
    for path in SRC.rglob("*.py"):
        name = _module_name(path)
        if _layer(name) == "model" or name in TORCH_ARRAYS:
            continue
        torchy = {m for m in _imports(path) if m.split(".")[0] in {"torch", "timm", "monai"}}
        assert not torchy, f"{name} imports {sorted(torchy)}"


def test_arrows_only_go_down():
    graph = _graph()
    for module, deps in graph.items():
        here = _layer(module)
        if here not in LAYERS:
            continue
        for dep in deps:
            there = _layer(dep)
            if there in LAYERS and there != here and (module, dep) not in UPWARD:
                assert LAYERS.index(there) < LAYERS.index(here), f"{module} imports {dep}"


def test_no_import_cycles_between_modules():
    """Package ``__init__`` files re-export their children, so edges into a package's own
    ``__init__`` from its children are left out; every other cycle is a design error (the
    model/_train <-> _calibrate circle of old)."""
    graph = _graph()
    for module, deps in graph.items():
        graph[module] = {d for d in deps if not module.startswith(d + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
