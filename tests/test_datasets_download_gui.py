"""Preview and Train on a built-in dataset that is not on disk: the window asks, downloads from a loopback
server with a cancellable progress dialog off the GUI thread, then goes on; No and Cancel change nothing."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton
from test_datasets_download import Server, patch_registry, tiny_mnist

from layerloom.data.downloads import DATA_DIR_ENV, dataset_folder, on_disk

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def files():
    return tiny_mnist(train=200, test=10)


@pytest.fixture
def server(files):
    served = Server(files)
    yield served
    served.close()


@pytest.fixture
def window(editor_window, server, files, tmp_path, monkeypatch):
    from layerloom.nodeeditor.panels.workspaces import TRAIN

    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    patch_registry(monkeypatch, "mnist", files, server.url)
    editor_window.open_example("mnist_mlp")
    editor_window.workspaces.switch(TRAIN)
    return editor_window


def _answer(qtbot, gate, button) -> None:
    qtbot.waitUntil(lambda: gate.question is not None and gate.question.isVisible())
    qtbot.mouseClick(gate.question.button(button), Qt.MouseButton.LeftButton)


def test_preview_asks_then_downloads_with_progress_and_shows_the_set(window, qtbot, server):
    dashboard = window.dashboard
    panel, gate = dashboard.panel, dashboard.dataset_gate()
    preview = next(b for b in panel.findChildren(QPushButton) if b.text() == "Preview")
    qtbot.mouseClick(preview, Qt.MouseButton.LeftButton)
    text = gate.question.text()
    assert text.startswith("Download MNIST handwritten digits (") and "from 127.0.0.1" in text
    assert str(dataset_folder("mnist")) in text
    _answer(qtbot, gate, QMessageBox.StandardButton.No)            # No: nothing fetched, said in the preview
    assert server.seen == [] and "was not downloaded" in panel.preview.text()
    qtbot.mouseClick(preview, Qt.MouseButton.LeftButton)
    _answer(qtbot, gate, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: "mnist: classification" in panel.preview.text() or "✖" in panel.preview.text(),
                    timeout=20_000)
    assert "180 train" in panel.preview.text() and "10 test" in panel.preview.text()   # its own test split
    assert on_disk("mnist") and len(server.seen) == 4
    assert "on disk" in window.statusBar().currentMessage()
    assert window.document.undo_stack.isClean()                   # the graph was not touched


def test_train_asks_and_cancel_stops_the_download_and_starts_nothing(window, qtbot, server):
    dashboard = window.dashboard
    gate = dashboard.dataset_gate()
    server.pace = (2048, 0.01)     # a slow server: the dialog is on screen long enough to press Cancel
    qtbot.mouseClick(dashboard.header.start_button, Qt.MouseButton.LeftButton)
    _answer(qtbot, gate, QMessageBox.StandardButton.Yes)
    dialog = gate.dialog
    qtbot.waitUntil(lambda: dialog.bar.value() > 0, timeout=20_000)
    assert dialog.isVisible() and "of" in dialog.bar.format()      # "40 KB of 157 KB"
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert gate.dialog is None and dashboard.session is None and not dashboard.running
    assert "cancelled" in dashboard.status.text()
    qtbot.waitUntil(lambda: not gate.busy, timeout=10_000)        # the thread stops at its next piece
    assert list(dataset_folder("mnist").glob("*.part")) and not on_disk("mnist")
    assert window.document.undo_stack.isClean()


def test_offline_train_says_where_to_put_the_files_and_starts_nothing(window, qtbot, files, monkeypatch):
    from test_datasets_download import dead_url

    url = dead_url()
    patch_registry(monkeypatch, "mnist", files, url)
    dashboard = window.dashboard
    gate = dashboard.dataset_gate()
    qtbot.mouseClick(dashboard.header.start_button, Qt.MouseButton.LeftButton)
    _answer(qtbot, gate, QMessageBox.StandardButton.Yes)
    qtbot.waitUntil(lambda: gate.message is not None and gate.message.isVisible(), timeout=20_000)
    text = gate.message.text()
    assert "refused" in text and url + "train-images-idx3-ubyte.gz" in text and str(dataset_folder("mnist")) in text
    assert "Cannot download" in dashboard.status.text() and dashboard.session is None
    qtbot.mouseClick(gate.message.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    assert gate.message is None and window.document.undo_stack.isClean()
