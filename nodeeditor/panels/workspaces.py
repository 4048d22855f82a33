"""Workspaces: the window's two arrangements of one document, as Blender and Qt Creator have them.

- **Design**: the canvas in the middle, the node palette left, the inspector right, problems below.
- **Train**: the run's header and live charts in the middle (they get the window), and the training
  settings, evaluation, Try it and runs as tabs on the right.

Each workspace remembers its own dock layout (``QMainWindow.saveState``) in the settings: a dock
moved or hidden in one never disturbs the other. The central area is a stack with one page per
workspace; switching is a tab click or Ctrl+1 / Ctrl+2.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QStackedWidget, QTabBar, QWidget

DESIGN, TRAIN = "design", "train"
NAMES = (DESIGN, TRAIN)
TITLES = {DESIGN: "Design", TRAIN: "Train"}
SHORTCUTS = {DESIGN: "Ctrl+1", TRAIN: "Ctrl+2"}
# The docks each workspace shows by default (every other dock starts hidden there).
DOCKS = {DESIGN: ("palette", "inspector", "problems"), TRAIN: ("training", "evaluation", "tryit", "runs")}
LAYOUT_VERSION = 3   # of the saved layouts: bumped when docks change (an older layout gives way to the default)


class Workspaces(QObject):
    """The central stack, the tab bar that switches it, and each workspace's saved dock layout."""

    changed = Signal(str)

    def __init__(self, window, pages: dict[str, QWidget]):
        super().__init__(window)
        self.window = window
        self.settings = window.settings
        self.stack = QStackedWidget()
        self.pages = pages
        for name in NAMES:
            self.stack.addWidget(pages[name])
        self.tabs = QTabBar()
        self.tabs.setObjectName("workspaceTabs")
        self.tabs.setDrawBase(False)
        self.tabs.setExpanding(False)
        for name in NAMES:
            index = self.tabs.addTab(TITLES[name])
            self.tabs.setTabToolTip(index, f"{TITLES[name]} workspace ({SHORTCUTS[name]})")
        self.tabs.currentChanged.connect(lambda index: self.switch(NAMES[index]))
        self.current = DESIGN
        self._states: dict[str, object] = {}
        for name in NAMES:
            state = self.settings.value(f"workspace/{name}")
            if state is not None:
                self._states[name] = state

    def restore_current(self) -> bool:
        """Lay out the current workspace from its saved state; False when there is none (or it is too
        old), and the default layout must be made once the window shows."""
        state = self._states.get(self.current)
        return state is not None and self.window.restoreState(state, LAYOUT_VERSION)

    def switch(self, name: str) -> None:
        """Show workspace ``name``: keep the current one's layout, put the other's back (or its default)."""
        if name == self.current or name not in NAMES:
            self._sync_tabs()
            return
        self._states[self.current] = self.window.saveState(LAYOUT_VERSION)
        self.current = name
        self.stack.setCurrentWidget(self.pages[name])
        self._sync_tabs()
        state = self._states.get(name)
        if state is None or not self.window.restoreState(state, LAYOUT_VERSION):
            self.default_layout(name)
        self.changed.emit(name)

    def _sync_tabs(self) -> None:
        self.tabs.blockSignals(True)
        self.tabs.setCurrentIndex(NAMES.index(self.current))
        self.tabs.blockSignals(False)

    def save(self) -> None:
        """Write every workspace's layout to the settings (the window is closing)."""
        self._states[self.current] = self.window.saveState(LAYOUT_VERSION)
        for name, state in self._states.items():
            self.settings.setValue(f"workspace/{name}", state)

    def reset_layout(self) -> None:
        """The current workspace's default layout again (View > Reset Layout)."""
        self._states.pop(self.current, None)
        self.default_layout(self.current)

    def default_layout(self, name: str) -> None:
        """The workspace's own docks shown and placed, every other dock hidden. Done with the window on
        screen: tabifying docks of a hidden window leaves a stray tab bar (Qt 6.11)."""
        window = self.window
        docks = {d.objectName(): d for d in window.findChildren(QDockWidget)}
        wanted = DOCKS[name]
        for dock_name, dock in docks.items():
            dock.setFloating(False)   # a floated dock goes back into the window
            if dock_name not in wanted:
                dock.hide()
        width = window.width() or 1280
        if name == DESIGN:
            window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, docks["palette"])
            window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, docks["inspector"])
            window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, docks["problems"])
            for dock_name in wanted:
                docks[dock_name].show()
            window.resizeDocks([docks["palette"], docks["inspector"]], [220, 300], Qt.Orientation.Horizontal)
            window.resizeDocks([docks["problems"]], [96], Qt.Orientation.Vertical)   # four problems; the canvas keeps the rest
            return
        first = docks[wanted[0]]
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, first)
        first.show()
        for dock_name in wanted[1:]:
            docks[dock_name].show()
            window.tabifyDockWidget(first, docks[dock_name])
        first.raise_()
        # the results get the window: the side column takes about 30% of it
        window.resizeDocks([first], [max(380, min(560, int(width * 0.3)))], Qt.Orientation.Horizontal)
