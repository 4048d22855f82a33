"""Card text is sized in the card's own pixels: the view's transform scales it with zoom and the screen's
DPI, so a card drawn on a 192 dpi device must look exactly like one on a 96 dpi device (a font in points
would be scaled a second time, by the device, and overflow its card)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from layerloom import load_graph
from layerloom.files.resources import example_path
from layerloom.nodeeditor.document.document import Document

pytestmark = pytest.mark.gui

INCH_PER_METER = 39.3701


def _render(item, dpi: int) -> QImage:
    """``item`` painted straight onto an image of ``dpi`` (not through the scene, whose item cache is a
    screen pixmap)."""
    rect = item.boundingRect()
    image = QImage(int(rect.width()) + 2, int(rect.height()) + 2, QImage.Format.Format_ARGB32)
    dots = round(dpi * INCH_PER_METER)
    image.setDotsPerMeterX(dots)
    image.setDotsPerMeterY(dots)
    image.fill(QColor("black"))
    painter = QPainter(image)
    painter.translate(-rect.topLeft())
    item.paint(painter, QStyleOptionGraphicsItem(), None)
    painter.end()
    return image


def _card(dpi: int) -> QImage:
    """The first card of an example drawn on a device of ``dpi``."""
    document = Document(load_graph(example_path("digits_mlp")))
    try:
        item = next(iter(document.scene.item_for_node.values()))
        return _render(item, dpi)
    finally:
        document.close()


def test_card_text_does_not_grow_with_the_device_dpi(qtbot):
    low, high = _card(96), _card(192)
    assert low.logicalDpiX() != high.logicalDpiX()
    assert low == high


def test_a_long_footer_fits_its_card(qtbot):
    from PySide6.QtGui import QFont, QFontMetricsF

    from layerloom.nodeeditor.canvas.items import SMALL_PX, fitted_footer
    from layerloom.nodeeditor.theme.style import NODE_WIDTH

    font = QFont()
    font.setPixelSize(SMALL_PX)
    metrics = QFontMetricsF(font)
    assert fitted_footer(["[N, 64]", "8,256 params"]) == "[N, 64]   8,256 params"      # fits: as written
    squeezed = fitted_footer(["[N, 64, 111, 111]", "1,792 params"])
    assert "1,792 params" in squeezed and metrics.horizontalAdvance(squeezed) <= NODE_WIDTH - 20
    cut = fitted_footer(["[N, 512, 1024, 1024], [N, 512, 1024, 1024]", "123,456,789 params"])
    assert cut.endswith("…") and metrics.horizontalAdvance(cut) <= NODE_WIDTH - 20


def test_an_imported_operator_card_names_its_operator(qtbot):
    from layerloom import Graph

    graph = Graph(name="imported")
    graph.add_node("ONNX operator", node_id="t", params={"op_type": "Transpose"})
    graph.add_node("TorchModule", node_id="h", params={"module": "Hardswish"})
    graph.add_node("Linear", node_id="fc")
    document = Document(graph)
    try:
        cards = document.scene.item_for_node
        assert (cards["t"].type_id, cards["h"].type_id, cards["fc"].type_id) == \
            ("ONNX Transpose", "torch.nn.Hardswish", "Linear")
        graph.set_param("t", "op_type", "Gather")          # the card follows an edit
        assert cards["t"].type_id == "ONNX Gather"
    finally:
        document.undo_stack.setClean()
        document.close()
