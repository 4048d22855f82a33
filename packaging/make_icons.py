"""Render the app icon (resources/icons/layerloom.svg) for the desktops: the hicolor theme's PNG sizes
and scalable SVG for Linux, an .ico for Windows and an .icns for macOS. The outputs are committed;
run this again after changing the SVG:

    .venv/bin/python packaging/make_icons.py
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SOURCE = ROOT / "resources" / "icons" / "layerloom.svg"
APP_ID = "io.github.layerloom.LayerLoom"
HICOLOR = HERE / "linux" / "icons" / "hicolor"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
WINDOWS_ICO = HERE / "windows" / "layerloom.ico"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
MACOS_ICNS = HERE / "macos" / "layerloom.icns"


def png_path(size: int) -> Path:
    return HICOLOR / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def svg_path() -> Path:
    return HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"


def render(svg: Path, size: int):
    """The SVG drawn into a transparent ``size`` x ``size`` image."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image


def save(image, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(path), fmt):
        raise OSError(f"Qt could not write {path} as {fmt}")


def png_bytes(image) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data)


def ico_bytes(images: dict[int, bytes]) -> bytes:
    """A Windows .ico holding one PNG per size (Qt's writer stores a single image): the header,
    a 16-byte directory entry per image (0 stands for 256), then the PNGs."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset, entries, blobs = 6 + 16 * len(images), b"", b""
    for size, png in sorted(images.items()):
        side = 0 if size >= 256 else size
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        blobs += png
        offset += len(png)
    return header + entries + blobs


# .icns entries that hold PNG data: type -> pixels (the @2x types are the Retina variants)
ICNS_TYPES = {"icp4": 16, "icp5": 32, "ic11": 32, "ic12": 64, "ic07": 128, "ic13": 256, "ic08": 256,
              "ic14": 512, "ic09": 512, "ic10": 1024}


def icns_bytes(images: dict[int, bytes]) -> bytes:
    """A macOS .icns of PNG entries (Qt's writer leaves a table of contents its own reader rejects):
    ``icns`` and the total length, then per entry its type, its length (8 + data) and the PNG."""
    body = b"".join(kind.encode("ascii") + struct.pack(">I", 8 + len(images[size])) + images[size]
                    for kind, size in ICNS_TYPES.items())
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - Qt's image plugins need it
    for size in SIZES:
        save(render(SOURCE, size), png_path(size), "PNG")
    svg_path().parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOURCE, svg_path())
    WINDOWS_ICO.parent.mkdir(parents=True, exist_ok=True)
    WINDOWS_ICO.write_bytes(ico_bytes({size: png_bytes(render(SOURCE, size)) for size in ICO_SIZES}))
    MACOS_ICNS.parent.mkdir(parents=True, exist_ok=True)
    MACOS_ICNS.write_bytes(icns_bytes({size: png_bytes(render(SOURCE, size)) for size in set(ICNS_TYPES.values())}))
    for path in [*map(png_path, SIZES), svg_path(), WINDOWS_ICO, MACOS_ICNS]:
        print(f"make_icons: {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
