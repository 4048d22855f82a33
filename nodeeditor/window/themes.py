"""The window's theme: switching between the dark and light themes (View > Theme), and the themed
icons of its actions, tinted again when the theme changes.

``apply_window_theme`` applies a theme to the application's palette, with disabled widgets that look
disabled (``layerloom.nodeeditor.theme.palette``). ``ThemesMixin`` is part of ``EditorWindow``: it keeps ``self.theme`` and ``self._icon_actions`` and
passes a new theme to the canvas levels and the dashboard's plots.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication

from layerloom.nodeeditor.theme.icons import themed_icon
from layerloom.nodeeditor.theme.palette import with_disabled_group
from layerloom.nodeeditor.theme.style import THEMES, Theme, apply_app_theme


def apply_window_theme(app: QApplication, theme: Theme) -> None:
    """The Fusion style with the theme's palette, its disabled widgets dimmed in either theme."""
    apply_app_theme(app, theme)
    app.setPalette(with_disabled_group(app.palette()))


class ThemesMixin:
    """The current theme of an ``EditorWindow`` and the icons that follow it."""

    def themed_icon_for(self, action: QAction, icon: str) -> None:
        """Give ``action`` the icon named ``icon`` in the current theme, and again at each theme change."""
        action.setIcon(themed_icon(icon, self.theme))
        self._icon_actions.append((action, icon))

    def theme_is(self, name: str) -> bool:
        return name == self.theme.name

    def set_theme(self, name: str) -> None:
        self.theme = THEMES[name]
        self.settings.setValue("theme", name)
        apply_window_theme(QApplication.instance(), self.theme)
        for level in self.scopes.levels:
            level.scene.set_theme(self.theme)
        self.dashboard.charts.set_theme(self.theme)
        self.dashboard.evaluation.regression.set_theme(self.theme)
        for action, icon in self._icon_actions:
            action.setIcon(themed_icon(icon, self.theme))
