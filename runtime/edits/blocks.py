"""Nodes and blocks: adding a node, renaming one, grouping and ungrouping.

The rules: a block cannot contain itself (not directly, nor through the blocks placed inside it);
renaming an Input or Output inside a block renames the block's port, keeps the ports' order, and moves
the wires of every instance (in the model and in other blocks' insides) onto the new name; grouping
and ungrouping are the model's own plans (``layerloom.model.blocks.plan_group``), made edit records;
a new block's inside is laid out tidy, and an ungrouped inside lands centred where its instance was (the
editor then makes room around it, ``layerloom.edits.spacing``); a block library's blocks come in under fresh names where theirs are taken by different blocks; a block
still in use is not deleted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from layerloom.core.errors import LayerLoomError
from layerloom.edits.plan import (AddEdge, AddNode, Disconnect, InstallBlock, Plan, RemoveNode, Rename, Scope,
                                  UpdateBlock, fresh_id, graph_at, refused)
from layerloom.edits.spacing import node_rects, push_apart
from layerloom.model.blocks import (BlockDef, BlockEdit, block_name, check_removable, import_plan, instance_wires,
                                    nested_blocks, owning_block, plan_group, plan_ungroup)
from layerloom.model.graph import Graph

CONTAINS_ITSELF = "a block cannot contain itself"


def contains_itself(blocks: dict[str, BlockDef], scope: Scope, type_id: str) -> bool:
    """True when a node of ``type_id`` placed inside block ``scope`` would make the block contain
    itself: the node is an instance of that block, or of a block with it somewhere inside."""
    used = block_name(type_id)
    if scope is None or used is None:
        return False
    return used == scope or scope in nested_blocks(blocks, used)


def plan_add_node(root: Graph, scope: Scope, type_id: str, position: tuple[float, float]) -> Plan:
    """Add a node of ``type_id`` at ``position`` (named after its id), or refuse: an unknown type, or
    a block inside itself."""
    graph = graph_at(root, scope)
    if contains_itself(root.blocks, scope, type_id):
        return refused(f"Cannot add {type_id} inside block {scope}", CONTAINS_ITSELF)
    spec = graph.catalog.get(type_id)
    if spec is None:
        return refused(f"Cannot add {type_id}", f"unknown node type {type_id!r}")
    node_id = fresh_id(spec.type_id, graph.nodes)
    return Plan(edits=[AddNode(node_id, spec.type_id, position=position, scope=scope)])


# ------------------------------------------------------------------------- renames
def plan_rename(root: Graph, scope: Scope, node_id: str, name: str) -> Plan:
    """Rename a node (a step of its own); nothing to do when the name stays, refused when it is empty,
    too long or taken. Inside a block, an Input's or Output's new name is the block's port's: one step
    renames the node, keeps the port's place in the block's order, and moves every instance's wires
    on that port to the new name."""
    graph = graph_at(root, scope)
    if node_id not in graph or graph.node(node_id).name == name.strip():
        return Plan()
    old = graph.node(node_id).name
    try:
        new = graph.check_name(node_id, name)
    except LayerLoomError as exc:
        return refused(f"Cannot rename {old!r}", str(exc))
    rename = Rename(node_id, new, scope)
    block = owning_block(graph)
    if block is None or old not in block.inputs + block.outputs:
        return Plan(edits=[rename])
    inbound = old in block.inputs
    ports = block.inputs if inbound else block.outputs
    order = tuple(new if port == old else port for port in ports)
    edits = [rename, UpdateBlock(block.name, **{"input_order" if inbound else "output_order": order})]
    scopes = {id(root): None, **{id(b.graph): n for n, b in root.blocks.items()}}
    for where, edge in instance_wires(root, block.name, old, inbound):
        at = scopes[id(where)]
        moved = replace(edge, dst_port=new) if inbound else replace(edge, src_port=new)
        edits += [Disconnect(edge, at), AddEdge(moved, where.edge_index(edge), dict(where.edge_extra(edge)), at)]
    return Plan(f"Rename port {old} of {block.name}", edits)


# ------------------------------------------------------------------------- group / ungroup
def plan_group_nodes(root: Graph, scope: Scope, node_ids: Iterable[str], name: str) -> Plan:
    """Turn the nodes into block ``name`` with one instance in their place (the instance is the plan's
    first added node); refused when the selection cannot be a block."""
    try:
        edit = plan_group(graph_at(root, scope), list(node_ids), name)
    except LayerLoomError as exc:
        return refused("Cannot group", str(exc))
    for block in edit.define:   # the new block's inside (not in the model yet): its Inputs and Outputs clear
        ports = [n.id for n in block.port_nodes(block.inputs) + block.port_nodes(block.outputs)]   # of its nodes
        rects = node_rects(block.graph)
        moved = push_apart(rects, [nid for nid in rects if nid not in ports], "auto", movable=ports)
        for nid, (x, y, _, _) in moved.items():
            block.graph.move_node(nid, round(x, 1), round(y, 1))
    return block_edit_plan(edit, scope)


def plan_ungroup_instance(root: Graph, scope: Scope, instance_id: str) -> Plan:
    """Put an instance's inside back in its place (its nodes are the plan's added ones)."""
    graph = graph_at(root, scope)
    try:
        edit = plan_ungroup(graph, instance_id)
    except LayerLoomError as exc:
        return refused("Cannot ungroup", str(exc))
    if edit.add_nodes:   # the inside's nodes come centred where the instance was, not at the inside's places
        xs, ys = [node.position[0] for node, _ in edit.add_nodes], [node.position[1] for node, _ in edit.add_nodes]
        x, y = graph.node(instance_id).position   # a group puts its instance at its nodes' mean: back there
        dx, dy = x - sum(xs) / len(xs), y - sum(ys) / len(ys)
        if abs(dx) >= 0.05 or abs(dy) >= 0.05:
            for node, _ in edit.add_nodes:
                nx, ny = node.position
                node.ui.update(x=round(nx + dx, 1), y=round(ny + dy, 1))
    return block_edit_plan(edit, scope)


def block_edit_plan(edit: BlockEdit, scope: Scope) -> Plan:
    """A model ``BlockEdit`` as edit records, in its order: define the blocks (the model's), remove the
    nodes, add the nodes and wires at their places, take away the blocks no longer used."""
    edits: list = [InstallBlock(block.name, block) for block in edit.define]
    edits += [RemoveNode(node_id, scope) for node_id in edit.remove_nodes]
    edits += [AddNode(node.id, node.type_id, node.name, node.params, None, node.ui, index, node.extra, False, scope)
              for node, index in edit.add_nodes]
    edits += [AddEdge(edge, index, extra, scope) for edge, index, extra in edit.add_edges]
    edits += [InstallBlock(name, None) for name in edit.remove_blocks]
    return Plan(edit.text, edits)


# ------------------------------------------------------------------------- the model's blocks
def plan_import_blocks(root: Graph, library: dict[str, BlockDef]) -> Plan:
    """Add a library's blocks to the model as one step: a block the model has already (under any name)
    is skipped, one whose name is taken by a different block comes in under a fresh name (and the
    blocks using it follow). No edits when every block is there already."""
    try:
        blocks, _ = import_plan(root, library)
    except LayerLoomError as exc:
        return refused("Cannot import blocks", str(exc))
    return Plan(f"Import {len(blocks)} block(s)", [InstallBlock(block.name, block) for block in blocks])


def plan_delete_block(root: Graph, name: str) -> Plan:
    """Take an unused block out of the model; refused, naming its users, while a node or block uses it."""
    try:
        check_removable(root, name)
    except LayerLoomError as exc:
        return refused("Cannot delete", str(exc))
    return Plan(edits=[InstallBlock(name, None)])
