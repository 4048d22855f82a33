"""Copy and paste: what a copy carries, and what a paste adds.

A copy is a small graph document (the file format itself, as JSON text): the chosen nodes, the wires
among them and the blocks their instances use, so it pastes into any level of any model, another
window, or a text editor. A paste adds the nodes under fresh ids and names, shifted by an offset and
wired as they were, and clear of the nodes already there (moved further down or right where the offset
would land them on one; laid out first when the copy has no positions or its cards overlap); the blocks they use come along (a block the model already has is used as it is,
one whose name is taken by a different block comes under a fresh name). A node that cannot be added
(an unknown type, a refused param, a block inside itself) stays out with its wires, and the plan says
which and why.
"""

from __future__ import annotations

from layerloom.core.errors import LayerLoomError
from layerloom.core.params import check_params
from layerloom.edits.blocks import CONTAINS_ITSELF, contains_itself
from layerloom.edits.plan import AddNode, Connect, InstallBlock, Plan, Scope, fresh_id, graph_at
from layerloom.edits.spacing import free_offset, node_rects, plan_tidy
from layerloom.files.graphfile import dumps_graph, loads_graph
from layerloom.model.blocks import block_name, import_plan, nested_blocks, type_id
from layerloom.model.graph import Edge, Graph, unique_name

OFFSET = 40.0   # how far a paste lands from the copied nodes, right and down


def selection_graph(graph: Graph, node_ids) -> Graph:
    """The chosen nodes, the wires among them and the blocks they use (nested ones too), as a graph."""
    part = Graph(graph.catalog, name="clipboard")
    chosen = set(node_ids)
    used = {block_name(n.type_id) for n in graph if n.id in chosen} - {None}
    for name in sorted(used | {inner for name in used for inner in nested_blocks(graph.blocks, name)}):
        if name in graph.blocks:  # the blocks the copied instances use travel with them
            part.blocks[name] = graph.blocks[name].copy(part)
    for node in graph:
        if node.id in chosen:
            part.add_node(node.type_id, node.name, dict(node.params), node_id=node.id, ui=dict(node.ui), check=False)
    for edge in graph.edges:
        if edge.src in chosen and edge.dst in chosen:
            part.connect(edge.src, edge.src_port, edge.dst, edge.dst_port, check=False)
    return part


def selection_text(graph: Graph, node_ids) -> str:
    """The chosen nodes and the wires among them, as a graph file's text."""
    return dumps_graph(selection_graph(graph, node_ids))


def read_selection(text: str, catalog) -> Graph | None:
    """The graph a copy's text holds, or None when the text is not a LayerLoom graph."""
    try:
        return loads_graph(text, catalog)
    except LayerLoomError:
        return None


def plan_paste(root: Graph, scope: Scope, part: Graph, offset: float = OFFSET) -> Plan:
    """Add ``part``'s nodes to the level ``scope`` of ``root`` as one step (see the module's doc). The
    plan's added ids follow ``part``'s order; each node left out is a refusal (its type and name, why)."""
    graph = graph_at(root, scope)
    plan = Plan(f"Paste {len(part)} node(s)")
    blocks, names = import_plan(root, part.blocks)
    plan.edits += [InstallBlock(block.name, block) for block in blocks]
    # A stand-in for the level once the blocks are in: the pasted nodes are added and wired here first,
    # with the checks the real edits will meet (the wires only join pasted nodes).
    trial = Graph(graph.catalog, name="paste")
    trial.blocks = {**root.blocks, **{block.name: block for block in blocks}}
    taken_ids, taken_names = set(graph.nodes), {n.name for n in graph}
    new_ids: dict[str, str] = {}
    where = landing(graph, part, offset)
    for node in part:
        used = block_name(node.type_id)
        kind = type_id(names.get(used, used)) if used is not None else node.type_id
        what = f"{kind} “{node.name}”"
        if contains_itself(trial.blocks, scope, kind):
            plan.refuse(what, CONTAINS_ITSELF)
            continue
        spec = trial.catalog.get(kind)
        errors = check_params(spec.params, node.params).errors if spec is not None else {}
        if spec is None or errors:  # a node this build cannot add cleanly stays out (its wires too)
            plan.refuse(what, f"unknown node type {kind!r} (a plugin that is not loaded?)" if spec is None
                        else str(next(iter(errors.values()))))
            continue
        add = AddNode(fresh_id(spec.type_id, taken_ids), kind, unique_name(node.name, taken_names),
                      dict(node.params), where[node.id],
                      {k: v for k, v in node.ui.items() if k not in ("x", "y")}, scope=scope)
        try:
            trial.add_node(add.type_id, add.name, dict(add.params), node_id=add.node_id, position=add.position,
                           ui=dict(add.ui))
        except LayerLoomError as exc:
            plan.refuse(what, str(exc))
            continue
        plan.edits.append(add)
        taken_ids.add(add.node_id)
        taken_names.add(add.name)
        new_ids[node.id] = add.node_id
    for edge in part.edges:
        if edge.src not in new_ids or edge.dst not in new_ids:
            continue
        wire = Edge(new_ids[edge.src], edge.src_port, new_ids[edge.dst], edge.dst_port)
        if trial.check_connection(wire.src, wire.src_port, wire.dst, wire.dst_port) is None:
            trial.connect(wire.src, wire.src_port, wire.dst, wire.dst_port, replace=True)
            plan.edits.append(Connect(wire, scope))
    return plan


def landing(graph: Graph, part: Graph, offset: float) -> dict[str, tuple[float, float]]:
    """Where each of ``part``'s nodes lands in ``graph``: its place shifted by ``offset`` right and down,
    or further on (down or right) until no card lands on one already there; a copy whose nodes have no
    position or overlap is laid out first (``plan_tidy``)."""
    rects = node_rects(part)
    for move in plan_tidy(part).edits:
        x, y = move.position
        rects[move.node_id] = (x, y, *rects[move.node_id][2:])
    dx, dy = free_offset(rects, node_rects(graph).values(), (offset, offset))
    return {nid: (round(x + dx, 1), round(y + dy, 1)) for nid, (x, y, _, _) in rects.items()}
