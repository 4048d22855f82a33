"""One parameter total everywhere: the status bar shows ``Analysis.total_params`` (the sum of the node
cards' counts, "at least" while some are unknown), the cards and the inspector the same per-node counts."""

from __future__ import annotations

import pytest
from gui_helpers import press_drag_release
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFormLayout, QLabel

pytestmark = pytest.mark.gui


def _port(window, node_id: str, port: str, direction: str) -> QPoint:
    item = window.document.scene.item_for_node[node_id].port(port, direction)
    return window.view.mapFromScene(item.scene_anchor())


def _inspector_parameters(window) -> str:
    for forms in window.inspector.findChildren(QFormLayout):
        for row in range(forms.rowCount()):
            label = forms.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if label is not None and isinstance(label.widget(), QLabel) and label.widget().text() == "parameters":
                return forms.itemAt(row, QFormLayout.ItemRole.FieldRole).widget().text()
    raise AssertionError("no parameters row in the inspector")


def test_status_bar_cards_and_inspector_show_the_same_counts(editor_window, qtbot):
    window = editor_window
    window.new_document()
    document = window.document
    assert len(document.graph) == 0
    source = document.add_node("Input", (0.0, 0.0))
    qtbot.waitUntil(lambda: window.totals.text() == "1 node  |  0 parameters")
    linear = document.add_node("Linear", (320.0, 0.0))
    assert linear == "linear_1"
    window.view.centerOn(160.0, 40.0)
    qtbot.waitUntil(lambda: window.totals.text() == "2 nodes  |  parameters not counted yet")
    press_drag_release(qtbot, window.view, _port(window, source, "out", "out"), _port(window, linear, "in", "in"))
    # no Output yet, so nothing would train; still the total is what the cards say, not 0
    qtbot.waitUntil(lambda: window.totals.text() == "2 nodes  |  4,160 parameters")
    card = document.scene.item_for_node[linear]
    assert "4,160 params" in card.footer
    assert "lead to no Output" in window.totals.toolTip()
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.view.mapFromScene(card.sceneBoundingRect().center()))
    qtbot.waitUntil(lambda: _inspector_parameters(window) == "4,160")

    relu = document.add_node("ReLU", (320.0, 300.0))  # not wired: its count is unknown
    qtbot.waitUntil(lambda: window.totals.text() == "3 nodes  |  at least 4,160 parameters")
    assert "1 node not counted yet: wire its inputs" in window.totals.toolTip()
    assert "params" not in document.scene.item_for_node[relu].footer
    assert window.totals.text().endswith(f"{document.bridge.analysis.params_text()} parameters")
