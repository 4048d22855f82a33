"""The canvas mirrors the model and turns mouse gestures into undoable edits (real mouse events)."""

from __future__ import annotations

import pytest
from gui_helpers import press_drag_release
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from layerloom.nodeeditor.document.document import Document
from layerloom.nodeeditor.canvas.items import NodeItem
from layerloom.nodeeditor.canvas.view import CanvasView
from layerloom import Edge, dumps_graph, load_graph
from layerloom.files.resources import example_path

pytestmark = pytest.mark.gui


def one_row(name: str):
    """An example laid out in one row (the examples ship wrapped into rows that fit a window)."""
    from layerloom.model.layout import apply_layout, layered_layout

    graph = load_graph(example_path(name))
    apply_layout(graph, layered_layout(graph, canvas=None))
    return graph


@pytest.fixture
def doc(qtbot):
    document = Document(one_row("digits_mlp"))
    view = CanvasView(document.scene)
    view.resize(1600, 600)
    qtbot.addWidget(view)
    view.show()
    view.centerOn(document.scene.itemsBoundingRect().center())
    document.view = view
    yield document
    document.close()


def _port_point(doc, node_id, port, direction) -> QPoint:
    item = doc.scene.item_for_node[node_id].port(port, direction)
    return doc.view.mapFromScene(item.scene_anchor())


def test_the_scene_mirrors_the_graph_and_its_edits(doc):
    assert set(doc.scene.item_for_node) == {n.id for n in doc.graph}
    assert set(doc.scene.item_for_edge) == set(doc.graph.edges)
    node_id = doc.add_node("Dropout", (0.0, 300.0))
    assert node_id in doc.scene.item_for_node
    doc.undo_stack.undo()
    assert node_id not in doc.scene.item_for_node


def test_dragging_from_an_output_to_an_input_connects_them(doc, qtbot):
    node_id = doc.add_node("ReLU", (1500.0, 300.0))
    doc.view.centerOn(doc.scene.item_for_node["fc3"].sceneBoundingRect().center())
    start = _port_point(doc, "fc3", "out", "out")
    end = _port_point(doc, node_id, "in", "in")
    press_drag_release(qtbot, doc.view, start, end)
    assert Edge("fc3", "out", node_id, "in") in doc.graph.edges
    assert Edge("fc3", "out", node_id, "in") in doc.scene.item_for_edge
    doc.undo_stack.undo()
    assert Edge("fc3", "out", node_id, "in") not in doc.graph.edges


def test_a_refused_wire_says_why_and_changes_nothing(doc, qtbot):
    messages = []
    doc.statusMessage.connect(messages.append)
    before = dumps_graph(doc.graph)
    start = _port_point(doc, "fc2", "out", "out")
    end = _port_point(doc, "fc1", "in", "in")  # fc1 feeds fc2: a cycle
    press_drag_release(qtbot, doc.view, start, end)
    assert dumps_graph(doc.graph) == before
    assert messages and "cycle" in messages[-1]
    assert not any(type(i).__name__ == "QGraphicsPathItem" for i in doc.scene.items())  # no half-wire left


def test_dragging_a_node_moves_it_in_the_model_as_one_undo_step(doc, qtbot):
    item = doc.scene.item_for_node["relu1"]
    before = doc.graph.node("relu1").position
    start = doc.view.mapFromScene(item.mapToScene(60, 10))
    press_drag_release(qtbot, doc.view, start, start + QPoint(80, 40))
    assert doc.graph.node("relu1").position == (before[0] + 80, before[1] + 40)
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    assert doc.graph.node("relu1").position == before
    assert (item.x(), item.y()) == before


def test_shape_errors_badge_the_right_node(doc, qtbot):
    from layerloom.nodeeditor.document.commands import SetParamCommand

    doc.undo_stack.push(SetParamCommand(doc.graph, "image", "shape", [3, 8, 8]))
    doc.bridge.reanalyze()
    fc1 = doc.scene.item_for_node["fc1"]
    assert "Flatten" in fc1.problem and not doc.scene.item_for_node["fc2"].problem


