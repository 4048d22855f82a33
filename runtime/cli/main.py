"""``layerloom-cli``: validate, inspect, compile and train graph files, and list their runs, without the GUI.

Exit status: 0 fine (warnings allowed), 1 the graph has problems, 2 the file cannot be read
(``train`` adds 130: interrupted).

Every command first loads the plugins and names each one that could not load on stderr, one line
each (``layerloom-cli: plugin 'x' skipped (file.py:3): reason``); stdout carries only the command's
own output, so what a plugin prints never reaches ``--json``. ``check`` also compiles a graph that
uses plugin nodes (what it accepts must build; a plugin's module must return the shape it declared).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from layerloom import __version__
from layerloom.model.analysis import ERROR, Analysis, analyze
from layerloom.core.errors import CompileError, GraphFileError
from layerloom.model.graph import Graph
from layerloom.model.trainable import frozen_params, params_summary
from layerloom.files.graphfile import load_graph
from layerloom.catalog.spec import default_catalog

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_OK
    report_plugin_problems()
    try:
        return args.run(args)
    except BrokenPipeError:  # `layerloom-cli nodes | head`
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerloom-cli",
        description="Validate, inspect, compile and train LayerLoom graph files, and list their runs.")
    parser.add_argument("--version", action="version", version=f"LayerLoom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="validate a graph: shapes, parameter counts and problems",
                           description="Print each node with its output shape and parameter count, the "
                                       "totals, and any problems. Exit 1 on problems, 2 if unreadable.")
    check.add_argument("file", help="a graph file (.llgraph.json)")
    check.add_argument("--json", action="store_true", help="print a machine-readable report")
    check.set_defaults(run=cmd_check)

    code = sub.add_parser("code", help="print the compiled model's PyTorch code",
                          description="Compile the graph with torch.fx and print the generated forward().")
    code.add_argument("file", help="a graph file (.llgraph.json)")
    code.add_argument("--criterion", action="store_true", help="print the training graph with its losses")
    code.set_defaults(run=cmd_code)

    nodes = sub.add_parser("nodes", help="list the node types and their parameters")
    nodes.add_argument("type", nargs="?", help="show one node type in detail")
    nodes.set_defaults(run=cmd_nodes)

    runs = sub.add_parser("runs", help="list the runs in a runs folder, newest first",
                          description="List the run folders in FOLDER (default: ./runs, where `train` writes them), "
                                      "newest first: each run's graph, status (and why it ended), start, training "
                                      "time, epochs and best metric, as their files tell. FOLDER may also be one "
                                      "run's folder. Exit 2 if FOLDER is not a folder.")
    runs.add_argument("folder", nargs="?", default="runs", help="a runs folder, or one run's folder (default: runs)")
    runs.add_argument("--json", action="store_true", help="print a machine-readable list")
    runs.set_defaults(run=cmd_runs)

    for module in command_modules():
        module.add_parsers(sub)
    return parser


def command_modules() -> list:
    """The modules of ``layerloom.cli`` that add subcommands (an ``add_parsers(sub)`` function): train,
    export and the others, in name order. A new command is a new module; this file does not change."""
    import importlib
    import pkgutil

    import layerloom.cli as package
    modules = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if callable(getattr(module, "add_parsers", None)):
            modules.append(module)
    return modules


def report_plugin_problems() -> None:
    """Load the plugins (the default catalog) and name each that could not load, on stderr."""
    from layerloom.catalog.plugins import last_report

    default_catalog()
    for problem in last_report().problems:
        print(f"layerloom-cli: {problem.describe()}", file=sys.stderr)


def _load(path: str) -> Graph | None:
    try:
        return load_graph(path)
    except GraphFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


# ------------------------------------------------------------------ check
def cmd_check(args) -> int:
    graph = _load(args.file)
    if graph is None:
        return EXIT_UNREADABLE
    analysis = analyze(graph)
    analysis.problems += _plugin_build_problems(graph, analysis)
    from layerloom.training.config import check_training  # the training section is part of the experiment
    config, settings_errors = check_training(graph.training)
    if args.json:
        report = report_dict(analysis)
        report["training"] = {"errors": settings_errors, "warnings": config.warnings}
        report["ok"] = report["ok"] and not settings_errors
        print(json.dumps(report, indent=2))
    else:
        print(format_report(analysis, args.file, settings_errors, config.warnings))
    return EXIT_PROBLEMS if analysis.errors or settings_errors else EXIT_OK


def _plugin_build_problems(graph: Graph, analysis: Analysis) -> list:
    """What ``check`` accepts must build: a graph that uses plugin nodes is compiled too (which runs each
    plugin module once against its declared shape), and what fails is a problem. Graphs of built-ins
    only are not: their builds follow from the checks, and importing PyTorch costs seconds."""
    if not analysis.ok or not any(analysis.nodes[n].spec.from_plugin for n in analysis.used
                                  if analysis.nodes[n].spec is not None):
        return []
    from layerloom.compiler import compile_graph

    try:
        compile_graph(graph, analysis=analysis)
    except CompileError as exc:
        return exc.problems
    return []


def _ordered_nodes(analysis: Analysis):
    graph = analysis.graph
    seen = set(analysis.order)
    return [graph.node(n) for n in analysis.order] + [n for n in graph if n.id not in seen]


def format_report(analysis: Analysis, source: str = "", settings_errors: Sequence[str] = (),
                  settings_warnings: Sequence[str] = ()) -> str:
    """The table of nodes, the problems, then the training section's problems, and the verdict."""
    graph = analysis.graph
    rows = [("node", "type", "output", "params")]
    for node in _ordered_nodes(analysis):
        info = analysis.nodes[node.id]
        if info.outputs:
            shape = ", ".join(str(s) if str(s) != "[]" else "scalar" for s in info.outputs.values())
        elif info.spec is not None and not info.spec.outputs:
            received = [s for s in info.inputs.values() if s is not None]
            shape = ", ".join(str(s) for s in received) if received else "-"
        else:
            shape = "?"
        count = f"{info.param_count:,}" if info.param_count is not None else "?"
        marker = " !" if any(p.severity == ERROR for p in analysis.problems_for(node.id)) else ""
        rows.append((node.name + marker, node.type_id, shape, count))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f'{source + ": " if source else ""}"{graph.name}": {len(graph)} nodes, {len(graph.edges)} edges', ""]
    for i, row in enumerate(rows):
        line = f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}"
        lines.append(line.rstrip())
        if i == 0:
            lines.append("  " + "-" * (sum(widths) + 6))
    lines.append(f"\n  total parameters: {params_summary(analysis)}")
    errors, warnings = analysis.errors, analysis.warnings
    if analysis.problems:
        lines.append("\nproblems:")
        for problem in errors + warnings:
            where = f" [port {problem.port}]" if problem.port else ""
            where += f" [param {problem.param}]" if problem.param else ""
            lines.append(f"  {problem.describe()}{where}")
    if settings_errors or settings_warnings:
        lines.append("\ntraining settings:")
        lines += [f"  {text}" for text in settings_errors]
        lines += [f"  warning: {text}" for text in settings_warnings]
    n_errors = len(errors) + len(settings_errors)
    n_warnings = len(warnings) + len(settings_warnings)
    summary = "OK" if not n_errors else "FAILED"
    lines.append(f"\n{summary}: {n_errors} error{'s' * (n_errors != 1)}, "
                 f"{n_warnings} warning{'s' * (n_warnings != 1)}")
    return "\n".join(lines)


