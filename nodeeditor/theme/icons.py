"""Icons from ``resources/icons``: one line-art SVG set drawn in ``currentColor``, painted in the
theme's text colour (and, when disabled, that colour dimmed toward the card colour as disabled text is,
``theme.palette.dimmed``), rendered at 1x and 2x so they stay crisp on
high-DPI screens. The window re-tints every registered action when the theme changes.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from layerloom.files.resources import resource_root

from layerloom.nodeeditor.theme.palette import dimmed
from layerloom.nodeeditor.theme.style import Theme

SIZES = (16, 20, 24, 32)
SCALES = (1.0, 2.0)


def icon_path(name: str):
    return resource_root() / "icons" / f"{name}.svg"


@lru_cache(maxsize=None)
def _svg(name: str) -> str:
    path = icon_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"no icon {name!r} in {path.parent}")
    return path.read_text(encoding="utf-8")


def render(svg: str, size: int, scale: float = 1.0) -> QPixmap:
    """An SVG drawn into a transparent pixmap of ``size`` logical pixels at ``scale`` device pixels each."""
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    image = QImage(round(size * scale), round(size * scale), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(scale)
    return pixmap


@lru_cache(maxsize=None)
def tinted_icon(name: str, color: str, disabled: str | None = None) -> QIcon:
    """``name`` painted ``color`` (and ``disabled`` when disabled), at every size and scale: 16 renders,
    made once per colour and shared (a QIcon is implicitly shared; each new window took 390 renders)."""
    svg = _svg(name)
    icon = QIcon()
    for mode, tint in ((QIcon.Mode.Normal, color), (QIcon.Mode.Disabled, disabled)):
        if tint is None:
            continue
        text = svg.replace("currentColor", tint)
        for size in SIZES:
            for scale in SCALES:
                icon.addPixmap(render(text, size, scale), mode)
    return icon


def themed_icon(name: str, theme: Theme) -> QIcon:
    return tinted_icon(name, theme.text, disabled_ink(theme))


def disabled_ink(theme: Theme) -> str:
    """The colour of a disabled icon: the theme's text dimmed toward its cards, as disabled text is."""
    return dimmed(theme.text, theme.card).name()


def app_icon() -> QIcon:
    """The application icon (full colour) at the usual sizes."""
    svg = _svg("layerloom")
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        icon.addPixmap(render(svg, size))
    return icon