def test_quick_add_from_a_wire_dropped_on_empty_canvas_adds_and_connects(qtbot, tmp_path):
    """Release a wire from fc3's output on empty canvas: the popup offers only types that can take
    a tensor; choosing one adds it where the wire ended and wires it, as one undo step."""
    from PySide6.QtCore import QSettings

    from layerloom.nodeeditor.window.main_window import EditorWindow

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(tmp_path / "recovery"))
    window = EditorWindow(settings)
    qtbot.addWidget(window, before_close_func=lambda w: w.document and w.document.undo_stack.setClean())
    window.resize(1300, 800)
    window.show()
    try:
        window.open_example("digits_mlp")
        view, scene = window.view, window.document.scene
        view.centerOn(scene.item_for_node["fc3"].sceneBoundingRect().center())
        port = scene.item_for_node["fc3"].port("out", "out")
        start = view.mapFromScene(port.scene_anchor())
        press_drag_release(qtbot, view, start, start + QPoint(120, 160))
        popup = window.quick_add
        assert popup.isVisible()
        offered = [popup.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(popup.list.count())]
        assert "ReLU" in offered and "Input" not in offered and "Target" not in offered
        qtbot.keyClicks(popup.search, "relu")
        qtbot.keyClick(popup.search, Qt.Key.Key_Return)
        graph = window.document.graph
        new = [n for n in graph][-1]
        assert new.type_id == "ReLU" and Edge("fc3", "out", new.id, "in") in graph.edges
        assert window.selected_node_ids() == [new.id]     # the inspector shows the new node at once
        window.document.undo_stack.undo()
        assert new.id not in graph.nodes and len(graph) == 9
    finally:
        window.document.undo_stack.setClean()


def test_a_node_dropped_onto_a_wire_goes_into_it_as_one_step(doc):
    from layerloom import dumps_graph

    before = dumps_graph(doc.graph)
    wire = Edge("relu1", "out", "fc2", "in")
    middle = doc.scene.item_for_edge[wire].path().pointAtPercent(0.5)
    assert doc.wire_at(middle) == wire
    doc.undo_stack.beginMacro("drop")
    node_id = doc.add_node("Dropout", middle)
    assert doc.insert_on_wire(node_id, wire)
    doc.undo_stack.endMacro()
    edges = doc.graph.edges
    assert wire not in edges and Edge("relu1", "out", node_id, "in") in edges
    assert Edge(node_id, "out", "fc2", "in") in edges
    doc.undo_stack.undo()
    assert dumps_graph(doc.graph) == before


def test_a_node_that_cannot_take_the_wire_leaves_it_alone(doc):
    wire = Edge("fc3", "out", "loss", "pred")
    node_id = doc.add_node("Target", (0.0, 500.0))  # no inputs: cannot go into a wire
    assert not doc.insert_on_wire(node_id, wire) and wire in doc.graph.edges


def test_dragging_a_lone_node_onto_a_wire_inserts_it(doc, qtbot):
    node_id = doc.add_node("Dropout", (480.0, 300.0))
    doc.bridge.reanalyze()
    wire = Edge("relu1", "out", "fc2", "in")
    item = doc.scene.item_for_node[node_id]
    target = doc.scene.item_for_edge[wire].path().pointAtPercent(0.5)
    grab = item.mapToScene(60, 10)
    offset = target - item.sceneBoundingRect().center()
    start = doc.view.mapFromScene(grab)
    end = doc.view.mapFromScene(grab + offset)
    press_drag_release(qtbot, doc.view, start, end)
    assert Edge("relu1", "out", node_id, "in") in doc.graph.edges and Edge(node_id, "out", "fc2", "in") in doc.graph.edges
    count = doc.undo_stack.count()
    doc.undo_stack.undo()
    assert wire in doc.graph.edges and doc.undo_stack.count() == count


