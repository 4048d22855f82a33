"""What disabled looks like: the Disabled colour group of the window palette, in either theme.

A disabled widget's text is its enabled text colour dimmed most of the way toward the background it is
drawn on (``dimmed``), so it stays legible but reads as off in the dark theme as in the light one (the
dark palette used to inherit the light palette's disabled greys, and a disabled tab looked enabled).
Disabled icons take the same colour (``layerloom.nodeeditor.theme.icons``).
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette

DIM = 0.6  # how far a disabled text colour moves from the enabled one toward its background

_Role = QPalette.ColorRole
# each text role with the background it is drawn on and how far it dims (a placeholder is dim already)
TEXT_ON = {
    _Role.WindowText: (_Role.Window, DIM),
    _Role.Text: (_Role.Base, DIM),
    _Role.ButtonText: (_Role.Button, DIM),
    _Role.PlaceholderText: (_Role.Base, 0.4),
    _Role.ToolTipText: (_Role.ToolTipBase, DIM),
    _Role.Link: (_Role.Base, DIM),
}


def dimmed(color: str | QColor, background: str | QColor, amount: float = DIM) -> QColor:
    """``color`` moved ``amount`` of the way toward ``background`` (0: unchanged, 1: the background)."""
    fg, bg = QColor(color), QColor(background)
    mix = [round(a + (b - a) * amount) for a, b in zip(fg.getRgb()[:3], bg.getRgb()[:3])]
    return QColor(*mix)


def with_disabled_group(palette: QPalette) -> QPalette:
    """``palette`` with its Disabled group derived from its Active one: backgrounds as enabled, text
    dimmed toward its background, the selection greyed (a disabled list's selection is no call to act)."""
    palette = QPalette(palette)
    active, disabled = QPalette.ColorGroup.Active, QPalette.ColorGroup.Disabled
    for role in (_Role.Window, _Role.Base, _Role.AlternateBase, _Role.Button, _Role.ToolTipBase):
        palette.setColor(disabled, role, palette.color(active, role))
    for text, (background, amount) in TEXT_ON.items():
        palette.setColor(disabled, text, dimmed(palette.color(active, text), palette.color(active, background), amount))
    window = palette.color(active, _Role.Window)
    palette.setColor(disabled, _Role.Highlight, dimmed(palette.color(active, _Role.Highlight), window, 0.5))
    palette.setColor(disabled, _Role.HighlightedText, palette.color(disabled, _Role.WindowText))
    return palette


def luminance(color: QColor) -> float:
    """Relative luminance (WCAG 2) of an opaque colour."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """The WCAG contrast ratio of two colours: 1 (the same) to 21 (black on white)."""
    high, low = sorted((luminance(QColor(a)), luminance(QColor(b))), reverse=True)
    return (high + 0.05) / (low + 0.05)
