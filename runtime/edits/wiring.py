"""Wiring rules: which ports a dragged wire can reach, and where a wire dropped on empty canvas goes.

When the user drags a wire from a port and lets go over empty canvas, the editor offers the node
types that could take it (``types_for_wire``) and, once one is added, wires the new node to the port
the wire came from (``plan_wire_drop``). The rule is the same both times: the first port of the new
node whose kind fits, inputs for a wire leaving an output and outputs for a wire leaving an input.

While the wire is still being dragged, ``port_verdicts`` says for every port of the other side whether a
drop there connects (and which wire it replaces) or why not, in ``Graph.check_connection``'s words: the
canvas highlights the ports that take the wire, dims the others and shows ``verdict_text`` on hover.

Pure and Qt-free: it reads the graph and the catalog and returns a ``Plan`` of ``Connect`` records
(``layerloom.edits.plan``); the editor turns them into undo commands. Imports only catalog, model and
the edit records.
"""

from __future__ import annotations

from dataclasses import dataclass
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


# ---------------------------------------------------------------------- while a wire is dragged
@dataclass(frozen=True)
class Verdict:
    """Whether one port can take the wire being dragged, and what to say about it on hover.

    ``reason`` is the refusal (the same words ``Graph.connect`` would refuse with) or None when the
    port takes the wire; ``replaces`` is the wire a drop there would swap out (an input takes one wire).
    """

    reason: str | None = None
    replaces: Edge | None = None

    @property
    def accepts(self) -> bool:
        return self.reason is None


def port_label(graph: Graph, node_id: str, port: str) -> str:
    """How a port is named to the user: ``fc1.in`` (the node's name, not its id)."""
    return f"{graph.node(node_id).name}.{port}"


def verdict_text(graph: Graph, node_id: str, port: str, verdict: Verdict) -> str:
    """The hover text of a port while a wire is dragged: why it cannot take the wire, what a drop
    there replaces, or that it takes it."""
    label = port_label(graph, node_id, port)
    if verdict.reason is not None:
        return f"{label}: {verdict.reason}"
    old = verdict.replaces
    if old is not None and (old.dst, old.dst_port) == (node_id, port):
        return f"{label}: already wired from {graph.node(old.src).name} (dropping replaces it)"
    if old is not None:   # a wire dragged from an input that is wired already
        return (f"{label}: drop to connect (replaces the wire from {graph.node(old.src).name} "
                f"into {port_label(graph, old.dst, old.dst_port)})")
    return f"{label}: drop to connect"


def same_side_reason(direction: str) -> str:
    """Why a port on the same side as the dragged one cannot take the wire."""
    return "an output connects to an input, not to another output" if direction == OUT \
        else "an input connects to an output, not to another input"


def port_verdicts(graph: Graph, node_id: str, port: str, direction: str) -> dict[tuple[str, str], Verdict]:
    """For a wire dragged from ``node_id``'s ``port`` (``direction``: ``"out"`` from an output, ``"in"``
    from an input), a verdict for every port of the other side in ``graph``, keyed ``(node id, port)``:
    the inputs of every node for a wire leaving an output, the outputs for a wire leaving an input.

    The refusals are ``Graph.check_connection``'s (self-loops, kinds, a wire already there, cycles), so
    what the canvas shows while dragging is what the drop will do. A drop on an accepting port replaces
    the wire already in the input (the dragged-to input for a wire from an output; the dragged input
    itself for a wire from an input): ``Verdict.replaces`` names it.
    """
    dropped_port(graph, node_id, port, direction)   # KeyError for a port the node does not have
    verdicts: dict[tuple[str, str], Verdict] = {}
    own = graph.edges_into(node_id, port) if direction == IN else []
    for node in graph:
        ports = graph.input_ports(node.id) if direction == OUT else graph.output_ports(node.id)
        for other in ports:
            if direction == OUT:
                reason = graph.check_connection(node_id, port, node.id, other.name)
                taken = graph.edges_into(node.id, other.name)
            else:
                reason = graph.check_connection(node.id, other.name, node_id, port)
                taken = own
            verdicts[(node.id, other.name)] = Verdict(reason, taken[0] if taken and reason is None else None)
    return verdicts


# ---------------------------------------------------------------------- a node dropped onto a wire
def insert_refusal(graph: Graph, edge: Edge, inputs: tuple[Port, ...], outputs: tuple[Port, ...],
                   label: str) -> str | None:
    """Why a node with these ports cannot go into ``edge`` (``src -> node -> dst`` through its first input
    and first output), or None when it can. ``label`` names the node in the reason."""
    if not inputs or not outputs:
        return f"{label} needs an input and an output to go into a wire"
    source = dropped_port(graph, edge.src, edge.src_port, OUT)
    target = dropped_port(graph, edge.dst, edge.dst_port, IN)
    if source.kind not in inputs[0].accepted_kinds():
        return f"{label}'s input {inputs[0].name!r} cannot take the {source.kind} this wire carries"
    if outputs[0].kind not in target.accepted_kinds():
        return (f"{label}'s output {outputs[0].name!r} gives {outputs[0].kind}, which "
                f"{port_label(graph, edge.dst, edge.dst_port)} does not take")
    return None


def type_insert_refusal(graph: Graph, spec: NodeSpec, edge: Edge) -> str | None:
    """Why a new node of ``spec`` (dropped from the palette) cannot go into ``edge``; None when it can."""
    return insert_refusal(graph, edge, joinable_ports(spec, OUT), spec.outputs, spec.type_id)


def node_insert_refusal(graph: Graph, node_id: str, edge: Edge) -> str | None:
    """Why ``node_id`` (an unconnected node being dragged) cannot go into ``edge``; None when it can."""
    if graph.incoming(node_id) or graph.outgoing(node_id):
        return f"{graph.node(node_id).label()} is already wired"
    if node_id in (edge.src, edge.dst):
        return "a node cannot go into its own wire"
    return insert_refusal(graph, edge, tuple(graph.input_ports(node_id)), tuple(graph.output_ports(node_id)),
                          graph.node(node_id).label())
