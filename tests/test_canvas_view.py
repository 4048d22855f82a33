"""The canvas view: readable by default (the floor, 100% when the graph fits, Zoom to Fit as the
overview), scaled to the screen's DPI, and a hint on an empty canvas."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QColor, QFont, QFontInfo

from layerloom import Graph, load_graph
from layerloom.files.resources import example_paths
from layerloom.model import layout
from layerloom.model.layout import apply_layout, layered_layout
from layerloom.nodeeditor.canvas.view import EMPTY_HINT, READABLE_ZOOM, TITLE_POINT_SIZE, CanvasView
from layerloom.nodeeditor.document.document import Document
from layerloom.nodeeditor.theme import style
from layerloom.nodeeditor.theme.style import DARK, LIGHT

pytestmark = pytest.mark.gui


def _view(qtbot, document, size=layout.CANVAS):
    view = CanvasView(document.scene)
    qtbot.addWidget(view)
    frame = 2 * view.frameWidth()
    view.resize(int(size[0]) + frame, int(size[1]) + frame)
    view.show()
    qtbot.waitExposed(view)
    assert (view.viewport().width(), view.viewport().height()) == (int(size[0]), int(size[1]))
    return view


def _chain_graph(n: int) -> Graph:
    g = Graph(name="chain")
    g.add_node("Input", "x", {"shape": [8]}, node_id="x")
    previous = "x"
    for i in range(n):
        g.add_node("Linear", f"fc{i}", {"out_features": 8}, node_id=f"fc{i}")
        g.connect(previous, "out", f"fc{i}", "in")
        previous = f"fc{i}"
    return g


def test_the_readable_floor_keeps_titles_and_ports_legible(qtbot):
    title = QFont()
    title.setBold(True)
    title.setPointSizeF(TITLE_POINT_SIZE)
    assert QFontInfo(title).pixelSize() * READABLE_ZOOM >= 9.0 - 0.5   # the card's title font, measured
    assert 2 * style.PORT_RADIUS * READABLE_ZOOM >= 8.0 - 1e-9
    assert READABLE_ZOOM < 0.8   # and not much more than that: big graphs still show a good part
    # the layout's card geometry is the editor's
    assert (layout.CARD_WIDTH, layout.CARD_HEADER, layout.CARD_ROW, layout.CARD_FOOTER) == \
        (style.NODE_WIDTH, style.HEADER, style.ROW, style.FOOTER)


def test_every_example_laid_out_fits_a_1366x768_canvas_readably(qtbot):
    for path in example_paths():
        document = Document(load_graph(path))
        apply_layout(document.graph, layered_layout(document.graph))
        view = _view(qtbot, document)
        view.zoom_to_fit()
        assert view.zoom >= READABLE_ZOOM, f"{path.name}: Zoom to Fit at {view.zoom:.3f}"
        view.show_graph()   # it opens showing all of it
        seen = view.mapToScene(view.viewport().rect()).boundingRect()
        assert seen.contains(view.graph_rect()), path.name
        document.close()


def test_the_editor_canvas_at_1366x768_is_at_least_the_layouts_typical_canvas(qtbot, tmp_path):
    from layerloom.nodeeditor.window.main_window import EditorWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("recovery_dir", str(tmp_path / "recovery"))
    window = EditorWindow(settings)
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    qtbot.waitExposed(window)
    qtbot.wait(50)
    size = window.view.viewport().size()
    assert (size.width(), size.height()) >= (layout.CANVAS[0] - 4, layout.CANVAS[1] - 4)
    window.document.undo_stack.setClean()


def test_a_small_graph_opens_at_100_percent(qtbot):
    document = Document(_chain_graph(1))
    apply_layout(document.graph, layered_layout(document.graph))
    view = _view(qtbot, document)
    view.show_graph()
    assert view.zoom == pytest.approx(1.0)
    document.close()


def test_a_graph_too_big_to_fit_opens_at_the_floor_at_its_start_and_fit_goes_below(qtbot):
    document = Document(_chain_graph(15))
    apply_layout(document.graph, layered_layout(document.graph, canvas=None))   # one long row
    view = _view(qtbot, document)
    view.show_graph()
    assert view.zoom == pytest.approx(READABLE_ZOOM, rel=1e-3)
    seen = view.mapToScene(view.viewport().rect()).boundingRect()
    assert seen.contains(document.scene.item_for_node["x"].sceneBoundingRect())   # the input, top left
    view.zoom_to_fit()   # the overview may be unreadable: it was asked for
    assert view.zoom < READABLE_ZOOM
    assert view.mapToScene(view.viewport().rect()).boundingRect().contains(document.scene.itemsBoundingRect())
    document.close()


def test_cards_scale_with_the_screens_dpi(qtbot):
    document = Document(_chain_graph(2))
    view = _view(qtbot, document)
    card = document.scene.item_for_node["fc0"]

    def on_screen_width() -> int:
        return view.mapFromScene(card.sceneBoundingRect()).boundingRect().width()

    view.show_graph()
    plain = on_screen_width()
    view.screen_dpi = lambda: 144.0   # a 150% screen
    view.apply_dpi()
    assert view.zoom == pytest.approx(1.0)   # the user's zoom is unchanged ...
    assert view.transform().m11() == pytest.approx(1.5)   # ... the canvas is 1.5 times bigger
    assert on_screen_width() == pytest.approx(1.5 * plain, abs=2)
    view.zoom_at(READABLE_ZOOM, QPoint(10, 10))
    assert view.transform().m11() == pytest.approx(1.5 * READABLE_ZOOM)
    view.screen_dpi = lambda: 96.0
    view.apply_dpi()
    assert view.zoom == pytest.approx(READABLE_ZOOM) and view.transform().m11() == pytest.approx(READABLE_ZOOM)
    document.close()


def _hint_pixels(view, theme) -> int:
    """How many pixels of the middle band of the canvas have the hint's colour."""
    image = view.viewport().grab().toImage()
    muted = QColor(theme.muted)
    count = 0
    mid = image.height() // 2
    for y in range(mid - 15, mid + 15):
        for x in range(0, image.width(), 2):
            c = image.pixelColor(x, y)
            if abs(c.red() - muted.red()) + abs(c.green() - muted.green()) + abs(c.blue() - muted.blue()) < 40:
                count += 1
    return count


@pytest.mark.parametrize("theme", [DARK, LIGHT], ids=["dark", "light"])
def test_an_empty_canvas_shows_a_hint_until_it_has_a_node(qtbot, theme):
    assert "Tab or double-click" in EMPTY_HINT and "palette" in EMPTY_HINT and "Examples" in EMPTY_HINT
    document = Document(Graph(name="empty"))
    document.scene.set_theme(theme)
    view = _view(qtbot, document)
    assert view.is_empty()
    assert _hint_pixels(view, theme) > 100
    with qtbot.waitSignal(view.quickAddRequested):   # Tab asks for the quick add the hint names
        qtbot.keyClick(view, Qt.Key.Key_Tab)
    node = document.add_node("Linear", (0.0, 0.0))
    assert node is not None
    qtbot.waitUntil(lambda: not view.is_empty())
    view.centerOn(5000, 5000)   # the node off screen: the canvas is blank, yet no hint
    qtbot.wait(20)
    assert _hint_pixels(view, theme) < 5
    document.undo_stack.undo()   # the node is gone: the hint is back
    qtbot.waitUntil(lambda: _hint_pixels(view, theme) > 100)
    document.close()
