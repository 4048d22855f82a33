"""The editor window: canvas in the middle, palette left, inspector right, problems below.

The window wires widgets to the current ``Document``; every edit goes through the document's undo
stack, every fact comes from the model and its analysis. ``EditorWindow`` is assembled from parts,
each in its own module of this package:

- ``menus``: the menus and toolbar, declared in one table (which the shortcuts dialog reads too);
- ``files``: new, open, save, recent files, the title and the recovery copies;
- ``editing``: undo, the clipboard, quick add (and the wire-drop rule's plans), layout, snapping;
- ``blocks``: group, ungroup, open a block's inside, import and export blocks;
- ``themes``: the theme and the themed icons;
- ``importing``: File > Import ONNX... and Import PyTorch Model... (a model made elsewhere, as a graph);
- ``help_menu``: welcome page, tour, shortcuts, node documentation, plugins, About.

This module keeps what ties them together: the widgets and docks, the document and the level shown
on the canvas, the problems list, the warm training processes and closing.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QApplication, QDockWidget, QLabel, QLineEdit, QListWidget, QListWidgetItem,
                               QMainWindow, QVBoxLayout, QWidget)

from layerloom import Graph
from layerloom.model.analysis import ERROR
from layerloom.model.trainable import frozen_params
from layerloom.training.worker import WarmPool

from layerloom.nodeeditor.canvas.items import NodeItem
from layerloom.nodeeditor.canvas.quick_add import QuickAdd
from layerloom.nodeeditor.canvas.view import CanvasView
from layerloom.nodeeditor.dashboard.controller import Dashboard
from layerloom.nodeeditor.document.autosave import INTERVAL_MS, Autosaver
from layerloom.nodeeditor.document.block_scopes import BlockScopes
from layerloom.nodeeditor.document.card_menu import CardMenu
from layerloom.nodeeditor.document.document import Document
from layerloom.nodeeditor.panels.inspector import Inspector
from layerloom.nodeeditor.panels.palette import Palette
from layerloom.nodeeditor.panels.workspaces import DESIGN, TRAIN, Workspaces
from layerloom.nodeeditor.theme.icons import app_icon, themed_icon
from layerloom.nodeeditor.theme.style import THEMES
from layerloom.nodeeditor.window.blocks import BlocksMixin
from layerloom.nodeeditor.window.editing import EditingMixin
from layerloom.nodeeditor.document.file_claims import FileClaim
from layerloom.nodeeditor.window.files import UNTITLED, FilesMixin, default_recovery_dir
from layerloom.nodeeditor.window.help_menu import HelpMixin
from layerloom.nodeeditor.window.importing import ImportingMixin
from layerloom.nodeeditor.window.menus import MenusMixin
from layerloom.nodeeditor.window.themes import ThemesMixin, apply_window_theme

NODE_ROLE = Qt.ItemDataRole.UserRole


class _ProblemList(QListWidget):
    def sizeHint(self):  # noqa: N802 - Qt override: a few lines tall, the canvas gets the rest
        return QSize(600, 110)


WARM_DELAY_MS = 1500   # the window idle this long: start the next warm process
_windows: set = set()   # windows opened with New Window, kept alive until they close


CARD_MENU = ("Edit > Rename Node", "Edit > Duplicate", "Edit > Copy", "Edit > Cut", "Edit > Delete",
             "Blocks > Group into Block", "Blocks > Ungroup", "Blocks > Edit Block Inside")


class EditorWindow(MenusMixin, FilesMixin, ImportingMixin, EditingMixin, BlocksMixin, ThemesMixin, HelpMixin,
                   QMainWindow):
    """The main window of the editor (see the module's docstring for its parts)."""

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.theme = THEMES.get(str(self.settings.value("theme", "dark")), THEMES["dark"])
        apply_window_theme(QApplication.instance(), self.theme)
        self.document: Document | None = None
        self._icon_actions: list[tuple[QAction, str]] = []   # re-tinted when the theme changes
        self.setWindowIcon(app_icon())
        self.view = CanvasView()
        self.scopes = BlockScopes(self)
        self.scopes.scopeChanged.connect(self._show_scope)
        self._shown: Document | None = None   # the level on the canvas (the model, or a block's inside)
        # right-click a card: Freeze, Unfreeze, then the Edit and Blocks actions on a selection
        self.card_menu = CardMenu(self.view, lambda: self._shown, lambda: [
            self.menu_actions[key] for key in CARD_MENU if key in getattr(self, "menu_actions", {})])
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
        self.autosaver = Autosaver(self.settings.value("recovery_dir") or default_recovery_dir())
        self.file_claim = FileClaim(self.autosaver.folder)   # the file this window shows, held against others
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

    # ------------------------------------------------------------------ documents
    def set_document(self, document: Document) -> None:
        self._release_document()
        self.document = document
        self.file_claim.take(document.path)
        self.dashboard.set_document(document)
        document.statusMessage.connect(lambda text: self.statusBar().showMessage(text, 6000))
        document.bridge.analyzed.connect(self._show_totals)
        document.bridge.blockChanged.connect(self._blocks_changed)
        document.undo_stack.cleanChanged.connect(self._update_title)
        self._follow_undo_stack(document)   # Undo and Redo
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

    # ------------------------------------------------------------------ windows
    def new_window(self) -> "EditorWindow":
        """Another editor window in this process, with an empty graph: two documents side by side,
        copy and paste between them."""
        window = EditorWindow(self.settings)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        _windows.add(window)
        window.destroyed.connect(lambda *_: _windows.discard(window))
        # cascaded by 40 px, but kept on the screen: at 1366x768 a same-sized copy ran off its bottom
        area = self.screen().availableGeometry() if self.screen() is not None else None
        window.resize(self.size().boundedTo(area.size() - QSize(40, 40)) if area is not None else self.size())
        window.move(self.pos() + QPoint(40, 40))
        window.show()
        if area is not None:   # the size it took once shown (never under its minimum) decides where it fits
            frame = window.frameGeometry()
            window.move(max(area.left(), min(frame.x(), area.right() + 1 - frame.width())),
                        max(area.top(), min(frame.y(), area.bottom() + 1 - frame.height())))
        return window

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
        self.file_claim.release()
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

    # ------------------------------------------------------------------ selection, problems, workspaces
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
        frozen = frozen_params(analysis)   # fine-tuning: what training leaves as loaded
        self.totals.setText(f"{count} node{'' if count == 1 else 's'}  |  {analysis.params_sentence()}"
                            + (f", {frozen:,} frozen" if frozen else ""))
        notes = []
        if analysis.params_unknown:
            unknown = len(analysis.params_unknown)
            notes.append(f"{unknown} node{'' if unknown == 1 else 's'} not counted yet: wire "
                         f"{'its' if unknown == 1 else 'their'} inputs to size {'it' if unknown == 1 else 'them'}")
        if analysis.compiled_params != analysis.total_params:
            notes.append(f"{analysis.total_params - analysis.compiled_params:,} of them in nodes that lead to no "
                         "Output or loss, which training leaves out")
        self.totals.setToolTip("The sum of the node cards' parameter counts." + "".join(f"\n{n}." for n in notes))

    def _show_problem(self, item: QListWidgetItem) -> None:
        self.select_node(item.data(NODE_ROLE))

    def workspace_is(self, name: str) -> bool:
        return name == self.workspaces.current

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


def private_settings(folder: str | Path) -> QSettings:
    """Settings kept in ``folder`` (recovery copies and runs too), never the user's: for scripts,
    benchmarks and tests that open a window."""
    folder = Path(folder)
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(folder / "recovery"))
    settings.setValue("runs_dir", str(folder / "runs"))
    return settings
