"""Editing a graph's blocks: define, install (what undo and redo use), remove and update a block, all
announced through the graph (``Graph.store_block``); the wires of a block's instances, and the plan
for importing a library's blocks into a graph.

Every change goes through the graph, so the blocks table forgets the expansions computed before it.
"""

from __future__ import annotations

import copy
import json

from layerloom.core.errors import GraphFileError
from layerloom.model.blocks.definition import (BlockDef, BlockError, block_name, check_param_records, find_cycle,
                                               type_id)
from layerloom.model.graph import Edge, Graph


def define_block(graph: Graph, name: str, definition: BlockDef | dict) -> BlockDef:
    """Add or replace block ``name`` (a copy of a ``BlockDef``, or one read from its record), checked
    (``BlockError``: a bad record, a definition with problems, a block that would contain itself)."""
    if isinstance(definition, BlockDef):
        block = definition.copy(graph, name)
    else:
        try:
            block = BlockDef.from_dict(name, definition, graph)
        except GraphFileError as exc:
            raise BlockError(str(exc)) from None
    problems = block.problems()
    if problems:
        raise BlockError(f"block {name!r}: " + "; ".join(problems))
    install_block(graph, name, block)
    return block


def install_block(graph: Graph, name: str, block: BlockDef | None) -> None:
    """Put exactly ``block`` under ``name`` (None: take the block away), announced; undo and redo use
    it so a block's inside stays the same object. A block that would contain itself is refused."""
    if block is not None:
        if block.graph.blocks is not graph.blocks or block.name != name:
            raise BlockError(f"block {name!r} was made for another graph; define it with define_block")
        cycle = find_cycle({**graph.blocks, name: block}, name)
        if cycle:
            raise BlockError(f"block {name!r} would contain itself ({' -> '.join(cycle)})")
    graph.store_block(name, block)


def check_removable(graph: Graph, name: str) -> None:
    """Refuse (``BlockError``, naming the users) to take away a block that a node or a block uses."""
    if name not in graph.blocks:
        raise BlockError(f"no block called {name!r}")
    users = [n.name for n in graph if n.type_id == type_id(name)]
    users += [f"block {b.name}" for b in graph.blocks.values() if b.name != name and name in b.uses()]
    if users:
        raise BlockError(f"block {name!r} is still used by {', '.join(users)}")


def remove_block(graph: Graph, name: str) -> BlockDef:
    check_removable(graph, name)
    old = graph.blocks[name]
    install_block(graph, name, None)
    return old


def update_block(graph: Graph, name: str, *, doc: str | None = None, params: list[dict] | None = None,
                 input_order: tuple[str, ...] | None = None, output_order: tuple[str, ...] | None = None) -> None:
    """Change a block's doc line, its param records or its ports' order in place (the inside and every
    instance keep their identity); refused with ``BlockError`` when a param record is invalid."""
    block = graph.blocks.get(name)
    if block is None:
        raise BlockError(f"no block called {name!r}")
    if params is not None:
        check_param_records(params)
        block.params = copy.deepcopy(params)
    if doc is not None:
        block.doc = str(doc)
    if input_order is not None:
        block.input_order = tuple(input_order)
    if output_order is not None:
        block.output_order = tuple(output_order)
    graph.store_block(name, block)


def instance_wires(root: Graph, name: str, port: str, inbound: bool) -> list[tuple[Graph, Edge]]:
    """The wires into (``inbound``) or out of port ``port`` of every instance of block ``name``, in
    ``root`` and in the insides of its blocks."""
    found = []
    for graph in [root] + [b.graph for b in root.blocks.values()]:
        for node in graph:
            if node.type_id != type_id(name):
                continue
            for edge in graph.incoming(node.id) if inbound else graph.outgoing(node.id):
                if (edge.dst_port if inbound else edge.src_port) == port:
                    found.append((graph, edge))
    return found


def import_plan(graph: Graph, library: dict[str, BlockDef]) -> tuple[list[BlockDef], dict[str, str]]:
    """The library's blocks made for ``graph``, ready to install, and the name each gets here: a
    block the graph already has (the same definition, under any name) is not added again; one whose
    name is taken by a different block comes under a fresh name (``Residual_2``), and the blocks
    that use it follow the new name."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:  # the blocks a block uses come before it
        if name in seen or name not in library:
            return
        seen.add(name)
        for used in sorted(library[name].uses()):
            visit(used)
        order.append(name)

    for name in library:
        visit(name)
    existing = {name: json.dumps(block.to_dict(), sort_keys=True) for name, block in graph.blocks.items()}
    names: dict[str, str] = {}
    plan: list[BlockDef] = []
    for name in order:
        record = library[name].to_dict()
        for node in record["nodes"]:
            used = block_name(node["type"])
            if used in names:
                node["type"] = type_id(names[used])
        text = json.dumps(record, sort_keys=True)
        same = [n for n, t in existing.items() if t == text]
        if same:
            names[name] = name if name in same else same[0]
            continue
        new, k = name, 2
        while new in graph.blocks or new in names.values() or (new != name and new in library):
            new, k = f"{name}_{k}", k + 1
        names[name] = new
        plan.append(BlockDef.from_dict(new, record, graph))
    return plan, names