def test_dragging_with_snap_on_puts_the_node_on_the_grid(doc, qtbot):
    doc.scene.snap = True
    item = doc.scene.item_for_node["fc1"]
    start = doc.view.mapFromScene(item.sceneBoundingRect().center())
    press_drag_release(qtbot, doc.view, start, start + QPoint(37, 13))
    x, y = doc.graph.node("fc1").position
    assert (x % 20, y % 20) == (0, 0)
    assert (item.x(), item.y()) == (x, y)
    assert doc.undo_stack.count() == 1


def _double_click_title(qtbot, doc, node_id):
    item = doc.scene.item_for_node[node_id]
    point = doc.view.mapFromScene(item.mapToScene(QPointF(60, 12)))
    qtbot.mouseClick(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.mouseDClick(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    editor = doc.scene.title_editor
    assert editor is not None and editor.node_id == node_id
    return editor


def test_double_clicking_a_title_renames_the_node_in_place(doc, qtbot):
    doc.view.setFocus()
    editor = _double_click_title(qtbot, doc, "fc1")
    assert editor.edit.selectedText() == "fc1"
    qtbot.keyClicks(doc.view, "hidden act")  # a space here is text, not the canvas's pan key
    qtbot.keyClick(doc.view, Qt.Key.Key_Backspace)
    qtbot.keyClick(doc.view, Qt.Key.Key_Return)
    assert doc.graph.node("fc1").name == "hidden ac"
    assert doc.scene.item_for_node["fc1"].name == "hidden ac"
    qtbot.waitUntil(lambda: editor.scene() is None)
    doc.undo_stack.undo()
    assert doc.graph.node("fc1").name == "fc1"


def test_escape_cancels_an_in_place_rename_and_a_taken_name_is_refused(doc, qtbot):
    messages = []
    doc.statusMessage.connect(messages.append)
    doc.view.setFocus()
    _double_click_title(qtbot, doc, "fc1")
    qtbot.keyClicks(doc.view, "zzz")
    qtbot.keyClick(doc.view, Qt.Key.Key_Escape)
    assert doc.graph.node("fc1").name == "fc1" and doc.undo_stack.count() == 0
    _double_click_title(qtbot, doc, "fc1")
    qtbot.keyClicks(doc.view, "fc2")
    qtbot.keyClick(doc.view, Qt.Key.Key_Return)
    assert doc.graph.node("fc1").name == "fc1" and doc.undo_stack.count() == 0
    assert messages == ["Cannot rename 'fc1': another node is already called 'fc2'"]


def _send_drag(view, start: QPoint, end: QPoint, button, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    viewport = view.viewport()
    for kind, point, buttons in ((QEvent.Type.MouseButtonPress, start, button),
                                 (QEvent.Type.MouseMove, (start + end) / 2, button),
                                 (QEvent.Type.MouseMove, end, button),
                                 (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)):
        event = QMouseEvent(kind, QPointF(point), QPointF(viewport.mapToGlobal(point)),
                            Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else button, buttons, modifiers)
        QApplication.sendEvent(viewport, event)


def _selected(doc) -> set[str]:
    return {i.node_id for i in doc.scene.selectedItems() if isinstance(i, NodeItem)}


def test_rubber_band_and_ctrl_click_select_nodes(doc, qtbot):
    fc1, relu1 = (doc.scene.item_for_node[n].sceneBoundingRect() for n in ("fc1", "relu1"))
    start = doc.view.mapFromScene(fc1.topLeft() - QPointF(20, 30))
    end = doc.view.mapFromScene(relu1.bottomRight() + QPointF(20, 30))
    _send_drag(doc.view, start, end, Qt.MouseButton.LeftButton)
    assert _selected(doc) == {"fc1", "relu1"}
    fc3 = doc.view.mapFromScene(doc.scene.item_for_node["fc3"].mapToScene(60, 10))
    qtbot.mouseClick(doc.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, fc3)
    assert _selected(doc) == {"fc1", "relu1", "fc3"}
    qtbot.mouseClick(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=fc3)
    assert _selected(doc) == {"fc3"}
    assert doc.undo_stack.count() == 0  # selecting is not an edit


def test_the_wheel_zooms_toward_the_cursor(doc):
    from PySide6.QtGui import QWheelEvent

    viewport = doc.view.viewport()
    cursor = QPoint(300, 200)
    under = doc.view.mapToScene(cursor)
    for _ in range(3):
        wheel = QWheelEvent(QPointF(cursor), QPointF(viewport.mapToGlobal(cursor)), QPoint(0, 0), QPoint(0, 120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(viewport, wheel)
    assert doc.view.zoom == pytest.approx(1.0015 ** 360, rel=1e-6)
    after = doc.view.mapToScene(cursor)
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2  # the point stayed put


def test_the_middle_button_pans_and_moves_no_node(doc):
    h, v = doc.view.horizontalScrollBar().value(), doc.view.verticalScrollBar().value()
    positions = {n.id: n.position for n in doc.graph}
    start = doc.view.mapFromScene(doc.scene.item_for_node["fc1"].mapToScene(60, 10))  # on a node
    _send_drag(doc.view, start, start + QPoint(-120, -50), Qt.MouseButton.MiddleButton)
    assert (doc.view.horizontalScrollBar().value(), doc.view.verticalScrollBar().value()) == (h + 120, v + 50)
    assert {n.id: n.position for n in doc.graph} == positions and doc.undo_stack.count() == 0


def test_a_skip_connection_runs_over_its_row_not_through_the_cards(qtbot):
    document = Document(one_row("digits_residual"))
    skip = next(item for edge, item in document.scene.item_for_edge.items() if edge.dst_port == "in2")
    top = skip.path().boundingRect().top()
    passed = [document.scene.item_for_node[n].sceneBoundingRect() for n in ("block_conv1", "block_bn2")]
    assert all(top < rect.top() for rect in passed)
    assert not any(skip.shape().intersects(rect) for rect in passed)  # the stroke, not the area under it
    under = QPointF(passed[0].right() + 30, passed[0].top() + 20)  # under the arc, between two cards
    assert document.wire_at(under) is None
    assert document.wire_at(QPointF(under.x(), top)) == skip.edge
    document.close()


def test_a_long_graph_opens_readable_at_its_inputs(qtbot):
    from layerloom.nodeeditor.canvas.view import READABLE_ZOOM

    document = Document(one_row("digits_cnn"))   # one long row, as a file may have it
    view = CanvasView(document.scene)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    view.show_graph()
    assert view.zoom == pytest.approx(READABLE_ZOOM, rel=1e-3)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(document.scene.item_for_node["image"].sceneBoundingRect())
    view.zoom_to_fit()
    assert view.zoom < READABLE_ZOOM
    assert view.mapToScene(view.viewport().rect()).boundingRect().contains(document.scene.itemsBoundingRect())
    document.close()


@pytest.mark.parametrize("name", ["digits_cnn", "digits_mlp", "digits_residual", "regression_mlp", "sequence_lstm"])
def test_after_auto_layout_no_wire_crosses_a_card(qtbot, name):
    """Auto layout wraps long chains into rows; the wire from the end of one row back to the start of the
    next runs through the gap between the rows, and skip connections over their row: none crosses a card
    other than its own two."""
    from layerloom.model.layout import apply_layout, layered_layout

    document = Document(load_graph(example_path(name)))
    apply_layout(document.graph, layered_layout(document.graph))   # card by card, as Auto Layout moves them
    qtbot.wait(1)   # the wires through the gaps are placed again once the moves are done
    crossings = set()
    for edge, item in document.scene.item_for_edge.items():
        path = item.path()
        for k in range(201):
            point = path.pointAtPercent(k / 200)
            crossings |= {(edge.src, edge.dst, node_id) for node_id, card in document.scene.item_for_node.items()
                          if node_id not in (edge.src, edge.dst)
                          and card.sceneBoundingRect().adjusted(4, 4, -4, -4).contains(point)}
    assert not crossings
    document.close()
