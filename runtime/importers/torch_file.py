"""Open a model class from a ``.py`` file the user chose: ``import_python_file(path, class_name, input_shape)``.

The file is the user's code, as a plugin is, so it runs in a child process (spawned by ``multiprocessing``, as
training runs, so it works in the bundled app too): the child runs the file, makes the class with no arguments,
imports it with ``torch_fx.from_module`` and writes the graph (JSON), the weights (a weights file, read back
with ``weights_only=True``) and the report into a temporary folder. Whatever the file does (raise, loop, call
``sys.exit``, crash the interpreter, print), the caller goes on and gets a ``ModelImportError`` naming the file
and the line: on time-out the child is sent SIGABRT so that ``faulthandler`` writes where it was, then killed.
What the file prints goes to stderr.

This module imports torch only in the child, after the user's file has run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Sequence

from layerloom.importers.report import ImportReport, ImportResult, ModelImportError

DEFAULT_TIMEOUT = 120.0   # seconds: importing torch on a busy machine, running the file, tracing, checking
_MODULE_NAME = "layerloom_user_model"
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+)')


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"1,28,28"`` or ``[1, 28, 28]`` as a shape of one sample (no batch); ``ValueError`` saying why not."""
    parts = text.replace("x", ",").split(",") if isinstance(text, str) else list(text)
    try:
        shape = tuple(int(str(p).strip()) for p in parts if str(p).strip())
    except ValueError:
        raise ValueError(f"input shape {text!r}: whole numbers separated by commas, e.g. 1,28,28") from None
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"input shape {text!r}: one or more sizes of at least 1, e.g. 1,28,28 (no batch)")
    return shape


def model_classes(path: str | os.PathLike) -> list[str]:
    """The classes a ``.py`` file defines at its top level that look like models (a base named ``...Module`` or
    ``Sequential``, or another such class of the file), in file order, read without running the file (for a
    dialog's class list). ``ModelImportError`` when the file cannot be read or parsed."""
    import ast

    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelImportError(f"{path}: cannot read: {exc}") from None
    except SyntaxError as exc:
        raise ModelImportError(f"{path.name} line {exc.lineno}: {exc.msg}") from None
    found: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for base in node.bases:
            name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            if name.endswith("Module") or name == "Sequential" or name in found:
                found.append(node.name)
                break
    return found


def import_python_file(path: str | os.PathLike, class_name: str, input_shape: str | Sequence[int], *,
                       dtype: str = "float32", timeout: float = DEFAULT_TIMEOUT) -> ImportResult:
    """The class ``class_name`` of the Python file ``path``, made with no arguments and traced with an
    example batch of 2 samples of ``input_shape`` (one sample's shape, e.g. ``(1, 28, 28)``; ``dtype``
    ``"int64"`` for token ids). Runs in a child process stopped after ``timeout`` seconds.
    Raises ``ModelImportError`` naming the file and line when the file fails, and what cannot be mapped."""
    path = Path(path)
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    if not class_name.isidentifier():
        raise ModelImportError(f"{class_name!r} is not a class name")
    try:
        shape = parse_shape(input_shape)
    except ValueError as exc:
        raise ModelImportError(str(exc)) from None
    if dtype not in ("float32", "int64"):
        raise ModelImportError(f"dtype {dtype!r}: use float32 or int64")
    with tempfile.TemporaryDirectory(prefix="layerloom-import-") as folder:
        out = Path(folder)
        request = {"path": str(path.resolve()), "class": class_name, "shape": list(shape), "dtype": dtype,
                   "out": str(out)}
        (out / "request.json").write_text(json.dumps(request), encoding="utf-8")
        stack = _run_child(out / "request.json", path, timeout)
        return _collect(out, path, class_name, stack)


def _run_child(request: Path, path: Path, timeout: float) -> str:
    """Run ``_child`` in a spawned process (as training runs: it works in the bundled app too); returns what
    faulthandler wrote about it. Raises ``ModelImportError`` when it was stopped or ended early."""
    import multiprocessing

    stack_file = request.parent / "stack.txt"
    process = multiprocessing.get_context("spawn").Process(target=_child, args=(str(request),), daemon=True,
                                                           name="layerloom-import")
    process.start()
    process.join(timeout)
    if process.is_alive():
        _stop(process)
        line = _last_line(_read(stack_file), path)
        raise ModelImportError(f"{path.name} did not finish within {timeout:g} s and was stopped"
                               + (f" (it was at line {line})" if line else ""))
    stack = _read(stack_file)
    if process.exitcode != 0 and not (request.parent / "result.json").exists():
        line = _last_line(stack, path)
        first = stack.strip().splitlines()[0][:200] if stack.strip() else ""
        raise ModelImportError(f"{path.name} ended the import process (exit status {process.exitcode})"
                               + (f" at line {line}" if line else "") + (f": {first}" if first else ""))
    return stack


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _stop(process) -> None:
    """Ask the child where it is (SIGABRT: faulthandler writes its stack), then make sure it is gone."""
    if os.name == "posix" and hasattr(signal, "SIGABRT"):
        try:
            os.kill(process.pid, signal.SIGABRT)
        except OSError:
            pass
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join()


