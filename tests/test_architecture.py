"""The house rules: runtime never imports Qt, and no code turns file contents into code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "runtime"


def _python_files(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_runtime_imports_and_compiles_with_qt_blocked():
    script = """
import sys, pkgutil, importlib
for name in ("PySide6", "shiboken6", "pyqtgraph", "nodeeditor"):
    sys.modules[name] = None  # any import of these now raises ImportError
import runtime
for info in pkgutil.walk_packages(runtime.__path__, "runtime."):
    importlib.import_module(info.name)
from runtime import load_graph, compile_graph
from runtime.resources import example_paths
for path in example_paths():
    compile_graph(load_graph(path))
from runtime.training.metrics import torchmetrics_functional  # imported lazily by the trainer
torchmetrics_functional()
print("ok", len(example_paths()))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 5")


FORBIDDEN_MODULES = {"PySide6", "shiboken6", "pyqtgraph", "nodeeditor", "pickle", "dill", "cloudpickle", "marshal"}


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


def test_runtime_source_has_no_forbidden_imports():
    offenders = []
    for path in _python_files(RUNTIME):
        tree = ast.parse(path.read_text(), str(path))
        offenders += [f"{path.relative_to(ROOT)}:{line} imports {mod}" for mod, line in _imports(tree)
                      if mod in FORBIDDEN_MODULES]
    assert not offenders, offenders


def test_no_eval_exec_or_unsafe_torch_load_anywhere():
    offenders = []
    for folder in (RUNTIME, ROOT / "nodeeditor"):
        for path in _python_files(folder):
            tree = ast.parse(path.read_text(), str(path))
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
        text = path.read_text()
        assert "nodeeditor" not in {m for m, _ in _imports(ast.parse(text))}, path
