"""The editor window: canvas in the middle, palette left, inspector right, problems below.

The window wires widgets to the current ``Document``; every edit goes through the document's undo
stack, every fact comes from the model and its analysis.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, QSize, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QInputDialog, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QMainWindow, QMessageBox, QToolBar, QVBoxLayout, QWidget)

from layerloom import Graph, LayerLoomError, load_graph, save_graph
from layerloom.files.block_library import LIBRARY_SUFFIX as BLOCKS_SUFFIX
from layerloom.files.block_library import load_block_library, save_block_library
from layerloom.model.blocks import import_plan
from layerloom.model.analysis import ERROR
from layerloom.files.graphfile import SUFFIX
from layerloom.model.layout import layered_layout, place_unplaced
from layerloom.files.resources import example_path, example_paths
from layerloom.training.worker import WarmPool

from layerloom.nodeeditor.document.autosave import INTERVAL_MS, Autosaver
from layerloom.nodeeditor.document.block_scopes import BlockScopes
from layerloom.nodeeditor.document.clipboard import clipboard_text, copy_to_clipboard, paste, selection_text
from layerloom.nodeeditor.document.commands import InstallBlockCommand, MoveNodesCommand, SetMetaCommand, remove_block_command
from layerloom.nodeeditor.dashboard.controller import Dashboard
from layerloom.nodeeditor.panels.help import show_shortcuts
from layerloom.nodeeditor.document.document import Document
from layerloom.nodeeditor.theme.icons import app_icon, themed_icon
from layerloom.nodeeditor.panels.inspector import Inspector
from layerloom.nodeeditor.canvas.items import NodeItem
from layerloom.nodeeditor.panels.palette import Palette
from layerloom.nodeeditor.canvas.quick_add import QuickAdd
from layerloom.nodeeditor.theme.style import THEMES, apply_app_theme
from layerloom.nodeeditor.canvas.view import CanvasView
from layerloom.nodeeditor.window.welcome import SHOW_AT_START, Tour, WelcomeDialog
from layerloom.nodeeditor.panels.workspaces import DESIGN, NAMES, SHORTCUTS, TITLES, TRAIN, Workspaces

NODE_ROLE = Qt.ItemDataRole.UserRole


class _ProblemList(QListWidget):
    def sizeHint(self):  # noqa: N802 - Qt override: a few lines tall, the canvas gets the rest
        return QSize(600, 110)


MAX_RECENT = 8
WARM_DELAY_MS = 1500   # the window idle this long: start the next warm process
UNTITLED = "untitled"
_windows: set = set()   # windows opened with New Window, kept alive until they close


class EditorWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.theme = THEMES.get(str(self.settings.value("theme", "dark")), THEMES["dark"])
        apply_app_theme(QApplication.instance(), self.theme)
        self.document: Document | None = None
        self._icon_actions: list[tuple[QAction, str]] = []   # re-tinted when the theme changes
        self.setWindowIcon(app_icon())
        self.view = CanvasView()
        self.scopes = BlockScopes(self)
        self.scopes.scopeChanged.connect(self._show_scope)
        self._shown: Document | None = None   # the level on the canvas (the model, or a block's inside)
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.scopes.breadcrumb)
        column.addWidget(self.view)
        # the bottom dock (problems) runs the whole width: its minimum width then never
        # adds to the side docks' (a window wider than a laptop screen otherwise)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.palette_widget = Palette(Graph().catalog)
        self.inspector = Inspector()
        self.inspector.openBlockRequested.connect(self.open_instance)
        self.problems = _ProblemList()
        self._dock("Nodes", "palette", self.palette_widget, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Inspector", "inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Problems", "problems", self.problems, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.totals = QLabel()
        self.statusBar().addPermanentWidget(self.totals)
        self.palette_widget.addRequested.connect(self.add_at_centre)
        self.palette_widget.editBlockRequested.connect(self.open_block)
        self.palette_widget.deleteBlockRequested.connect(self.delete_block)
        self.view.nodeTypeDropped.connect(self.drop_node_type)
        self.quick_add = QuickAdd(self.palette_widget.catalog, self)
        self.quick_add.chosen.connect(self._quick_add_chosen)
        self._quick_at = None        # scene position the popup adds at
        self._quick_wire = None      # (node, port, direction) of a wire dropped on empty canvas
        self.view.quickAddRequested.connect(lambda pos: self.open_quick_add(pos))
        self.problems.itemActivated.connect(self._show_problem)
        self.problems.itemClicked.connect(self._show_problem)
        self.dashboard = Dashboard(self)
        self.workspaces = Workspaces(self, {DESIGN: centre, TRAIN: self.dashboard.view})
        self.workspaces.changed.connect(self._workspace_changed)
        self.setCentralWidget(self.workspaces.stack)
        self._build_menus()
        self.search_action = self.palette_widget.search.addAction(themed_icon("search", self.theme),
                                                                  QLineEdit.ActionPosition.LeadingPosition)
        self._icon_actions.append((self.search_action, "search"))
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        # no saved layout: the default one is made when the window first shows
        self._default_layout_pending = not self.workspaces.restore_current()
        self._pending_warnings: list[tuple[str, str]] = []   # said once the window shows (see warn)
        # training and export processes started ahead, torch imported, while the window is idle
        # (layerloom.training.worker); started by schedule_warm (the app calls it once the window shows)
        self.warm_pool = WarmPool()
        self._warm_wanted = False
        self._warm_timer = QTimer(self, singleShot=True, interval=WARM_DELAY_MS)
        self._warm_timer.timeout.connect(self._refill_warm)
        self.autosaver = Autosaver(self.settings.value("recovery_dir") or _default_recovery_dir())
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)
        self.autosave_timer.start()
        self.set_document(Document(Graph(name=UNTITLED), theme=self.theme))

    # ------------------------------------------------------------------ warm processes
    def schedule_warm(self) -> None:
        """Keep a training process warm (torch imported) from now on: the next one starts once the
        window has been idle a moment, so F5 and Export do not wait for a process and its imports."""
        self._warm_wanted = True
        self._warm_timer.start()

    def warm_later(self) -> None:
        """A warm process was used (a run or an export): start the next one when the window is idle."""
        if self._warm_wanted:
            self._warm_timer.start()

    def _refill_warm(self) -> None:
        if not self._warm_wanted:
            return
        if self.dashboard.running:
            return   # never compete with a run for the CPU; refilled when it ends
        self.warm_pool.refill()
        self.preload_warm()

    def preload_warm(self) -> None:
        """The warm process loads the current graph's dataset ahead of F5 (its run then skips the load)."""
        document = self.document
        if not self._warm_wanted or document is None or not self.warm_pool.enabled:
            return
        from layerloom.files.graphfile import dumps_graph

        base_dir = str(document.path.parent) if document.path else None
        self.warm_pool.preload(dumps_graph(document.graph), base_dir)

    # ------------------------------------------------------------------ recovery
    def autosave_now(self) -> None:
        """Write the recovery copy when there are unsaved changes; remove it when there are none."""
        document = self.document
        if document is None:
            return
        if document.undo_stack.isClean():
            self.autosaver.discard()
            return
        try:
            self.autosaver.save(document.graph, document.path)
        except (LayerLoomError, OSError) as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 6000)

    def offer_recovery(self) -> bool:
        """After a crash: offer the newest recovery copy. True when a document was restored."""
        found = sorted(self.autosaver.found(), key=lambda r: r.saved_at, reverse=True)
        if not found:
            return False
        latest = found[0]
        where = f" of {latest.original}" if latest.original else ""
        answer = QMessageBox.question(
            self, "Restore unsaved work?",
            f"LayerLoom did not close cleanly. Restore the unsaved changes{where} from {latest.saved_at}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        graph = Autosaver.load(latest) if answer == QMessageBox.StandardButton.Yes else None
        Autosaver.remove(latest)
        if graph is None:
            return False
        document = Document(graph, latest.original, theme=self.theme)
        document.undo_stack.resetClean()  # restored work is unsaved work
        self.set_document(document)
        self.autosave_now()
        return True

    def showEvent(self, event):  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._pending_warnings:
            QTimer.singleShot(0, self._show_pending_warnings)
        if self._default_layout_pending:
            self._default_layout_pending = False
            self.workspaces.default_layout(self.workspaces.current)
            QTimer.singleShot(0, self.view.show_graph)  # the canvas got its final size: frame the graph again

    def _dock(self, title: str, name: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        new = self._action(file_menu, "&New", self.new_document, QKeySequence.StandardKey.New, icon="new")
        self._action(file_menu, "New &Window", self.new_window, QKeySequence("Ctrl+Shift+N"))
        open_ = self._action(file_menu, "&Open…", self.ask_open, QKeySequence.StandardKey.Open, icon="open")
        self.recent_menu = file_menu.addMenu("Open &Recent")
        examples = file_menu.addMenu("&Examples")
        for path in example_paths():
            stem = path.name[: -len(SUFFIX)]
            action = QAction(stem.replace("_", " ").title(), self)
            action.triggered.connect(lambda checked=False, s=stem: self.open_example(s))
            examples.addAction(action)
        file_menu.addSeparator()
        save = self._action(file_menu, "&Save", self.save, QKeySequence.StandardKey.Save, icon="save")
        self._action(file_menu, "Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = bar.addMenu("&Edit")
        self.undo_action = self._action(edit, "&Undo", lambda: self.document.undo_stack.undo(),
                                        QKeySequence.StandardKey.Undo, icon="undo")
        self.redo_action = self._action(edit, "&Redo", lambda: self.document.undo_stack.redo(),
                                        QKeySequence.StandardKey.Redo, icon="redo")
        edit.addSeparator()
        self._action(edit, "Cu&t", self.cut, QKeySequence.StandardKey.Cut, icon="cut")
        self._action(edit, "&Copy", self.copy, QKeySequence.StandardKey.Copy, icon="copy")
        self._action(edit, "&Paste", self.paste, QKeySequence.StandardKey.Paste, icon="paste")
        self._action(edit, "D&uplicate", self.duplicate, QKeySequence("Ctrl+D"), icon="duplicate")
        delete = self._action(edit, "&Delete", lambda: self.editing.delete_selection(),
                              QKeySequence.StandardKey.Delete, icon="delete")
        edit.addSeparator()
        self._action(edit, "Select &All", self.select_all, QKeySequence.StandardKey.SelectAll, icon="select-all")
        self._action(edit, "Re&name Node", self.rename_selected, QKeySequence("F2"), icon="rename")
        self._action(edit, "Add &Node…", lambda: self.open_quick_add(self._centre()), QKeySequence("Shift+A"),
                     icon="add-node")
        blocks = bar.addMenu("&Blocks")
        self._action(blocks, "&Group into Block…", self.group_selection, QKeySequence("Ctrl+G"), icon="group")
        self._action(blocks, "&Ungroup", self.ungroup_selection, QKeySequence("Ctrl+Shift+G"), icon="ungroup")
        blocks.addSeparator()
        self._action(blocks, "&Edit Block Inside", self.open_selected_block, QKeySequence("Alt+Down"))
        self._action(blocks, "Up One &Level", self.scopes.up, QKeySequence("Alt+Up"))
        blocks.addSeparator()
        self._action(blocks, "&Import Blocks…", self.ask_import_blocks)
        self._action(blocks, "E&xport Blocks…", self.ask_export_blocks)
        view = bar.addMenu("&View")
        self.workspace_actions = {}
        spaces = QActionGroup(self)
        for name in NAMES:
            action = self._action(view, f"{TITLES[name]} &Workspace", lambda n=name: self.workspaces.switch(n),
                                  QKeySequence(SHORTCUTS[name]))
            action.setCheckable(True)
            action.setChecked(name == self.workspaces.current)
            spaces.addAction(action)
            self.workspace_actions[name] = action
        self._action(view, "&Reset Layout of This Workspace", self.workspaces.reset_layout)
        view.addSeparator()
        fit = self._action(view, "Zoom to &Fit", self.view.zoom_to_fit, QKeySequence("Ctrl+0"), icon="zoom-fit")
        layout = self._action(view, "Auto &Layout", self.auto_layout, QKeySequence("Ctrl+L"), icon="layout")
        self.snap_action = self._action(view, "&Snap to Grid", self._toggle_snap, checkable=True, icon="grid")
        self.snap_action.setChecked(self.settings.value("snap", False, type=bool))
        themes = view.addMenu("&Theme")
        group = QActionGroup(self)
        for name in THEMES:
            action = self._action(themes, name.title(), lambda n=name: self.set_theme(n))
            action.setCheckable(True)
            action.setChecked(name == self.theme.name)
            group.addAction(action)
        view.addSeparator()
        for dock in self.findChildren(QDockWidget):
            view.addAction(dock.toggleViewAction())
        run_actions = self.dashboard.actions()
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Welcome…", self.show_welcome, icon="help")
        self._action(help_menu, "Take the &Tour", self.start_tour)
        self._action(help_menu, "&Keyboard Shortcuts…", lambda: show_shortcuts(self), QKeySequence("Ctrl+/"))
        self._action(help_menu, "&Node Documentation", self.node_help, QKeySequence("F1"))
        help_menu.addSeparator()
        self._action(help_menu, "&Plugins…", self.show_plugins)
        self._refresh_recent()
        tools = self.toolbar = QToolBar("Toolbar", self)
        tools.setObjectName("toolbar")
        tools.setMovable(False)
        tools.setIconSize(QSize(20, 20))
        tools.addWidget(self.workspaces.tabs)
        tools.addSeparator()
        for group in ((new, open_, save), (self.undo_action, self.redo_action, delete),
                      (fit, layout, self.snap_action), run_actions):
            tools.addActions(list(group))
            tools.addSeparator()
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tools)
        view.insertAction(view.actions()[-len(self.findChildren(QDockWidget))], tools.toggleViewAction())

    def _action(self, menu, text, slot, shortcut=None, checkable: bool = False, icon: str | None = None) -> QAction:
        action = QAction(text, self)
        if icon is not None:
            action.setIcon(themed_icon(icon, self.theme))
            self._icon_actions.append((action, icon))
        if shortcut is not None:
            action.setToolTip(f"{text.replace('&', '').rstrip('…')} ({QKeySequence(shortcut).toString()})")
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda checked=False: slot())  # slots never see Qt's "checked"
        menu.addAction(action)
        return action

    # ------------------------------------------------------------------ documents
    def set_document(self, document: Document) -> None:
        self._release_document()
        self.document = document
        self.dashboard.set_document(document)
        document.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 6000))
        document.bridge.analyzed.connect(self._show_totals)
        document.bridge.blockChanged.connect(self._blocks_changed)
        document.undo_stack.cleanChanged.connect(self._update_title)
        document.undo_stack.canUndoChanged.connect(self.undo_action.setEnabled)
        document.undo_stack.canRedoChanged.connect(self.redo_action.setEnabled)
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)
        self.palette_widget.set_catalog(document.graph.catalog)
        self.quick_add.catalog = document.graph.catalog
        self.scopes.reset(document)   # shows it
        self._show_totals(document.bridge.analysis)
        self._update_title()
        self.view.show_graph()

    @property
    def editing(self) -> Document:
        """The level on the canvas: the model's document, or the inside of a block opened from it."""
        return self._shown or self.document

    def _show_scope(self, document: Document) -> None:
        """Put a level on the canvas: the model, or a block's inside (the breadcrumb shows which)."""
        old = self._shown
        if old is document:
            return
        if old is not None:
            self._unhook_level(old)
        self._shown = document
        self.view.setScene(document.scene)
        self.inspector.set_document(document)
        self.inspector.show_node(document, None)
        document.scene.selectionChanged.connect(self._selection_changed)
        document.scene.wireDroppedOnEmpty.connect(self._wire_dropped)
        document.scene.openBlockRequested.connect(self.open_instance)
        document.bridge.analyzed.connect(self._show_analysis)
        document.scene.snap = self.snap_action.isChecked()
        if document.scene.theme is not self.theme:
            document.scene.set_theme(self.theme)
        self._show_analysis(document.bridge.analysis)
        if old is not None and document is not self.document:
            self.view.show_graph()

    def _unhook_level(self, document: Document) -> None:
        for signal, slot in ((document.scene.selectionChanged, self._selection_changed),
                             (document.scene.wireDroppedOnEmpty, self._wire_dropped),
                             (document.scene.openBlockRequested, self.open_instance),
                             (document.bridge.analyzed, self._show_analysis)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def new_document(self) -> None:
        if self.maybe_save():
            self.set_document(Document(Graph(name=UNTITLED), theme=self.theme))

    def new_window(self) -> "EditorWindow":
        """Another editor window in this process, with an empty graph: two documents side by side,
        copy and paste between them."""
        window = EditorWindow(self.settings)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        _windows.add(window)
        window.destroyed.connect(lambda *_: _windows.discard(window))
        window.resize(self.size())
        window.move(self.pos() + QPoint(40, 40))
        window.show()
        return window

    def open_example(self, stem: str) -> bool:
        return self.open_path(example_path(stem), remember=False, as_template=True)

    def open_path(self, path: str | Path, remember: bool = True, as_template: bool = False) -> bool:
        """Open a graph file. A file that cannot be read shows the loader's message and leaves the
        current document as it was."""
        path = Path(path).absolute()   # a path named from the command line: its runs and messages say where
        if not self.maybe_save():
            return False
        try:
            graph = load_graph(path)
            laid_out = place_unplaced(graph)   # a graph written by hand has no positions: none hides another
            document = Document(graph, None if as_template else path, theme=self.theme)  # analyses the graph
        except LayerLoomError as exc:
            return self._open_failed(str(exc))
        except Exception as exc:  # noqa: BLE001 - a file must never end the app (at start-up, nothing else catches)
            return self._open_failed(f"{path}: LayerLoom could not open this file because of an error of its own "
                                     f"({type(exc).__name__}: {exc}). Please report it with the file.")
        self.set_document(document)
        if remember:
            self._remember(path)
        if laid_out:
            self.statusBar().showMessage(f"{len(laid_out)} node(s) had no usable position in {path.name}: laid out "
                                         "automatically (saving keeps the new positions)", 10000)
        return True

    def _open_failed(self, message: str) -> bool:
        """Say why a file did not open; the current document stays, and a window opened on that file
        at start-up gets an empty graph instead."""
        if self.document is None:
            self.set_document(Document(Graph(name=UNTITLED), theme=self.theme))
        self.statusBar().showMessage(message.splitlines()[0], 10000)
        self.warn("Cannot open", message)
        return False

    def warn(self, title: str, message: str) -> None:
        """A warning box over the window. Before the window shows (a file named on the command line
        that cannot be opened) it waits for the window, so it never floats alone over an empty screen;
        ``take_pending_warnings`` hands those to a caller that shows no dialog (``--screenshot``)."""
        if self.isVisible():
            QMessageBox.warning(self, title, message)
        else:
            self._pending_warnings.append((title, message))

    def take_pending_warnings(self) -> list[tuple[str, str]]:
        """The warnings waiting for the window to show, as (title, message); they are not shown then."""
        pending, self._pending_warnings = self._pending_warnings, []
        return pending

    def _show_pending_warnings(self) -> None:
        for title, message in self.take_pending_warnings():
            QMessageBox.warning(self, title, message)

    def ask_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open graph", "", f"LayerLoom graphs (*{SUFFIX});;JSON (*.json)")
        if path:
            self.open_path(path)

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._write(self.document.path)

    def save_as(self) -> bool:
        document = self.document
        folder = document.path.parent if document.path else _documents_folder()
        path, _ = QFileDialog.getSaveFileName(self, "Save graph", str(folder / f"{document.graph.name}{SUFFIX}"),
                                              f"LayerLoom graphs (*{SUFFIX})")
        if not path:
            return False
        if not path.endswith(".json"):
            path += SUFFIX
        path = Path(path)
        renamed = self._name_after_file(path)
        if not self._write(path):
            if renamed:
                self.document.undo_stack.undo()
            return False
        return True

    def _name_after_file(self, path: Path) -> bool:
        """Save As gives an untitled graph (or one still named after its old file) the new file's name,
        as one undo step; True when it renamed."""
        graph, old = self.document.graph, self.document.path
        stem = _file_stem(path)
        default = not graph.name or graph.name == UNTITLED or (old is not None and graph.name == _file_stem(old))
        if not default or not stem or stem == graph.name:
            return False
        self.document.undo_stack.push(SetMetaCommand(graph, "name", stem, f"Name the graph “{stem}”"))
        return True

    def _write(self, path: Path) -> bool:
        try:
            save_graph(self.document.graph, path)
        except LayerLoomError as exc:
            QMessageBox.warning(self, "Cannot save", str(exc))
            return False
        self.document.path = path
        self.document.undo_stack.setClean()
        self.autosaver.discard()
        self._remember(path)
        self._update_title()
        self.dashboard.document_saved(self.document)
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def maybe_save(self) -> bool:
        """Ask before dropping unsaved changes; False when the user cancels."""
        if self.document is None or self.document.undo_stack.isClean():
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f'Save the changes to "{self.document.graph.name}"?',
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QMessageBox.StandardButton.Discard:
            self.autosaver.discard()
            return True
        return False

    def closeEvent(self, event):  # noqa: N802 - Qt override
        # saving first: a Cancel there must leave the run training (stopping it cannot be undone)
        if not self.maybe_save() or not self.dashboard.confirm_close():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.workspaces.save()
        self.dashboard.close()
        self._warm_timer.stop()
        self.warm_pool.close()
        self._release_document()
        self.document = None
        self.autosaver.discard()  # a clean exit: nothing to recover
        super().closeEvent(event)

    def _release_document(self) -> None:
        """Unhook the current document (its scene is about to go: no signal of it may reach us)."""
        old = self.document
        if old is None:
            return
        if self._shown is not None:
            self._unhook_level(self._shown)
            self._shown = None
        self.scopes.clear()
        old.close()

    def _remember(self, path: Path) -> None:
        recent = [str(path.resolve())] + [p for p in self._recent() if p != str(path.resolve())]
        self.settings.setValue("recent", recent[:MAX_RECENT])
        self._refresh_recent()

    def _recent(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for path in self._recent():
            action = QAction(path, self)
            action.triggered.connect(lambda checked=False, p=path: self.open_path(p))
            self.recent_menu.addAction(action)
        self.recent_menu.setEnabled(bool(self._recent()))

    def _update_title(self, *_) -> None:
        doc = self.document
        if doc is None:
            return   # the window is closing (a run's end may still reach it)
        name = doc.path.name if doc.path else doc.graph.name
        self.setWindowTitle(f"{name}[*] - LayerLoom")
        self.setWindowModified(not doc.undo_stack.isClean())

    # ------------------------------------------------------------------ canvas helpers
    def _centre(self):
        return self.view.mapToScene(self.view.viewport().rect().center())

    def add_at_centre(self, type_id: str) -> None:
        self.editing.add_node(type_id, self._centre())

    def open_quick_add(self, scene_pos, wire=None, allowed=None) -> None:
        self._quick_at, self._quick_wire = scene_pos, wire
        self.quick_add.open_at(self.view.mapToGlobal(self.view.mapFromScene(scene_pos)), allowed)

    def _wire_dropped(self, node_id: str, port: str, direction: str, scene_pos) -> None:
        """A wire released on empty canvas: offer the node types it can connect to, and wire the new
        node to it."""
        dropped = _port(self.editing.graph, node_id, port, direction)
        allowed = [spec.type_id for spec in self.palette_widget.catalog
                   if _matching_port(_spec_ports(spec, direction), dropped, direction)]
        self.open_quick_add(scene_pos, (node_id, port, direction), allowed)

    def _quick_add_chosen(self, type_id: str) -> None:
        document, wire = self.editing, self._quick_wire
        self._quick_wire = None
        document.undo_stack.beginMacro(f"Add {type_id}")
        try:
            node_id = document.add_node(type_id, self._quick_at)
            if node_id is None or wire is None:
                return
            other, port, direction = wire
            dropped = _port(document.graph, other, port, direction)
            ports = document.graph.input_ports(node_id) if direction == "out" else document.graph.output_ports(node_id)
            match = _matching_port(ports, dropped, direction)
            if match is None:
                return
            if direction == "out":
                document.connect_ports(other, port, node_id, match)
            else:
                document.connect_ports(node_id, match, other, port)
        finally:
            document.undo_stack.endMacro()

    def drop_node_type(self, type_id: str, scene_pos) -> str | None:
        """A palette drop: add the node there; dropped onto a wire, it goes into the wire (one step)."""
        document = self.editing
        wire = document.wire_at(scene_pos)
        document.undo_stack.beginMacro(f"Add {type_id}")
        try:
            node_id = document.add_node(type_id, scene_pos)
            if node_id is not None and wire is not None:
                document.insert_on_wire(node_id, wire)
        finally:
            document.undo_stack.endMacro()
        return node_id

    def selected_node_ids(self) -> list[str]:
        return [i.node_id for i in self.editing.scene.selectedItems() if isinstance(i, NodeItem)]

    def copy(self) -> bool:
        return copy_to_clipboard(self.editing.graph, self.selected_node_ids())

    def cut(self) -> None:
        if self.copy():
            self.editing.delete_selection()

    def paste(self, text: str | None = None) -> list[str]:
        text = clipboard_text() if text is None else text
        left_out: list[str] = []
        new = paste(self.editing, text, left_out=left_out) if text else []
        if new:
            self.editing.scene.clearSelection()
            for node_id in new:
                self.editing.scene.item_for_node[node_id].setSelected(True)
        if left_out:   # said, never dropped silently: which node, and why
            more = f" (and {len(left_out) - 1} more)" if len(left_out) > 1 else ""
            self.statusBar().showMessage(f"Pasted {len(new)} node(s); left out {left_out[0]}{more}", 15000)
        elif not new:
            self.statusBar().showMessage("Nothing to paste: the clipboard holds no LayerLoom nodes", 4000)
        return new

    def duplicate(self) -> list[str]:
        ids = self.selected_node_ids()
        return self.paste(selection_text(self.editing.graph, ids)) if ids else []

    def auto_layout(self) -> None:
        graph = self.editing.graph
        positions = layered_layout(graph)
        moves = {nid: (graph.node(nid).position, pos) for nid, pos in positions.items()
                 if graph.node(nid).position != pos}
        if moves:
            self.editing.undo_stack.push(MoveNodesCommand(graph, moves, "Auto layout"))
            self.view.zoom_to_fit()

    def select_all(self) -> None:
        for item in self.editing.scene.item_for_node.values():
            item.setSelected(True)

    # ------------------------------------------------------------------ blocks
    def group_selection(self, name: str | None = None) -> str | None:
        """Ctrl+G: the selected nodes become a block (its name asked for), with one instance in their
        place: one undo step. The instance's id, or None."""
        ids = self.selected_node_ids()
        document = self.editing
        if not ids:
            self.statusBar().showMessage("Select the nodes to group into a block", 4000)
            return None
        if name is None:
            taken = set(document.graph.blocks)
            suggestion = next(f"Block{i}" for i in range(1, len(taken) + 2) if f"Block{i}" not in taken)
            name, ok = QInputDialog.getText(self, "Group into block",
                                            "Block name (letters, digits and _; it becomes the node type "
                                            "Block:<name>):", text=suggestion)
            if not ok:
                return None
        instance = document.group(ids, name.strip())
        if instance is not None:
            document.scene.clearSelection()
            document.scene.item_for_node[instance].setSelected(True)
            self.statusBar().showMessage(f"Grouped {len(ids)} node(s) into block {name.strip()}; double-click it "
                                         "to edit its inside", 6000)
        return instance

    def ungroup_selection(self) -> list[str]:
        """Ctrl+Shift+G: the selected block instances are replaced by their insides (one undo step each)."""
        document = self.editing
        instances = [i for i in self.selected_node_ids() if document.graph.node(i).type_id.startswith("Block:")]
        if not instances:
            self.statusBar().showMessage("Select a block instance to ungroup it", 4000)
            return []
        added: list[str] = []
        for node_id in instances:
            added += document.ungroup(node_id)
        document.scene.clearSelection()
        for node_id in added:
            document.scene.item_for_node[node_id].setSelected(True)
        return added

    def open_selected_block(self) -> None:
        ids = self.selected_node_ids()
        if len(ids) != 1 or not self.open_instance(ids[0]):
            self.statusBar().showMessage("Select one block instance to edit its inside", 4000)

    def open_instance(self, node_id: str) -> bool:
        """Show the inside of a block instance on the canvas (double-click, Alt+Down, the inspector)."""
        return self.scopes.open_instance(node_id) is not None

    def open_block(self, name: str) -> bool:
        """Show a block's inside from the palette (with its first instance's shapes when there is one)."""
        return self.scopes.open_block(name) is not None

    def delete_block(self, name: str) -> bool:
        """Take an unused block out of the model (one undo step); a used one is refused with its users."""
        try:
            self.document.undo_stack.push(remove_block_command(self.document.graph, name))
        except LayerLoomError as exc:
            self.statusBar().showMessage(f"Cannot delete: {exc}", 8000)
            return False
        return True

    def _blocks_changed(self, name: str) -> None:
        self.palette_widget.rebuild()

    def ask_export_blocks(self) -> bool:
        graph = self.document.graph
        if not graph.blocks:
            self.statusBar().showMessage("This model has no blocks to export (select nodes, then Ctrl+G)", 5000)
            return False
        path, _ = QFileDialog.getSaveFileName(self, "Export blocks", f"{graph.name}-blocks{BLOCKS_SUFFIX}",
                                              f"LayerLoom block libraries (*{BLOCKS_SUFFIX})")
        return bool(path) and self.export_blocks(path)

    def export_blocks(self, path: str | Path) -> bool:
        """Write every block of the model to a block library file."""
        try:
            save_block_library(path, self.document.graph.blocks)
        except (LayerLoomError, OSError) as exc:
            QMessageBox.warning(self, "Cannot export blocks", str(exc))
            return False
        self.statusBar().showMessage(f"Exported {len(self.document.graph.blocks)} block(s) to {path}", 5000)
        return True

    def ask_import_blocks(self) -> list[str]:
        path, _ = QFileDialog.getOpenFileName(self, "Import blocks", "",
                                              f"LayerLoom block libraries (*{BLOCKS_SUFFIX});;JSON (*.json)")
        return self.import_blocks(path) if path else []

    def import_blocks(self, path: str | Path) -> list[str]:
        """Add a library's blocks to the model (one undo step). A name already taken by a different
        block is imported under a fresh name; the same block again is skipped. The names added."""
        graph = self.document.graph
        try:
            library = load_block_library(path, graph.catalog)
            plan, _ = import_plan(graph, library)
        except LayerLoomError as exc:
            QMessageBox.warning(self, "Cannot import blocks", str(exc))
            return []
        if not plan:
            self.statusBar().showMessage("The library's blocks are all in this model already", 5000)
            return []
        stack = self.document.undo_stack
        stack.beginMacro(f"Import {len(plan)} block(s)")
        for block in plan:
            stack.push(InstallBlockCommand(graph, block.name, block))
        stack.endMacro()
        self.statusBar().showMessage(f"Imported blocks: {', '.join(b.name for b in plan)} (see Nodes > Blocks)", 6000)
        return [b.name for b in plan]

    def set_theme(self, name: str) -> None:
        self.theme = THEMES[name]
        self.settings.setValue("theme", name)
        apply_app_theme(QApplication.instance(), self.theme)
        for level in self.scopes.levels:
            level.scene.set_theme(self.theme)
        self.dashboard.charts.set_theme(self.theme)
        self.dashboard.evaluation.regression.set_theme(self.theme)
        for action, icon in self._icon_actions:
            action.setIcon(themed_icon(icon, self.theme))

    # ------------------------------------------------------------------ first run
    def show_welcome(self) -> WelcomeDialog:
        """The welcome page: examples (drawn from the graphs), recent files, new, open, the tour."""
        dialog = WelcomeDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.exampleChosen.connect(self.open_example)
        dialog.recentChosen.connect(self.open_path)
        dialog.newRequested.connect(self.new_document)
        dialog.openRequested.connect(self.ask_open)
        dialog.tourRequested.connect(self.start_tour)
        dialog.open()
        self._welcome = dialog
        return dialog

    def show_welcome_at_start(self) -> bool:
        """At start-up, until the user unticks "Show at start-up" (Help > Welcome brings it back)."""
        if not self.settings.value(SHOW_AT_START, True, type=bool):
            return False
        self.show_welcome()
        return True

    def start_tour(self) -> Tour:
        """A short tour of the main actions, pointing at the real widgets."""
        if getattr(self, "_tour", None) is not None:
            self._tour.end()
        self._tour = Tour(self)
        self._tour.finished.connect(lambda: setattr(self, "_tour", None))
        return self._tour.start()

    def node_help(self) -> None:
        """F1: the selected node type's documentation (its ports and every parameter)."""
        if self.inspector.show_help() is None:
            self.statusBar().showMessage("Select a node to see its documentation (or hover a palette entry)", 4000)

    def tour_target(self, name: str) -> QWidget | None:
        """The widget a tour step points at (its dock shown and raised first)."""
        docks = {d.objectName(): d for d in self.findChildren(QDockWidget)}
        if name in ("palette", "inspector"):
            docks[name].show()
            docks[name].raise_()
            return docks[name]
        if name == "canvas":
            return self.view
        actions = {"train": self.dashboard.train_action, "export": self.dashboard.export_action}
        return self.toolbar.widgetForAction(actions[name]) if name in actions else None

    def plugins_text(self) -> str:
        """What the plugin folders hold: the node types each plugin added, and what was skipped."""
        from layerloom.catalog.plugin_guard import ENV, given_up, plugin_timeout
        from layerloom.catalog.plugins import last_report, plugin_dirs, plugins_enabled

        report = last_report()
        lines = ["Plugin folders: " + ", ".join(str(p) for p in plugin_dirs())]
        if not plugins_enabled():
            lines.append("Plugins are turned off (LAYERLOOM_NO_PLUGINS).")
        limit = plugin_timeout()
        lines.append(f"Plugin code is stopped after {limit:g} s ({ENV})." if limit else
                     f"Plugin code runs without a time limit ({ENV}=0).")
        stopped: dict[str, list[str]] = {}   # loaded, then stopped: its node types no longer work
        for plugin, type_id, what, seconds in given_up():
            stopped.setdefault(plugin, []).append(f"{type_id}'s {what} did not return within {seconds:g} s and is "
                                                  "not called again until LayerLoom restarts")
        for plugin, types in sorted(report.loaded.items()):
            if plugin in stopped:
                lines.append(f"⚠ {plugin}: {', '.join(types)}; but " + "; ".join(stopped.pop(plugin)))
            else:
                lines.append(f"✔ {plugin}: {', '.join(types) or 'no node types'}")
        lines += [f"⚠ {plugin}: " + "; ".join(said) for plugin, said in sorted(stopped.items())]
        lines += [f"✖ {problem.describe()}" for problem in report.problems]
        if not report.loaded and not report.problems:
            lines.append("No plugins installed. A plugin is a .py file declaring NODES (see docs/extending.md).")
        return "\n".join(lines)

    def show_plugins(self) -> None:
        QMessageBox.information(self, "Plugins", self.plugins_text())

    def report_plugin_problems(self) -> None:
        """At start-up: plugins that could not load are said once (status bar, and in detail on stderr)."""
        from layerloom.catalog.plugins import last_report

        problems = last_report().problems
        for problem in problems:
            print(f"layerloom: {problem.describe()}", file=sys.stderr)
        if problems:
            self.statusBar().showMessage(f"{len(problems)} plugin(s) could not load: see Help > Plugins", 15000)

    def _toggle_snap(self, checked: bool) -> None:
        self.settings.setValue("snap", checked)
        if self.document is not None:
            self.editing.scene.snap = checked

    def rename_selected(self) -> None:
        """F2: edit the selected node's name in place on the canvas."""
        ids = self.selected_node_ids()
        if len(ids) != 1:
            self.statusBar().showMessage("Select one node to rename it", 4000)
            return
        self.view.ensureVisible(self.editing.scene.item_for_node[ids[0]])
        self.view.setFocus()
        self.editing.scene.start_rename(ids[0])

    def _selection_changed(self) -> None:
        nodes = [i for i in self.editing.scene.selectedItems() if isinstance(i, NodeItem)]
        self.inspector.show_node(self.editing, nodes[0].node_id if len(nodes) == 1 else None)

    def _show_analysis(self, analysis) -> None:
        """The problems of the level on the canvas (a block's inside: with its params filled in)."""
        self.problems.clear()
        for problem in analysis.errors + analysis.warnings:
            item = QListWidgetItem(("✖ " if problem.severity == ERROR else "⚠ ") + problem.describe())
            item.setData(NODE_ROLE, problem.node_id)
            self.problems.addItem(item)
        if not analysis.problems:
            self.problems.addItem("No problems.")

    def _show_totals(self, analysis) -> None:
        """The model's size, whatever level is on the canvas."""
        count = len(self.document.graph)
        self.totals.setText(f"{count} nodes  |  {analysis.total_params:,} parameters")

    def _show_problem(self, item: QListWidgetItem) -> None:
        self.select_node(item.data(NODE_ROLE))

    def _workspace_changed(self, name: str) -> None:
        for key, action in self.workspace_actions.items():
            action.setChecked(key == name)
        self.dashboard.workspace_changed(name)
        if name == DESIGN:
            QTimer.singleShot(0, self.view.setFocus)

    def show_problems(self) -> None:
        """Bring the Problems list into view (in the Design workspace; the Train workspace says the same
        in its banner)."""
        if self.workspaces.current == DESIGN:
            dock = self.findChild(QDockWidget, "problems")
            dock.show()
            dock.raise_()

    def select_node(self, node_id: str | None) -> None:
        """Select a node alone and centre the canvas on it (a clicked problem)."""
        node_item = self.editing.scene.item_for_node.get(node_id) if node_id else None
        if node_item is None:
            return
        self.editing.scene.clearSelection()
        node_item.setSelected(True)
        self.view.centerOn(node_item)


def private_settings(folder: str | Path) -> QSettings:
    """Settings kept in ``folder`` (recovery copies and runs too), never the user's: for scripts,
    benchmarks and tests that open a window."""
    folder = Path(folder)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(folder / "recovery"))
    settings.setValue("runs_dir", str(folder / "runs"))
    return settings


def _file_stem(path: Path) -> str:
    """``my_mlp.llgraph.json`` -> ``my_mlp``."""
    name = Path(path).name
    for suffix in (SUFFIX, ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _documents_folder() -> Path:
    """Where a new graph is saved by default: ``Documents/LayerLoom`` (made when missing)."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    folder = Path(documents or Path.home()) / "LayerLoom"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(documents or Path.home())
    return folder


def _default_recovery_dir() -> str:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return str(Path(base or Path.home() / ".layerloom") / "recovery")


def _port(graph, node_id: str, name: str, direction: str):
    ports = graph.output_ports(node_id) if direction == "out" else graph.input_ports(node_id)
    return next(p for p in ports if p.name == name)


def _spec_ports(spec, direction: str):
    """The ports of a node type (default params) a dropped wire could join: its inputs when the wire
    comes from an output, its outputs when it comes from an input."""
    if direction == "out":
        return spec.input_ports({p.name: p.default for p in spec.params})
    return spec.outputs


def _matching_port(ports, dropped, direction: str) -> str | None:
    """The first of ``ports`` that can be wired to the ``dropped`` port."""
    for port in ports:
        if direction == "out" and dropped.kind in port.accepted_kinds():
            return port.name
        if direction == "in" and port.kind in dropped.accepted_kinds():
            return port.name
    return None
