"""Build a LayerLoom graph from an imported model, one catalog node at a time.

An importer (ONNX, torch.fx) calls ``add`` for each node with its params and weights and ``connect`` for each
wire; ``finish`` checks that the graph analyses, lays it out and returns the ``ImportResult``. Node ids are made
from the source's names (``conv1``, ``layer1_0_conv1``) as valid Python identifiers, and each node's name is its
id, so the compiled module names its tensors ``<node id>.<tensor>``: the weights' keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from layerloom.catalog.spec import Catalog
from layerloom.compiler import python_name
from layerloom.core.errors import ConnectionRefused, GraphError, ParamError
from layerloom.importers.placement import readable_layout
from layerloom.importers.report import ImportReport, ImportResult, ModelImportError
from layerloom.model.analysis import analyze
from layerloom.model.graph import Graph
from layerloom.model.layout import apply_layout

if TYPE_CHECKING:  # pragma: no cover
    import torch

MAX_ID = 64


class GraphBuilder:
    """Collects nodes, wires and weights; ``finish`` returns the checked, laid-out result."""

    def __init__(self, name: str, source: str, catalog: Catalog | None = None):
        self.graph = Graph(catalog, name=_graph_name(name))
        self.source = source
        self.report = ImportReport(source)
        self.weights: dict[str, "torch.Tensor"] = {}
        self._taken: set[str] = set()

    def node_id(self, name_hint: str) -> str:
        """A fresh id made from ``name_hint``: a Python identifier of at most 64 characters."""
        base = python_name(str(name_hint))[:MAX_ID - 6] or "node"
        base = re.sub(r"_+", "_", base)
        candidate, i = base, 2
        while candidate in self._taken:
            candidate = f"{base}_{i}"
            i += 1
        return candidate

    def add(self, type_id: str, params: dict[str, Any], name_hint: str,
            weights: dict[str, "torch.Tensor"] | None = None) -> str:
        """A node of a catalog type with its params; node id made unique and valid from ``name_hint``;
        ``weights`` keyed by the tensor's name inside the node's module (``weight``, ``bias``, ``running_mean``)."""
        node_id = self.node_id(name_hint)
        try:
            values = self._checked(type_id, params)
            # the builder keeps names unique itself (each is its id), so the graph need not search them all
            # for a clash: that search makes a 5,000-node import quadratic
            self.graph.add_node(type_id, name=node_id, params=values, node_id=node_id, check=False)
        except (GraphError, ParamError) as exc:
            raise ModelImportError(f"{self.source}: cannot make a {type_id} node for {name_hint!r}: {exc}",
                                   self.report) from None
        self._taken.add(node_id)
        for tensor_name, tensor in (weights or {}).items():
            self.weights[f"{node_id}.{tensor_name}"] = tensor
        return node_id

    def _checked(self, type_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Every param of ``type_id``: the defaults, then ``params`` checked as ``Graph.add_node`` checks them."""
        spec = self.graph.catalog.get(type_id)
        if spec is None:
            raise GraphError(f"unknown node type {type_id!r}")
        values = spec.default_params()
        for key, value in params.items():
            try:
                param = spec.param(key)
            except KeyError:
                raise ParamError(key, f"{spec.type_id} has no parameter {key!r}") from None
            values[key] = param.to_json(param.coerce(value))
        return values

    def connect(self, src: str, src_port: str, dst: str, dst_port: str) -> None:
        try:
            self.graph.connect(src, src_port, dst, dst_port)
        except (ConnectionRefused, GraphError) as exc:
            raise ModelImportError(f"{self.source}: cannot wire {src}.{src_port} to {dst}.{dst_port}: {exc}",
                                   self.report) from None

    def finish(self) -> ImportResult:
        """Check that the graph analyses, lay it out readably and return graph, weights and report."""
        analysis = analyze(self.graph)
        if analysis.errors:
            shown = "; ".join(problem.describe() for problem in analysis.errors[:5])
            more = len(analysis.errors) - 5
            raise ModelImportError(f"{self.source}: the imported graph does not check: {shown}"
                                   + (f" (and {more} more)" if more > 0 else ""), self.report)
        apply_layout(self.graph, readable_layout(self.graph))
        return ImportResult(self.graph, self.weights, self.report)


def _graph_name(name: str) -> str:
    text = " ".join(str(name).split())[:64]
    return text or "imported"