def _last_line(stderr: str, path: Path) -> int | None:
    """The line of ``path`` in the innermost frame that faulthandler or a traceback printed."""
    target = os.path.abspath(path)
    lines = [int(m["line"]) for m in _FRAME.finditer(stderr) if os.path.abspath(m["file"]) == target]
    if not lines:
        return None
    # faulthandler prints the innermost frame first; a Python traceback prints it last.
    return lines[0] if "most recent call first" in stderr else lines[-1]


def _collect(out: Path, path: Path, class_name: str, stack: str) -> ImportResult:
    result_file = out / "result.json"
    if not result_file.exists():
        raise ModelImportError(f"{path.name}: the import process wrote no result" +
                               (f": {stack.strip().splitlines()[0][:200]}" if stack.strip() else ""))
    data = json.loads(result_file.read_text(encoding="utf-8"))
    report = ImportReport.from_json(data["report"]) if data.get("report") else None
    if data.get("error"):
        raise ModelImportError(data["error"], report)
    from layerloom.files.graphfile import graph_from_dict
    from layerloom.training.start_weights import read_weights_file

    graph = graph_from_dict(data["graph"])
    weights = read_weights_file(out / "weights.pt") if data.get("weights") else {}
    return ImportResult(graph, weights, report or ImportReport(f"{path.name}:{class_name}"))


# ------------------------------------------------------------------------------------ the child
def _user_line(exc: BaseException, path: str) -> int | None:
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if os.path.abspath(frame.filename) == path]
    return lines[-1] if lines else None


def _describe(exc: BaseException, path: str, what: str) -> str:
    line = _user_line(exc, path)
    where = f"{os.path.basename(path)}" + (f" line {line}" if line else "")
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{where}: {what}: {type(exc).__name__}" + (f": {text}" if text else "")


def _load_class(request: dict):
    import importlib.util

    path = request["path"]
    sys.path.insert(0, os.path.dirname(path))  # the file may import its neighbours, as a script would
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too: the file's doing
        raise ModelImportError(_describe(exc, path, "running the file failed")) from None
    cls = getattr(module, request["class"], None)
    if not isinstance(cls, type):
        found = sorted(name for name, value in vars(module).items()
                       if isinstance(value, type) and value.__module__ == _MODULE_NAME)
        raise ModelImportError(f"{os.path.basename(path)} has no class {request['class']!r}"
                               + (f" (it has {', '.join(found)})" if found else " (it defines none)"))
    import torch

    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        found = sorted(name for name, value in vars(module).items()
                       if isinstance(value, type) and issubclass(value, torch.nn.Module)
                       and value.__module__ == _MODULE_NAME)
        raise ModelImportError(f"{os.path.basename(path)} has no nn.Module class {request['class']!r}"
                               + (f" (it has {', '.join(found)})" if found else " (it defines none)"))
    try:
        return cls()
    except BaseException as exc:  # noqa: BLE001
        raise ModelImportError(_describe(exc, path, f"{request['class']}() failed (it is made with no "
                                                    "arguments)")) from None


def _child(request_file: str) -> int:
    """The child process: run the file, import its class, write ``result.json`` (and ``weights.pt``)."""
    import faulthandler

    request = json.loads(Path(request_file).read_text(encoding="utf-8"))
    out = Path(request["out"])
    stack = open(out / "stack.txt", "w", encoding="utf-8")  # noqa: SIM115 - faulthandler writes to it until exit
    faulthandler.enable(stack, all_threads=False)
    try:  # what the file prints is not ours to show as output: it goes to stderr
        sys.stdout.flush()
        os.dup2(2, 1)
    except (OSError, ValueError):
        pass
    sys.stdout = sys.stderr
    os.chdir(os.path.dirname(request["path"]))  # the file may open files beside it, as a script would
    result: dict = {}
    try:
        model = _load_class(request)
        import torch

        from layerloom.files.graphfile import graph_to_dict
        from layerloom.importers.torch_fx import from_module
        from layerloom.training.start_weights import save_weights_file

        shape = (2,) + tuple(request["shape"])
        if request["dtype"] == "int64":
            example = torch.zeros(shape, dtype=torch.int64)
        else:
            example = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        source = f"{os.path.basename(request['path'])}:{request['class']}"
        imported = from_module(model, example, source=source)
        if imported.weights:
            save_weights_file(out / "weights.pt", imported.weights, source=f"imported from {source}")
        result = {"graph": graph_to_dict(imported.graph), "weights": bool(imported.weights),
                  "report": imported.report.to_json()}
    except ModelImportError as exc:
        result = {"error": str(exc), "report": exc.report.to_json() if exc.report else None}
    except BaseException as exc:  # noqa: BLE001 - report anything the file's code raised while tracing
        result = {"error": _describe(exc, request["path"], "importing the model failed")}
    (out / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0
