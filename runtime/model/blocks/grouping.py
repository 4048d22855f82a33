"""Group and ungroup: turning selected nodes into a block with one instance in their place, and an
instance back into the nodes of its inside. Each is planned first as a ``BlockEdit`` (primitive graph
edits, checked before anything changes) that ``apply`` makes through the public graph API, or that the
editor turns into undo commands.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from layerloom.core.params import check_params
from layerloom.catalog.spec import INPUT, LOSS_ROLE, OUTPUT, TARGET_ROLE
from layerloom.model.analysis import analyze
from layerloom.model.blocks.definition import (NAME_RE, REPEAT, BlockDef, BlockError, block_name, inner_graph,
                                               type_id)
from layerloom.model.blocks.editing import install_block, remove_block
from layerloom.model.blocks.expansion import substitute
from layerloom.model.graph import Edge, Graph, Node, unique_name


@dataclass
class BlockEdit:
    """A group or an ungroup as primitive graph edits, applied in this order: define the blocks,
    remove the nodes, add the nodes (each at its place in the graph's order), add the wires (at
    theirs), remove the blocks no longer used. ``apply`` makes them through the public graph API;
    the editor makes each one an undo command instead, so the whole edit is one undo step."""

    text: str
    define: list[BlockDef] = field(default_factory=list)
    remove_nodes: list[str] = field(default_factory=list)
    add_nodes: list[tuple[Node, int]] = field(default_factory=list)
    add_edges: list[tuple[Edge, int, dict]] = field(default_factory=list)
    remove_blocks: list[str] = field(default_factory=list)

    def apply(self, graph: Graph) -> None:
        for block in self.define:
            install_block(graph, block.name, block)
        for node_id in self.remove_nodes:
            graph.remove_node(node_id)
        for node, index in self.add_nodes:
            added = graph.add_node(node.type_id, node.name, copy.deepcopy(node.params), node_id=node.id,
                                   ui=copy.deepcopy(node.ui), check=False, index=index)
            added.extra = copy.deepcopy(node.extra)  # unknown file keys ride along, as loading keeps them
        for edge, index, extra in self.add_edges:
            graph.connect(edge.src, edge.src_port, edge.dst, edge.dst_port, check=False, index=index, extra=extra)
        for name in self.remove_blocks:
            remove_block(graph, name)

    @property
    def added_ids(self) -> list[str]:
        return [node.id for node, _ in self.add_nodes]


def plan_group(graph: Graph, node_ids, name: str) -> BlockEdit:
    """How to turn the selected nodes into block ``name`` with one instance in their place, wired
    the same way: one block input per outside output feeding the selection, one block output per
    selected output feeding the outside. Raises ``BlockError`` for a selection that cannot be a block."""
    chosen = set(node_ids)
    selected = [n for n in graph if n.id in chosen]
    if not selected or len(selected) != len(chosen):
        raise BlockError("select one or more nodes of this graph to group")
    if not NAME_RE.fullmatch(name or ""):
        raise BlockError(f"block name {name!r}: use letters, digits and '_' (at most 64, not starting with a digit)")
    if name in graph.blocks:
        raise BlockError(f"a block called {name!r} already exists")
    for node in selected:
        spec = graph.spec(node)
        if spec is not None and spec.role in (INPUT, OUTPUT, TARGET_ROLE, LOSS_ROLE):
            raise BlockError(f"{node.label()} cannot go inside a block (only layers can)")
    touching = [e for e in graph.edges if e.src in chosen or e.dst in chosen]
    leaving = [e for e in touching if e.src in chosen and e.dst not in chosen]
    if any(graph.reaches(e.dst, target) for e in leaving for target in chosen):
        raise BlockError("the selection has a path leaving it and coming back; select the nodes between too")
    sources = list(dict.fromkeys((e.src, e.src_port) for e in touching if e.dst in chosen and e.src not in chosen))
    results = list(dict.fromkeys((e.src, e.src_port) for e in leaving))
    taken_names = {n.name for n in selected}
    taken_ids = set(chosen)
    in_ports = _fresh_names("in", len(sources), taken_names)
    out_ports = _fresh_names("out", len(results), taken_names)
    in_ids = _fresh_names("block_in", len(sources), taken_ids)
    out_ids = _fresh_names("block_out", len(results), taken_ids)
    analysis = analyze(graph)

    inside = inner_graph(graph, name)
    left = min(n.position[0] for n in selected) - 200
    right = max(n.position[0] for n in selected) + 200
    nodes = []
    for k, (src, port) in enumerate(sources):
        spec = analysis.output_spec(src, port)
        shape = list(spec.features) if spec is not None and spec.rank > 1 else [1]
        dtype = spec.dtype if spec is not None else "float32"
        nodes.append(Node(in_ids[k], "Input", in_ports[k], {"shape": shape, "dtype": dtype},
                          {"x": left, "y": 100.0 * k}))
    nodes += [Node(n.id, n.type_id, n.name, copy.deepcopy(n.params), copy.deepcopy(n.ui), copy.deepcopy(n.extra))
              for n in selected]
    nodes += [Node(out_ids[k], "Output", out_ports[k], {}, {"x": right, "y": 100.0 * k}) for k in range(len(results))]
    in_of = {key: in_ids[k] for k, key in enumerate(sources)}
    out_of = {key: out_ids[k] for k, key in enumerate(results)}
    edges = []
    for e in touching:  # in the graph's order, so ungroup can put them back in it
        if e.src in chosen and e.dst in chosen:
            edges.append((e, copy.deepcopy(graph.edge_extra(e))))
        elif e.dst in chosen:
            edges.append((Edge(in_of[(e.src, e.src_port)], "out", e.dst, e.dst_port), {}))
        else:
            edges.append((Edge(e.src, e.src_port, out_of[(e.src, e.src_port)], "in"), {}))
    inside.restore(nodes, edges)
    block = BlockDef(name, inside, tuple(in_ports), tuple(out_ports))
    problems = block.problems()
    if problems:
        raise BlockError(f"block {name!r}: " + "; ".join(problems))

    # The instance goes where the selection was, its wires where the selection's were.
    instance_id = graph.new_id(type_id(name))
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()  # ResBlock -> res_block, as layers are named
    instance_name = unique_name(snake, {n.name for n in graph if n.id not in chosen})
    xs = [n.position[0] for n in selected]
    ys = [n.position[1] for n in selected]
    instance = Node(instance_id, type_id(name), instance_name, {},
                    {"x": sum(xs) / len(xs), "y": sum(ys) / len(ys)})
    edge_index = min(graph.edge_index(e) for e in touching) if touching else len(graph.edges) - len(touching)
    wires: list[tuple[Edge, dict]] = []
    for e in touching:
        if e.dst in chosen and e.src not in chosen:
            wire = Edge(e.src, e.src_port, instance_id, in_ports[sources.index((e.src, e.src_port))])
        elif e.src in chosen and e.dst not in chosen:
            wire = Edge(instance_id, out_ports[results.index((e.src, e.src_port))], e.dst, e.dst_port)
        else:
            continue
        if wire not in [w for w, _ in wires]:
            wires.append((wire, copy.deepcopy(graph.edge_extra(e))))
    return BlockEdit(
        f"Group {len(selected)} node(s) into {name}", define=[block], remove_nodes=[n.id for n in selected],
        add_nodes=[(instance, graph.node_index(selected[0].id))],
        add_edges=[(wire, edge_index + k, extra) for k, (wire, extra) in enumerate(wires)])


def group_nodes(graph: Graph, node_ids, name: str) -> tuple[BlockDef, str]:
    """Group the nodes into block ``name`` (see ``plan_group``); returns the block and the instance's id."""
    edit = plan_group(graph, node_ids, name)
    edit.apply(graph)
    return graph.blocks[name], edit.added_ids[0]


