"""Help: the keyboard shortcuts, read from the window's menu table, and each node type's documentation,
read from its spec.

Nothing here is written by hand per shortcut or per node type: ``shortcut_rows(window)`` lists the
entries of ``window.menu_table`` (the table the window builds its menus from,
``layerloom.nodeeditor.window.menus``) that have shortcuts, grouped by menu, and the window's
``QShortcut``s that carry a ``whatsThis`` text, so the list and the menus cannot disagree;
``node_help_html(spec)`` renders a ``NodeSpec``'s doc line, ports and typed params. Only the canvas
gestures, which are not actions, are a fixed list.
"""

from __future__ import annotations

import html
import json
import sys
from typing import Any, Mapping

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHeaderView, QLineEdit, QTextBrowser, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout)

from layerloom.model.blocks import PREFIX as BLOCK_PREFIX
from layerloom.core.params import check_params
from layerloom.catalog.spec import NodeSpec, Port

Rows = list[tuple[str, list[tuple[str, str]]]]

CANVAS = "Canvas"
PANELS = "Panels"

# Gestures on the canvas that are mouse or key handling of the view, scene and items, not actions.
CANVAS_GESTURES: tuple[tuple[str, str], ...] = (
    ("Tab / double-click empty canvas", "Quick add: search the node types, Enter adds one"),
    ("Drag from a port to a port", "Connect (onto a taken input: replaces its wire)"),
    ("Release a wire on empty canvas", "Quick add of the nodes that can take it, connected"),
    ("Drop a node onto a wire", "Insert it into the wire"),
    ("Double-click a node's title", "Rename in place (Enter keeps, Escape cancels)"),
    ("Double-click a block's body", "Edit the block's inside"),
    ("Drag a palette entry / double-click it", "Add that node"),
    ("Drag on empty canvas", "Rubber-band selection"),
    ("Ctrl+click", "Add to the selection, or take out of it"),
    ("Wheel", "Zoom toward the cursor"),
    ("Middle drag / Space+drag", "Pan"),
)


# ---------------------------------------------------------------------- shortcuts
def shortcut_rows(window, text_format: QKeySequence.SequenceFormat = QKeySequence.SequenceFormat.NativeText) -> Rows:
    """``[(group, [(keys, action), ...]), ...]``: one group per menu of ``window.menu_table`` (its
    submenus included) listing the entries that have shortcuts, in menu order, then the canvas
    gestures, then the window's ``QShortcut``s that have a ``whatsThis`` (their description).

    ``window.menu_table.shortcuts()`` gives ``(top menu title, entry text, QKeySequence)`` per entry."""
    groups: Rows = []
    for menu, text, keys in window.menu_table.shortcuts():
        group = plain_menu_text(menu)
        if not groups or groups[-1][0] != group:
            groups.append((group, []))
        row = (keys.toString(text_format), plain_menu_text(text))
        if row not in groups[-1][1]:
            groups[-1][1].append(row)
    groups.append((CANVAS, list(CANVAS_GESTURES)))
    panels = [(_keys(s.keys(), text_format), s.whatsThis()) for s in window.findChildren(QShortcut)
              if s.whatsThis() and s.keys()]
    if panels:
        groups.append((PANELS, panels))
    return groups


def _keys(sequences, text_format) -> str:
    return ", ".join(s.toString(text_format) for s in sequences)


def plain_menu_text(text: str) -> str:
    """A menu text as read: no mnemonic marks ("&&" is a literal "&"), no trailing ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").rstrip(".").strip()


def shortcuts_markdown(window) -> str:
    """The shortcuts as one Markdown table, a bold row per group (for docs/user-guide.md). Keys are in
    Qt's portable form ("Ctrl+S"), the same on every platform."""
    lines = ["| Keys | Action |", "|---|---|"]
    for group, rows in shortcut_rows(window, QKeySequence.SequenceFormat.PortableText):
        lines.append(f"| **{_cell(group)}** | |")
        lines += [f"| {_cell(keys)} | {_cell(action)} |" for keys, action in rows]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


