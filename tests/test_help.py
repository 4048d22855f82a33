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
    assert "<code>out_channels</code></td><td>whole number from 1 to 65,536</td><td><code>16</code></td>" \
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


def test_every_menu_entry_comes_from_the_table_and_the_dialog_lists_its_keys(window):
    """The menus, the menu table and the shortcuts dialog agree entry by entry, and no two actions
    share a shortcut."""
    from PySide6.QtGui import QKeySequence
    from PySide6.QtWidgets import QDockWidget

    from layerloom.nodeeditor.panels.help import CANVAS, plain_menu_text, show_shortcuts
    from layerloom.nodeeditor.window.menus import MENUS

    table = {row.key: row for row in MENUS.actions()}
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    examples = next(a.menu() for a in file_menu.actions() if a.text() == "&Examples")
    made_at_run_time = {window.toolbar.toggleViewAction(), *examples.actions(), *window.recent_menu.actions(),
                        *(dock.toggleViewAction() for dock in window.findChildren(QDockWidget))}
    listed = [row for row in show_shortcuts(window).visible_rows() if row[0] != CANVAS]
    built, keys_seen, bound = set(), {}, []

    def walk(menu, path):
        for action in menu.actions():
            if action.isSeparator():
                continue
            if action.menu() is not None:
                walk(action.menu(), (*path, action.menu().title()))
                continue
            if action in made_at_run_time:
                assert not action.shortcuts(), action.text()
                continue
            key = " > ".join(plain_menu_text(part) for part in (*path, action.text()))
            assert key in table, f"{key}: in the menus, not in the table"
            assert window.menu_actions[key] is action and action.shortcut() == table[key].key_sequence()
            built.add(key)
            for sequence in action.shortcuts():
                keys = sequence.toString(QKeySequence.SequenceFormat.NativeText)
                assert keys not in keys_seen, f"{keys}: both {keys_seen[keys]} and {key}"
                keys_seen[keys] = key
                bound.append((plain_menu_text(path[0]), keys, plain_menu_text(action.text())))

    for top in window.menuBar().actions():
        walk(top.menu(), (top.menu().title(),))
    assert built == set(table)            # every declared entry is in the menus
    assert listed == bound                # the dialog lists exactly what the menus bind, in their order
    assert len(bound) >= 25               # (Quit has no standard key on some platforms)


def test_a_menu_entry_asked_for_with_other_keys_than_its_row_is_refused(window):
    """Another part of the editor making a menu (the dashboard's Run menu) gets each entry from the
    table; asking for another shortcut, or for an entry the table does not declare, fails loudly."""
    from PySide6.QtGui import QKeySequence

    menu = window.menuBar().addMenu("&Run")
    dashboard = window.dashboard
    with pytest.raises(ValueError, match=r"Run > Train: asked for another shortcut .*F7.*F5"):
        window._action(menu, "&Train", dashboard.start, QKeySequence("F7"), icon="train")
    with pytest.raises(ValueError, match="Run > Stop: asked for another handler"):
        window._action(menu, "&Stop", dashboard.start, QKeySequence("Shift+F5"), icon="stop")
    with pytest.raises(LookupError, match="Run > Rewind: not declared in the menu table"):
        window._action(menu, "&Rewind", dashboard.start, QKeySequence("F8"))
    made = window._action(menu, "&Train", dashboard.start, QKeySequence("F5"), icon="train")
    assert made.shortcut().toString() == "F5" and made.toolTip() == "Train (F5)"


def test_help_about_shows_the_version_the_libraries_licences_and_the_folders(window, qtbot):
    from importlib import metadata

    from layerloom import __version__
    from layerloom.catalog.plugins import plugin_dirs
    from layerloom.nodeeditor.window.about import AboutDialog

    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    about = next(a for a in help_menu.actions() if a.text() == "&About LayerLoom…")
    assert about is window.menu_actions["Help > About LayerLoom"]
    about.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.isVisible()
    assert f"LayerLoom {__version__}" in dialog.version.text()
    cells = {dialog.table.item(row, 0).text(): (dialog.table.item(row, 1).text(), dialog.table.item(row, 2).text())
             for row in range(dialog.table.rowCount())}
    assert cells["torch"][0] == metadata.version("torch")
    assert "BSD" in cells["torch"][1]
    assert "LGPL" in cells["Qt"][1] and "LGPL" in cells["PySide6-Essentials"][1]
    for name in ("onnx", "onnxruntime", "pyqtgraph", "numpy", "scikit-learn"):
        assert cells[name][0] == metadata.version(name) and cells[name][1] not in ("", "see the package's files")
    shown = dialog.folders_label.text()
    for folder in plugin_dirs():
        assert str(folder) in shown
    assert str(window.autosaver.folder) in shown and "Plugins" in shown
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_a_licence_name_comes_from_the_metadata_and_never_a_licence_text():
    from email.message import Message

    from layerloom.nodeeditor.window.about import licence_name

    def meta(**fields):
        message = Message()
        for key, value in fields.items():
            for one in value if isinstance(value, list) else [value]:
                message[key.replace("_", "-")] = one
        return message

    assert licence_name(meta(License_Expression="BSD-3-Clause", License="whatever")) == "BSD-3-Clause"
    assert licence_name(meta(License="MIT")) == "MIT"
    long_text = "MIT License\n\nCopyright (c) Someone\n\nPermission is hereby granted..."
    assert licence_name(meta(License=long_text, Classifier=["License :: OSI Approved :: MIT License"])) == "MIT License"
    assert licence_name(meta(), "torch") == "BSD-3-Clause"       # declares none: the known one
    assert licence_name(meta(), "unheard-of") == "see the package's files"
