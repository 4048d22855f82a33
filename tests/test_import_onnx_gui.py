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

from layerloom.nodeeditor.document.commands import SetMetaCommand

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
    pill = window.dashboard.header.pill
    assert pill.text().strip() == "Pretrained" and "tiny.weights.pt" in pill.toolTip()   # not "Not trained"
    # the setting cleared in the Training tab (one undo step): the pill follows it, and its undo
    training = {k: v for k, v in window.document.graph.training.items() if k != "weights"}
    window.document.undo_stack.push(SetMetaCommand(window.document.graph, "training", training, "clear weights"))
    assert pill.text().strip() != "Pretrained" and not pill.toolTip()
    window.document.undo_stack.undo()
    assert pill.text().strip() == "Pretrained" and "tiny.weights.pt" in pill.toolTip()
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


def test_import_pytorch_model_offers_the_files_classes_and_opens_the_graph(editor_window, qtbot, tmp_path,
                                                                        monkeypatch):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from layerloom.nodeeditor.window.importing import TorchModelDialog

    window = editor_window
    source = tmp_path / "nets.py"
    source.write_text("import torch.nn as nn\n\n\nclass Helper:\n    pass\n\n\n"
                      "class Small(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.fc = nn.Linear(6, 3)\n\n    def forward(self, x):\n"
                      "        return self.fc(x).relu()\n\n\n"
                      "class Other(nn.Module):\n    def forward(self, x):\n        return x\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(source), ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "small"), ""))
    offered = []

    def fill() -> None:   # the modal dialog: the file's model classes are offered, the first chosen
        dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, TorchModelDialog) and w.isVisible())
        offered.extend(dialog.class_name.itemText(i) for i in range(dialog.class_name.count()))
        qtbot.keyClicks(dialog.input_shape, "6")
        qtbot.keyClick(dialog.input_shape, Qt.Key.Key_Return)

    QTimer.singleShot(200, fill)
    window.ask_import_torch()
    assert offered == ["Small", "Other"]
    qtbot.waitUntil(lambda: window.import_report is not None and window.import_report.isVisible(), timeout=60000)
    assert window.document.path == tmp_path / "small.llgraph.json"
    assert "Linear" in {n.type_id for n in window.document.graph}
    assert window.document.graph.training["weights"] == "small.weights.pt"
    window.import_report.close()
