"""Icons come from resources/icons, drawn in the theme's colours and crisp at 2x."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon

from layerloom.nodeeditor.theme.icons import app_icon, icon_path, render, themed_icon
from layerloom.nodeeditor.theme.style import DARK, LIGHT
from layerloom.files.resources import resource_root

pytestmark = pytest.mark.gui

ICONS = sorted(p.stem for p in (resource_root() / "icons").glob("*.svg"))


def _ink(pixmap) -> set[str]:
    image = pixmap.toImage()
    return {QColor(image.pixel(x, y)).name() for x in range(image.width()) for y in range(image.height())
            if QColor.fromRgba(image.pixel(x, y)).alpha() == 255}


@pytest.mark.parametrize("name", [n for n in ICONS if n != "layerloom"])
def test_every_icon_renders_in_the_theme_colour(qapp, name):
    for theme in (DARK, LIGHT):
        pixmap = themed_icon(name, theme).pixmap(QSize(24, 24), 2.0)
        assert pixmap.devicePixelRatio() == 2.0 and pixmap.width() == 48
        assert _ink(pixmap) == {theme.text}, name  # solid pixels: only the theme's text colour


def test_disabled_icons_are_dimmed_like_disabled_text(qapp):
    from layerloom.nodeeditor.theme.icons import disabled_ink
    from layerloom.nodeeditor.theme.palette import contrast

    for theme in (DARK, LIGHT):
        pixmap = themed_icon("undo", theme).pixmap(QSize(24, 24), QIcon.Mode.Disabled)
        assert _ink(pixmap) == {disabled_ink(theme)}
        card, ink, text = QColor(theme.card), QColor(disabled_ink(theme)), QColor(theme.text)
        assert contrast(text, card) >= 2 * contrast(ink, card) and contrast(ink, card) >= 2.0


def test_app_icon_and_missing_icons(qapp):
    assert not app_icon().isNull() and QSize(256, 256) in app_icon().availableSizes()
    assert len(_ink(render(icon_path("layerloom").read_text(), 64))) > 4  # full colour
    with pytest.raises(FileNotFoundError, match="no icon 'nope'"):
        themed_icon("nope", DARK)


def test_the_window_actions_have_icons_and_follow_the_theme(qtbot, tmp_path):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QToolBar

    from layerloom.nodeeditor.window.main_window import EditorWindow

    w = EditorWindow(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    toolbar = w.findChild(QToolBar, "toolbar")
    assert toolbar.widgetForAction(toolbar.actions()[0]) is w.workspaces.tabs   # the workspace tabs come first
    toolbar_actions = [a for a in toolbar.actions() if not a.isSeparator() and a.text()]
    assert [a.text() for a in toolbar_actions] == ["&New", "&Open…", "&Save", "&Undo", "&Redo", "&Delete",
                                                   "Zoom to &Fit", "Auto &Layout", "&Snap to Grid",
                                                   "&Train", "&Pause / Resume", "&Stop", "&Export…"]
    save = toolbar_actions[2]
    assert save.toolTip() == "Save (Ctrl+S)"
    assert _ink(save.icon().pixmap(QSize(24, 24))) == {DARK.text}
    w.set_theme("light")
    assert _ink(save.icon().pixmap(QSize(24, 24))) == {LIGHT.text}


def test_a_tinted_icon_is_rendered_once_per_colour_and_shared(qapp):
    """A new window reuses the icons the first one rendered (390 SVG renders each before), and a theme
    switch gets icons of its own colour."""
    first, again = themed_icon("train", DARK), themed_icon("train", DARK)
    assert first.cacheKey() == again.cacheKey()
    assert themed_icon("train", LIGHT).cacheKey() != first.cacheKey()
