"""The first-run experience: a welcome page (the example gallery with thumbnails drawn from the graphs
themselves, recent files, new and open) and a short guided tour of the main actions.

The welcome page opens at start-up until the user unticks "Show at start-up" (Help > Welcome brings
it back). The tour is a callout inside the window, so it never takes the keyboard from the canvas:
each step points at the real widget (the palette, the canvas, the inspector, Train, Export).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import (QCheckBox, QDialog, QFrame, QGridLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QToolButton, QVBoxLayout, QWidget)

from layerloom import LayerLoomError, load_graph
from layerloom.files.resources import example_stem, example_titles

from layerloom.nodeeditor.theme.icons import app_icon

THUMB = QSize(236, 124)   # four to a row: seven examples in two rows fit a 1366x768 screen
COLUMNS = 4
THUMB_MARGIN = 0.06   # of the thumbnail's size, kept clear around the graph on every side
SHOW_AT_START = "welcome/show_at_start"


@dataclass
class Example:
    stem: str
    title: str
    description: str
    nodes: int
    path: Path
    download: str = ""   # "11 MB" when its dataset is not on disk yet (asked for before the first run)


def examples() -> list[Example]:
    """The shipped examples, with their display names (``example_title``: the same as the Examples
    menu and the window title) and descriptions from the files."""
    found = []
    for title, path in example_titles():
        try:
            graph = load_graph(path)
        except LayerLoomError:
            continue
        found.append(Example(example_stem(path), title, graph.description, len(graph), path,
                             _download_needed(graph)))
    return found


def _download_needed(graph) -> str:
    """How much the example's built-in dataset still has to download ("" when it ships or is on disk)."""
    from layerloom.data import BUILTINS
    from layerloom.data.downloads import missing_files, size_text

    dataset = graph.training.get("dataset") if isinstance(graph.training, dict) else None
    dataset = dataset if isinstance(dataset, dict) else {}
    info = BUILTINS.get(dataset.get("name", "digits")) if not dataset.get("path") else None
    missing = missing_files(info) if info is not None and info.files else []
    return size_text(sum(f.size for f in missing)) if missing else ""


def drawn_bounds(scene) -> QRectF:
    """The scene rectangle of everything visible on the canvas (cards, wires, labels); hidden items
    (an empty canvas's hint...) do not count."""
    bounds = QRectF()
    for item in scene.items():
        if item.parentItem() is None and item.isVisible():
            bounds = bounds.united(item.sceneBoundingRect())
    return bounds


def thumbnail_frame(content: QRectF, size: QSize = THUMB, margin: float = THUMB_MARGIN) -> QRectF:
    """The part of the scene a thumbnail of ``size`` shows: all of ``content`` (the graph's bounds),
    centred, scaled to fit with ``margin`` (a fraction of the thumbnail's size) clear on every side,
    in the thumbnail's own shape so that nothing is cut and nothing is stretched."""
    aspect = size.width() / size.height()
    inner_w, inner_h = 1.0 - 2 * margin, 1.0 - 2 * margin   # the share of the thumbnail the graph may use
    width = max(content.width() / inner_w, content.height() / inner_h * aspect, 1.0)
    height = width / aspect
    centre = content.center()
    return QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height)