def report_dict(analysis: Analysis) -> dict:
    graph = analysis.graph
    nodes = []
    for node in _ordered_nodes(analysis):
        info = analysis.nodes[node.id]
        nodes.append({
            "id": node.id, "name": node.name, "type": node.type_id,
            "outputs": {port: {"shape": list(spec.shape), "dtype": spec.dtype} for port, spec in info.outputs.items()},
            "params": info.param_count, "trainable": node.trainable,
        })
    problems = [{"severity": p.severity, "code": p.code, "node": p.node_id, "port": p.port, "param": p.param,
                 "message": p.message, "text": p.describe()} for p in analysis.problems]
    return {"name": graph.name, "nodes": nodes, "total_params": analysis.total_params,
            "frozen_params": frozen_params(analysis), "ok": analysis.ok, "problems": problems}


# ------------------------------------------------------------------- code
def cmd_code(args) -> int:
    graph = _load(args.file)
    if graph is None:
        return EXIT_UNREADABLE
    from layerloom.compiler import compile_graph

    try:
        compiled = compile_graph(graph, seed=0)
    except CompileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEMS
    module = compiled.criterion if args.criterion else compiled.model
    if module is None:
        print("error: the graph has no loss", file=sys.stderr)
        return EXIT_PROBLEMS
    print(f"# {type(module).__name__}: {compiled.parameter_count(module):,} parameters")
    for name, sub in module.named_children():
        print(f"#   self.{name} = {sub}")
    print(module.code.strip())
    return EXIT_OK