class ShortcutsDialog(QDialog):
    """Help > Keyboard Shortcuts: the shortcuts by group in a two-column tree, with a filter box.
    Escape (or Close) closes it."""

    def __init__(self, window):
        super().__init__(window)
        self.editor_window = window
        self.setWindowTitle("Keyboard Shortcuts")
        self.search = QLineEdit(placeholderText="Filter shortcuts…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Keys", "Action"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.NoSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        layout.addWidget(buttons)
        self.search.textChanged.connect(self.filter)
        self.refresh()
        self.resize(720, 640)

    def refresh(self) -> None:
        """Read the window's menu table and shortcuts again."""
        self.tree.clear()
        for group, rows in shortcut_rows(self.editor_window):
            head = QTreeWidgetItem(self.tree, [group])
            head.setFirstColumnSpanned(True)
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            for keys, action in rows:
                row = QTreeWidgetItem(head, [keys, action])
                row.setToolTip(1, action)
        self.tree.expandAll()
        self.filter(self.search.text())

    def filter(self, text: str) -> None:
        """Show the rows whose keys or action contain every word of ``text`` (a group's name matches all
        its rows); groups left empty are hidden."""
        words = text.lower().split()
        for i in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(i)
            shown = 0
            for j in range(head.childCount()):
                row = head.child(j)
                haystack = " ".join((head.text(0), row.text(0), row.text(1))).lower()
                match = all(word in haystack for word in words)
                row.setHidden(not match)
                shown += match
            head.setHidden(shown == 0)

    def visible_rows(self) -> list[tuple[str, str, str]]:
        """``(group, keys, action)`` of the rows the filter shows."""
        result = []
        for i in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(i)
            result += [(head.text(0), head.child(j).text(0), head.child(j).text(1))
                       for j in range(head.childCount()) if not head.isHidden() and not head.child(j).isHidden()]
        return result


def show_shortcuts(window) -> ShortcutsDialog:
    """Open (or bring back) the window's shortcuts dialog, non-modal, read afresh from its menu table."""
    dialog = window.findChild(ShortcutsDialog)
    if dialog is None:
        dialog = ShortcutsDialog(window)
    else:
        dialog.refresh()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    dialog.search.setFocus()
    return dialog


# ---------------------------------------------------------------------- node documentation
def node_help_html(spec: NodeSpec, params: Mapping[str, Any] | None = None) -> str:
    """A node type's documentation as rich text: its doc line, category and role, other names, what
    it maps to in PyTorch, its ports, a table of its params (accepted values, default, doc) and where
    it comes from. ``params`` (a node's values) picks the ports of a type whose inputs vary."""
    parts = [f"<h2>{_e(spec.type_id)}</h2>",
             f"<p><i>{_e(spec.category)}</i> &middot; {_e(spec.role)}</p>",
             f"<p>{_e(spec.doc)}</p>"]
    if spec.aliases:
        parts.append(f"<p>Also known as: {_e(', '.join(spec.aliases))} (files using those names still load)</p>")
    if spec.torch_name:
        url = f"https://pytorch.org/docs/stable/generated/{spec.torch_name}.html"
        parts.append(f'<p>PyTorch: <a href="{_e(url)}"><code>{_e(spec.torch_name)}</code></a></p>')
    values = check_params(spec.params, dict(params or {})).values  # a bad value counts as its default
    inputs = spec.input_ports(values)
    varies = " (their number follows the params)" if callable(spec.inputs) else ""
    parts.append(_ports_html("Inputs" + varies, inputs, inputs=True))
    parts.append(_ports_html("Outputs", spec.outputs, inputs=False))
    parts.append(_params_html(spec))
    parts.append(f"<p><small>{_e(_origin(spec))}</small></p>")
    return "\n".join(parts)


def _ports_html(title: str, ports: tuple[Port, ...], inputs: bool) -> str:
    if not ports:
        return f"<h3>{_e(title)}</h3><p>None.</p>"
    rows = []
    for port in ports:
        kinds = " or ".join(port.accepted_kinds() if inputs else (port.kind,))
        note = ", optional" if port.optional else ""
        doc = f" &ndash; {_e(port.doc)}" if port.doc else ""
        rows.append(f"<li><code>{_e(port.name)}</code> ({_e(kinds)}{note}){doc}</li>")
    return f"<h3>{_e(title)}</h3><ul>{''.join(rows)}</ul>"


def _params_html(spec: NodeSpec) -> str:
    if not spec.params:
        return "<h3>Parameters</h3><p>None.</p>"
    rows = ["<tr><th align='left'>Name</th><th align='left'>Accepts</th><th align='left'>Default</th>"
            "<th align='left'>Description</th></tr>"]
    for param in spec.params:
        accepts = param.describe() + (", or null (none)" if param.optional else "")
        default = json.dumps(param.to_json(param.default))
        rows.append(f"<tr><td><code>{_e(param.name)}</code></td><td>{_e(accepts)}</td>"
                    f"<td><code>{_e(default)}</code></td><td>{_e(param.doc)}</td></tr>")
    return ("<h3>Parameters</h3><table border='1' cellspacing='0' cellpadding='4' width='100%' "
            f"style='border-collapse: collapse'>{''.join(rows)}</table>")


def _origin(spec: NodeSpec) -> str:
    if spec.source == "builtin":
        return "Built into LayerLoom."
    if spec.source == "block" or spec.type_id.startswith(BLOCK_PREFIX):
        return "A block of this model: select an instance and use Edit Inside (Alt+Down) to change it."
    file = _defined_in(spec)
    return f"From the plugin {spec.source}" + (f" ({file})." if file else ".")


def _defined_in(spec: NodeSpec) -> str | None:
    """The file of the module whose functions the spec uses (a plugin's own file), if known."""
    for fn in (spec.build, spec.infer, spec.emit, spec.count_params, spec.inputs):
        module = sys.modules.get(getattr(fn, "__module__", None) or "")
        if module is not None and getattr(module, "__file__", None):
            return module.__file__
    return None


def _e(text: Any) -> str:
    return html.escape(str(text))


class NodeHelpDialog(QDialog):
    """A node type's documentation (``node_help_html``) in a text browser; links open in the web
    browser. Non-modal: ``set_spec`` shows another type in the same dialog."""

    def __init__(self, spec: NodeSpec, parent=None, params: Mapping[str, Any] | None = None):
        super().__init__(parent)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(620, 560)
        self.set_spec(spec, params)

    def set_spec(self, spec: NodeSpec, params: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.setWindowTitle(f"{spec.type_id} - Node Documentation")
        self.browser.setHtml(node_help_html(spec, params))
