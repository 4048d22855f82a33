"""Wires that guide: while a wire is dragged from a port (a real mouse drag on the view's viewport), the
ports that can take it are highlighted and the others dimmed, each with its reason; releasing puts every
port back. Wire colours follow the port kind, as the port dots do."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from layerloom import Edge, load_graph
from layerloom.files.resources import example_path
from layerloom.nodeeditor.canvas.items import ACCEPT, REFUSE
from layerloom.nodeeditor.canvas.view import CanvasView
from layerloom.nodeeditor.document.document import Document
from layerloom.nodeeditor.theme.style import DARK, LIGHT, port_color

pytestmark = pytest.mark.gui


@pytest.fixture
def doc(qtbot):
    document = Document(load_graph(example_path("digits_mlp")))
    view = CanvasView(document.scene)
    view.resize(1366, 700)
    qtbot.addWidget(view)
    view.show()
    view.zoom_to_fit()
    document.view = view
    yield document
    document.close()


def point_of(doc, node_id, port, direction) -> QPoint:
    item = doc.scene.item_for_node[node_id].port(port, direction)
    return doc.view.mapFromScene(item.scene_anchor())


def move(viewport, point: QPoint) -> None:
    """A mouse move with the left button held (QTest's mouseMove cannot hold a button down in Qt 6)."""
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(point), QPointF(viewport.mapToGlobal(point)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, event)


def drag_to(qtbot, doc, start: QPoint, end: QPoint, steps: int = 4) -> None:
    """Press on ``start`` and move to ``end``, the button still held."""
    viewport = doc.view.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for k in range(1, steps + 1):
        move(viewport, start + (end - start) * k / steps)


def guides(doc) -> dict[tuple[str, str, str], str | None]:
    return {(p.node_id, p.name, p.direction): p.guide for p in doc.scene.guided_ports()}


def test_dragging_from_an_output_highlights_the_inputs_that_take_it_and_dims_the_rest(doc, qtbot):
    start = point_of(doc, "fc2", "out", "out")
    drag_to(qtbot, doc, start, start + QPoint(60, 40))           # mid-drag, over empty canvas
    shown = guides(doc)
    assert shown[("fc3", "in", "in")] == ACCEPT                  # replaces relu2's wire
    assert shown[("logits", "in", "in")] == ACCEPT and shown[("loss", "target", "in")] == ACCEPT
    assert shown[("fc1", "in", "in")] == REFUSE                  # a cycle
    assert shown[("fc2", "in", "in")] == REFUSE                  # itself
    assert shown[("relu2", "in", "in")] == REFUSE                # already wired from fc2
    assert all(shown[key] == REFUSE for key in shown if key[2] == "out" and key[:2] != ("fc2", "out"))
    assert shown[("fc2", "out", "out")] is None                  # the port the wire comes from
    fc1 = doc.scene.item_for_node["fc1"].port("in", "in")
    assert fc1.opacity() < 0.5 and "cycle" in fc1.toolTip() and fc1.toolTip().startswith("fc1.in: ")
    fc3 = doc.scene.item_for_node["fc3"].port("in", "in")
    assert fc3.opacity() == 1.0 and fc3.scale() > 1.0
    assert fc3.toolTip() == "fc3.in: already wired from relu2 (dropping replaces it)"
    label = doc.scene.item_for_node["label"].port("out", "out")
    assert "another output" in label.toolTip()
    qtbot.mouseRelease(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(60, 40))


def test_over_a_port_the_note_beside_the_cursor_says_what_a_drop_does(doc, qtbot):
    hint = doc.scene.wire_hint
    start = point_of(doc, "fc2", "out", "out")
    drag_to(qtbot, doc, start, point_of(doc, "fc1", "in", "in"))
    assert hint.isVisible() and hint.scene() is doc.scene and not hint.accepts
    assert hint.text.startswith("fc1.in: the wire would make a cycle")
    move(doc.view.viewport(), point_of(doc, "fc3", "in", "in"))
    assert hint.isVisible() and hint.accepts and "dropping replaces it" in hint.text
    move(doc.view.viewport(), point_of(doc, "fc3", "in", "in") + QPoint(0, 200))   # empty canvas
    assert not hint.isVisible()
    qtbot.mouseRelease(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=point_of(doc, "fc3", "in", "in"))
    assert Edge("fc2", "out", "fc3", "in") in doc.graph.edges     # what the note promised
    assert Edge("relu2", "out", "fc3", "in") not in doc.graph.edges


def test_releasing_puts_every_port_back(doc, qtbot):
    before = {(p.node_id, p.name, p.direction): (p.opacity(), p.scale(), p.toolTip(), p.pen().color().name())
              for p in doc.scene.guided_ports()}
    start = point_of(doc, "fc1", "in", "in")                    # from an input this time
    end = point_of(doc, "fc3", "out", "out")                    # fc1 feeds fc3: refused, nothing changes
    drag_to(qtbot, doc, start, end)
    shown = guides(doc)
    assert shown[("image", "out", "out")] == REFUSE             # already connected
    assert shown[("fc3", "out", "out")] == REFUSE and shown[("relu2", "out", "out")] == REFUSE   # cycles
    assert shown[("label", "out", "out")] == REFUSE             # a target
    assert shown[("loss", "pred", "in")] == REFUSE              # an input cannot take an input's wire
    edges = set(doc.graph.edges)
    qtbot.mouseRelease(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=end)
    assert set(doc.graph.edges) == edges
    assert set(guides(doc).values()) == {None}
    after = {(p.node_id, p.name, p.direction): (p.opacity(), p.scale(), p.toolTip(), p.pen().color().name())
             for p in doc.scene.guided_ports()}
    assert after == before
    assert doc.scene.wire_hint.scene() is None                  # the note left with the wire


def test_a_drag_from_an_input_accepts_the_outputs_that_fit(doc, qtbot):
    relu = doc.add_node("ReLU", (0.0, 400.0))
    start = point_of(doc, relu, "in", "in")
    drag_to(qtbot, doc, start, start + QPoint(-50, 30))
    shown = guides(doc)
    assert shown[("image", "out", "out")] == ACCEPT and shown[("fc3", "out", "out")] == ACCEPT
    assert shown[("loss", "loss", "out")] == REFUSE and shown[("label", "out", "out")] == REFUSE
    assert doc.scene.item_for_node["fc3"].port("out", "out").toolTip() == "fc3.out: drop to connect"
    qtbot.mouseRelease(doc.view.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(-50, 30))
    assert set(guides(doc).values()) == {None}


@pytest.mark.parametrize("theme", [DARK, LIGHT], ids=["dark", "light"])
def test_wires_take_the_colour_of_their_ports_kind_in_both_themes(doc, theme):
    doc.scene.set_theme(theme)
    for edge, item in doc.scene.item_for_edge.items():
        dot = doc.scene.item_for_node[edge.src].port(edge.src_port, "out").brush().color()
        assert item.pen().color() == dot == port_color(item.source.kind, theme)
    label = doc.scene.item_for_edge[Edge("label", "out", "loss", "target")].pen().color()
    tensor = doc.scene.item_for_edge[Edge("fc1", "out", "relu1", "in")].pen().color()
    assert label != tensor                                      # a target wire is not a tensor wire


def test_near_the_right_edge_the_note_turns_to_the_left_of_the_cursor(doc, qtbot):
    view, hint = doc.view, doc.scene.wire_hint
    target = doc.scene.item_for_node["loss"].port("target", "in").scene_anchor()
    view.centerOn(target - QPointF((view.viewport().width() / 2 - 120) / view.transform().m11(), 0))
    start, end = point_of(doc, "fc2", "out", "out"), point_of(doc, "loss", "target", "in")
    assert view.viewport().width() - 130 < end.x() < view.viewport().width()    # 120 px from the right edge
    drag_to(qtbot, doc, start, end)
    assert hint.isVisible() and hint.left
    shown = view.mapFromScene(hint.mapToScene(hint.boundingRect()).boundingRect()).boundingRect()
    assert view.viewport().rect().contains(shown)               # the whole note is on screen
    move(view.viewport(), point_of(doc, "fc1", "in", "in"))     # further left: room on the right again
    assert hint.isVisible() and not hint.left
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=point_of(doc, "fc1", "in", "in"))
