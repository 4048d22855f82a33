"""The window's menus and toolbar, declared in one table.

``MENUS`` lists every menu entry in order: each ``Action`` with its menu path, text, shortcut, icon,
handler (a method of the window, or of one of its parts: ``"dashboard.start"``), the condition that
enables it, its tooltip and its toolbar group; ``Separator`` and ``Fill`` (entries made at run time:
examples, recent files, the docks' toggles) keep their places. ``MenusMixin`` builds the menu bar and
the toolbar from it, and Help > Keyboard Shortcuts lists the shortcuts from the same table
(``MenuTable.shortcuts``), so a menu and the shortcuts dialog can never disagree.

The Run menu is made by the dashboard (``Dashboard.actions``) through ``EditorWindow._action``, which
builds each entry from its row here and refuses one that is not declared or that asks for another
shortcut, icon or handler than its row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Union

import shiboken6
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu, QToolBar

from layerloom.nodeeditor.panels.help import plain_menu_text as plain
from layerloom.nodeeditor.panels.workspaces import NAMES, SHORTCUTS, TITLES
from layerloom.nodeeditor.theme.style import THEMES

Key = QKeySequence.StandardKey
Shortcut = Union[str, QKeySequence.StandardKey, None]

# Conditions that enable an action (``Action.enabled_when``). The window keeps the undo stack's; the
# Run menu's are kept by the dashboard as runs start and end (``Dashboard._sync_actions``).
CAN_UNDO = "something to undo"
CAN_REDO = "something to redo"
NO_RUN = "no run is training"
RUN_PAUSABLE = "this graph's run is running or paused"
RUN_ACTIVE = "a run is training"
# condition -> (the undo stack's getter, its change signal)
UNDO_STACK_CONDITIONS = {CAN_UNDO: ("canUndo", "canUndoChanged"), CAN_REDO: ("canRedo", "canRedoChanged")}
# What an entry's text names after its own (``Action.names``): the undo stack's next undo or redo,
# so that Edit says "Undo Set fc1.out_features". -> (the undo stack's getter, its change signal)
NEXT_UNDO = "the command Undo would undo"
NEXT_REDO = "the command Redo would redo"
UNDO_STACK_TEXTS = {NEXT_UNDO: ("undoText", "undoTextChanged"), NEXT_REDO: ("redoText", "redoTextChanged")}


@dataclass(frozen=True)
class Action:
    """One menu entry.

    ``menu``: the menu path (``("&View", "&Theme")``); ``handler``: the window's attribute path of
    the callable; ``args``: passed to it. A ``checkable`` entry in an exclusive ``group`` calls its
    handler with ``args`` when chosen; one without a group is a toggle, its handler gets the new state.
    ``checked``: a window method (called with ``args``) giving the initial state. ``toolbar``: the
    toolbar group it also shows in (1, 2... left to right). ``attr``: the window attribute that keeps
    the ``QAction``. ``tooltip``: by default the text and its shortcut. ``names``: what the entry names
    after its text as it changes (``NEXT_UNDO``: "Undo Set fc1.out_features")."""

    menu: tuple[str, ...]
    text: str
    handler: str
    shortcut: Shortcut = None
    icon: str | None = None
    enabled_when: str | None = None
    tooltip: str | None = None
    checkable: bool = False
    group: str | None = None
    checked: str | None = None
    args: tuple = ()
    toolbar: int | None = None
    attr: str | None = None
    names: str | None = None

    @property
    def key(self) -> str:
        """``"View > Theme > Dark"``: unique in the table."""
        return " > ".join(plain(part) for part in (*self.menu, self.text))

    def key_sequence(self) -> QKeySequence:
        return QKeySequence() if self.shortcut is None else QKeySequence(self.shortcut)

    def tooltip_text(self, naming: str = "") -> str | None:
        """The tooltip; with ``naming`` (what a ``names`` entry names now) after the text."""
        if self.tooltip is not None or self.shortcut is None:
            return self.tooltip
        text = " ".join(part for part in (self.text.replace('&', '').rstrip('…'), naming) if part)
        return f"{text} ({self.key_sequence().toString()})"

    def text_naming(self, naming: str) -> str:
        """The menu text of a ``names`` entry: ``"&Undo Set fc1.out_features"``, or the bare text."""
        return f"{self.text} {naming.replace('&', '&&')}" if naming else self.text


@dataclass(frozen=True)
class Separator:
    menu: tuple[str, ...]


@dataclass(frozen=True)
class Fill:
    """Entries made at run time (no shortcuts): ``filler`` is the window method that fills ``menu``."""

    menu: tuple[str, ...]
    filler: str


Row = Union[Action, Separator, Fill]


class MenuTable:
    """The rows of the menus in order, with the look-ups the window and the shortcuts dialog need."""

    def __init__(self, rows: tuple[Row, ...]):
        self.rows = rows
        keys = [row.key for row in self.actions()]
        if len(keys) != len(set(keys)):
            raise ValueError(f"menu entries declared twice: {sorted({k for k in keys if keys.count(k) > 1})}")

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def actions(self) -> list[Action]:
        return [row for row in self.rows if isinstance(row, Action)]

    def find(self, menu_title: str, text: str) -> Action | None:
        """The row of the entry ``text`` in the menu titled ``menu_title`` (its last path part)."""
        return next((row for row in self.actions() if row.menu[-1] == menu_title and row.text == text), None)

    def shortcuts(self) -> list[tuple[str, str, QKeySequence]]:
        """``(top menu title, entry text, key sequence)`` of every entry with a shortcut on this platform
        (a standard key may have none), in menu order."""
        return [(row.menu[0], row.text, row.key_sequence()) for row in self.actions()
                if not row.key_sequence().isEmpty()]


FILE, EDIT, BLOCKS, VIEW, RUN, HELP = ("&File",), ("&Edit",), ("&Blocks",), ("&View",), ("&Run",), ("&Help",)
THEME = (*VIEW, "&Theme")

MENUS = MenuTable((
    Action(FILE, "&New", "new_document", Key.New, icon="new", toolbar=1),
    Action(FILE, "New &Window", "new_window", "Ctrl+Shift+N"),
    Action(FILE, "&Open…", "ask_open", Key.Open, icon="open", toolbar=1),
    Fill((*FILE, "Open &Recent"), "fill_recent"),
    Fill((*FILE, "&Examples"), "fill_examples"),
    Separator(FILE),
    Action(FILE, "&Import ONNX…", "ask_import_onnx", "Ctrl+Shift+I"),
    Action(FILE, "Import &PyTorch Model…", "ask_import_torch"),
    Separator(FILE),
    Action(FILE, "&Save", "save", Key.Save, icon="save", toolbar=1),
    Action(FILE, "Save &As…", "save_as", Key.SaveAs),
    Separator(FILE),
    Action(FILE, "&Quit", "close", Key.Quit),

    Action(EDIT, "&Undo", "undo", Key.Undo, icon="undo", enabled_when=CAN_UNDO, toolbar=2, attr="undo_action",
           names=NEXT_UNDO),
    Action(EDIT, "&Redo", "redo", Key.Redo, icon="redo", enabled_when=CAN_REDO, toolbar=2, attr="redo_action",
           names=NEXT_REDO),
    Separator(EDIT),
    Action(EDIT, "Cu&t", "cut", Key.Cut, icon="cut"),
    Action(EDIT, "&Copy", "copy", Key.Copy, icon="copy"),
    Action(EDIT, "&Paste", "paste", Key.Paste, icon="paste"),
    Action(EDIT, "D&uplicate", "duplicate", "Ctrl+D", icon="duplicate"),
    Action(EDIT, "&Delete", "delete_selection", Key.Delete, icon="delete", toolbar=2),
    Separator(EDIT),
    Action(EDIT, "Select &All", "select_all", Key.SelectAll, icon="select-all"),
    Action(EDIT, "Re&name Node", "rename_selected", "F2", icon="rename"),
    Action(EDIT, "Add &Node…", "quick_add_at_centre", "Shift+A", icon="add-node"),

    Action(BLOCKS, "&Group into Block…", "group_selection", "Ctrl+G", icon="group"),
    Action(BLOCKS, "&Ungroup", "ungroup_selection", "Ctrl+Shift+G", icon="ungroup"),
    Separator(BLOCKS),
    Action(BLOCKS, "&Edit Block Inside", "open_selected_block", "Alt+Down"),
    Action(BLOCKS, "Up One &Level", "scopes.up", "Alt+Up"),
    Separator(BLOCKS),
    Action(BLOCKS, "&Import Blocks…", "ask_import_blocks"),
    Action(BLOCKS, "E&xport Blocks…", "ask_export_blocks"),

    *(Action(VIEW, f"{TITLES[name]} &Workspace", "workspaces.switch", SHORTCUTS[name], checkable=True,
             group="workspaces", checked="workspace_is", args=(name,)) for name in NAMES),
    Action(VIEW, "&Reset Layout of This Workspace", "workspaces.reset_layout"),
    Separator(VIEW),
    Action(VIEW, "Zoom to &Fit", "view.zoom_to_fit", "Ctrl+0", icon="zoom-fit", toolbar=3),
    Action(VIEW, "Auto &Layout", "auto_layout", "Ctrl+L", icon="layout", toolbar=3),
    Action(VIEW, "&Snap to Grid", "set_snap", icon="grid", checkable=True, checked="snap_setting", toolbar=3,
           attr="snap_action"),
    *(Action(THEME, name.title(), "set_theme", checkable=True, group="themes", checked="theme_is", args=(name,))
      for name in THEMES),
    Separator(VIEW),
    Fill(VIEW, "fill_panel_toggles"),

    Action(RUN, "&Train", "dashboard.start", "F5", icon="train", enabled_when=NO_RUN, toolbar=4),
    Action(RUN, "&Pause / Resume", "dashboard.toggle_pause", "F6", icon="pause", enabled_when=RUN_PAUSABLE,
           toolbar=4),
    Action(RUN, "&Stop", "dashboard.stop", "Shift+F5", icon="stop", enabled_when=RUN_ACTIVE, toolbar=4),
    Separator(RUN),
    Action(RUN, "Show the Train &Workspace When Training Starts", "dashboard._set_switch", checkable=True),
    Action(RUN, "Add a &Loss for Training", "dashboard.add_loss",
           tooltip="Wire a Target and the loss the task needs to the prediction (an imported model has none)"),
    Separator(RUN),
    Action(RUN, "&Export…", "dashboard.export", "Ctrl+E", icon="export", toolbar=4),

    Action(HELP, "&Welcome…", "show_welcome", icon="help"),
    Action(HELP, "Take the &Tour", "start_tour"),
    Action(HELP, "&Keyboard Shortcuts…", "show_shortcuts", "Ctrl+/"),
    Action(HELP, "&Node Documentation", "node_help", "F1"),
    Separator(HELP),
    Action(HELP, "&Plugins…", "show_plugins"),
    Separator(HELP),
    Action(HELP, "&About LayerLoom…", "show_about"),
))

# Menus another part of the editor makes (through ``EditorWindow._action``), and the window's
# attribute path of the method that makes them; called when the table reaches the menu.
DELEGATED = {RUN: "dashboard.actions"}


class MenusMixin:
    """Builds the menu bar and the toolbar of an ``EditorWindow`` from ``MENUS``; keeps each entry's
    ``QAction`` in ``menu_actions`` (by ``Action.key``) and enables the entries that follow the
    document's undo stack."""

    menu_table = MENUS

    def _build_menus(self) -> None:
        self.menu_actions: dict[str, QAction] = {}
        self._menus: dict[tuple[str, ...], QMenu] = {}
        self._groups: dict[str, QActionGroup] = {}
        self.toolbar = QToolBar("Toolbar", self)
        delegated_done: set[tuple[str, ...]] = set()
        for row in self.menu_table:
            top = row.menu[:1]
            if top in DELEGATED:
                if top not in delegated_done:
                    delegated_done.add(top)
                    self._resolve(DELEGATED[top])()
                    self._check_delegated(top)
                continue
            if isinstance(row, Separator):
                self._menu(row.menu).addSeparator()
            elif isinstance(row, Fill):
                getattr(self, row.filler)(self._menu(row.menu))
            else:
                self._add_action(self._menu(row.menu), row, self._slot(row))
        self.workspace_actions = {row.args[0]: self.menu_actions[row.key] for row in self.menu_table.actions()
                                  if row.handler == "workspaces.switch"}
        self._refresh_recent()
        self._build_toolbar()

    def _menu(self, path: tuple[str, ...]) -> QMenu:
        menu = self._menus.get(path)
        if menu is None:
            parent = self.menuBar() if len(path) == 1 else self._menu(path[:-1])
            menu = self._menus[path] = parent.addMenu(path[-1])
        return menu

    def _resolve(self, path: str) -> Callable:
        target = self
        for name in path.split("."):
            target = getattr(target, name)
        return target

    def _slot(self, row: Action) -> Callable:
        handler = self._resolve(row.handler)
        return (lambda *_: handler(*row.args)) if row.args else handler

    def _add_action(self, menu: QMenu, row: Action, slot: Callable) -> QAction:
        action = QAction(row.text, self)
        if row.icon is not None:
            self.themed_icon_for(action, row.icon)
        tooltip = row.tooltip_text()
        if tooltip is not None:
            action.setToolTip(tooltip)
        if row.shortcut is not None:
            action.setShortcut(row.key_sequence())
        action.setCheckable(row.checkable)
        if row.checkable and row.group is None:
            action.toggled.connect(slot)   # a toggle: its handler gets the new state
        else:
            action.triggered.connect(lambda checked=False: slot())  # slots never see Qt's "checked"
        if row.checked is not None:
            action.setChecked(self._resolve(row.checked)(*row.args))
        if row.group is not None:
            if row.group not in self._groups:
                self._groups[row.group] = QActionGroup(self)
            self._groups[row.group].addAction(action)
        menu.addAction(action)
        self.menu_actions[row.key] = action
        if row.attr is not None:
            setattr(self, row.attr, action)
        return action

    def _action(self, menu, text, slot, shortcut=None, checkable: bool = False, icon: str | None = None) -> QAction:
        """An entry of a menu another part of the editor makes (``DELEGATED``: the Run menu), built
        from its row in the table; the caller's shortcut, icon and handler must be the row's."""
        row = self.menu_table.find(menu.title(), text)
        where = f"{plain(menu.title())} > {plain(text)}"
        if row is None:
            raise LookupError(f"{where}: not declared in the menu table (layerloom.nodeeditor.window.menus)")
        said = {"shortcut": (QKeySequence() if shortcut is None else QKeySequence(shortcut), row.key_sequence()),
                "checkable": (checkable, row.checkable), "icon": (icon, row.icon),
                "handler": (slot, self._resolve(row.handler))}
        differ = [f"{name} {asked!r} (the table says {declared!r})" for name, (asked, declared) in said.items()
                  if asked != declared]
        if differ:
            raise ValueError(f"{where}: asked for another " + ", ".join(differ))
        return self._add_action(menu, row, slot)

    def _check_delegated(self, top: tuple[str, ...]) -> None:
        missing = [row.key for row in self.menu_table.actions()
                   if row.menu[:1] == top and row.key not in self.menu_actions]
        if missing:
            raise LookupError(f"declared in the menu table but never made: {', '.join(missing)}")

    def _build_toolbar(self) -> None:
        tools = self.toolbar
        tools.setObjectName("toolbar")
        tools.setMovable(False)
        tools.setIconSize(QSize(20, 20))
        tools.addWidget(self.workspaces.tabs)
        tools.addSeparator()
        groups: dict[int, list[QAction]] = {}
        for row in self.menu_table.actions():
            if row.toolbar is not None:
                groups.setdefault(row.toolbar, []).append(self.menu_actions[row.key])
        for number in sorted(groups):
            tools.addActions(groups[number])
            tools.addSeparator()
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)

    def fill_panel_toggles(self, menu: QMenu) -> None:
        """View: show or hide the toolbar and each dock."""
        menu.addAction(self.toolbar.toggleViewAction())
        for dock in self.findChildren(QDockWidget):
            menu.addAction(dock.toggleViewAction())

    def _follow_undo_stack(self, document) -> None:
        """Enable the entries whose condition is the undo stack's, and name the command Undo and Redo
        would carry out, as ``document``'s stack changes (a stack no longer shown changes nothing)."""
        stack = document.undo_stack
        for row in self.menu_table.actions():
            action = self.menu_actions[row.key]
            if row.enabled_when in UNDO_STACK_CONDITIONS:
                getter, signal = UNDO_STACK_CONDITIONS[row.enabled_when]
                getattr(stack, signal).connect(action.setEnabled)
                action.setEnabled(getattr(stack, getter)())
            if row.names in UNDO_STACK_TEXTS:
                getter, signal = UNDO_STACK_TEXTS[row.names]
                show = (lambda text, row=row, action=action, stack=stack:   # (at exit the action may go first)
                        self._name_action(action, row, text)
                        if shiboken6.isValid(action) and self._shows_stack(stack) else None)
                getattr(stack, signal).connect(show)
                self._name_action(action, row, getattr(stack, getter)())

    def _shows_stack(self, stack) -> bool:
        document = getattr(self, "document", None)
        return document is not None and document.undo_stack is stack

    @staticmethod
    def _name_action(action: QAction, row: Action, naming: str) -> None:
        action.setText(row.text_naming(naming))
        tooltip = row.tooltip_text(naming)
        if tooltip is not None:
            action.setToolTip(tooltip)
