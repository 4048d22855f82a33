"""The training panel's Preview matches a multi-input dataset to the graph's Inputs, as training does: an
NPZ whose arrays are named after the Input nodes previews, where it used to fail asking for ``x``."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from test_multi_input import arrays, two_input_graph

from layerloom import save_graph

pytestmark = pytest.mark.gui


def test_preview_of_arrays_named_after_the_inputs(editor_window, qtbot, tmp_path):
    from layerloom.nodeeditor.panels.workspaces import TRAIN

    np.savez(tmp_path / "two.npz", **{k: v for k, v in arrays().items() if k != "level"})
    graph = two_input_graph()
    graph.training = {"dataset": {"path": "two.npz"}}
    save_graph(graph, tmp_path / "two.llgraph.json")
    window = editor_window
    window.open_path(str(tmp_path / "two.llgraph.json"))
    window.workspaces.switch(TRAIN)
    panel = window.dashboard.panel
    preview = next(b for b in panel.findChildren(QPushButton) if b.text() == "Preview")
    qtbot.mouseClick(preview, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "classification" in panel.preview.text() or "✖" in panel.preview.text(),
                    timeout=20_000)
    text = panel.preview.text()
    assert "✖" not in text and "3 classes" in text, text


def test_the_column_groups_field_shows_the_groups_as_typed_and_reads_them_back(editor_window, qtbot, tmp_path):
    from layerloom.nodeeditor.panels.workspaces import TRAIN

    graph = two_input_graph()
    graph.training = {"dataset": {"path": "two.csv", "inputs": {"signal": "0:4", "meta": ["a", "b"]}}}
    save_graph(graph, tmp_path / "two.llgraph.json")
    window = editor_window
    window.open_path(str(tmp_path / "two.llgraph.json"))
    window.workspaces.switch(TRAIN)
    editor = window.dashboard.panel.editors["dataset.inputs"]
    assert editor.text() == "signal = 0:4; meta = a, b"        # not a Python dict
    editor.selectAll()
    qtbot.keyClicks(editor, "signal = 0:4; meta = a, c")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert window.document.graph.training["dataset"]["inputs"] == {"signal": "0:4", "meta": ["a", "c"]}
