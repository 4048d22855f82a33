"""Disabled widgets look disabled in both themes: the palette's Disabled group is dimmed clearly away
from the enabled text, and a disabled tab and button are drawn dimmer than enabled ones."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QTabWidget, QVBoxLayout, QWidget

from layerloom.nodeeditor.theme.palette import TEXT_ON, contrast
from layerloom.nodeeditor.theme.style import DARK, LIGHT
from layerloom.nodeeditor.window.themes import apply_window_theme

pytestmark = pytest.mark.gui

ACTIVE, DISABLED = QPalette.ColorGroup.Active, QPalette.ColorGroup.Disabled


@pytest.fixture
def themed(qapp):
    """Applies a theme to the application; the palette and style it had come back afterwards."""
    palette, style = qapp.palette(), qapp.style().name()

    def apply(theme):
        apply_window_theme(qapp, theme)
        return qapp.palette()
    yield apply
    qapp.setStyle(style)
    qapp.setPalette(palette)


@pytest.mark.parametrize("theme", [DARK, LIGHT], ids=lambda t: t.name)
def test_disabled_text_differs_clearly_from_enabled_text_and_stays_legible(themed, theme):
    palette = themed(theme)
    for text, (background, _) in TEXT_ON.items():
        bg = palette.color(ACTIVE, background)
        assert palette.color(DISABLED, background) == bg  # the same ground, only the ink changes
        enabled, disabled = palette.color(ACTIVE, text), palette.color(DISABLED, text)
        shown = (theme.name, text, enabled.name(), disabled.name(), contrast(enabled, bg), contrast(disabled, bg))
        assert contrast(enabled, bg) >= 1.8 * contrast(disabled, bg), shown  # clearly dimmer
        assert contrast(disabled, bg) >= 2.0, shown  # still readable


def _strongest_ink(image, rect, background: QColor) -> float:
    """The highest contrast against ``background`` of any pixel in ``rect`` of ``image``."""
    best = 1.0
    for x in range(rect.left(), rect.right() + 1):
        for y in range(rect.top(), rect.bottom() + 1):
            best = max(best, contrast(QColor(image.pixel(x, y)), background))
    return best


@pytest.mark.parametrize("theme", [DARK, LIGHT], ids=lambda t: t.name)
def test_a_disabled_tab_and_button_are_drawn_dimmer(qtbot, themed, theme, tmp_path):
    palette = themed(theme)
    page = QWidget()
    tabs = QTabWidget()
    tabs.addTab(QWidget(), "Design")
    tabs.addTab(QWidget(), "Train")
    tabs.setTabEnabled(1, False)
    on, off = QPushButton("Enabled"), QPushButton("Disabled")
    off.setEnabled(False)
    buttons = QHBoxLayout()
    buttons.addWidget(on)
    buttons.addWidget(off)
    layout = QVBoxLayout(page)
    layout.addWidget(tabs)
    layout.addLayout(buttons)
    qtbot.addWidget(page)
    page.resize(360, 200)
    page.show()
    qtbot.waitExposed(page)
    image = page.grab().toImage()
    image.save(str(tmp_path / f"disabled-{theme.name}.png"))
    bar = tabs.tabBar()
    window = palette.color(ACTIVE, QPalette.ColorRole.Window)

    def tab_ink(index: int) -> float:
        rect = bar.tabRect(index).adjusted(6, 4, -6, -4).translated(bar.mapTo(page, bar.rect().topLeft()))
        return _strongest_ink(image, rect, QColor(image.pixel(rect.left(), rect.center().y())))

    def button_ink(button) -> float:
        rect = button.geometry().adjusted(8, 6, -8, -6)
        return _strongest_ink(image, rect, QColor(image.pixel(rect.left(), rect.center().y())))

    assert window.isValid()
    assert tab_ink(0) >= 1.8 * tab_ink(1), (tab_ink(0), tab_ink(1))
    assert button_ink(on) >= 1.8 * button_ink(off), (button_ink(on), button_ink(off))
