"""Dropping a node onto a wire, as Blender users expect: while a lone card or a palette entry is dragged
over a wire, the wire glows in the accent colour when the node will go into it (red and dashed, with the
reason beside the cursor, when it will not); a wire hidden under another card is never the target."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDragLeaveEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

from layerloom import Edge, load_graph
from layerloom.files.resources import example_path
from layerloom.model.layout import layered_layout
from layerloom.nodeeditor.canvas.view import NODE_MIME, CanvasView
from layerloom.nodeeditor.document.document import Document

pytestmark = pytest.mark.gui
WIRE = Edge("relu1", "out", "fc2", "in")


@pytest.fixture
def doc(qtbot):
    graph = load_graph(example_path("digits_mlp"))
    for node_id, position in layered_layout(graph, canvas=None).items():   # one row, wires level
        graph.move_node(node_id, *position)
    document = Document(graph)
    view = CanvasView(document.scene)
    view.resize(1400, 700)
    qtbot.addWidget(view)
    view.show()
    view.centerOn(document.scene.item_for_edge[WIRE].path().pointAtPercent(0.5))
    document.view = view
    document.window = None
    yield document
    document.undo_stack.setClean()
    document.close()


def _middle(doc) -> QPointF:
    return doc.scene.item_for_edge[WIRE].path().pointAtPercent(0.5)


def _move(viewport, point: QPoint) -> None:
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(point), QPointF(viewport.mapToGlobal(point)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def _drag_card_over(qtbot, doc, node_id: str, target: QPointF) -> QPoint:
    """Press on the card's title and move until its centre is over ``target``; the button stays down.
    Returns where the cursor is."""
    view, item = doc.view, doc.scene.item_for_node[node_id]
    grip = item.mapToScene(60, 10)
    start = view.mapFromScene(grip)
    end = view.mapFromScene(grip + (target - item.sceneBoundingRect().center()))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    for k in range(1, 6):
        _move(view.viewport(), start + (end - start) * k / 5)
    return end


def _glow(doc) -> tuple[QColor, Qt.PenStyle] | None:
    glow = doc.scene.insert_target.glow
    return None if glow is None else (glow.pen().color(), glow.pen().style())


def _same_hue(a: QColor, b: QColor) -> bool:
    return (a.red(), a.green(), a.blue()) == (b.red(), b.green(), b.blue())


def test_a_lone_card_dragged_over_a_wire_lights_it_and_goes_in_on_release(doc, qtbot):
    node_id = doc.add_node("Dropout", (_middle(doc).x() - 95, _middle(doc).y() + 260))
    end = _drag_card_over(qtbot, doc, node_id, _middle(doc))
    color, style = _glow(doc)
    assert _same_hue(color, doc.scene.theme.color("selection")) and style == Qt.PenStyle.SolidLine
    assert doc.scene.wire_hint.isVisible() and "insert" in doc.scene.wire_hint.text
    steps = doc.undo_stack.count()
    qtbot.mouseRelease(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    assert _glow(doc) is None and not doc.scene.wire_hint.isVisible()
    edges = doc.graph.edges
    assert WIRE not in edges and Edge("relu1", "out", node_id, "in") in edges
    assert Edge(node_id, "out", "fc2", "in") in edges
    assert doc.undo_stack.count() == steps + 1      # the move and the insert are one step
    # the wire was level: the node sits level with it, so both halves stay straight
    assert doc.graph.node(node_id).position[1] == doc.graph.node("relu1").position[1]
    assert doc.scene.item_for_node[node_id].port("in", "in").scene_anchor().y() == \
        doc.scene.item_for_node["relu1"].port("out", "out").scene_anchor().y()
    doc.undo_stack.undo()
    assert WIRE in doc.graph.edges and not doc.graph.incoming(node_id)


def test_a_node_dropped_between_rows_stays_where_it_was_put():
    from layerloom.edits.spacing import inline_position

    graph = load_graph(example_path("digits_cnn"))    # laid out in rows: fc1 ends one, relu3 starts the next
    wrap = next(e for e in graph.edges if graph.node(e.dst).position[0] < graph.node(e.src).position[0])
    node_id = "drop"
    graph.add_node("Dropout", node_id=node_id, position=(graph.node(wrap.dst).position[0] + 50, 0.0))
    assert inline_position(graph, node_id, wrap) is None
    straight = next(e for e in graph.edges if graph.node(e.dst).position[1] == graph.node(e.src).position[1]
                    and graph.node(e.dst).type_id != "CrossEntropyLoss")
    graph.move_node(node_id, graph.node(straight.src).position[0] + 100, 999.0)
    assert inline_position(graph, node_id, straight) == (graph.node(node_id).position[0],
                                                          graph.node(straight.src).position[1])


def test_a_card_that_cannot_go_into_the_wire_shows_why_and_stays_out(doc, qtbot):
    node_id = doc.add_node("Input", (_middle(doc).x() - 95, _middle(doc).y() + 260))   # no input port
    end = _drag_card_over(qtbot, doc, node_id, _middle(doc))
    color, style = _glow(doc)
    assert _same_hue(color, doc.scene.theme.color("error")) and style == Qt.PenStyle.DashLine
    assert "needs an input" in doc.scene.wire_hint.text
    qtbot.mouseRelease(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    assert WIRE in doc.graph.edges and not doc.graph.outgoing(node_id)


def _palette_event(doc, kind, scene_pos: QPointF, type_id: str = "Dropout"):
    """A palette drag's event on the canvas viewport (a move is preceded by an enter, as Qt does)."""
    if kind is QDragMoveEvent:
        _palette_event(doc, QDragEnterEvent, scene_pos, type_id)
    data = QMimeData()
    data.setData(NODE_MIME, type_id.encode())
    point = doc.view.mapFromScene(scene_pos)
    if kind is QDragLeaveEvent:
        event = QDragLeaveEvent()
    else:
        event = kind(QPointF(point) if kind is QDropEvent else point, Qt.DropAction.CopyAction, data,
                     Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(doc.view.viewport(), event)
    return data


def test_a_palette_drag_lights_the_wire_and_leaving_the_canvas_puts_it_out(doc):
    _palette_event(doc, QDragMoveEvent, _middle(doc))
    assert _same_hue(_glow(doc)[0], doc.scene.theme.color("selection"))
    _palette_event(doc, QDragLeaveEvent, _middle(doc))
    assert _glow(doc) is None and doc.scene.wire_hint.scene() is None


def test_a_wire_hidden_under_a_card_is_not_offered(doc):
    middle = _middle(doc)
    doc.graph.move_node("fc3", middle.x() - 95, middle.y() - 40)   # a card over the wire's middle
    doc.scene.item_for_node["fc3"].setPos(middle.x() - 95, middle.y() - 40)
    assert doc.scene.item_for_node["fc3"].sceneBoundingRect().contains(middle)
    _palette_event(doc, QDragMoveEvent, middle)
    assert _glow(doc) is None
    assert doc.wire_at(middle) is None
