"""The window's Help menu: the welcome page and the tour (first run), the keyboard shortcuts, a node
type's documentation, what the plugin folders hold, and About.

``HelpMixin`` is part of ``EditorWindow``; the dialogs themselves live in ``welcome`` and ``about``
(this package) and ``layerloom.nodeeditor.panels.help``.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMessageBox, QWidget

from layerloom.nodeeditor.panels.help import ShortcutsDialog
from layerloom.nodeeditor.panels.help import show_shortcuts as show_shortcuts_dialog
from layerloom.nodeeditor.window.welcome import SHOW_AT_START, Tour, WelcomeDialog


class HelpMixin:
    """Help > Welcome, Tour, Keyboard Shortcuts, Node Documentation and Plugins, for an ``EditorWindow``."""

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

    # ------------------------------------------------------------------ reference
    def show_shortcuts(self) -> ShortcutsDialog:
        """Ctrl+/: the keyboard shortcuts, from the menu table."""
        return show_shortcuts_dialog(self)

    def node_help(self) -> None:
        """F1: the selected node type's documentation (its ports and every parameter)."""
        if self.inspector.show_help() is None:
            self.statusBar().showMessage("Select a node to see its documentation (or hover a palette entry)", 4000)

    # ------------------------------------------------------------------ about
    def show_about(self):
        """Help > About: the version, the bundled libraries' versions and licences, the folders."""
        from layerloom.nodeeditor.window.about import AboutDialog

        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self._about = dialog
        return dialog

    # ------------------------------------------------------------------ plugins
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
