"""One open graph: the model, its undo stack, the Qt bridge and the scene, and the edits the canvas
asks for turned into undo commands."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QUndoStack

from runtime import Edge, Graph, GraphError, LayerLoomError

from .bridge import GraphBridge
from .commands import AddNodeCommand, ConnectCommand, DisconnectCommand, MoveNodesCommand, RemoveNodeCommand
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

    # ------------------------------------------------------------------ edits
    def connect_ports(self, src: str, src_port: str, dst: str, dst_port: str) -> bool:
        """Wire two ports (replacing the input's wire), or say in the status bar why not."""
        reason = self.graph.check_connection(src, src_port, dst, dst_port)
        if reason is not None:
            self.statusMessage.emit(f"Cannot connect: {reason}")
            return False
        self.undo_stack.push(ConnectCommand(self.graph, src, src_port, dst, dst_port))
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

    def move_nodes(self, moves: dict) -> None:
        self.undo_stack.push(MoveNodesCommand(self.graph, moves))

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