def thumbnail(path: Path, theme, size: QSize = THUMB, scale: float = 2.0) -> QPixmap:
    """The whole graph drawn by the canvas's own items, fitted into ``size`` with a margin
    (``thumbnail_frame``), at ``scale`` for sharpness."""
    from layerloom.nodeeditor.document.document import Document

    document = Document(load_graph(path), theme=theme)
    scene = document.scene
    image = QImage(round(size.width() * scale), round(size.height() * scale), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(theme.color("canvas"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    source = thumbnail_frame(drawn_bounds(scene), size)
    scene.render(painter, QRectF(0, 0, image.width(), image.height()), source, Qt.AspectRatioMode.KeepAspectRatio)
    painter.end()
    document.close()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(scale)
    return pixmap


class _Card(QToolButton):
    """An example: its thumbnail, name and node count; the description as its tooltip."""

    def __init__(self, example: Example, pixmap: QPixmap, parent=None):
        super().__init__(parent)
        self.example = example
        self.setIcon(pixmap)
        self.setIconSize(THUMB)
        self.setText(f"{example.title}  ·  {example.nodes} nodes" + ("  ·  ⤓" if example.download else ""))
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        tip = example.description or example.title
        if example.download:
            tip += (f"\n\nIts dataset ({example.download}) downloads when you first preview or train it, "
                    "after you confirm.")
        self.setToolTip(tip)
        self.setAutoRaise(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)


class WelcomeDialog(QDialog):
    """Start from an example, a recent file, an empty graph or a file; or take the tour."""

    exampleChosen = Signal(str)     # an example's stem
    recentChosen = Signal(str)      # a path
    newRequested = Signal()
    openRequested = Signal()
    tourRequested = Signal()

    def __init__(self, window, parent=None):
        super().__init__(parent or window)
        self.setWindowTitle("Welcome to LayerLoom")
        self.setWindowIcon(app_icon())
        self.settings = window.settings
        header = QLabel("<h2>Welcome to LayerLoom</h2>"
                        "<p>Design a network by wiring layers, train it with live charts, and export it to "
                        "ONNX or PyTorch. Start from an example: the digits, table and sequence examples train on "
                        "data that ships with LayerLoom; the MNIST ones (⤓) download their dataset once, when "
                        "you ask.</p>")
        header.setWordWrap(True)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(64, 64))
        top = QHBoxLayout()
        top.addWidget(logo, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(header, 1)

        self.cards: list[_Card] = []
        gallery = QGridLayout()
        gallery.setSpacing(8)
        for k, example in enumerate(examples()):
            card = _Card(example, thumbnail(example.path, window.theme))
            card.clicked.connect(lambda checked=False, s=example.stem: self._choose_example(s))
            self.cards.append(card)
            gallery.addWidget(card, k // COLUMNS, k % COLUMNS)

        self.recent = QListWidget()
        self.recent.setMaximumHeight(130)
        for path in window._recent():
            item = QListWidgetItem(Path(path).name)
            item.setToolTip(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.recent.addItem(item)
        if not self.recent.count():
            self.recent.addItem("No recent files yet.")
        self.recent.itemActivated.connect(self._choose_recent)
        self.recent.itemDoubleClicked.connect(self._choose_recent)

        buttons = QHBoxLayout()
        self.tour_button = QPushButton("Take the tour (1 minute)")
        self.tour_button.setDefault(True)
        new = QPushButton("New empty graph")
        open_ = QPushButton("Open…")
        self.show_at_start = QCheckBox("Show at start-up")
        self.show_at_start.setChecked(self.settings.value(SHOW_AT_START, True, type=bool))
        self.show_at_start.toggled.connect(lambda on: self.settings.setValue(SHOW_AT_START, on))
        close = QPushButton("Close")
        for button, signal in ((self.tour_button, self.tourRequested), (new, self.newRequested),
                               (open_, self.openRequested)):
            button.clicked.connect(lambda checked=False, s=signal: (self.accept(), s.emit()))
        close.clicked.connect(self.reject)
        buttons.addWidget(self.tour_button)
        buttons.addWidget(new)
        buttons.addWidget(open_)
        buttons.addStretch(1)
        buttons.addWidget(self.show_at_start)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(QLabel("<b>Examples</b>"))
        layout.addLayout(gallery)
        layout.addWidget(QLabel("<b>Recent files</b>"))
        layout.addWidget(self.recent)
        layout.addLayout(buttons)

    def _choose_example(self, stem: str) -> None:
        self.accept()
        self.exampleChosen.emit(stem)

    def _choose_recent(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.accept()
            self.recentChosen.emit(path)


# ---------------------------------------------------------------------- the tour
@dataclass
class Step:
    title: str
    text: str
    target: str        # a name the window resolves to a widget (see EditorWindow.tour_target)


STEPS = [
    Step("Add a node", "Drag a layer from the <b>Nodes</b> palette onto the canvas, or double-click it. On the "
         "canvas, <b>Tab</b> opens a search box: type <i>conv</i>, press Enter.", "palette"),
    Step("Connect", "Drag from an output port (a node's right side) to an input port (left side). Shapes are "
         "checked as you wire: each wire shows the tensor it carries, and problems are listed below the canvas, "
         "each pointing at its node.", "canvas"),
    Step("Set parameters", "Select a node to edit its parameters here; the shapes it receives and gives, and its "
         "parameter count, update as you type. <b>?</b> opens the node's documentation.", "inspector"),
    Step("Train", "Press <b>Train</b> (F5). The model trains in the background on the dataset of the "
         "<b>Training</b> panel while the charts update; edit freely meanwhile.", "train"),
    Step("Export", "<b>Export</b> (Ctrl+E) writes ONNX, checked in onnxruntime against PyTorch, or a standalone "
         "PyTorch file. Select nodes and press <b>Ctrl+G</b> to make a reusable block. That's the tour!", "export"),
]


class Tour(QFrame):
    """A callout inside the window pointing at one widget per step, with Back / Next / Done; a
    coloured frame marks the widget. Escape or Done ends it."""

    finished = Signal()

    def __init__(self, window, steps: list[Step] = STEPS):
        super().__init__(window)
        self.window_, self.steps, self.index = window, steps, 0
        self.setObjectName("tour")
        accent = window.theme.color("selection")
        self.setStyleSheet(f"#tour {{ background: {window.theme.color('card').name()}; border: 2px solid "
                           f"{accent.name()}; border-radius: 8px; }}")
        self.highlight = QFrame(window)
        self.highlight.setObjectName("tourHighlight")
        self.highlight.setStyleSheet(f"#tourHighlight {{ border: 3px solid {accent.name()}; border-radius: 6px; "
                                     "background: transparent; }")
        self.highlight.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.title = QLabel()
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.counter = QLabel()
        self.back = QPushButton("Back")
        self.next = QPushButton("Next")
        self.done = QPushButton("Done")
        self.back.clicked.connect(lambda: self.go(self.index - 1))
        self.next.clicked.connect(lambda: self.go(self.index + 1))
        self.done.clicked.connect(self.end)
        row = QHBoxLayout()
        row.addWidget(self.counter)
        row.addStretch(1)
        for button in (self.back, self.next, self.done):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addLayout(row)
        self.setFixedWidth(340)

    def start(self) -> "Tour":
        self.window_.installEventFilter(self)  # follow the window's size
        self.go(0)
        return self

    def eventFilter(self, watched, event):  # noqa: N802 - Qt override
        if watched is self.window_ and event.type() == QEvent.Type.Resize and self.isVisible():
            self.go(self.index)
        return False

    def go(self, index: int) -> None:
        self.index = max(0, min(index, len(self.steps) - 1))
        step = self.steps[self.index]
        self.title.setText(f"<b>{step.title}</b>")
        self.text.setText(step.text)
        self.counter.setText(f"{self.index + 1} of {len(self.steps)}")
        self.back.setEnabled(self.index > 0)
        self.next.setVisible(self.index < len(self.steps) - 1)
        self.done.setText("Done" if self.index == len(self.steps) - 1 else "Skip tour")
        target = self.window_.tour_target(step.target)
        self._point_at(target)
        self.show()
        self.raise_()

    def _point_at(self, target: QWidget | None) -> None:
        window = self.window_
        self.adjustSize()
        if target is None or not target.isVisible():
            self.highlight.hide()
            self.move((window.width() - self.width()) // 2, (window.height() - self.height()) // 2)
            return
        rect = QRect(target.mapTo(window, QPoint(0, 0)), target.size())
        self.highlight.setGeometry(rect.adjusted(-3, -3, 3, 3))
        self.highlight.show()
        self.highlight.raise_()
        # beside the target where there is room (right, left, below), else inside it
        space = window.rect()
        for spot in (QPoint(rect.right() + 14, rect.top()), QPoint(rect.left() - self.width() - 14, rect.top()),
                     QPoint(rect.left(), rect.bottom() + 14)):
            box = QRect(spot, self.size())
            if space.contains(box):
                self.move(spot)
                return
        inside = QPoint(rect.center().x() - self.width() // 2, rect.center().y() - self.height() // 2)
        self.move(max(0, min(inside.x(), space.width() - self.width())),
                  max(0, min(inside.y(), space.height() - self.height())))

    def keyPressEvent(self, event):  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Escape:
            self.end()
            return
        super().keyPressEvent(event)

    def end(self) -> None:
        self.window_.removeEventFilter(self)
        self.hide()
        self.highlight.hide()
        self.highlight.deleteLater()
        self.deleteLater()
        self.finished.emit()
