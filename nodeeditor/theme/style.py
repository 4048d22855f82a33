"""Colours and sizes of the canvas, for the dark and the light theme."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette

CATEGORY_COLORS = {
    "Inputs & Outputs": "#5b8def",
    "Dense": "#8e6cef",
    "Convolution": "#d9822b",
    "Pooling": "#c9a227",
    "Normalization": "#2fa39b",
    "Shape": "#7d8794",
    "Sequence": "#c2569c",
    "Merge": "#4caf50",
    "Activation": "#e0605e",
    "Loss": "#b23b3b",
}
# one colour per port kind, for the port dots and the wires alike (a wire takes its source port's colour);
# the light theme's are darker so that a 2 px wire still stands out on a white canvas
PORT_COLORS = {"tensor": "#6cb6ff", "target": "#f0a050", "loss": "#ff6b6b"}
LIGHT_PORT_COLORS = {"tensor": "#2f7fd0", "target": "#d0711c", "loss": "#d63b3b"}

NODE_WIDTH = 190.0
HEADER = 40.0
ROW = 20.0
FOOTER = 22.0
PORT_RADIUS = 5.5
GRID = 20.0


@dataclass(frozen=True)
class Theme:
    name: str
    canvas: str
    grid: str
    card: str
    card_border: str
    text: str
    muted: str
    selection: str
    error: str
    accept: str = "#5fd38d"   # a port that can take the wire being dragged
    dim: float = 0.22         # the opacity of a port that cannot

    def color(self, attr: str) -> QColor:
        return QColor(getattr(self, attr))


DARK = Theme("dark", canvas="#1e1f22", grid="#2a2c30", card="#2b2d31", card_border="#3d4046", text="#e6e6e6",
             muted="#9aa0a8", selection="#f5c542", error="#ff5555")
LIGHT = Theme("light", canvas="#f4f5f7", grid="#e3e5e9", card="#ffffff", card_border="#c9ccd2", text="#1f2328",
              muted="#5f6670", selection="#d08c00", error="#d32f2f",
              accept="#1e9e50")
THEMES = {"dark": DARK, "light": LIGHT}


EXTRA_COLORS = ("#3fa7d6", "#f29e4c", "#9b5de5", "#00b894", "#e84393", "#fdcb6e", "#6c5ce7", "#00cec9")


def category_color(category: str | None) -> QColor:
    """A built-in category's colour; a plugin's own category gets one of a few more, the same one
    every time (picked from its name)."""
    if category in CATEGORY_COLORS:
        return QColor(CATEGORY_COLORS[category])
    if not category:
        return QColor("#7d8794")
    return QColor(EXTRA_COLORS[zlib.crc32(category.encode("utf-8")) % len(EXTRA_COLORS)])


def port_color(kind: str, theme: Theme | None = None) -> QColor:
    """The colour of a port kind (its dots and its wires); a plugin's own kind is drawn as a tensor."""
    colors = LIGHT_PORT_COLORS if theme is not None and theme.name == "light" else PORT_COLORS
    return QColor(colors.get(kind, colors["tensor"]))


def apply_app_theme(app, theme: Theme) -> None:
    """Window chrome to match the canvas: the Fusion style with a dark or light palette. The style is set
    once: setting it again (each new window did) re-polishes every widget of every window."""
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    if theme.name == "light":
        app.setPalette(app.style().standardPalette())
        return
    palette = QPalette()
    role = QPalette.ColorRole
    colors = {
        role.Window: "#2b2d31", role.WindowText: "#e6e6e6", role.Base: "#1e1f22", role.AlternateBase: "#26282c",
        role.ToolTipBase: "#2b2d31", role.ToolTipText: "#e6e6e6", role.Text: "#e6e6e6", role.Button: "#33363b",
        role.ButtonText: "#e6e6e6", role.BrightText: "#ff5555", role.Highlight: "#3d6fb4",
        role.HighlightedText: "#ffffff", role.PlaceholderText: "#8a9099", role.Link: "#6cb6ff",
    }
    for key, value in colors.items():
        palette.setColor(key, QColor(value))
    palette.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor("#6b7079"))
    palette.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor("#6b7079"))
    app.setPalette(palette)
