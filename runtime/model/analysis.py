"""Validation and shape inference in one pass.

``analyze(graph)`` checks the structure (cycles, unconnected or doubly connected inputs, missing
Input/Output, losses without a prediction or target, unreachable outputs, unknown types, bad params),
then infers every edge's shape in dependency order and counts parameters. Problems are structured
records keyed by node id and port so the editor can badge the exact node and the CLI can print the
same sentence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import ShapeError
from layerloom.catalog.plugin_guard import PluginError
from layerloom.model.graph import Edge, Graph, Node, kind_refusal
from layerloom.core.params import check_params
from layerloom.core.shapes import TensorSpec
from layerloom.catalog.spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE, InferContext, NodeSpec, Port

ERROR = "error"
WARNING = "warning"
HUGE_NODE_PARAMS = 10**9  # 4 GB of float32 weights in one layer: almost always a wrong size


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph. ``node_id``/``port``/``param`` locate it (None: the whole graph)."""

    code: str
    message: str
    node_id: str | None = None
    port: str | None = None
    param: str | None = None
    severity: str = ERROR
    label: str = ""  # e.g. 'Linear "fc1"'

    def describe(self) -> str:
        text = f"{self.label}: {self.message}" if self.label else self.message
        if self.severity == WARNING:
            text = "warning: " + text
        return text

    def __str__(self) -> str:
        return self.describe()


@dataclass
class NodeInfo:
    """What analysis learned about one node."""

    spec: NodeSpec | None
    params: dict[str, Any] = field(default_factory=dict)
    input_ports: tuple[Port, ...] = ()
    inputs: dict[str, TensorSpec | None] = field(default_factory=dict)
    outputs: dict[str, TensorSpec] = field(default_factory=dict)
    param_count: int | None = None

    @property
    def output(self) -> TensorSpec | None:
        """The first output's spec (most nodes have one output)."""
        return next(iter(self.outputs.values()), None)

    def context(self) -> InferContext:
        return InferContext(self.spec, self.params, self.inputs)


@dataclass
class Analysis:
    graph: Graph
    nodes: dict[str, NodeInfo]
    order: list[str]
    problems: list[Problem]
    edge_specs: dict[Edge, TensorSpec]
    used: set[str] = field(default_factory=set)  # nodes that lead to an Output or a loss

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def total_params(self) -> int:
        """The one parameter total the editor and the CLI show: the sum of every node's known count
        (what the node cards show), wired to an Output or not. Nodes whose count is unknown (their
        inputs are not wired, their type is unknown) add nothing and are listed in ``params_unknown``,
        so the total is then a lower bound. For a graph that validates, every node leading to an Output
        or a loss, it is the compiled model's parameter count."""
        return sum(info.param_count or 0 for info in self.nodes.values())

    @property
    def params_unknown(self) -> list[str]:
        """Ids of the nodes whose parameter count is unknown (``total_params`` is then "at least")."""
        return [node_id for node_id, info in self.nodes.items() if info.param_count is None]

    @property
    def compiled_params(self) -> int:
        """Parameters of what compiles: the known counts of the nodes that lead to an Output or a loss
        (a stray node is shown and counted in ``total_params`` but not trained)."""
        return sum(self.nodes[n].param_count or 0 for n in self.used)

    def params_text(self) -> str:
        """``total_params`` as shown: ``"4,160"``, or ``"at least 4,160"`` when some counts are unknown."""
        return ("at least " if self.params_unknown else "") + f"{self.total_params:,}"

    def params_sentence(self) -> str:
        """The total as a status line says it: "4,160 parameters", "at least 4,160 parameters", or, when no
        count is known yet, "parameters not counted yet" (never "at least 0")."""
        if self.params_unknown and not self.total_params:
            return "parameters not counted yet"
        return f"{self.params_text()} parameter{'' if self.total_params == 1 and not self.params_unknown else 's'}"

    def problems_for(self, node_id: str) -> list[Problem]:
        return [p for p in self.problems if p.node_id == node_id]

    def output_spec(self, node_id: str, port: str | None = None) -> TensorSpec | None:
        info = self.nodes.get(node_id)
        if info is None:
            return None
        if port is None:
            return info.output
        return info.outputs.get(port)


def analyze(graph: Graph) -> Analysis:
    return _Analyzer(graph).run()


def validate(graph: Graph) -> list[Problem]:
    """All problems of the graph (errors and warnings)."""
    return analyze(graph).problems


