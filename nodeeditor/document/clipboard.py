"""Copy, cut, paste and duplicate: the selection travels as a small graph document (the file format
itself, as JSON text), so it pastes into any open document, another LayerLoom window, or a text
editor."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from layerloom import Graph, LayerLoomError, dumps_graph, loads_graph
from layerloom.model.blocks import block_name, import_plan, nested_blocks, type_id
from layerloom.core.params import check_params

from layerloom.nodeeditor.document.commands import AddNodeCommand, ConnectCommand, InstallBlockCommand

OFFSET = 40.0


def selection_text(graph: Graph, node_ids: list[str]) -> str:
    """The chosen nodes and the wires among them, as a graph file's text."""
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
    return dumps_graph(part)


def copy_to_clipboard(graph: Graph, node_ids: list[str]) -> bool:
    if not node_ids:
        return False
    # Plain text only: the graph format identifies itself ("format": "layerloom-graph"), and a
    # Python-made QMimeData handed to the clipboard crashed PySide at interpreter exit (measured).
    QApplication.clipboard().setText(selection_text(graph, node_ids))
    return True


def clipboard_text() -> str | None:
    text = QApplication.clipboard().text()
    return text or None


def paste(document, text: str, offset: float = OFFSET, left_out: list[str] | None = None) -> list[str]:
    """Add the nodes of a copied graph to ``document`` as one undo step: fresh ids and names,
    shifted by ``offset``, wired as they were. Returns the new node ids (empty if the text is not a
    graph); each node that could not be added is described in ``left_out`` (its type, name and why)."""
    left_out = [] if left_out is None else left_out
    try:
        part = loads_graph(text, document.graph.catalog)
    except LayerLoomError:
        return []
    graph, stack = document.graph, document.undo_stack
    new_ids: dict[str, str] = {}
    stack.beginMacro(f"Paste {len(part)} node(s)")
    try:
        blocks, names = import_plan(graph, part.blocks)
        for block in blocks:  # blocks the pasted instances use and this model lacks (renamed on a clash)
            stack.push(InstallBlockCommand(document.top.graph, block.name, block))
        inside = document.block
        for node in part:
            used = block_name(node.type_id)
            if used is not None:
                node.type_id = type_id(names.get(used, used))
                if inside is not None and inside.name in {block_name(node.type_id)} | nested_blocks(
                        graph.blocks, block_name(node.type_id)):
                    left_out.append(f"{node.type_id} “{node.name}”: a block cannot contain itself")
                    continue
            spec = graph.catalog.get(node.type_id)
            errors = check_params(spec.params, node.params).errors if spec is not None else {}
            if spec is None or errors:  # a node this build cannot add cleanly stays out (its wires too)
                why = (f"unknown node type {node.type_id!r} (a plugin that is not loaded?)" if spec is None
                       else str(next(iter(errors.values()))))
                left_out.append(f"{node.type_id} “{node.name}”: {why}")
                continue
            x, y = node.position
            command = AddNodeCommand(graph, node.type_id, name=graph.unique_name(node.name),
                                     params=dict(node.params), position=(x + offset, y + offset),
                                     ui={k: v for k, v in node.ui.items() if k not in ("x", "y")})
            stack.push(command)
            new_ids[node.id] = command.node_id
        for edge in part.edges:
            if edge.src not in new_ids or edge.dst not in new_ids:
                continue
            if graph.check_connection(new_ids[edge.src], edge.src_port, new_ids[edge.dst], edge.dst_port) is None:
                stack.push(ConnectCommand(graph, new_ids[edge.src], edge.src_port, new_ids[edge.dst], edge.dst_port))
    finally:
        stack.endMacro()
    return list(new_ids.values())
