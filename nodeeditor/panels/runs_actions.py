"""The Runs panel's actions: show a run's results, open the graph it was trained from, load its
checkpoint, continue a stopped run (``continueRequested``), fine-tune from it (the next run starts from its best or last checkpoint: ``fineTuneRequested``,
which the training panel turns into the ``training.weights`` setting), show or delete its folder, and refresh. ``RunActions`` is mixed into ``RunsPanel``: the
actions apply to its ``current_run()`` / ``selected_runs()`` and are said through its signals; they
sit in its tool bar, the rows' context menu and on the Return and Delete keys.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QEvent, QFile, QModelIndex, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QMenu, QMessageBox, QToolBar

from layerloom.training.records import RUNNING, RunInfo


def move_to_trash(path: Path) -> bool:
    """True when the desktop's trash took the folder (Qt's answer differs between versions)."""
    result = QFile.moveToTrash(str(path))
    return bool(result[0] if isinstance(result, tuple) else result)


class RunActions:
    """The actions of ``RunsPanel`` (a mixin: it uses the panel's ``view``, ``current_run``,
    ``selected_runs``, ``refresh`` and signals)."""

    fineTuneRequested = Signal(object)   # Path of the run's best.pt (last.pt without one): start from it
    continueRequested = Signal(object, int)   # a run folder to continue from its last checkpoint, and the
                                              # epochs to train in all (0: its planned ones)

    def _make_actions(self) -> None:
        def action(text: str, slot) -> QAction:
            act = QAction(text, self)
            act.triggered.connect(lambda: slot())
            return act

        self.refresh_action = action("Refresh", self.refresh)
        self.show_action = action("Show results", self.show_run)
        self.show_action.setToolTip("Show the run's charts, evaluation and Try it (double-click, Return)")
        self.open_action = action("Open graph", self.open_graph)
        self.checkpoint_action = action("Load checkpoint", self.load_checkpoint)
        self.fine_tune_action = action("Fine-tune from this run", self.fine_tune)
        self.fine_tune_action.setToolTip("Start the next run of the open graph from this run's best checkpoint "
                                         "(its weights matched by node name; what does not fit starts fresh)")
        self.continue_action = action("Continue training", self.continue_run)
        self.continue_action.setToolTip("Go on from the run's last checkpoint, in its own folder: a run that was "
                                        "stopped (or failed on a full disk) to its planned epochs, a finished run "
                                        "to more epochs (asked)")
        self.folder_action = action("Show folder", self.show_folder)
        self.delete_action = action("Delete run…", self.delete_runs)
        # Keys, not action shortcuts: the window's Delete (delete nodes) and F5 (train) would make a
        # shortcut of the same key ambiguous, and then neither fires.
        self._keys = {Qt.Key.Key_Return: self.show_action, Qt.Key.Key_Enter: self.show_action,
                      Qt.Key.Key_Delete: self.delete_action}
        self.view.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if watched is self.view and kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) \
                and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier) \
                and event.key() in self._keys:
            event.accept()      # ShortcutOverride accepted: the key comes here, not to a window shortcut
            if kind == QEvent.Type.KeyPress and self._keys[event.key()].isEnabled():
                self._keys[event.key()].trigger()
            return True
        return super().eventFilter(watched, event)

    def _make_buttons(self) -> QToolBar:
        """The actions as a tool bar: in a narrow dock the last ones fold into its » menu (a row of
        push buttons made the dock 570 px wide at least)."""
        bar = QToolBar(self)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.setIconSize(QSize(16, 16))
        self.buttons = {}
        for act in (self.show_action, self.open_action, self.checkpoint_action, None, self.folder_action,
                    self.delete_action, None, self.refresh_action):
            if act is None:
                bar.addSeparator()
                continue
            bar.addAction(act)
            self.buttons[act.text()] = bar.widgetForAction(act)
        self.toolbar = bar
        return bar

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isRowSelected(index.row(), QModelIndex()):
            self.view.setCurrentIndex(index)  # right-click on an unselected row acts on that row alone
        self._sync()
        self.fine_tune_action.setEnabled(self.checkpoint_action.isEnabled())
        run = self.current_run()
        why = run.cannot_continue() if run is not None else "no run"
        self.continue_action.setEnabled(why is None)
        text = "Continue training" if run is None or run.ended_early else "Train more epochs…"
        self.continue_action.setText(text if why is None else f"{text} ({why})")
        menu = QMenu(self)
        for act in (self.show_action, self.open_action, self.checkpoint_action, self.continue_action,
                    self.fine_tune_action, self.folder_action):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.delete_action)
        menu.addSeparator()
        menu.addAction(self.refresh_action)
        menu.popup(self.view.viewport().mapToGlobal(pos))
        self._menu = menu  # tests reach the open menu here

    def show_run(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None and run.path.is_dir():
            self.showRunRequested.emit(run.path)

    def open_graph(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None and run.graph_file is not None:
            self.openGraphRequested.emit(run.graph_file)

    def load_checkpoint(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None and run.checkpoint is not None:
            self.loadCheckpointRequested.emit(run.checkpoint)

    def fine_tune(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None and run.checkpoint is not None:
            self.fineTuneRequested.emit(run.checkpoint)

    def continue_run(self, run: RunInfo | None = None, epochs: int | None = None) -> None:
        """Continue ``run`` (the current one): a run that ended early to its planned epochs, a finished one
        to ``epochs`` in all (asked when not given: its epochs doubled, at least one more)."""
        run = run or self.current_run()
        if run is None or run.cannot_continue() is not None:
            return
        if run.ended_early:
            self.continueRequested.emit(run.path, 0)
            return
        done = run.epochs or run.epoch
        if epochs is None:
            from PySide6.QtWidgets import QInputDialog

            epochs, ok = QInputDialog.getInt(self, "Train more epochs",
                                             f"{run.name} trained {done:,} epochs. Train it to (epochs in all):",
                                             max(2 * done, done + 1), done + 1, 100_000)
            if not ok:
                return
        if epochs > done:
            self.continueRequested.emit(run.path, int(epochs))

    def show_folder(self, run: RunInfo | None = None) -> None:
        run = run or self.current_run()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))

    def delete_runs(self, runs: list[RunInfo] | None = None) -> int:
        """Ask, then move the runs' folders to the trash (or, when there is none and after asking
        again, delete them). A run this window is still training is never deleted. Returns how many
        folders went."""
        runs = [r for r in (self.selected_runs() if runs is None else runs) if not (r.live and r.status == RUNNING)]
        if not runs:
            return 0
        what = f"the run “{runs[0].name}”" if len(runs) == 1 else f"{len(runs)} runs"
        answer = QMessageBox.question(
            self, "Delete runs", f"Delete {what}?\n\nThe folder (checkpoints, metrics, saved graph) is moved "
            "to the trash.", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return 0
        left, errors = [run for run in runs if not move_to_trash(run.path)], []
        if left and QMessageBox.question(
                self, "Delete runs", f"The trash cannot take {len(left)} of them here. Delete "
                f"{'it' if len(left) == 1 else 'them'} permanently? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No) == QMessageBox.StandardButton.Yes:
            for run in left:
                try:
                    shutil.rmtree(run.path)
                except OSError as exc:
                    errors.append(f"{run.name}: {exc.strerror or exc}")
        left = [run for run in runs if run.path.exists()]
        for run in runs:
            if not run.path.exists():
                self._live.pop(run.path, None)
                self._curves.pop(run.path, None)
        self.refresh()
        if errors:
            self.info.setText("Not deleted: " + "; ".join(errors[:3]))
        gone = [run.path for run in runs if not run.path.exists()]
        if gone:
            self.runsDeleted.emit(gone)   # the views that showed one of them move on
        return len(runs) - len(left)
