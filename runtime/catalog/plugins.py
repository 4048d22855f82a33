"""Python plugins: node types (layers, activations, losses) declared with the built-ins' own
``NodeSpec``, found in the user's plugin folder and through the ``layerloom.nodes`` entry point group.

A plugin is a ``.py`` file or a package folder in a plugin folder, or an installed distribution that
declares an entry point::

    # my_nodes.py, in the plugin folder
    from layerloom.catalog.spec import NodeSpec
    NODES = [NodeSpec("Scaled", "My layers", "x times 2", infer=..., build=...)]

    # or, in a package's pyproject.toml
    [project.entry-points."layerloom.nodes"]
    my_nodes = "my_package.nodes"          # a module with NODES, a list of specs, or a function

A plugin's specs register under their own category (``Plugins`` when a spec leaves it empty) and
carry ``source`` (the plugin's name), so graph files save them by type id like any node. A plugin
that cannot load (a syntax error, an exception while importing, an invalid spec, a type id that is
taken) is skipped and reported with its file and line; the other plugins and the built-ins keep
working. A graph that uses a type no plugin provides still opens: analysis marks those nodes.

Plugins are code the user chose to install: they are loaded only from the plugin folders
(``LAYERLOOM_PLUGIN_PATH``, else the per-user data folder) and from entry points, never from a graph
file. ``LAYERLOOM_NO_PLUGINS=1`` turns them all off.

Plugin code runs through ``layerloom.catalog.plugin_guard``: an import that does not finish within
``LAYERLOOM_PLUGIN_TIMEOUT`` seconds (5 by default), or that calls ``sys.exit``, is skipped and reported
like any other failure; what it prints goes to stderr.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from layerloom.catalog.plugin_guard import Escaped, fd_stdout_to_stderr, guarded, is_plugin_frame
from layerloom.catalog.spec import Catalog, NodeSpec
from layerloom.core.paths import user_data_dir

ENTRY_POINT_GROUP = "layerloom.nodes"
DEFAULT_CATEGORY = "Plugins"


@dataclass(frozen=True)
class PluginProblem:
    plugin: str              # the plugin's name (file stem, package or entry point name)
    message: str
    file: str | None = None
    line: int | None = None

    def describe(self) -> str:
        """One line: the plugin, its file and line, and why it was skipped."""
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or self.plugin)
        message = " / ".join(line.strip() for line in self.message.splitlines() if line.strip())
        return f"plugin {self.plugin!r} skipped ({where}): {message}"


@dataclass
class PluginReport:
    loaded: dict[str, list[str]] = field(default_factory=dict)   # plugin -> the type ids it added
    problems: list[PluginProblem] = field(default_factory=list)


def plugin_dirs() -> list[Path]:
    """The folders searched: ``LAYERLOOM_PLUGIN_PATH`` (``os.pathsep``-separated), else the per-user
    data folder's ``plugins`` (``~/.local/share/layerloom/plugins`` on Linux)."""
    configured = os.environ.get("LAYERLOOM_PLUGIN_PATH")
    if configured is not None:
        return [Path(part).expanduser() for part in configured.split(os.pathsep) if part.strip()]
    return [user_data_dir() / "plugins"]


def plugins_enabled() -> bool:
    return os.environ.get("LAYERLOOM_NO_PLUGINS", "").strip() not in ("1", "true", "yes")


def load_plugins(catalog: Catalog, dirs: Iterable[str | os.PathLike] | None = None,
                 entry_points: bool = True) -> PluginReport:
    """Register every plugin's node types in ``catalog``; what could not load is in the report."""
    report = PluginReport()
    for folder in (plugin_dirs() if dirs is None else [Path(d) for d in dirs]):
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.name.startswith((".", "_")):
                continue
            if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").is_file()):
                _load(catalog, report, path.stem, lambda p=path: _import_file(p), path)
    if entry_points:
        from importlib.metadata import entry_points as find

        for point in find(group=ENTRY_POINT_GROUP):
            _load(catalog, report, point.name, point.load, None)
    return report


