"""Nothing overlaps, through the real editor (pytest-qt): a palette drop onto a node, a drop onto a wire,
Ctrl+C / Ctrl+V, quick add, group and ungroup each push the cards they land on aside (or land clear), as
ONE undo step that gives back the file byte for byte; the runtime's card sizes are the canvas's."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from layerloom import dumps_graph
from layerloom.edits.spacing import card_size, intersects, overlapping_pairs

EXAMPLES = ["digits_cnn", "digits_mlp", "digits_residual", "regression_mlp", "sequence_lstm"]


@pytest.fixture(scope="module")
def shared_window(qapp, tmp_path_factory):
    """One editor window for the tests that each open an example afresh (a new document and undo
    history, so none sees another's edits): making a window costs 0.3-1 s here, per test."""
    from layerloom.nodeeditor.window.main_window import EditorWindow, private_settings

    window = EditorWindow(private_settings(tmp_path_factory.mktemp("spacing")))
    window.resize(1300, 800)
    window.show()
    yield window
    window.document.undo_stack.setClean()
    window.close()
    window.deleteLater()


@pytest.fixture
def window(shared_window):
    yield shared_window
    shared_window.document.undo_stack.setClean()   # the next test's open_example asks nothing


def card_overlaps(document) -> list[tuple[str, str]]:
    """The pairs of cards on the canvas (the items' own geometry) that intersect."""
    items = document.scene.item_for_node
    rects = {nid: (item.pos().x(), item.pos().y(), *card_size(document.graph, nid)) for nid, item in items.items()}
    ids = sorted(rects)
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if intersects(rects[a], rects[b])]


def drop(window, qtbot, type_id: str, scene_pos: QPointF) -> None:
    """A palette drag released over the canvas at ``scene_pos`` (a real drop event on the viewport)."""
    from layerloom.nodeeditor.canvas.view import NODE_MIME

    view = window.view
    data = QMimeData()
    data.setData(NODE_MIME, type_id.encode())
    point = QPointF(view.mapFromScene(scene_pos))
    for cls in (QDragEnterEvent, QDragMoveEvent):
        QApplication.sendEvent(view.viewport(), cls(point.toPoint(), Qt.DropAction.CopyAction, data,
                                                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    event = QDropEvent(point, Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)
    qtbot.wait(1)


def one_step(window, gesture) -> str:
    """Run ``gesture``; check it made exactly one undo step and undoing it gives the file back."""
    document = window.document
    stack, before = document.undo_stack, dumps_graph(document.graph)
    count = stack.index()
    gesture()
    assert stack.count() == stack.index() == count + 1
    assert overlapping_pairs(document.graph) == [] and card_overlaps(document) == []
    after = dumps_graph(document.graph)
    stack.undo()
    assert dumps_graph(document.graph) == before
    stack.redo()
    assert dumps_graph(document.graph) == after
    return after


def test_the_runtime_card_sizes_are_the_canvas_cards(window):
    from layerloom.nodeeditor.theme.style import FOOTER, HEADER, NODE_WIDTH, ROW

    for name in EXAMPLES:
        window.open_example(name)
        document = window.document
        for nid, item in document.scene.item_for_node.items():
            rows = max(len(item.inputs), len(item.outputs), 1)
            assert card_size(document.graph, nid) == (NODE_WIDTH, HEADER + ROW * rows + FOOTER), nid


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_palette_drop_onto_a_node_pushes_its_neighbours_aside_in_one_step(window, qtbot, name):
    window.open_example(name)
    graph = window.document.graph
    target = next(n for n in graph if n.type_id == "Target") if any(n.type_id == "Target" for n in graph) \
        else next(iter(graph))
    x, y = target.position
    spot = QPointF(x + 10, y + 10)   # onto the card (the Formula that landed on the Target)
    window.view.centerOn(spot)

    selected = []

    def gesture():
        drop(window, qtbot, "Formula", spot)
        selected.extend(window.selected_node_ids())

    one_step(window, gesture)
    new = [n for n in graph if n.type_id == "Formula"][-1]
    assert new.position == pytest.approx((x + 10, y + 10), abs=1.0)   # it stays where it was dropped
    assert selected == [new.id]     # the dropped node is the one selected: the inspector shows it


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_drop_onto_a_wire_goes_into_it_and_pushes_the_next_node_aside(window, qtbot, name):
    from layerloom.nodeeditor.canvas.items import EdgeItem

    window.open_example(name)
    document = window.document
    graph = document.graph
    inserted = 0
    for edge in list(graph.edges):
        item = next(i for i in document.scene.items() if isinstance(i, EdgeItem) and i.edge == edge)
        middle = item.mapToScene(item.path().pointAtPercent(0.5))
        if document.wire_at(middle) != edge:
            continue
        window.view.centerOn(middle)
        before = set(graph.nodes)
        one_step(window, lambda: drop(window, qtbot, "Dropout", middle))
        (new,) = set(graph.nodes) - before
        if edge not in graph.edges:   # it went into the wire: src -> dropout -> dst
            assert any(e.src == edge.src and e.dst == new for e in graph.edges)
            assert any(e.src == new and e.dst == edge.dst for e in graph.edges)
            inserted += 1
        document.undo_stack.undo()
    assert inserted


@pytest.mark.parametrize("name", EXAMPLES)
def test_ctrl_c_ctrl_v_lands_clear_of_everything_in_one_step(window, qtbot, name):
    window.open_example(name)
    document = window.document
    for item in list(document.scene.item_for_node.values())[:3]:
        item.setSelected(True)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)

    def gesture():
        qtbot.keyClick(window.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)

    count = len(document.graph)
    one_step(window, gesture)
    assert len(document.graph) == count + 3


def test_quick_add_group_and_ungroup_keep_the_canvas_tidy_in_one_step_each(editor_window, qtbot):
    window = editor_window                      # a window of its own: the quick-add state stays here
    window.open_example("digits_cnn")
    document = window.document
    graph = document.graph
    conv = next(n for n in graph if n.type_id == "Conv2d")
    window._quick_at, window._quick_wire = QPointF(*conv.position) + QPointF(30, 0), None
    one_step(window, lambda: window._quick_add_chosen("Conv2d"))
    order, _ = graph.topological_order()
    middle = [nid for nid in order if graph.incoming(nid) and graph.outgoing(nid)][1:4]
    instance = []
    one_step(window, lambda: instance.append(document.group(middle, "Stretch")))
    inside = graph.blocks["Stretch"].graph
    assert overlapping_pairs(inside, 19.9) == []   # Inputs and Outputs clear of the nodes inside
    one_step(window, lambda: document.ungroup(instance[0]))


def test_a_block_inside_piled_at_the_origin_is_laid_out_when_opened_as_one_step(editor_window, qtbot):
    window = editor_window                      # a window of its own: it leaves a block scope open
    window.open_example("digits_cnn")
    document = window.document
    graph = document.graph
    order, _ = graph.topological_order()
    middle = [nid for nid in order if graph.incoming(nid) and graph.outgoing(nid)][1:4]
    instance = document.group(middle, "Pile")
    for node in graph.blocks["Pile"].graph:
        graph.blocks["Pile"].graph.move_node(node.id, 0.0, 0.0)
    count = document.undo_stack.count()
    inside = window.scopes.open_instance(instance)
    assert document.undo_stack.count() == count + 1
    assert overlapping_pairs(inside.graph) == [] and card_overlaps(inside) == []