class _Analyzer:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.problems: list[Problem] = []
        self.infos: dict[str, NodeInfo] = {}
        # (node_id, port) of inputs whose wiring is broken; inference skips those nodes quietly.
        self.blocked: set[str] = set()
        self.unconnected: set[str] = set()
        self.used: set[str] = set()
        self.bad_params: set[tuple[str, str]] = set()

    def report(self, code: str, message: str, node: Node | None = None, port: str | None = None,
               param: str | None = None, severity: str = ERROR) -> None:
        self.problems.append(Problem(code, message, node.id if node else None, port, param, severity,
                                     node.label() if node else ""))

    def run(self) -> Analysis:
        graph = self.graph
        self.check_nodes()
        self.check_edges()
        order, cyclic = graph.topological_order()
        self.check_cycles(cyclic)
        self.check_roles()
        edge_specs = self.infer(order)
        self.check_reachability()
        return Analysis(graph, self.infos, order, self.problems, edge_specs, self.used)

    def sinks(self) -> list[str]:
        return [n.id for n in self.graph if self.infos[n.id].spec is not None
                and self.infos[n.id].spec.role in (OUTPUT, LOSS_ROLE)]

    # ------------------------------------------------------------- nodes
    def check_nodes(self) -> None:
        catalog = self.graph.catalog
        names: dict[str, str] = {}
        for node in self.graph:
            spec = catalog.get(node.type_id)
            if spec is None:
                self.report("unknown_type", f"unknown node type {node.type_id!r}; is a plugin missing?", node)
                self.infos[node.id] = NodeInfo(None)
                self.blocked.add(node.id)
                continue
            checked = check_params(spec.params, node.params)
            for name, error in checked.errors.items():
                self.report("bad_param", f"parameter {error}", node, param=name)
                self.blocked.add(node.id)
                self.bad_params.add((node.id, name))
            for name in checked.unknown:
                self.report("unknown_param", f"unknown parameter {name!r} is ignored", node, param=name,
                            severity=WARNING)
            try:
                ports = spec.input_ports(checked.values)
            except Exception as exc:  # noqa: BLE001 - a plugin's port function
                self.report("bad_spec", f"cannot list its inputs: {exc}", node)
                ports = ()
            self.infos[node.id] = NodeInfo(spec, checked.values, ports)
            if node.name in names:
                self.report("duplicate_name", f"another node is also called {node.name!r}; give each node its "
                            "own name so exported code and ONNX names stay readable", node, severity=WARNING)
            names.setdefault(node.name, node.id)

    # ------------------------------------------------------------- edges
    def check_edges(self) -> None:
        graph = self.graph
        for node in graph:
            info = self.infos[node.id]
            if info.spec is None:
                continue
            ports = {p.name: p for p in info.input_ports}
            by_port: dict[str, list[Edge]] = {}
            for edge in graph.incoming(node.id):
                by_port.setdefault(edge.dst_port, []).append(edge)
            inputs_broken = (node.id, "inputs") in self.bad_params
            for port_name, edges in by_port.items():
                port = ports.get(port_name)
                if port is None:
                    self.blocked.add(node.id)
                    if inputs_broken:
                        continue  # the bad `inputs` value is the real problem, reported already
                    extra = ""
                    if "inputs" in info.params:
                        extra = f" (inputs={info.params['inputs']}); remove the wire or raise inputs"
                    self.report("missing_port", f"has no input {port_name!r}{extra}", node, port_name)
                    continue
                if len(edges) > 1:
                    sources = ", ".join(graph.node(e.src).name for e in edges)
                    self.report("multiple_edges", f"input {port_name!r} receives {len(edges)} wires ({sources}); "
                                "an input takes one wire; use an Add or Concat to merge them", node, port_name)
                    self.blocked.add(node.id)
                for edge in edges:
                    self.check_edge_kind(edge, port)
            for port in info.input_ports:
                if port.name not in by_port and not port.optional:
                    self.unconnected.add(node.id)
                    if info.spec.role == LOSS_ROLE:
                        self.report("loss_unconnected", _loss_hint(port.name), node, port.name)
                    else:
                        self.report("unconnected", f"input {port.name!r} is not connected", node, port.name)

    def check_edge_kind(self, edge: Edge, port: Port) -> None:
        src = self.graph.node(edge.src)
        src_info = self.infos[src.id]
        if src_info.spec is None:
            return
        out = next((p for p in src_info.spec.outputs if p.name == edge.src_port), None)
        dst = self.graph.node(edge.dst)
        if out is None:
            self.report("missing_port", f"input {port.name!r} is wired to {src.name}.{edge.src_port}, but "
                        f"{src.label()} has no output {edge.src_port!r}", dst, port.name)
            self.blocked.add(dst.id)
        elif out.kind not in port.accepted_kinds():
            self.report("kind_mismatch", f"input {port.name!r}: {kind_refusal(out, port)} (from {src.name})",
                        dst, port.name)
            self.blocked.add(dst.id)

    def check_cycles(self, cyclic: set[str]) -> None:
        graph = self.graph
        for node_id in cyclic:
            path = _cycle_through(graph, node_id, cyclic)
            if path is None:  # downstream of a cycle, not on one: inference is blocked, nothing to report
                continue
            names = " -> ".join(graph.node(n).name for n in path)
            self.report("cycle", f"is part of a cycle ({names}); networks must flow one way", graph.node(node_id))
        self.blocked |= cyclic

    # ------------------------------------------------------------- roles
    def check_roles(self) -> None:
        roles = {info.spec.role for info in self.infos.values() if info.spec is not None}
        if INPUT not in roles:
            self.report("no_input", "the graph has no Input node; add one to feed data into the network")
        if OUTPUT not in roles and LOSS_ROLE not in roles:
            self.report("no_output", "the graph has no Output node; connect the last layer to an Output")
        elif OUTPUT not in roles:
            self.report("no_output", "the graph has a loss but no Output node; connect the prediction to an "
                        "Output too so the trained model can be exported")

    # ------------------------------------------------------------- shapes
    def infer(self, order: list[str]) -> dict[Edge, TensorSpec]:
        graph = self.graph
        infos = self.infos
        edge_specs: dict[Edge, TensorSpec] = {}
        failed: set[str] = set(self.blocked)
        for node_id in order:
            info = infos[node_id]
            spec = info.spec
            if spec is None:
                failed.add(node_id)
                continue
            inputs: dict[str, TensorSpec | None] = {}
            ready = node_id not in failed
            incoming = graph.incoming(node_id)
            for port in info.input_ports:
                source = None
                for edge in incoming:
                    if edge.dst_port == port.name:
                        source = edge
                        break
                if source is None:
                    inputs[port.name] = None
                    if not port.optional:
                        ready = False
                    continue
                value = infos[source.src].outputs.get(source.src_port)
                if value is None:
                    ready = False
                else:
                    edge_specs[source] = value
                inputs[port.name] = value
            info.inputs = inputs
            if not ready:
                failed.add(node_id)
                continue
            ctx = InferContext(spec, info.params, inputs)
            node = graph.node(node_id)
            try:
                info.outputs = spec.infer_outputs(ctx)
                info.param_count = spec.param_count(ctx)
            except ShapeError as exc:
                info.outputs = {}
                failed.add(node_id)
                self.report("shape", str(exc), node, exc.port, exc.param)
                continue
            except PluginError as exc:  # did not return in time, tried to exit
                info.outputs = {}
                failed.add(node_id)
                self.report("plugin", str(exc), node)
                continue
            except Exception as exc:  # noqa: BLE001 - a plugin's inference must not crash the editor
                info.outputs = {}
                failed.add(node_id)
                whose = f" in plugin {spec.source!r}" if spec.from_plugin else ""
                self.report("shape", f"shape inference failed{whose}: {type(exc).__name__}: {exc}", node)
                continue
            if (info.param_count or 0) > HUGE_NODE_PARAMS:
                gigabytes = info.param_count * 4 / 1e9
                self.report("huge", f"has {info.param_count:,} parameters ({gigabytes:,.0f} GB as float32); "
                            "check the sizes feeding it", node, severity=WARNING)
        return edge_specs

    # ------------------------------------------------------- reachability
    def check_reachability(self) -> None:
        """Outputs and losses must be fed from an Input. Nodes that lead to neither are ignored by
        the compiler, so their problems are only warnings (a stray node does not block training)."""
        graph = self.graph
        sinks = self.sinks()
        used = self.used = graph.ancestors(sinks)
        self.problems = [
            p if p.node_id is None or p.node_id in used or p.severity == WARNING
            else Problem(p.code, p.message, p.node_id, p.port, p.param, WARNING, p.label)
            for p in self.problems
        ]
        for node_id in sinks:
            ancestors = graph.ancestors([node_id])
            if ancestors & (self.unconnected | self.blocked):
                continue  # the broken wiring upstream is reported already
            if not any(self.infos[a].spec is not None and self.infos[a].spec.role == INPUT for a in ancestors):
                self.report("unreachable", "receives no data from any Input", graph.node(node_id))
        for node in graph:
            info = self.infos[node.id]
            if node.id in used or info.spec is None:
                continue
            if info.spec.role == TARGET_ROLE:
                message = "is not connected to a loss, so it is ignored"
            else:
                message = "does not lead to an Output or a loss, so it is ignored"
            self.report("unused", message, node, severity=WARNING)


def _loss_hint(port: str) -> str:
    if port == "target":
        return "the target input is not connected; connect a Target node (the labels) to it"
    if port == "pred":
        return "the prediction input is not connected; connect the model's last layer to it"
    return f"input {port!r} is not connected"


def _cycle_through(graph: Graph, start: str, cyclic: set[str]) -> list[str] | None:
    """A shortest cycle through ``start`` within ``cyclic`` (breadth-first), or None if there is none."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for current in frontier:
            for edge in graph.outgoing(current):
                if edge.dst not in cyclic:
                    continue
                if edge.dst == start:
                    path = [current]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    path.reverse()
                    return path + [start]
                if edge.dst not in parents:
                    parents[edge.dst] = current
                    nxt.append(edge.dst)
        frontier = nxt
    return None
