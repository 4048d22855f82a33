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
    assert len(dialog.cards) == len(example_paths()) == 5
    image = dialog.cards[0].icon().pixmap(dialog.cards[0].iconSize()).toImage()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 5  # cards and wires drawn, not a blank canvas
    lstm = next(c for c in dialog.cards if c.example.stem == "sequence_lstm")
    assert lstm.text() == "Digits LSTM  ·  6 nodes" and "LSTM" in lstm.toolTip()
    qtbot.mouseClick(lstm, Qt.MouseButton.LeftButton)
    assert window.document.graph.name == "Digits LSTM" and not dialog.isVisible()


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
