"""File > Import ONNX... in the editor: the import runs in the background, the window asks where to save,
opens the graph at a readable zoom and shows the report; a model that cannot be opened is named in a
message with the operator at fault."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

pytestmark = pytest.mark.gui


def _onnx_file(path, op="Relu"):
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((4, 6)).astype(np.float32), "fc.weight")
    bias = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "fc.bias")
    nodes = [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"], transB=1),
             helper.make_node(op, ["h"], ["y"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])], [weight, bias])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_import_onnx_saves_opens_and_reports(editor_window, qtbot, tmp_path, monkeypatch):
    window = editor_window
    source = _onnx_file(tmp_path / "tiny.onnx")
    target = tmp_path / "saved" / "tiny"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(source), ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.import_report is not None and window.import_report.isVisible(), timeout=20000)
    saved = tmp_path / "saved" / "tiny.llgraph.json"
    assert window.document.path == saved and (tmp_path / "saved" / "tiny.weights.pt").exists()
    assert sorted(n.type_id for n in window.document.graph) == ["Input", "Linear", "Output", "ReLU"]
    assert window.document.graph.training["weights"] == "tiny.weights.pt"
    text = window.import_report.text.toPlainText()
    assert "Gemm" in text and "-> Linear" in text and "Relu" in text
    assert "tiny.onnx opened as tiny.llgraph.json: 4 nodes" in window.import_report.summary.text()
    qtbot.keyClick(window.import_report, Qt.Key.Key_Return)
    assert not window.import_report.isVisible()


def test_an_operator_that_cannot_run_is_named_in_a_message(editor_window, qtbot, tmp_path, monkeypatch):
    window = editor_window
    source = _onnx_file(tmp_path / "odd.onnx", op="Det")
    shown = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(source), ""))
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: shown.append((title, text)))
    before = window.document
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: bool(shown), timeout=20000)
    title, text = shown[0]
    assert title == "Cannot import" and "odd.onnx" in text and "Det" in text
    assert window.document is before
