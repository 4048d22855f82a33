"""One open graph: the model, its undo stack, the Qt bridge and the scene, and the edits the canvas
asks for turned into undo commands. The rules (what an add, a rename, a group does, and the room a new
node makes around it) are the planners' of ``layerloom.edits``; ``carry_out`` turns a plan into one undo
step, ``carry_out_spaced`` a plan and the room its new nodes need."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QPointF, Signal
from PySide6.QtGui import QUndoStack

from layerloom import Edge, Graph, GraphError, LayerLoomError, analyze
from layerloom.edits.blocks import plan_add_node, plan_group_nodes, plan_rename, plan_ungroup_instance
from layerloom.edits.plan import Plan, Scope
from layerloom.edits.spacing import inline_position, plan_make_room
from layerloom.model.blocks import owning_block, preview_analysis

from layerloom.nodeeditor.adapters.bridge import GraphBridge
from layerloom.nodeeditor.document.commands import (ConnectCommand, DisconnectCommand, MoveNodesCommand,
                                                    RemoveNodeCommand, command_for)
from layerloom.nodeeditor.canvas.items import EdgeItem, NodeItem
from layerloom.nodeeditor.canvas.scene import GraphScene
from layerloom.nodeeditor.theme.style import DARK, Theme


class Document(QObject):
    """A model's graph, or (with ``root``) the inside of one of its blocks opened for editing: then
    it shares the root's undo stack (one history per file, as in Blender's node groups) and is
    analysed with the block's params filled in (``preview``: the values and arriving shapes of the
    instance it was opened from)."""

    statusMessage = Signal(str)

    def __init__(self, graph: Graph, path: str | Path | None = None, theme: Theme = DARK, parent=None,
                 root: "Document | None" = None, preview: tuple[dict, list] | None = None):
        super().__init__(parent)
        self.graph = graph
        self.path = Path(path) if path else None
        self.run_dirs: list[str] = []         # run folders trained from this document in this window
        self.root = root
        self.preview = preview
        self.opened_from: str | None = None   # the instance a block's inside was opened from
        self.undo_stack = root.undo_stack if root is not None else QUndoStack(self)
        analyzer = analyze if root is None else (lambda g: preview_analysis(g, *(self.preview or ({}, None))))
        self.bridge = GraphBridge(graph, self, analyzer, watch_blocks=root is None)
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

    @property
    def block(self):
        """The block whose inside this document edits (None for a model's own graph)."""
        return owning_block(self.graph) if self.root is not None else None

    @property
    def top(self) -> "Document":
        return self.root or self

    @property
    def scope(self) -> Scope:
        """The level this document edits, as plans name it: the block's name, or None for the model."""
        block = self.block
        return block.name if block is not None else None

    def carry_out(self, plan: Plan) -> bool:
        """Turn a plan's edits into undo commands as one undo step: a macro named by the plan, or its lone
        edit as a step of its own (a param edit then merges with the next, as typing does). A failure
        takes the step back and says so in the status bar. False when nothing changed."""
        if not plan.edits:
            return False
        stack, root = self.undo_stack, self.top.graph
        if plan.text is None and len(plan.edits) == 1:
            try:   # the planners checked the edit: a safety net
                stack.push(command_for(plan.edits[0], root))
            except (GraphError, LayerLoomError) as exc:
                self.statusMessage.emit(f"Cannot change the graph: {exc}")
                return False
            return True
        stack.beginMacro(plan.text or "Edit")
        try:
            for edit in plan.edits:
                stack.push(command_for(edit, root))
        except (GraphError, LayerLoomError) as exc:
            stack.endMacro()
            stack.undo()
            self.statusMessage.emit(f"{plan.text} failed: {exc}")
            return False
        stack.endMacro()
        return True

    def carry_out_spaced(self, plan: Plan, placed: list[str] | None = None, text: str | None = None) -> bool:
        """Carry out ``plan`` and push aside the cards its new nodes (or ``placed``) land on
        (``layerloom.edits.spacing.plan_make_room``), as one undo step named ``text`` (or the plan's)."""
        if not plan.edits:
            return False
        self.undo_stack.beginMacro(text or plan.text or "Edit")
        try:
            done = self.carry_out(plan)
            if done:
                self.make_room(plan.added_ids if placed is None else placed)
        finally:
            self.undo_stack.endMacro()
        return done

    def make_room(self, node_ids: list[str]) -> bool:
        """Push aside the cards ``node_ids`` land on (part of the undo step being made)."""
        return self.carry_out(plan_make_room(self.graph, node_ids, self.scope))

    def _refused(self, plan: Plan) -> bool:
        """Say a refused plan's reason in the status bar; True when it was refused."""
        if plan.refused:
            self.statusMessage.emit(plan.refusals[0].message)
        return plan.refused

    def rename_node(self, node_id: str, name: str) -> bool:
        """Rename a node (one undo step), or say in the status bar why not (empty, taken, too long).
        Inside a block, renaming an Input or Output renames the block's port, and the wires of every
        instance follow it (``layerloom.edits.blocks.plan_rename``)."""
        plan = plan_rename(self.top.graph, self.scope, node_id, name)
        return not self._refused(plan) and self.carry_out(plan)

    # ------------------------------------------------------------------ blocks
    def group(self, node_ids: list[str], name: str) -> str | None:
        """Turn the nodes into block ``name`` with one instance in their place (one undo step); the
        instance's id, or None with the reason in the status bar."""
        plan = plan_group_nodes(self.top.graph, self.scope, node_ids, name)
        return plan.added_ids[0] if not self._refused(plan) and self.carry_out_spaced(plan) else None

    def ungroup(self, instance_id: str) -> list[str]:
        """Put an instance's inside back in its place (one undo step); the new nodes' ids."""
        plan = plan_ungroup_instance(self.top.graph, self.scope, instance_id)
        return plan.added_ids if not self._refused(plan) and self.carry_out_spaced(plan) else []

    def disconnect_edge(self, edge: Edge) -> None:
        self.undo_stack.push(DisconnectCommand(self.graph, edge))

    def add_node(self, type_id: str, position: QPointF | tuple[float, float]) -> str | None:
        """Add a node (one undo step, with the cards it lands on pushed aside); its id, or None with the
        reason in the status bar (an unknown type, a block inside itself)."""
        if isinstance(position, QPointF):
            position = (round(position.x(), 1), round(position.y(), 1))
        plan = plan_add_node(self.top.graph, self.scope, type_id, position)
        if self._refused(plan):
            return None
        return plan.added_ids[0] if self.carry_out_spaced(plan, text=f"Add {type_id}") else None

    def insert_on_wire(self, node_id: str, edge: Edge) -> bool:
        """Put an unconnected node into a wire: ``src -> node -> dst``, as one undo step that also pushes
        aside the cards it lands on. Nothing happens when the node's first ports cannot take the wire's kinds."""
        graph = self.graph
        if graph.incoming(node_id) or graph.outgoing(node_id) or edge not in graph.edges:
            return False
        inputs, outputs = graph.input_ports(node_id), graph.output_ports(node_id)
        if not inputs or not outputs:
            return False
        first_in, first_out = inputs[0].name, outputs[0].name
        if graph.check_connection(edge.src, edge.src_port, node_id, first_in) is not None or \
                graph.check_connection(node_id, first_out, edge.dst, edge.dst_port) is not None:
            # checked before anything changes: an undo inside the caller's open macro would do nothing
            self.statusMessage.emit(f"{graph.node(node_id).label()} cannot go into this wire")
            return False
        self.undo_stack.beginMacro("Insert into wire")
        try:
            self.undo_stack.push(DisconnectCommand(graph, edge))
            self.undo_stack.push(ConnectCommand(graph, edge.src, edge.src_port, node_id, first_in))
            self.undo_stack.push(ConnectCommand(graph, node_id, first_out, edge.dst, edge.dst_port))
            level = inline_position(graph, node_id, edge)   # a straight wire stays straight
            if level is not None and level != graph.node(node_id).position:
                self.undo_stack.push(MoveNodesCommand(graph, {node_id: (graph.node(node_id).position, level)}))
            self.make_room([node_id])
        finally:
            self.undo_stack.endMacro()
        return True

    def wire_at(self, position: QPointF, moving: str | None = None) -> Edge | None:
        """The wire a node dropped at a scene position goes into: one the user can see there (not under
        another card), not one of ``moving``'s own."""
        item = self.scene.insert_target.wire_under(position, moving)
        return item.edge if item is not None else None

    def move_nodes(self, moves: dict) -> None:
        """A drag ended: one move step; a lone unconnected node released on a wire goes into it."""
        node_id = next(iter(moves)) if len(moves) == 1 else None
        wire = None
        if node_id is not None and not self.graph.incoming(node_id) and not self.graph.outgoing(node_id):
            item = self.scene.item_for_node.get(node_id)
            wire = self.wire_at(item.sceneBoundingRect().center(), node_id) if item is not None else None
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
