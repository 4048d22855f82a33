"""The canvas view: zoom toward the cursor with the wheel, pan with the middle button or space-drag,
zoom to fit, and node types dropped from the palette."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGraphicsView

NODE_MIME = "application/x-layerloom-node-type"
MIN_ZOOM, MAX_ZOOM = 0.15, 3.0
READABLE_ZOOM = 0.45   # card titles stay legible down to about here


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
        self._panning_from = None
        self._space = False

    # ------------------------------------------------------------------ zoom and pan
    @property
    def zoom(self) -> float:
        return self.transform().m11()

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

    def zoom_to_fit(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-60, -60, 60, 60), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.0:
            self.scale(1.0 / self.zoom, 1.0 / self.zoom)

    def show_graph(self) -> None:
        """The view a freshly opened graph gets: all of it when it fits at a readable zoom, else its
        start (the inputs, on the left) at that zoom; Zoom to Fit (Ctrl+0) still shows everything."""
        self.zoom_to_fit()
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty() or self.zoom >= READABLE_ZOOM:
            return
        self.zoom_at(READABLE_ZOOM, self.viewport().rect().center())
        half_width = self.viewport().width() / 2 / self.zoom
        self.centerOn(rect.left() - 40 + half_width, rect.center().y())

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
        if event.mimeData().hasFormat(NODE_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event):  # noqa: N802 - Qt override
        data = event.mimeData()
        if data.hasFormat(NODE_MIME):
            type_id = bytes(data.data(NODE_MIME)).decode("utf-8")
            self.nodeTypeDropped.emit(type_id, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
            return
        super().dropEvent(event)
