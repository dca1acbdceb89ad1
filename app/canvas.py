"""The image view: picture, annotation overlay, live overlay, zoom, pan, brush strokes, drops.

Scene coordinates are full-resolution upright image pixels whatever the display subsampling, so
a stroke's points can be rasterised straight into the mask. The canvas knows nothing about
projects or models; it reports strokes and dropped files through signals.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
)

from .imageloader import DisplayImage


def rgba_to_pixmap(rgba: np.ndarray) -> QPixmap:
    h, w = rgba.shape[:2]
    rgba = np.ascontiguousarray(rgba)
    return QPixmap.fromImage(QImage(rgba.data, w, h, w * 4, QImage.Format_RGBA8888).copy())


class Canvas(QGraphicsView):
    strokeFinished = Signal(object, float, bool)  # [(x, y)] image pixels, radius, erase
    filesDropped = Signal(list)
    zoomChanged = Signal(float)

    TOOLS = ("pan", "brush", "erase")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self._image = QGraphicsPixmapItem()
        self._anns = QGraphicsPixmapItem()
        self._live = QGraphicsPixmapItem()
        self._stroke = QGraphicsPathItem()
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setPen(QPen(QColor(255, 255, 255), 0))
        for z, item in enumerate((self._image, self._anns, self._live, self._stroke, self._cursor)):
            item.setZValue(z)
            self.scene().addItem(item)
        self._cursor.hide()
        self.image_size: tuple[int, int] | None = None
        self._display: DisplayImage | None = None
        self._showing_full = False
        self.tool = "pan"
        self.radius = 8.0
        self._points: list[tuple[float, float]] | None = None
        self._pan_from: QPointF | None = None
        self.set_tool("pan")

    # ----- content --------------------------------------------------------------------------
    def set_image(self, display: DisplayImage | None) -> None:
        """Show an image; big ones show a smooth preview until zoomed in past its resolution
        (painting a 24-megapixel pixmap scaled down would stall every repaint)."""
        self._anns.setPixmap(QPixmap())
        self._live.setPixmap(QPixmap())
        self._display = display
        self._showing_full = False
        self._image.setPixmap(QPixmap())
        if display is None:
            self.image_size = None
            return
        self.image_size = display.size
        self.scene().setSceneRect(QRectF(0, 0, *self.image_size))
        if display.preview is None:
            self._show_full()
        else:
            self._image.setPixmap(QPixmap.fromImage(display.preview[0]))
            self._image.setScale(display.preview[1])
        self.fit()

    def _show_full(self) -> None:
        self._image.setPixmap(QPixmap.fromImage(self._display.full))
        self._image.setScale(self._display.step)
        self._showing_full = True

    def _update_level(self) -> None:
        d = self._display
        if d is not None and d.preview is not None and not self._showing_full and self.zoom() * d.preview[1] > 1.0:
            self._show_full()  # each preview pixel now covers more than a screen pixel

    def _set_overlay(self, item: QGraphicsPixmapItem, rgba: np.ndarray | None, step: int) -> None:
        item.setPixmap(QPixmap() if rgba is None else rgba_to_pixmap(rgba))
        item.setScale(step)

    def set_annotation_overlay(self, rgba: np.ndarray | None, step: int = 1) -> None:
        self._set_overlay(self._anns, rgba, step)

    def set_live_overlay(self, rgba: np.ndarray | None, step: int = 1) -> None:
        self._set_overlay(self._live, rgba, step)

    # ----- view -----------------------------------------------------------------------------
    def fit(self) -> None:
        if self.image_size:
            self.fitInView(self.scene().sceneRect(), Qt.KeepAspectRatio)
            self._update_level()
            self.zoomChanged.emit(self.zoom())

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        new = self.zoom() * factor
        if 0.01 <= new <= 64:
            self.scale(factor, factor)
            self._update_level()
            self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event):
        self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)

    def set_tool(self, tool: str) -> None:
        if tool not in self.TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self.setDragMode(QGraphicsView.ScrollHandDrag if tool == "pan" else QGraphicsView.NoDrag)
        self._cursor.setVisible(tool != "pan" and self.image_size is not None)

    def set_radius(self, radius: float) -> None:
        self.radius = float(radius)

    # ----- strokes and middle-button pan ----------------------------------------------------
    def mousePressEvent(self, event):
        if event.button() == Qt.MiddleButton:
            self._pan_from = event.position()
            return
        if self.tool != "pan" and event.button() == Qt.LeftButton and self.image_size:
            p = self.mapToScene(event.position().toPoint())
            self._points = [(p.x(), p.y())]
            self._draw_stroke()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        p = self.mapToScene(event.position().toPoint())
        self._cursor.setRect(p.x() - self.radius, p.y() - self.radius, 2 * self.radius, 2 * self.radius)
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            return
        if self._points is not None:
            self._points.append((p.x(), p.y()))
            self._draw_stroke()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MiddleButton:
            self._pan_from = None
            return
        if self._points is not None and event.button() == Qt.LeftButton:
            points, self._points = self._points, None
            self._stroke.setPath(QPainterPath())
            self.strokeFinished.emit(points, self.radius, self.tool == "erase")
            return
        super().mouseReleaseEvent(event)

    def _draw_stroke(self) -> None:
        path = QPainterPath(QPointF(*self._points[0]))
        for x, y in self._points[1:]:
            path.lineTo(x, y)
        if len(self._points) == 1:
            path.lineTo(self._points[0][0] + 0.01, self._points[0][1])
        colour = QColor(255, 80, 80, 140) if self.tool == "erase" else QColor(80, 255, 120, 140)
        self._stroke.setPen(QPen(QBrush(colour), 2 * self.radius, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin))
        self._stroke.setPath(path)

    # ----- drag and drop --------------------------------------------------------------------
    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event):
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event):
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)