def plan_ungroup(graph: Graph, instance_id: str) -> BlockEdit:
    """How to put the inside of a block instance back in its place (``$param`` references replaced by
    the instance's values), wired as the instance was; the block goes when nothing uses it any more."""
    node = graph.node(instance_id)
    name = block_name(node.type_id)
    if name is None or name not in graph.blocks:
        raise BlockError(f"{node.label()} is not an instance of a block of this graph")
    block = graph.blocks[name]
    spec = graph.spec(node)
    checked = check_params(spec.params, node.params)
    if checked.errors:
        raise BlockError(f"{node.label()}: fix its params before ungrouping ({next(iter(checked.errors.values()))})")
    if checked.values[REPEAT.name] != 1:
        raise BlockError(f"{node.label()} repeats its block; set repeat to 1 before ungrouping")
    values = {p.name: p.to_json(checked.values[p.name]) for p in block.param_specs()}
    port_of = {n.id: n.name for n in block.port_nodes(block.inputs) + block.port_nodes(block.outputs)}
    arriving: dict[str, list] = {}
    leaving: dict[str, list] = {}
    instance_edges = [e for e in graph.edges if instance_id in (e.src, e.dst)]
    for e in instance_edges:
        if e.dst == instance_id:
            arriving.setdefault(e.dst_port, []).append((e.src, e.src_port))
        else:
            leaving.setdefault(e.src_port, []).append((e.dst, e.dst_port))
    node_index = graph.node_index(instance_id)
    edge_index = min(graph.edge_index(e) for e in instance_edges) if instance_edges \
        else len(graph.edges)

    taken_ids = {n.id for n in graph if n.id != instance_id}
    taken_names = {n.name for n in graph if n.id != instance_id}
    ids: dict[str, str] = {}
    nodes = []
    for k, inner in enumerate(n for n in block.graph if n.id not in port_of):
        new_id = inner.id
        while new_id in taken_ids:
            new_id = graph.new_id(inner.type_id)
        new_name = unique_name(inner.name, taken_names)
        taken_ids.add(new_id)
        taken_names.add(new_name)
        nodes.append((Node(new_id, inner.type_id, new_name, substitute(inner.params, values),
                           copy.deepcopy(inner.ui), copy.deepcopy(inner.extra)), node_index + k))
        ids[inner.id] = new_id
    edges = []
    for e in block.graph.edges:
        starts = arriving.get(port_of[e.src], []) if e.src in port_of else [(ids[e.src], e.src_port)]
        ends = leaving.get(port_of[e.dst], []) if e.dst in port_of else [(ids[e.dst], e.dst_port)]
        for src, src_port in starts:
            for dst, dst_port in ends:
                edges.append((Edge(src, src_port, dst, dst_port), edge_index + len(edges),
                              copy.deepcopy(block.graph.edge_extra(e))))
    others = [n for n in graph if n.type_id == block.type_id and n.id != instance_id]
    unused = not others and not any(name in b.uses() for b in graph.blocks.values())
    return BlockEdit(f"Ungroup {node.name}", remove_nodes=[instance_id], add_nodes=nodes, add_edges=edges,
                     remove_blocks=[name] if unused else [])


def ungroup(graph: Graph, instance_id: str) -> list[str]:
    """Ungroup a block instance (see ``plan_ungroup``); returns the ids of the nodes added."""
    edit = plan_ungroup(graph, instance_id)
    edit.apply(graph)
    return edit.added_ids


def _fresh_names(base: str, count: int, taken: set[str]) -> list[str]:
    names = []
    for k in range(count):
        candidate = base if count == 1 else f"{base}{k + 1}"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        names.append(candidate)
    return names
