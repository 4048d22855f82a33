"""The window's file actions: new, open (a file, an example, a recent one), save and save as, the
"unsaved changes" question, the recent-files menu, the title, and the recovery copies (autosave).

``FilesMixin`` is part of ``EditorWindow``: it reads ``self.document``, ``self.settings``,
``self.autosaver``, ``self.dashboard`` and ``self.theme``, and shows documents with ``set_document``.
"""

from __future__ import annotations

import os
from pathlib import Path

import shiboken6
from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from layerloom import Graph, LayerLoomError, load_graph, save_graph
from layerloom.files.graphfile import SUFFIX
from layerloom.files.resources import example_path, example_stem, example_titles
from layerloom.model.layout import place_unplaced

from layerloom.nodeeditor.document.autosave import Autosaver
from layerloom.nodeeditor.document.commands import SetMetaCommand
from layerloom.nodeeditor.document.document import Document

MAX_RECENT = 8
UNTITLED = "untitled"


class FilesMixin:
    """Open, save, recent files and recovery copies of an ``EditorWindow``."""

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
        """At start-up: offer each recovery copy whose window is gone (a crash, a kill), newest first;
        True when one was restored. Copies of windows still running (here or in another process) are
        never offered nor removed. A copy restores into this window only when it shows nothing the user
        asked for (a clean untitled graph or example, or a clean copy of the same file); otherwise into
        a new window, so the file named on the command line stays open."""
        found = sorted(self.autosaver.found(), key=lambda r: r.saved_at, reverse=True)
        restored = False
        for recovered in found:
            target = self if self._restores_here(recovered) else None
            if not self._ask_restore(recovered, in_new_window=target is None):
                Autosaver.remove(recovered)
                continue
            graph = Autosaver.load(recovered)
            if graph is None:
                Autosaver.remove(recovered)
                self.warn("Cannot restore", f"The recovery copy {recovered.graph_path} could not be read.")
                continue
            target = target or self.new_window()
            document = Document(graph, recovered.original, theme=target.theme)
            document.undo_stack.resetClean()  # restored work is unsaved work
            target.set_document(document)
            target.autosave_now()   # its own copy first, then the old one goes: a crash between loses nothing
            Autosaver.remove(recovered)
            restored = True
        return restored

    def _restores_here(self, recovered) -> bool:
        """True when restoring ``recovered`` into this window replaces nothing the user asked for."""
        document = self.document
        if document is None:
            return True
        if not document.undo_stack.isClean():
            return False
        if document.path is None:   # an untitled graph or an example opened as a template
            return True
        return recovered.original is not None and _same_file(document.path, recovered.original)

    def _ask_restore(self, recovered, in_new_window: bool) -> bool:
        what = f"of {recovered.original}" if recovered.original else "of an untitled graph"
        where = ""
        if in_new_window and self.document is not None:
            shown = self.document.path.name if self.document.path else self.document.graph.name
            where = f"\n\nThey open in a new window; {shown} stays open here."
        answer = QMessageBox.question(
            self, "Restore unsaved work?",
            f"A LayerLoom window did not close cleanly. Restore its unsaved changes {what} "
            f"(autosaved {recovered.saved_at})?{where}\n\nNo deletes the recovery copy.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ open
    def new_document(self) -> None:
        if self.maybe_save():
            self.set_document(Document(Graph(name=UNTITLED), theme=self.theme))

    def open_example(self, stem: str) -> bool:
        return self.open_path(example_path(stem), remember=False, as_template=True)

    def fill_examples(self, menu: QMenu) -> None:
        """File > Examples: one entry per example graph, named as the graph names itself (the welcome
        gallery and the window title say the same)."""
        for title, path in example_titles():
            action = QAction(title.replace("&", "&&"), self)
            action.setData(example_stem(path))
            action.triggered.connect(lambda checked=False, s=example_stem(path): self.open_example(s))
            menu.addAction(action)

    def open_path(self, path: str | Path, remember: bool = True, as_template: bool = False) -> bool:
        """Open a graph file. A file that cannot be read shows the loader's message and leaves the
        current document as it was."""
        path = Path(path).absolute()   # a path named from the command line: its runs and messages say where
        if not as_template and not self._open_elsewhere_ok(path):
            return False
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

    def _open_elsewhere_ok(self, path: Path) -> bool:
        """True unless ``path`` is open in another LayerLoom window and the user would rather not open it
        twice (two windows editing one file: the last save wins). Another window of this process can be
        brought forward instead."""
        from layerloom.nodeeditor.document.file_claims import holder

        if self.file_claim.holds(path) or not path.exists():
            return True
        pid = holder(self.autosaver.folder, path)
        if pid is None:
            return True
        mine = pid == os.getpid()
        other = next((w for w in list(_open_windows()) if w is not self and w.file_claim.holds(path)), None) \
            if mine else None
        where = "another window of this LayerLoom" if mine else f"another LayerLoom (process {pid})"
        box = QMessageBox(QMessageBox.Icon.Warning, "Already open",
                          f"{path.name} is open in {where}.\n\nEditing it in two windows means the last one "
                          "saved wins and the other's changes are lost.", parent=self)
        show = box.addButton("Show That Window", QMessageBox.ButtonRole.AcceptRole) if other is not None else None
        anyway = box.addButton("Open Here Too", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(show or box.button(QMessageBox.StandardButton.Cancel))
        box.exec()
        if show is not None and box.clickedButton() is show:
            other.showNormal()
            other.raise_()
            other.activateWindow()
            return False
        return box.clickedButton() is anyway

    def _replace_elsewhere_ok(self, path: Path) -> bool:
        """Save As onto a file another LayerLoom window has open: asked first (that window's next save
        would overwrite this one, or this one its work)."""
        from layerloom.nodeeditor.document.file_claims import holder

        if self.file_claim.holds(path) or not path.exists() or holder(self.autosaver.folder, path) is None:
            return True
        answer = QMessageBox.warning(
            self, "Open in another window",
            f"{path.name} is open in another LayerLoom window. Saving over it here means that window's next "
            "save overwrites this one (or this one its changes).\n\nSave over it anyway?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Save

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

    # ------------------------------------------------------------------ save
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
        if not self._replace_elsewhere_ok(path):
            return False
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
        self.file_claim.take(path)
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

    # ------------------------------------------------------------------ recent files, title
    def fill_recent(self, menu: QMenu) -> None:
        """File > Open Recent: filled from the settings by ``_refresh_recent``."""
        self.recent_menu = menu

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
        if doc is None or not shiboken6.isValid(doc.undo_stack) or not shiboken6.isValid(self):
            return   # the window is closing (a run's end may still reach it), or Python is exiting
        name = doc.path.name if doc.path else doc.graph.name
        self.setWindowTitle(f"{name}[*] - LayerLoom")
        self.setWindowModified(not doc.undo_stack.isClean())


def _file_stem(path: Path) -> str:
    """``my_mlp.llgraph.json`` -> ``my_mlp``."""
    name = Path(path).name
    for suffix in (SUFFIX, ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def _open_windows() -> list:
    """This process's editor windows (each has a ``file_claim``)."""
    from PySide6.QtWidgets import QApplication

    return [w for w in QApplication.topLevelWidgets() if hasattr(w, "file_claim")]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def _documents_folder() -> Path:
    """Where a new graph is saved by default: ``Documents/LayerLoom`` (made when missing)."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    folder = Path(documents or Path.home()) / "LayerLoom"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(documents or Path.home())
    return folder


def default_recovery_dir() -> str:
    """Where recovery copies go unless the settings say otherwise: the app's data folder."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return str(Path(base or Path.home() / ".layerloom") / "recovery")
