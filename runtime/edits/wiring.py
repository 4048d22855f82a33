"""Wire-drop port matching: a wire released on empty canvas, then a node type picked for it.

When the user drags a wire from a port and lets go over empty canvas, the editor offers the node
types that could take it (``types_for_wire``) and, once one is added, wires the new node to the port
the wire came from (``plan_wire_drop``). The rule is the same both times: the first port of the new
node whose kind fits, inputs for a wire leaving an output and outputs for a wire leaving an input.

Pure and Qt-free: it reads the graph and the catalog and returns a ``Plan`` of ``Connect`` records
(``layerloom.edits.plan``); the editor turns them into undo commands. Imports only catalog, model and
the edit records.
"""

from __future__ import annotations

from typing import Iterable

from layerloom.catalog.spec import NodeSpec, Port
from layerloom.edits.plan import Connect, Plan, scope_of
from layerloom.model.graph import Edge, Graph

OUT, IN = "out", "in"   # which end the wire was dragged from: an output port, or an input port


def dropped_port(graph: Graph, node_id: str, name: str, direction: str) -> Port:
    """The port the wire was dragged from (``direction``: ``"out"`` for an output, ``"in"`` for an input)."""
    ports = graph.output_ports(node_id) if direction == OUT else graph.input_ports(node_id)
    for port in ports:
        if port.name == name:
            return port
    raise KeyError(f"node {node_id!r} has no {direction}put port {name!r}")


def joinable_ports(spec: NodeSpec, direction: str) -> tuple[Port, ...]:
    """The ports of a node type (with its default params) a dropped wire could join: its inputs when
    the wire comes from an output, its outputs when it comes from an input."""
    if direction == OUT:
        return spec.input_ports({p.name: p.default for p in spec.params})
    return spec.outputs


def matching_port(ports: Iterable[Port], dropped: Port, direction: str) -> str | None:
    """The name of the first of ``ports`` that can be wired to the ``dropped`` port, or None: an
    input that accepts the dropped output's kind, or an output whose kind the dropped input accepts."""
    for port in ports:
        if direction == OUT and dropped.kind in port.accepted_kinds():
            return port.name
        if direction == IN and port.kind in dropped.accepted_kinds():
            return port.name
    return None


def types_for_wire(graph: Graph, catalog: Iterable[NodeSpec], node_id: str, port: str, direction: str) -> list[str]:
    """The type ids of ``catalog`` (in its order) that a wire dropped from ``node_id``'s ``port`` can
    connect to: what the quick-add popup offers."""
    dropped = dropped_port(graph, node_id, port, direction)
    return [spec.type_id for spec in catalog if matching_port(joinable_ports(spec, direction), dropped, direction)]


def plan_wire_drop(graph: Graph, new_node: str, node_id: str, port: str, direction: str) -> Plan:
    """The edit that wires ``new_node`` (just added, with its actual params) to the dropped wire's end
    (``node_id``'s ``port``) in ``graph`` (the model's, or a block's inside): one ``Connect``, or no
    edit when no port of the new node fits (the node stays, unwired)."""
    dropped = dropped_port(graph, node_id, port, direction)
    if direction == OUT:
        match = matching_port(graph.input_ports(new_node), dropped, direction)
        edge = None if match is None else Edge(node_id, port, new_node, match)
    else:
        match = matching_port(graph.output_ports(new_node), dropped, direction)
        edge = None if match is None else Edge(new_node, match, node_id, port)
    return Plan(edits=[] if edge is None else [Connect(edge, scope_of(graph))])
