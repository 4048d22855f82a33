"""LayerLoom's headless core: graph model, node catalog, shape inference, compile, graph files.

Nothing here imports Qt; the same graph file validates, compiles and trains from the command line,
a script or a cluster job exactly as in the editor. Nor does importing it import PyTorch: graphs
load, draw and validate without it, and torch is imported when a graph is first compiled.

This is the public API (``layerloom.load_graph``, ``layerloom.compile_graph``...). Its packages and the
layers they form, each importing only those below it, are in docs/architecture.md: ``core`` <
``catalog`` < ``model`` < ``files`` < ``compiler`` | ``data`` | ``edits`` < ``training`` < ``export`` < ``cli``,
and the editor, ``nodeeditor``, on top.
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from layerloom.core.lazy import lazy_exports
from layerloom.model.analysis import ERROR, WARNING, Analysis, NodeInfo, Problem, analyze, validate
from layerloom.core.errors import (CompileError, ConnectionRefused, GraphError, GraphFileError, LayerLoomError, ParamError,
                     ShapeError, UnsupportedVersionError)
from layerloom.model.graph import Edge, Graph, Node
from layerloom.files.graphfile import dumps_graph, graph_from_dict, graph_to_dict, load_graph, loads_graph, save_graph
from layerloom.core.shapes import TensorSpec
from layerloom.catalog.spec import Catalog, NodeSpec, Port, default_catalog

# The compiler needs PyTorch: it is imported on the first use of these names.
__getattr__, __dir__ = lazy_exports(__name__, {".compiler": ("CompiledGraph", "compile_graph"),
                                                ".importers.torch_fx": ("from_module",)})
if TYPE_CHECKING:  # pragma: no cover
    from layerloom.compiler import CompiledGraph, compile_graph

__all__ = [
    "__version__", "Analysis", "NodeInfo", "Problem", "analyze", "validate", "ERROR", "WARNING",
    "CompiledGraph", "compile_graph", "CompileError", "ConnectionRefused", "GraphError", "GraphFileError",
    "LayerLoomError", "ParamError", "ShapeError", "UnsupportedVersionError", "Edge", "Graph", "Node",
    "dumps_graph", "graph_from_dict", "graph_to_dict", "load_graph", "loads_graph", "save_graph",
    "TensorSpec", "Catalog", "NodeSpec", "Port", "default_catalog", "from_module",
]
