"""``layerloom-cli import MODEL.onnx -o GRAPH.llgraph.json``: an ONNX model as a graph file with its weights
beside it (``GRAPH.weights.pt``, which training and export start from), checked against onnxruntime.
``layerloom-cli import model.py --class Net --input-shape 1,28,28``: a PyTorch model class, the same way
(``import_torch``, also reachable as ``import-torch``).

Prints the import report: per ONNX operator type, how many, what each became and what was approximated.
Exit status: 0 imported (and it matches onnxruntime), 1 the model cannot be opened as a graph (the report
names the operators) or does not match, 2 the file cannot be read or the graph cannot be written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


def add_parsers(sub) -> None:
    command = sub.add_parser(
        "import", help="open an ONNX model as a graph with its weights",
        description="Read MODEL.onnx (checked with onnx.checker, shapes inferred), map each operator to a node "
                    "(operators with no node of their own become 'ONNX operator' nodes that run in PyTorch) and "
                    "write the graph and its weights (GRAPH.weights.pt, which training and export start from). "
                    "Prints what each operator type became and checks the graph against onnxruntime on random "
                    "inputs. Exit 1 when an operator cannot be run (the report names it) or the outputs differ, "
                    "2 when the file cannot be read or the graph cannot be written.")
    command.add_argument("file", help="an ONNX model (.onnx), or a Python file (.py) with --class and --input-shape")
    command.add_argument("-o", "--output", metavar="GRAPH.llgraph.json",
                         help="where to write the graph (default: MODEL.llgraph.json beside the model)")
    command.add_argument("--name", help="the graph's name (default: the file's name)")
    command.add_argument("--no-verify", action="store_true",
                         help="skip running the graph against onnxruntime on the original file")
    command.add_argument("--json", action="store_true", help="print the report as JSON")
    from layerloom.cli.import_torch import add_torch_options
    add_torch_options(command.add_argument_group("a PyTorch model (.py)"), required=False)
    command.set_defaults(run=cmd_import)


def cmd_import(args) -> int:
    from layerloom.files.graphfile import SUFFIX
    from layerloom.importers.onnx_import import import_onnx
    from layerloom.core.errors import LayerLoomError
    from layerloom.importers.report import ModelFileError, ModelImportError

    source = Path(args.file)
    if source.suffix.lower() == ".py":   # a PyTorch model class
        if not (args.class_name and args.input_shape):
            print("error: a Python file needs --class CLASS and --input-shape SHAPE (e.g. 1,28,28)", file=sys.stderr)
            return EXIT_FAILED
        from layerloom.cli.import_torch import cmd_import_torch

        return cmd_import_torch(args)
    name = source.name[:-5] if source.name.lower().endswith(".onnx") else source.stem
    target = Path(args.output) if args.output else source.with_name(name + SUFFIX)
    try:
        result = import_onnx(source, name=args.name)
    except ModelFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except ModelImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.report is not None:
            print("\n".join(exc.report.lines()), file=sys.stderr)
        return EXIT_FAILED
    check = None
    if not args.no_verify:
        from layerloom.importers.check import compare_with_onnxruntime

        check = compare_with_onnxruntime(result, source)
    try:
        graph_path, weights_path = result.save(target)
    except OSError as exc:
        print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except LayerLoomError as exc:   # the graph file or the weights file refused
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if args.json:
        data = {"graph": str(graph_path), "weights": str(weights_path) if result.weights else None,
                "nodes": len(result.graph), "report": result.report.to_json()}
        if check is not None:
            data["verify"] = {"ok": check.ok, "max_abs_diff": check.max_abs_diff, "tolerance": check.tolerance}
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(result.report.lines()))
        if check is not None:
            print(check.describe())
        print(f"wrote {graph_path} ({len(result.graph):,} nodes)" + (f" and {weights_path}" if result.weights else ""))
    return EXIT_OK if check is None or check.ok else EXIT_FAILED
