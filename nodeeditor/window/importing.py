"""File > Import ONNX... and File > Import PyTorch Model...: a model made elsewhere opened as a graph.

The import runs off the GUI thread (``adapters.background.run_in_background``; a PyTorch file runs in its own
child process besides). When it is done the window asks where to save the graph (its weights go beside it),
opens it, and shows the import report: per source operator, what it became. An import that fails says so
in a message naming the file and, for an operator LayerLoom cannot run, the operator.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QVBoxLayout)

from layerloom.files.graphfile import SUFFIX

from layerloom.nodeeditor.adapters.background import run_in_background


class ReportDialog(QDialog):
    """The import report: a sentence on what was opened, then one line per source operator type."""

    def __init__(self, parent, title: str, summary: str, lines: list[str]):
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.text = QPlainTextEdit("\n".join(lines))
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font: QFont = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.text.setFont(font)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)
        self.resize(640, 420)


class TorchModelDialog(QDialog):
    """Which class of a Python file to import, and one sample's input shape."""

    def __init__(self, parent, path: Path):
        super().__init__(parent)
        self.setWindowTitle(f"Import {path.name}")
        form = QFormLayout(self)
        self.class_name = QComboBox()      # the file's model classes (read without running it), or typed
        self.class_name.setEditable(True)
        self.class_name.addItems(_model_classes(path))
        self.class_name.lineEdit().setPlaceholderText("e.g. Net")
        self.input_shape = QLineEdit()
        self.input_shape.setPlaceholderText("one sample, e.g. 1, 28, 28")
        form.addRow("Model class", self.class_name)
        form.addRow("Input shape", self.input_shape)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)


def _model_classes(path: Path) -> list[str]:
    """The model classes ``path`` defines, in file order (``importers.torch_file.model_classes``: the file is
    parsed, never run, and torch is not imported); none when it cannot be parsed (the import says why)."""
    from layerloom.core.errors import LayerLoomError
    from layerloom.importers.torch_file import model_classes

    try:
        return model_classes(path)
    except LayerLoomError:
        return []


def _import_onnx(path: Path):
    from layerloom.importers.onnx_import import import_onnx

    return import_onnx(path)


class ImportingMixin:
    """The window's Import entries (``MENUS``: ``ask_import_onnx``, ``ask_import_torch``)."""

    import_task = None     # the import running in the background, if any
    import_report = None   # the last import's report dialog

    def ask_import_onnx(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import ONNX model", str(self._import_folder()),
                                              "ONNX models (*.onnx);;All files (*)")
        if path:
            self.import_model(Path(path), lambda: _import_onnx(Path(path)))

    def ask_import_torch(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import PyTorch model", str(self._import_folder()),
                                              "Python files (*.py)")
        if not path:
            return
        dialog = TorchModelDialog(self, Path(path))
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        class_name, shape = dialog.class_name.currentText().strip(), dialog.input_shape.text().strip()

        def run():
            from layerloom.importers.torch_file import import_python_file

            return import_python_file(Path(path), class_name, shape)

        self.import_model(Path(path), run)

    def _import_folder(self) -> Path:
        document = getattr(self, "document", None)
        return document.path.parent if document is not None and document.path else Path.home()

    def import_model(self, source: Path, run) -> None:
        """Run ``run()`` (an import returning an ``ImportResult``) in the background, then save, open and report."""
        self.statusBar().showMessage(f"Importing {source.name}…")
        self.import_task = run_in_background(run, lambda result: self._imported(source, result),
                                             lambda exc: self._import_failed(source, exc), name="import")

    def _imported(self, source: Path, result) -> None:
        self.import_task = None
        self.statusBar().clearMessage()
        stem = source.name[:-len(source.suffix)] if source.suffix else source.name
        target, _ = QFileDialog.getSaveFileName(self, "Save the imported graph", str(source.with_name(stem + SUFFIX)),
                                                f"LayerLoom graphs (*{SUFFIX})")
        if not target:
            self.statusBar().showMessage(f"{source.name}: imported, not saved", 8000)
            return
        if not target.endswith(".json"):
            target += SUFFIX
        from layerloom.core.errors import LayerLoomError

        try:
            graph_path, weights_path = result.save(target)
        except (OSError, LayerLoomError) as exc:
            self.warn("Cannot save the imported graph", f"{target}: {getattr(exc, 'strerror', None) or exc}")
            return
        if not self.open_path(graph_path):
            return
        nodes = len(result.graph)
        summary = (f"{source.name} opened as {graph_path.name}: {nodes:,} nodes"
                   + (f", its weights in {weights_path.name} (training and export start from them)."
                      if result.weights else "."))
        self.import_report = ReportDialog(self, "Import report", summary, result.report.lines())
        self.import_report.open()

    def _import_failed(self, source: Path, exc: BaseException) -> None:
        from layerloom.core.errors import LayerLoomError

        self.import_task = None
        self.statusBar().clearMessage()
        if isinstance(exc, LayerLoomError):
            message = str(exc)
            report = getattr(exc, "report", None)
            if report is not None and not report.ok:
                message += "\n\n" + "\n".join(line for line in report.lines() if "not mapped" in line)
        else:
            message = (f"{source.name}: LayerLoom could not import this model because of an error of its own "
                       f"({type(exc).__name__}: {exc}). Please report it with the file.")
        self.warn("Cannot import", message)
