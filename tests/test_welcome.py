"""The first-run experience: the welcome page's gallery is drawn from the example graphs and opens
them, recent files reopen, "Show at start-up" is remembered, and the tour points at the real widgets."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt

pytestmark = pytest.mark.gui


@pytest.fixture
def window(editor_window):
    return editor_window


def test_the_gallery_shows_every_example_drawn_from_its_graph_and_opens_it(window, qtbot):
    from layerloom.files.resources import example_paths

    dialog = window.show_welcome()
    assert len(dialog.cards) == len(example_paths()) == 7
    image = dialog.cards[0].icon().pixmap(dialog.cards[0].iconSize()).toImage()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 5  # cards and wires drawn, not a blank canvas
    lstm = next(c for c in dialog.cards if c.example.stem == "sequence_lstm")
    assert lstm.text() == "Digits LSTM  ·  6 nodes" and "LSTM" in lstm.toolTip()
    qtbot.mouseClick(lstm, Qt.MouseButton.LeftButton)
    assert window.document.graph.name == "Digits LSTM" and not dialog.isVisible()


def test_the_gallery_fits_a_small_screen_and_marks_the_examples_that_download(window):
    dialog = window.show_welcome()
    dialog.adjustSize()
    assert dialog.sizeHint().height() <= 700 and dialog.sizeHint().width() <= 1300   # a 1366x768 screen
    mnist = next(c for c in dialog.cards if c.example.stem == "mnist_mlp")
    digits = next(c for c in dialog.cards if c.example.stem == "digits_mlp")
    assert mnist.text().endswith("⤓") and "downloads when you first preview or train it" in mnist.toolTip()
    assert "MB" in mnist.toolTip() and not digits.text().endswith("⤓") and "download" not in digits.toolTip()
    dialog.close()


def test_an_example_has_one_display_name_in_the_menu_the_gallery_and_the_title_bar(window, qtbot):
    from layerloom.files.resources import example_titles

    titles = [title for title, _ in example_titles()]
    assert titles == ["Digits CNN", "Digits MLP", "Digits ResNet", "MNIST CNN", "MNIST MLP", "Regression MLP",
                      "Digits LSTM"]
    file_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&File")
    menu = next(a.menu() for a in file_menu.actions() if a.text() == "&Examples")
    assert [a.text() for a in menu.actions()] == titles
    dialog = window.show_welcome()
    assert [card.text().split("  ·  ")[0] for card in dialog.cards] == titles
    for card, title in zip(dialog.cards, titles):
        dialog = window.show_welcome()
        card = next(c for c in dialog.cards if c.example.title == title)
        qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
        assert window.windowTitle() == f"{title}[*] - LayerLoom"


def test_an_examples_title_is_its_graphs_name_or_else_its_file_name(tmp_path):
    from layerloom.files.resources import example_title

    named = tmp_path / "my_net.llgraph.json"
    named.write_text('{"format": "layerloom-graph", "name": "My Net", "nodes": []}')
    assert example_title(named) == "My Net"
    unnamed = tmp_path / "conv_net.llgraph.json"
    unnamed.write_text('{"format": "layerloom-graph", "nodes": []}')
    assert example_title(unnamed) == "Conv net"
    broken = tmp_path / "half_written.llgraph.json"
    broken.write_text('{"name": ')
    assert example_title(broken) == "Half written"


@pytest.mark.parametrize("theme_name", ["dark", "light"])
def test_every_thumbnail_shows_the_whole_graph_with_a_margin(theme_name):
    from PySide6.QtCore import QRectF

    from layerloom import load_graph
    from layerloom.files.resources import example_paths
    from layerloom.nodeeditor.document.document import Document
    from layerloom.nodeeditor.theme.style import THEMES
    from layerloom.nodeeditor.window.welcome import THUMB, drawn_bounds, thumbnail, thumbnail_frame

    theme = THEMES[theme_name]
    for path in example_paths():
        document = Document(load_graph(path), theme=theme)
        try:
            frame = thumbnail_frame(drawn_bounds(document.scene))
            rects = [item.sceneBoundingRect() for item in document.scene.item_for_node.values()]
        finally:
            document.close()
        assert frame.width() / frame.height() == pytest.approx(THUMB.width() / THUMB.height())
        inner = frame.adjusted(frame.width() * 0.05, frame.height() * 0.05, -frame.width() * 0.05,
                               -frame.height() * 0.05)
        for rect in rects:
            assert inner.contains(rect), f"{path.name}: {rect} is outside the thumbnail {frame}"
        # and the picture itself: its border is bare canvas on every side, nothing runs off the edge
        image = thumbnail(path, theme).toImage()
        canvas = theme.color("canvas")
        border = [image.pixelColor(x, y) for x in range(image.width()) for y in (0, 1, image.height() - 1)]
        border += [image.pixelColor(x, y) for y in range(image.height()) for x in (0, 1, image.width() - 1)]
        grid = theme.color("grid")
        assert all(c in (canvas, grid) or _near(c, canvas, grid) for c in border), path.name
    assert thumbnail_frame(QRectF(0, 0, 10, 10)).contains(QRectF(0, 0, 10, 10))  # a tall one fits too


def _near(colour, *references) -> bool:
    """Within a few levels of one of ``references`` (the canvas's grid is antialiased)."""
    return any(max(abs(colour.red() - r.red()), abs(colour.green() - r.green()), abs(colour.blue() - r.blue())) <= 24
               for r in references)


def test_recent_files_reopen_and_show_at_start_up_is_remembered(window, qtbot, tmp_path):
    from layerloom import load_graph, save_graph
    from layerloom.files.resources import example_path

    path = save_graph(load_graph(example_path("digits_cnn")), tmp_path / "mine.llgraph.json")
    window.open_path(path)
    window.new_document()
    dialog = window.show_welcome()
    item = dialog.recent.item(0)
    assert item.text() == "mine.llgraph.json"
    dialog.recent.setCurrentRow(0)
    qtbot.keyClick(dialog.recent, Qt.Key.Key_Return)  # activate it
    assert window.document.path == path
    dialog = window.show_welcome()
    dialog.show_at_start.setChecked(False)
    dialog.reject()
    assert window.show_welcome_at_start() is False


def test_the_tour_points_at_the_palette_canvas_inspector_train_and_export(window, qtbot):
    def highlighted(tour) -> QRect:
        return tour.highlight.geometry().adjusted(3, 3, -3, -3)

    def place(widget) -> QRect:
        return QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())

    tour = window.start_tour()
    targets = [window.findChild(type(window.palette_widget.parent()), "palette"), window.view,
               window.findChild(type(window.palette_widget.parent()), "inspector"),
               window.toolbar.widgetForAction(window.dashboard.train_action),
               window.toolbar.widgetForAction(window.dashboard.export_action)]
    for k, target in enumerate(targets):
        assert tour.counter.text() == f"{k + 1} of 5"
        assert highlighted(tour) == place(target)
        assert window.rect().contains(tour.geometry())
        assert not tour.geometry().intersects(place(target)) or target is window.view
        if k < 4:
            qtbot.mouseClick(tour.next, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(tour.back, Qt.MouseButton.LeftButton)
    assert tour.counter.text() == "4 of 5"
    with qtbot.waitSignal(tour.finished):
        qtbot.keyClick(tour, Qt.Key.Key_Escape)
    assert window._tour is None
