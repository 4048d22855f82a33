"""Help, driven like a user: the shortcuts dialog lists what the real menus bind (filterable, and the
same rows as Markdown for the docs), and a node's documentation opens from the inspector's "?"."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from layerloom.catalog.spec import NodeSpec, default_catalog

pytestmark = pytest.mark.gui


@pytest.fixture
def window(editor_window):
    return editor_window


def test_the_shortcuts_dialog_lists_the_menus_shortcuts_and_filters_them(window, qtbot):
    from layerloom.nodeeditor.panels.help import show_shortcuts

    dialog = show_shortcuts(window)
    assert dialog.windowTitle() == "Keyboard Shortcuts" and dialog.isVisible()
    rows = dialog.visible_rows()
    assert ("Blocks", "Ctrl+G", "Group into Block") in rows
    assert ("File", "Ctrl+S", "Save") in rows
    assert ("Run", "F5", "Train") in rows
    assert any(group == "Canvas" and "Tab" in keys for group, keys, _ in rows)
    assert ("Help", "F1", "Node Documentation") in rows
    qtbot.keyClicks(dialog.search, "block")
    shown = dialog.visible_rows()
    assert ("Blocks", "Ctrl+G", "Group into Block") in shown and ("File", "Ctrl+S", "Save") not in shown
    assert show_shortcuts(window) is dialog  # brought back, not a second one
    qtbot.keyClick(dialog.search, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_the_shortcuts_as_markdown(window):
    from layerloom.nodeeditor.panels.help import shortcuts_markdown

    text = shortcuts_markdown(window)
    assert text.startswith("| Keys | Action |\n|---|---|\n| **File** | |")
    assert "| Ctrl+Z | Undo |" in text and "| Ctrl+Shift+G | Ungroup |" in text


def test_a_node_types_documentation_comes_from_its_spec():
    from layerloom.nodeeditor.panels.help import node_help_html

    text = node_help_html(default_catalog()["Conv2d"])
    assert "<h2>Conv2d</h2>" in text and "2-D convolution" in text
    assert "<code>out_channels</code></td><td>int from 1 to 65,536</td><td><code>16</code></td>" \
           "<td>Number of filters (output channels)</td>" in text
    assert "Also known as: Conv2D" in text and "torch.nn.Conv2d.html" in text and "Built into LayerLoom" in text
    concat = node_help_html(default_catalog()["Concat"], {"inputs": 3})
    assert "<code>in3</code>" in concat and "<code>in4</code>" not in concat

    def scaled(ctx):  # pragma: no cover - never built
        return None

    plugin = NodeSpec("Scaled<x>", "", "x & 2", build=scaled, source="my_nodes")
    text = node_help_html(plugin)
    assert "Scaled&lt;x&gt;" in text and "x &amp; 2" in text
    assert f"From the plugin my_nodes ({__file__})" in text


def test_the_inspectors_question_mark_opens_the_selected_nodes_documentation(window, qtbot):
    from layerloom.nodeeditor.panels.help import NodeHelpDialog

    window.open_example("digits_cnn")
    window.document.scene.item_for_node["conv1"].setSelected(True)
    button = window.inspector.editors["help"]
    assert button.toolTip() == "Documentation for Conv2d (F1)"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = window.inspector.findChild(NodeHelpDialog)
    assert dialog.isVisible() and dialog.windowTitle() == "Conv2d - Node Documentation"
    assert "out_channels" in dialog.browser.toPlainText()
    window.document.scene.clearSelection()
    window.document.scene.item_for_node["fc1"].setSelected(True)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_F1)  # from the canvas too; the same dialog shows the new type
    assert window.inspector.findChildren(NodeHelpDialog) == [dialog]
    assert dialog.spec.type_id == "Linear"


def test_the_palette_opens_a_node_types_documentation(window):
    dialog = window.palette_widget.show_help("Dropout")
    assert dialog.isVisible() and dialog.spec.type_id == "Dropout" and "p" in dialog.browser.toPlainText()
    assert window.palette_widget.show_help("LeakyReLU") is dialog  # one dialog, showing the new type
    assert dialog.spec.type_id == "LeakyReLU"