def _load(catalog: Catalog, report: PluginReport, name: str, load, path: Path | None) -> None:
    try:
        with fd_stdout_to_stderr():
            specs = guarded(lambda: _specs_of(load()), isolate=True)
    except SyntaxError as exc:
        report.problems.append(PluginProblem(name, f"syntax error: {exc.msg}", exc.filename or _text(path), exc.lineno))
        return
    except Escaped as exc:  # out of time, sys.exit(), a KeyboardInterrupt of its own...
        if path is not None:
            sys.modules.pop(_module_name(path), None)  # an abandoned import may still be running
        file, line = _where(exc.stack, path)
        if exc.timed_out:
            message = (f"did not finish loading within {exc.limit:g} s (an endless loop, or a wait at import?); "
                       "fix the plugin, or raise LAYERLOOM_PLUGIN_TIMEOUT if it is only slow")
        else:
            message = f"{exc.text} while loading"
        report.problems.append(PluginProblem(name, message, file, line))
        return
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not take the app down
        file, line = _where(traceback.extract_tb(exc.__traceback__), path)
        report.problems.append(PluginProblem(name, f"{type(exc).__name__}: {exc}", file, line))
        return
    added = []
    for spec in specs:
        problem = _check(spec, catalog)
        if problem:
            report.problems.append(PluginProblem(name, problem, _text(path)))
            continue
        catalog.register(replace(spec, category=spec.category or DEFAULT_CATEGORY, source=name))
        added.append(spec.type_id)
    report.loaded[name] = added


def _import_file(path: Path):
    """A plugin file or package, as a module of its own (``layerloom_plugin_<name>``)."""
    target = path / "__init__.py" if path.is_dir() else path
    module_name = _module_name(path)
    spec = importlib.util.spec_from_file_location(
        module_name, target, submodule_search_locations=[str(path)] if path.is_dir() else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _module_name(path: Path) -> str:
    return f"layerloom_plugin_{path.stem}"


def _specs_of(found: Any) -> list[NodeSpec]:
    """What a plugin offers: a module with ``NODES`` (or a ``nodes()`` function), a list of specs, a
    single spec, or a function returning them."""
    if isinstance(found, NodeSpec):
        return [found]
    if hasattr(found, "NODES"):
        found = found.NODES
    elif hasattr(found, "nodes") and callable(found.nodes):
        found = found.nodes()
    elif callable(found) and not isinstance(found, type):
        found = found()
    if isinstance(found, NodeSpec):
        return [found]
    if not isinstance(found, (list, tuple)):
        raise TypeError(f"a plugin provides NODES, a list of NodeSpec; found {type(found).__name__}")
    return list(found)


def _check(spec: Any, catalog: Catalog) -> str | None:
    if not isinstance(spec, NodeSpec):
        return f"NODES holds a {type(spec).__name__}, not a NodeSpec"
    if not spec.type_id or not spec.type_id.replace("_", "").isalnum() or not spec.type_id[0].isalpha():
        return f"type id {spec.type_id!r} must start with a letter and hold only letters, digits and _"
    if catalog.resolve(spec.type_id) is not None:
        return f"node type {spec.type_id!r} is already registered (built in, or by another plugin)"
    if spec.infer is None:
        return f"{spec.type_id}: a node type needs an infer function (its output shape)"
    if spec.build is None and spec.emit is None and spec.role not in ("input", "target", "output"):
        return f"{spec.type_id}: a node type needs a build function (its nn.Module)"
    names = [p.name for p in spec.params]
    if len(set(names)) != len(names):
        return f"{spec.type_id}: two params share a name"
    return None


def _where(stack: list, path: Path | None) -> tuple[str | None, int | None]:
    """The plugin's own file and line in a traceback's frames (its last frame inside the plugin)."""
    root = str(path.resolve()) if path is not None else None
    file = line = None
    for frame in stack:
        if (str(Path(frame.filename).resolve()).startswith(root) if root is not None
                else is_plugin_frame(frame.filename)):
            file, line = frame.filename, frame.lineno
    return file or _text(path), line


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


_LAST_REPORT = PluginReport()


def install_plugins(catalog: Catalog) -> PluginReport:
    """What ``default_catalog`` calls: every plugin, unless ``LAYERLOOM_NO_PLUGINS`` is set."""
    global _LAST_REPORT
    _LAST_REPORT = load_plugins(catalog) if plugins_enabled() else PluginReport()
    return _LAST_REPORT


def last_report() -> PluginReport:
    """The default catalog's plugin report (what loaded, what was skipped and why)."""
    return _LAST_REPORT
