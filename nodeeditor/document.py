"""One open graph: the model, its undo stack, the Qt bridge and the scene, and the edits the canvas
asks for turned into undo commands."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRectF, Signal
from PySide6.QtGui import QUndoStack

from runtime import Edge, Graph, GraphError, LayerLoomError

from .bridge import GraphBridge
from .commands import AddNodeCommand, ConnectCommand, DisconnectCommand, MoveNodesCommand, RemoveNodeCommand, \
    RenameCommand
from .items import EdgeItem, NodeItem
from .scene import GraphScene
from .style import DARK, Theme


class Document(QObject):
    statusMessage = Signal(str)

    def __init__(self, graph: Graph, path: str | Path | None = None, theme: Theme = DARK, parent=None):
        super().__init__(parent)
        self.graph = graph
        self.path = Path(path) if path else None
        self.undo_stack = QUndoStack(self)
        self.bridge = GraphBridge(graph, self)
        self.scene = GraphScene(self.bridge, theme, self)
        self.scene.connectRequested.connect(self.connect_ports)
        self.scene.nodesMoved.connect(self.move_nodes)
        self.scene.renameRequested.connect(self.rename_node)

    # ------------------------------------------------------------------ edits
    def connect_ports(self, src: str, src_port: str, dst: str, dst_port: str) -> bool:
        """Wire two ports (replacing the input's wire), or say in the status bar why not."""
        reason = self.graph.check_connection(src, src_port, dst, dst_port)
        if reason is not None:
            self.statusMessage.emit(f"Cannot connect: {reason}")
            return False
        self.undo_stack.push(ConnectCommand(self.graph, src, src_port, dst, dst_port))
        return True

    def rename_node(self, node_id: str, name: str) -> bool:
        """Rename a node (one undo step), or say in the status bar why not (empty, taken, too long)."""
        if node_id not in self.graph or self.graph.node(node_id).name == name.strip():
            return False
        try:
            self.undo_stack.push(RenameCommand(self.graph, node_id, name))
        except (GraphError, LayerLoomError) as exc:
            self.statusMessage.emit(f"Cannot rename {self.graph.node(node_id).name!r}: {exc}")
            return False
        return True

    def disconnect_edge(self, edge: Edge) -> None:
        self.undo_stack.push(DisconnectCommand(self.graph, edge))

    def add_node(self, type_id: str, position: QPointF | tuple[float, float]) -> str | None:
        if isinstance(position, QPointF):
            position = (round(position.x(), 1), round(position.y(), 1))
        try:
            command = AddNodeCommand(self.graph, type_id, position=position)
            self.undo_stack.push(command)
        except (GraphError, LayerLoomError) as exc:
            self.statusMessage.emit(f"Cannot add {type_id}: {exc}")
            return None
        return command.node_id

    def insert_on_wire(self, node_id: str, edge: Edge) -> bool:
        """Put an unconnected node into a wire: ``src -> node -> dst``, as one undo step. Nothing
        happens when the node's first ports cannot take the wire's kinds."""
        graph = self.graph
        if graph.incoming(node_id) or graph.outgoing(node_id) or edge not in graph.edges:
            return False
        inputs, outputs = graph.input_ports(node_id), graph.output_ports(node_id)
        if not inputs or not outputs:
            return False
        first_in, first_out = inputs[0].name, outputs[0].name
        self.undo_stack.beginMacro("Insert into wire")
        try:
            self.undo_stack.push(DisconnectCommand(graph, edge))
            ok = graph.check_connection(edge.src, edge.src_port, node_id, first_in) is None and \
                graph.check_connection(node_id, first_out, edge.dst, edge.dst_port) is None
            if ok:
                self.undo_stack.push(ConnectCommand(graph, edge.src, edge.src_port, node_id, first_in))
                self.undo_stack.push(ConnectCommand(graph, node_id, first_out, edge.dst, edge.dst_port))
        finally:
            self.undo_stack.endMacro()
        if not ok:
            self.undo_stack.undo()  # take the disconnection back: the wire stays as it was
            self.statusMessage.emit(f"{graph.node(node_id).label()} cannot go into this wire")
        return ok

    def wire_at(self, position: QPointF) -> Edge | None:
        """The wire under a scene position (a few pixels of tolerance), if any."""
        for item in self.scene.items(QRectF(position.x() - 4, position.y() - 4, 8, 8)):
            if isinstance(item, EdgeItem):
                return item.edge
        return None

    def move_nodes(self, moves: dict) -> None:
        """A drag ended: one move step; a lone unconnected node released on a wire goes into it."""
        node_id = next(iter(moves)) if len(moves) == 1 else None
        wire = None
        if node_id is not None and not self.graph.incoming(node_id) and not self.graph.outgoing(node_id):
            item = self.scene.item_for_node.get(node_id)
            wire = self.wire_at(item.sceneBoundingRect().center()) if item is not None else None
        if wire is None:
            self.undo_stack.push(MoveNodesCommand(self.graph, moves))
            return
        self.undo_stack.beginMacro("Move into wire")
        try:
            self.undo_stack.push(MoveNodesCommand(self.graph, moves))
            self.insert_on_wire(node_id, wire)
        finally:
            self.undo_stack.endMacro()

    def delete_selection(self) -> None:
        """Delete the selected nodes (with their wires) and wires, as one undo step."""
        selected = self.scene.selectedItems()
        nodes = [i.node_id for i in selected if isinstance(i, NodeItem)]
        edges = [i.edge for i in selected if isinstance(i, EdgeItem) and i.edge.src not in nodes
                 and i.edge.dst not in nodes]
        if not nodes and not edges:
            return
        self.undo_stack.beginMacro(f"Delete {len(nodes) + len(edges)} item(s)")
        for edge in edges:
            self.undo_stack.push(DisconnectCommand(self.graph, edge))
        for node_id in nodes:
            self.undo_stack.push(RemoveNodeCommand(self.graph, node_id))
        self.undo_stack.endMacro()

    def close(self) -> None:
        self.bridge.detach()
