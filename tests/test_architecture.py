"""The house rules: runtime never imports Qt, and no code turns file contents into code."""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime"


def _python_files(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


@functools.lru_cache(maxsize=None)
def _tree(path: Path) -> ast.AST:
    """A source file's syntax tree, parsed once for all the tests here (they only read it)."""
    return ast.parse(path.read_text(), str(path))


def test_runtime_imports_and_compiles_with_qt_blocked():
    script = """
import sys, pkgutil, importlib
for name in ("PySide6", "shiboken6", "pyqtgraph", "layerloom.nodeeditor"):
    sys.modules[name] = None  # any import of these now raises ImportError
import layerloom
for info in pkgutil.walk_packages(layerloom.__path__, "layerloom."):
    # an installed wheel holds the editor inside; a __main__ runs the command line
    if not info.name.startswith("layerloom.nodeeditor") and not info.name.endswith("__main__"):
        importlib.import_module(info.name)
from layerloom import load_graph, compile_graph
from layerloom.files.resources import example_paths
for path in example_paths():
    compile_graph(load_graph(path))
from layerloom.training.metrics import torchmetrics_functional  # imported lazily by the trainer
torchmetrics_functional()
print("ok", len(example_paths()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 7")


FORBIDDEN_MODULES = {"PySide6", "shiboken6", "pyqtgraph", "pickle", "dill", "cloudpickle", "marshal"}


def _imports(tree: ast.AST, full: bool = False):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name if full else alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module if full else node.module.split(".")[0], node.lineno


def test_runtime_source_has_no_forbidden_imports():
    offenders = []
    for path in _python_files(RUNTIME):
        tree = _tree(path)
        offenders += [f"{path.relative_to(ROOT)}:{line} imports {mod}" for mod, line in _imports(tree, full=True)
                      if mod.split(".")[0] in FORBIDDEN_MODULES or mod.startswith("layerloom.nodeeditor")]
    assert not offenders, offenders


def test_no_eval_exec_or_unsafe_torch_load_anywhere():
    offenders = []
    for folder in (RUNTIME, ROOT / "nodeeditor"):
        for path in _python_files(folder):
            tree = _tree(path)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                builtin = isinstance(func, ast.Name) or getattr(getattr(func, "value", None), "id", "") == "builtins"
                if builtin and name in ("eval", "exec", "compile", "__import__"):
                    offenders.append(f"{where} calls {name}")
                if name == "load" and isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "torch":
                    safe = any(k.arg == "weights_only" and getattr(k.value, "value", None) is True
                               for k in node.keywords)
                    if not safe:
                        offenders.append(f"{where} calls torch.load without weights_only=True")
    assert not offenders, offenders


def test_nodeeditor_depends_on_runtime_not_the_reverse():
    for path in _python_files(RUNTIME):
        imported = {m for m, _ in _imports(_tree(path), full=True)}
        assert not {m for m in imported if m.startswith("layerloom.nodeeditor")}, path


def test_code_imports_layerloom_never_the_folder_names():
    """``runtime`` and ``nodeeditor`` are folders, not import names: a stray ``import runtime`` works in
    a checkout (the folder is on sys.path) and fails in an installed wheel, or finds another project's."""
    folders = ("runtime", "nodeeditor", "tests", "benchmarks", "tools", "packaging", "docs", "resources")
    offenders = []
    for folder in folders:
        for path in _python_files(ROOT / folder):
            for mod, line in _imports(_tree(path)):
                if mod in ("runtime", "nodeeditor"):
                    offenders.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
    assert not offenders, offenders


def test_the_import_layers_hold():
    """pyproject.toml's import-linter contracts (docs/architecture.md): the core's layers, the editor's
    layers, and Qt only in the editor. A broken contract prints the offending import and its line."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "lint_imports.py")], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "BROKEN" not in report and report.count("KEPT") >= 3, report


def test_every_package_says_what_lives_there_and_what_it_may_import():
    """Each package's ``__init__`` docstring is its entry in the map (docs/architecture.md)."""
    missing = []
    for folder in (RUNTIME, ROOT / "nodeeditor"):
        for init in folder.rglob("__init__.py"):
            doc = ast.get_docstring(_tree(init)) or ""
            if "__pycache__" not in init.parts and not ("import" in doc.lower() and len(doc) > 80):
                missing.append(str(init.relative_to(ROOT)))
    assert not missing, missing
