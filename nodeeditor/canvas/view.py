"""The canvas view: zoom toward the cursor with the wheel, pan with the middle button or space-drag,
zoom to fit, node types dropped from the palette, and a hint on an empty canvas.

Zoom is the user's: 1.0 (100%) draws a card at its design size on a 96 dpi screen; the view's transform
is that zoom times the screen's ``logicalDpi / 96``, so cards, their text and ports grow with the DPI.
A graph opens at 100% when it fits, never below ``READABLE_ZOOM``; Zoom to Fit is the overview and
alone may go below it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QPainter
from PySide6.QtWidgets import QGraphicsView

from layerloom.model.layout import FIT_MARGIN
from layerloom.nodeeditor.theme.style import PORT_RADIUS

NODE_MIME = "application/x-layerloom-node-type"
MIN_ZOOM, MAX_ZOOM = 0.15, 3.0
# The readable floor: card titles (NodeItem draws them bold at TITLE_POINT_SIZE) at >= 9 px and port
# dots at >= 8 px on the screen.
TITLE_POINT_SIZE = 9.5
READABLE_TITLE_PX, READABLE_PORT_PX = 9.0, 8.0
TITLE_PX = TITLE_POINT_SIZE * 96 / 72   # the title's em at 100% (a test checks it against the font)
READABLE_ZOOM = max(READABLE_TITLE_PX / TITLE_PX, READABLE_PORT_PX / (2 * PORT_RADIUS))
EMPTY_HINT = "Tab or double-click to add a node \N{MIDDLE DOT} drag from the palette \N{MIDDLE DOT} File > Examples"


class CanvasView(QGraphicsView):
    nodeTypeDropped = Signal(str, QPointF)   # node type, scene position
    quickAddRequested = Signal(QPointF)       # scene position (Tab, double-click on empty canvas)

    def __init__(self, scene=None, parent=None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setAcceptDrops(True)
        # a canvas pans with the mouse (middle button, space-drag): no scroll bars eating its room
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._panning_from = None
        self._space = False
        self._dpi_scale = 1.0    # the screen's scale already in the transform
        self._was_empty = None
        self.apply_dpi()
        self._watch(scene)

    # ------------------------------------------------------------------ screen DPI
    def screen_dpi(self) -> float:
        """The screen's logical DPI (96 on a plain screen)."""
        return float(self.logicalDpiX())

    def dpi_scale(self) -> float:
        return max(0.5, self.screen_dpi() / 96.0)

    def apply_dpi(self) -> None:
        """Scale the canvas to the screen's DPI, keeping the user's zoom (called when the window shows
        and when it moves to another screen)."""
        scale = self.dpi_scale()
        if abs(scale - self._dpi_scale) > 1e-9:
            ratio = scale / self._dpi_scale
            self._dpi_scale = scale
            self.scale(ratio, ratio)

    def event(self, event):  # noqa: D102 - Qt override
        if event.type() in (QEvent.Type.DevicePixelRatioChange, QEvent.Type.ScreenChangeInternal):
            self.apply_dpi()
        return super().event(event)

    def showEvent(self, event):  # noqa: N802 - Qt override
        self.apply_dpi()
        super().showEvent(event)

    # ------------------------------------------------------------------ zoom and pan
    @property
    def zoom(self) -> float:
        """The user's zoom: 1.0 is 100% whatever the screen's DPI."""
        return self.transform().m11() / self._dpi_scale

    def wheelEvent(self, event):  # noqa: N802 - Qt override
        factor = 1.0015 ** event.angleDelta().y()
        self.zoom_at(self.zoom * factor, event.position().toPoint())

    def zoom_at(self, zoom: float, anchor) -> None:
        """Zoom to ``zoom`` (clamped) keeping the scene point under the viewport point ``anchor`` where
        it is (the wheel event's own position: no reliance on a preceding mouse move)."""
        zoom = max(MIN_ZOOM, min(MAX_ZOOM, zoom))
        before = self.mapToScene(anchor)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(zoom / self.zoom, zoom / self.zoom)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        drift = self.mapFromScene(before) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())

    def graph_rect(self):
        """The scene rectangle of the node cards (a wire's loop may reach a little past it), or of all
        items on a scene without node cards."""
        scene = self.scene()
        cards = list(getattr(scene, "item_for_node", {}).values())
        if not cards:
            return scene.itemsBoundingRect()
        # from the cards' places and sizes (a sceneBoundingRect per card calls back into Python several
        # times: a second for a 5,000-node graph)
        bounds = [card.scene_bounds() for card in cards]
        left, top = min(b[0] for b in bounds), min(b[1] for b in bounds)
        return QRectF(left, top, max(b[2] for b in bounds) - left, max(b[3] for b in bounds) - top)

    def zoom_to_fit(self) -> None:
        """The overview: all of the graph, at 100% at most (the only zoom that may be unreadable)."""
        if self.scene() is None:
            return
        rect = self.graph_rect()
        if rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-FIT_MARGIN, -FIT_MARGIN, FIT_MARGIN, FIT_MARGIN),
                       Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.0:
            self.scale(1.0 / self.zoom, 1.0 / self.zoom)

    def show_graph(self) -> None:
        """The view a freshly opened graph gets: all of it when it fits at a readable zoom (100% at
        most), else its start (top left: the inputs) at the readable floor; Zoom to Fit (Ctrl+0) still
        shows everything."""
        self.zoom_to_fit()
        rect = self.graph_rect() if self.scene() is not None else None
        if rect is None or rect.isEmpty() or self.zoom >= READABLE_ZOOM:
            return
        self.zoom_at(READABLE_ZOOM, self.viewport().rect().center())
        scale = self.transform().m11()
        seen_w, seen_h = self.viewport().width() / scale, self.viewport().height() / scale
        x = rect.left() - FIT_MARGIN + seen_w / 2 if rect.width() + 2 * FIT_MARGIN > seen_w else rect.center().x()
        y = rect.top() - FIT_MARGIN + seen_h / 2 if rect.height() + 2 * FIT_MARGIN > seen_h else rect.center().y()
        self.centerOn(x, y)

    # ------------------------------------------------------------------ the empty canvas's hint
    def setScene(self, scene) -> None:  # noqa: N802 - Qt override
        old = self.scene()
        if old is not None:
            try:
                old.changed.disconnect(self._scene_changed)
            except (RuntimeError, TypeError):
                pass
        super().setScene(scene)
        self._watch(scene)

    def _watch(self, scene) -> None:
        self._was_empty = None
        if scene is not None:
            scene.changed.connect(self._scene_changed)
        self.viewport().update()

    def is_empty(self) -> bool:
        """True when the canvas shows no node (then it shows the hint)."""
        scene = self.scene()
        if scene is None:
            return True
        nodes = getattr(scene, "item_for_node", None)
        return not nodes if nodes is not None else not scene.items()

    def _scene_changed(self, _regions=None) -> None:
        empty = self.is_empty()
        if empty != self._was_empty:
            self._was_empty = empty
            self.viewport().update()   # the hint comes or goes over the whole canvas

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 - Qt override
        super().scrollContentsBy(dx, dy)
        if self.is_empty():
            self.viewport().update()   # the hint stays centred, it does not scroll with the scene

    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: N802 - Qt override
        super().drawForeground(painter, rect)
        if not self.is_empty():
            return
        theme = getattr(self.scene(), "theme", None)
        painter.save()
        painter.resetTransform()   # viewport pixels: the hint does not zoom
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.setPen(theme.color("muted") if theme is not None else self.palette().placeholderText().color())
        painter.drawText(self.viewport().rect().adjusted(24, 24, -24, -24),
                         int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), EMPTY_HINT)
        painter.restore()

    def mousePressEvent(self, event):  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._panning_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):  # noqa: N802 - Qt override
        if self._panning_from is not None:
            delta = event.position() - self._panning_from
            self._panning_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):  # noqa: N802 - Qt override
        if self._panning_from is not None:
            self._panning_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event):  # noqa: N802 - Qt override
        if self.itemAt(event.position().toPoint()) is None:
            self.quickAddRequested.emit(self.mapToScene(event.position().toPoint()))
            return
        super().mouseDoubleClickEvent(event)

    def _typing(self) -> bool:
        """True while an editor on the canvas (a node's name) has the keyboard: keys are its own."""
        scene = self.scene()
        return scene is not None and scene.focusItem() is not None

    def keyPressEvent(self, event):  # noqa: N802 - Qt override
        if self._typing():
            super().keyPressEvent(event)
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() == Qt.Key.Key_Tab:
            cursor = self.viewport().mapFromGlobal(self.cursor().pos())
            self.quickAddRequested.emit(self.mapToScene(cursor))
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):  # noqa: N802 - Qt override
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat() and self._space:
            self._space = False
            self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def focusNextPrevChild(self, next_):  # noqa: N802 - Qt override: Tab is quick add, not focus change
        return False

    # ------------------------------------------------------------------ drops from the palette
    def dragEnterEvent(self, event):  # noqa: N802 - Qt override
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event):  # noqa: N802 - Qt override
        data = event.mimeData()
        if data.hasFormat(NODE_MIME):
            event.acceptProposedAction()
            scene = self.scene()
            if scene is not None and hasattr(scene, "insert_target"):  # the wire the node would go into
                spec = scene.graph.catalog.get(bytes(data.data(NODE_MIME)).decode("utf-8"))
                scene.insert_target.show(self.mapToScene(event.position().toPoint()), spec=spec)
        else:
            super().dragMoveEvent(event)

    def dragLeaveEvent(self, event):  # noqa: N802 - Qt override
        self._clear_insert()
        super().dragLeaveEvent(event)

    def _clear_insert(self) -> None:
        scene = self.scene()
        if scene is not None and hasattr(scene, "insert_target"):
            scene.insert_target.clear()

    def dropEvent(self, event):  # noqa: N802 - Qt override
        data = event.mimeData()
        if data.hasFormat(NODE_MIME):
            self._clear_insert()
            type_id = bytes(data.data(NODE_MIME)).decode("utf-8")
            self.nodeTypeDropped.emit(type_id, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
            return
        super().dropEvent(event)