# ------------------------------------------------------------------ nodes
def cmd_nodes(args) -> int:
    catalog = default_catalog()
    if args.type:
        spec = catalog.get(args.type)
        if spec is None:
            print(f"error: unknown node type {args.type!r}; `layerloom-cli nodes` lists them", file=sys.stderr)
            return EXIT_PROBLEMS
        print(f"{spec.type_id} ({spec.category}){' = ' + spec.torch_name if spec.torch_name else ''}")
        print(f"  {spec.doc}")
        ports = spec.input_ports({p.name: p.default for p in spec.params})
        if ports:
            print("  inputs:  " + ", ".join(f"{p.name} ({p.kind})" for p in ports))
        if spec.outputs:
            print("  outputs: " + ", ".join(f"{p.name} ({p.kind})" for p in spec.outputs))
        for p in spec.params:
            print(f"  {p.name} = {json.dumps(p.to_json(p.default))}  [{p.describe()}]  {p.doc}")
        if spec.aliases:
            print("  also loads: " + ", ".join(spec.aliases))
        return EXIT_OK
    for category, specs in catalog.categories().items():
        print(category)
        for spec in specs:
            print(f"  {spec.type_id:<26}{spec.doc}")
    return EXIT_OK


# ------------------------------------------------------------------ runs
def cmd_runs(args) -> int:
    """The runs of a runs folder (or one run folder) as their files tell, read by ``training.records``
    (the editor's Runs list reads them the same way); newest first."""
    from pathlib import Path

    from layerloom.training.records import RUN_FILES, read_run, scan_runs, started_key

    folder = Path(args.folder)
    if not folder.is_dir():
        what = "no such folder" if not folder.exists() else "not a folder"
        print(f"error: {folder}: {what}", file=sys.stderr)
        return EXIT_UNREADABLE
    one_run = any((folder / name).exists() for name in RUN_FILES)
    runs = sorted([read_run(folder)] if one_run else scan_runs(folder), key=started_key, reverse=True)
    if args.json:
        print(json.dumps({"folder": str(folder.resolve()), "runs": [run_dict(run) for run in runs]}, indent=2))
    else:
        print(format_runs(runs, folder))
    return EXIT_OK


def run_dict(run) -> dict:
    """One ``RunInfo`` as ``runs --json`` prints it."""
    best = None if run.best_metric is None else {"metric": run.best_metric, "value": run.best_value,
                                                 "epoch": run.best_epoch}
    checkpoint = run.checkpoint
    return {"name": run.name, "path": str(run.path.resolve()), "graph": run.graph_name or None,
            "source": run.source, "status": run.status, "reason": run.reason, "message": run.message,
            "started_at": run.started_at, "ended_at": run.ended_at, "duration_s": run.duration_s,
            "epoch": run.epoch, "epochs": run.epochs, "best": best,
            "checkpoint": str(checkpoint.resolve()) if checkpoint is not None else None}


def format_runs(runs, folder) -> str:
    """The runs as a table: run, graph, status, started, duration, epochs, best."""
    if not runs:
        return f"no runs in {folder}"
    rows = [("run", "graph", "status", "started", "duration", "epochs", "best")]
    for run in runs:
        status = run.status
        if run.reason in ("out_of_memory", "disk_full"):   # failed: say why
            status += f" ({run.reason.replace('_', ' ')})"
        rows.append((run.name, run.graph_name or "–", status, run.started_text(), run.duration_text(),
                     run.epochs_text(), run.best_text()))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if i == 0:
            lines.append("-" * len(lines[0]))
    lines.append(f"\n{len(runs)} run{'s' * (len(runs) != 1)} in {folder}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
