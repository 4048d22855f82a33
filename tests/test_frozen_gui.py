"""Freezing in the window, with real mouse and key events: the cards' right-click menu freezes the selection
in one undo step, the inspector's Trainable box freezes one node, Ctrl+Z undoes, frozen cards look frozen
and the totals say how much is frozen. The training panel's weights field, its fit report and the Runs
dock's "Fine-tune from this run" (one undo step, relative to the saved graph)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from helpers import mlp_graph
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication, QLabel

from layerloom import compile_graph, save_graph
from layerloom.nodeeditor.canvas.items import FROZEN_MARK
from layerloom.training.start_weights import save_weights_file

pytestmark = pytest.mark.gui


@pytest.fixture
def window(editor_window, qtbot, tmp_path):
    w = editor_window
    w.resize(1366, 768)
    path = tmp_path / "mlp.llgraph.json"
    save_graph(mlp_graph(hidden=8, classes=3, features=4), path)
    assert w.open_path(path)
    qtbot.waitExposed(w)
    return w


def _card_point(window, node_id: str) -> QPoint:
    window.view.centerOn(window.document.scene.item_for_node[node_id])
    card = window.document.scene.item_for_node[node_id]
    return window.view.mapFromScene(card.sceneBoundingRect().center())


def _right_click(window, qtbot, node_id: str):
    """Right-click a card: the press selects it, the context-menu event opens the menu there."""
    viewport, pos = window.view.viewport(), _card_point(window, node_id)
    qtbot.mouseClick(viewport, Qt.MouseButton.RightButton, pos=pos)
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, viewport.mapToGlobal(pos)))
    menu = window.card_menu.menu
    qtbot.waitExposed(menu)
    return menu


def _choose(qtbot, menu, text: str) -> None:
    action = next(a for a in menu.actions() if a.text() == text)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def test_the_card_menu_freezes_the_selection_in_one_undo_step(window, qtbot):
    graph, scene = window.document.graph, window.document.scene
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=_card_point(window, "fc1"))
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=_card_point(window, "fc2"))
    assert {i.node_id for i in scene.selectedItems()} == {"fc1", "fc2"}
    menu = _right_click(window, qtbot, "fc2")
    entries = [(a.text().replace("&", ""), a.isEnabled()) for a in menu.actions() if not a.isSeparator()]
    assert entries[:2] == [("Freeze", True), ("Unfreeze", False)]
    assert [text for text, _ in entries[2:6]] == ["Rename Node", "Duplicate", "Copy", "Cut"]  # the window's own
    _choose(qtbot, menu, "Freeze")
    assert not graph.node("fc1").trainable and not graph.node("fc2").trainable
    assert window.document.undo_stack.undoText() == "Freeze 2 nodes"
    card = scene.item_for_node["fc1"]
    assert card.frozen and FROZEN_MARK in card.toolTip() and card.footer.endswith("40 frozen")
    qtbot.waitUntil(lambda: "67 parameters, 67 frozen" in window.totals.text())
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)   # shortcuts go to the active window
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert graph.node("fc1").trainable and graph.node("fc2").trainable and not card.frozen
    menu = _right_click(window, qtbot, "relu1")   # no weights: nothing to freeze, the entries greyed
    assert [a.isEnabled() for a in menu.actions()][:2] == [False, False]
    assert [i.node_id for i in scene.selectedItems()] == ["relu1"]
    menu.close()


def test_the_card_menu_also_deletes_the_card_it_was_opened_on(window, qtbot):
    graph = window.document.graph
    menu = _right_click(window, qtbot, "relu1")
    delete = next(a for a in menu.actions() if a.text().replace("&", "") == "Delete")
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(delete).center())
    assert "relu1" not in graph.nodes
    window.document.undo_stack.undo()
    assert "relu1" in graph.nodes


def test_the_inspectors_trainable_box_freezes_the_node(window, qtbot):
    graph = window.document.graph
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=_card_point(window, "fc1"))
    inspector = window.inspector
    qtbot.waitUntil(lambda: inspector.node_id == "fc1" and "trainable" in inspector.editors)
    box = inspector.editors["trainable"]
    box.parentWidget().window().activateWindow()
    box.setFocus()
    assert box.isChecked()
    qtbot.keyClick(box, Qt.Key.Key_Space)   # toggles the focused box, as a click does
    assert not graph.node("fc1").trainable and window.document.undo_stack.undoText() == "Freeze fc1"
    assert "40 (frozen)" in [label.text() for label in inspector.findChildren(QLabel)]
    window.document.undo_stack.undo()
    assert graph.node("fc1").trainable and box.isChecked()
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=_card_point(window, "relu1"))
    qtbot.waitUntil(lambda: inspector.node_id == "relu1")
    assert "trainable" not in inspector.editors   # no weights, no switch


def test_fine_tune_from_a_run_sets_the_weights_relative_to_the_graph_and_reports_the_fit(window, qtbot, tmp_path):
    run = tmp_path / "runs" / "mlp-20261206-070000"
    (run / "checkpoints").mkdir(parents=True)
    edited = mlp_graph(hidden=8, classes=5, features=4)   # another head: fc2 will not fit
    save_weights_file(run / "checkpoints" / "best.pt", compile_graph(edited, seed=0).model.state_dict())
    panel = window.dashboard.panel
    stack = window.document.undo_stack
    window.dashboard.runs_panel.fine_tune(SimpleNamespace(checkpoint=run / "checkpoints" / "best.pt"))
    assert window.document.graph.training["weights"] == "runs/mlp-20261206-070000/checkpoints/best.pt"
    assert stack.undoText() == "Fine-tune from mlp-20261206-070000"
    assert "The next run starts from mlp-20261206-070000's weights" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: "2 of 4 tensors loaded" in panel.fit_text.text().replace("\u200b", ""), timeout=10000)
    assert "fc2.weight [5, 8] in the file, [3, 8] here" in panel.fit_text.text().replace("\u200b", "")
    assert panel.editors["weights"].text() == "runs/mlp-20261206-070000/checkpoints/best.pt"
    stack.undo()
    assert "weights" not in window.document.graph.training and not panel.fit_text.isVisible()


def test_the_menu_key_opens_the_card_menu_and_browse_sets_a_relative_weights_path(window, qtbot, tmp_path,
                                                                                   monkeypatch):
    from layerloom.nodeeditor.panels import start_weights_form

    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=_card_point(window, "fc1"))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.view.setFocus()
    # the Menu key: the platform sends the focused widget a keyboard context-menu event (QTest cannot)
    QApplication.sendEvent(window.view, QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, QPoint(0, 0),
                                                          window.view.mapToGlobal(QPoint(0, 0))))
    menu = window.card_menu.menu
    assert menu is not None and [(a.text(), a.isEnabled()) for a in menu.actions()][:2] == [("Freeze", True),
                                                                                          ("Unfreeze", False)]
    menu.close()
    chosen = tmp_path / "weights" / "start.weights.pt"
    monkeypatch.setattr(start_weights_form.QFileDialog, "getOpenFileName", lambda *a, **k: (str(chosen), ""))
    panel = window.dashboard.panel
    button = panel.editors["weights.browse"]
    window.workspaces.switch("train")
    qtbot.waitExposed(button)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.document.graph.training["weights"] == "weights/start.weights.pt"
    qtbot.waitUntil(lambda: "no such file" in panel.fit_text.text(), timeout=10000)
