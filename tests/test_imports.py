"""Imports point one way: errors and the environment at the bottom, the shared leaf pieces (figures, optimizers),
models and datasets above them, the engine (runs, trainer, evaluation, the task template, the family declaration)
above those, the families' tasks above the engine, the registry, the Python entry point and the command line on
top. Read from the source (every ``import``, in functions too), so a lazy import cannot hide an upward edge."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"hvae": "hvae", "models": "hvae.models", "datasets": "hvae.datasets"}   # folder -> installed package

# module (or package prefix) -> layer; a module may import its own layer or lower ones, never a higher one
LAYERS = {
    "hvae": 0, "hvae.errors": 0, "hvae.environment": 0, "hvae.runtime": 0, "hvae.lock": 0,
    "hvae.configs": 1, "hvae.figures": 1, "hvae.optimizers": 1, "hvae.progress": 1, "hvae.compare": 1,
    "hvae.loss_history": 1,
    "hvae.models": 2, "hvae.datasets": 2,
    "hvae.runs": 3, "hvae.trainer": 3, "hvae.evaluation": 3, "hvae.task": 3, "hvae.family": 3,
    "hvae.task_figures": 3,
    "hvae.*_task": 4,
    "hvae.registry": 5, "hvae.api": 5, "hvae.cli": 5, "hvae.originals": 5,
}
# hvae/__init__.py's load_run() is a convenience that imports hvae.api when called (hvae.load_run in the README)
ALLOWED_UPWARD = {("hvae", "hvae.api")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([FOLDERS[parts[0]], *parts[1:]])


def _layer(module: str) -> int:
    if module in LAYERS:
        return LAYERS[module]
    if module.startswith("hvae.configs."):
        return LAYERS["hvae.configs"]
    if module.startswith(("hvae.models.", "hvae.datasets.")):
        return LAYERS[".".join(module.split(".")[:2])]
    if module.startswith("hvae.") and module.endswith("_task"):
        return LAYERS["hvae.*_task"]
    top = ".".join(module.split(".")[:2])
    if top in ("hvae.models", "hvae.datasets"):
        return LAYERS[top]
    raise AssertionError(f"{module} has no layer in tests/test_imports.py: give it one")


def _imports(path: Path, module: str) -> set:
    """The project modules that ``path`` imports (absolute and relative, at any depth)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            # "from . import registry" imports the submodule; "from .x import y" the module x
            names = [f"{prefix}.{alias.name}" for alias in node.names] + [prefix]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "hvae":
                found.add(name)
    return found


def _known(name: str, modules: set) -> str | None:
    """The project module an imported name refers to (the longest known prefix), or None."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def _graph() -> dict:
    files = {(_module_name(p)): p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")}
    modules = set(files)
    return {m: {k for k in (_known(n, modules) for n in _imports(p, m)) if k and k != m} for m, p in files.items()}


def test_every_import_points_down_or_sideways():
    upward = []
    for module, imported in sorted(_graph().items()):
        for target in sorted(imported):
            if _layer(target) > _layer(module) and (module, target) not in ALLOWED_UPWARD \
                    and not target.startswith(module + "."):
                upward.append(f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})")
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_no_import_cycle():
    graph = _graph()
    graph = {m: {t for t in ts if not t.startswith(m + ".") and (m, t) not in ALLOWED_UPWARD} for m, ts in graph.items()}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The checker itself: a lazy upward import inside a function is reported."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from hvae.cli import main\n    from . import registry\n")
    found = _imports(source, "hvae.task")
    assert "hvae.cli" in found and "hvae.registry" in found
    assert _layer("hvae.cli") > _layer("hvae.task")


@pytest.mark.parametrize("module", ["hvae.models.lvae", "hvae.models.base", "hvae.datasets.base"])
def test_models_and_datasets_import_only_the_bottom_of_hvae(module):
    imported = _graph()[module]
    assert all(_layer(t) <= 2 for t in imported), imported


def test_the_configs_import_no_tensorflow():
    """The command line reads every family's configs before TensorFlow starts (--gpus, the threading settings)."""
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, hvae.configs as c; "
            "[importlib.import_module('hvae.configs.' + m.name) for m in pkgutil.iter_modules(c.__path__)]; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'tensorflow_probability') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
