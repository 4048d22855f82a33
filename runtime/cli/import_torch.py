"""``layerloom-cli import-torch MODEL.py --class Net --input-shape 1,28,28 -o GRAPH.llgraph.json``: a PyTorch
model class as a graph file with its weights beside it (``GRAPH.weights.pt``, which the graph starts from).

The file runs in a child process (``layerloom.importers.torch_file``). Prints the import report.
Exit status: 0 imported, 1 the model cannot be opened as a graph, 2 a file cannot be read or written.
"""

from __future__ import annotations

import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


def add_parsers(sub) -> None:
    command = sub.add_parser(
        "import-torch", help="open a PyTorch model class (a .py file) as a graph with its weights",
        description="Run MODEL.py in a child process, make CLASS with no arguments, trace it with torch.fx on an "
                    "example batch of --input-shape and map each layer and call to a node. Writes the graph and "
                    "its weights (GRAPH.weights.pt, which training starts from) and prints what each source "
                    "operation became. Exit 1 when something cannot be mapped (the report names it).")
    command.add_argument("file", help="a Python file defining an nn.Module class")
    command.add_argument("-o", "--output", metavar="GRAPH.llgraph.json",
                         help="where to write the graph (default: MODEL.llgraph.json beside the file)")
    add_torch_options(command, required=True)
    command.set_defaults(run=cmd_import_torch)


def add_torch_options(parser, required: bool) -> None:
    """The options a PyTorch model needs (here, and in ``import`` for a .py file)."""
    parser.add_argument("--class", dest="class_name", required=required, metavar="CLASS",
                        help="the nn.Module class to import (made with no arguments)")
    parser.add_argument("--input-shape", required=required, metavar="SHAPE",
                        help="one sample's shape without the batch, e.g. 1,28,28")
    parser.add_argument("--dtype", choices=("float32", "int64"), default="float32",
                        help="the input's dtype: float32 (default) or int64 for token ids")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="stop the file after this long (default 120)")


def cmd_import_torch(args) -> int:
    from layerloom.core.errors import LayerLoomError
    from layerloom.files.graphfile import SUFFIX
    from layerloom.importers.report import ModelImportError
    from layerloom.importers.torch_file import DEFAULT_TIMEOUT, import_python_file

    source = Path(args.file)
    if not source.is_file():
        print(f"error: {source}: no such file", file=sys.stderr)
        return EXIT_UNREADABLE
    target = Path(args.output) if args.output else source.with_name(source.stem + SUFFIX)
    try:
        result = import_python_file(source, args.class_name, args.input_shape, dtype=args.dtype,
                                    timeout=args.timeout or DEFAULT_TIMEOUT)
    except ModelImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.report is not None:
            print("\n".join(exc.report.lines()), file=sys.stderr)
        return EXIT_FAILED
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        graph_path, weights_path = result.save(target)
    except OSError as exc:
        print(f"error: cannot write {target}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    except LayerLoomError as exc:  # the weights file could not be written
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    print("\n".join(result.report.lines()))
    print(f"wrote {graph_path}" + (f" and {weights_path}" if result.weights else ""))
    return EXIT_OK
