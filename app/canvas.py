"""The image view: picture, annotation overlay, live overlay, zoom, pan, brush strokes, hand-drawn
polygons and boxes, vertex editing, drops.

Scene coordinates are full-resolution upright image pixels whatever the display subsampling, so
a stroke's or a polygon's points can be rasterised straight into the mask. The canvas knows
nothing about projects or models; it reports strokes, shapes and dropped files through signals.

Polygon tool: click adds a vertex, double-click / Enter / a click on the first vertex closes it,
Backspace removes the last vertex, Esc (``cancel_shape``) drops it. Box tool: drag a rectangle.
Edit tool: drag a vertex of the outline given by ``set_vertices``; the new outline is reported.
"""

from __future__ import annotations

import math

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
    shapeFinished = Signal(str, object)  # "polygon" | "box", [(x, y)] image pixels
    verticesEdited = Signal(object)  # the edited outline [(x, y)]
    filesDropped = Signal(list)
    zoomChanged = Signal(float)

    TOOLS = ("pan", "brush", "erase", "polygon", "box", "edit")
    CLOSE_PX = 8  # screen pixels: a click this near the first vertex closes the polygon

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
        self._shape = QGraphicsPathItem()  # the polygon or box being drawn, or the edited outline
        self._shape.setPen(QPen(QColor(255, 230, 0), 0))
        self._shape.setBrush(QColor(255, 230, 0, 50))
        for z, item in enumerate((self._image, self._anns, self._live, self._stroke, self._shape, self._cursor)):
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
        self.polygon: list[tuple[float, float]] = []  # vertices placed so far (polygon tool)
        self._box_from: tuple[float, float] | None = None
        self._hover: tuple[float, float] | None = None
        self.vertices: list[tuple[float, float]] = []  # outline under edit (edit tool)
        self._drag_vertex: int | None = None
        self.setFocusPolicy(Qt.StrongFocus)
        self.set_tool("pan")

    # ----- content --------------------------------------------------------------------------
    def set_image(self, display: DisplayImage | None) -> None:
        """Show an image; big ones show a smooth preview until zoomed in past its resolution
        (painting a 24-megapixel pixmap scaled down would stall every repaint)."""
        self._anns.setPixmap(QPixmap())
        self._live.setPixmap(QPixmap())
        self.cancel_shape()
        self.vertices = []
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
            self._draw_shape()
            self.zoomChanged.emit(self.zoom())

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_percent(self) -> int:
        """Screen pixels per image pixel, in percent (what the status bar shows)."""
        return round(100 * self.zoom())

    def zoom_by(self, factor: float) -> None:
        new = self.zoom() * factor
        if 0.01 <= new <= 64:
            self.scale(factor, factor)
            self._update_level()
            self._draw_shape()
            self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event):
        self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)

    def set_tool(self, tool: str) -> None:
        if tool not in self.TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        if tool != self.tool:
            self.cancel_shape()
        self.tool = tool
        self.setDragMode(QGraphicsView.ScrollHandDrag if tool == "pan" else QGraphicsView.NoDrag)
        self._cursor.setVisible(tool in ("brush", "erase") and self.image_size is not None)
        self._draw_shape()

    def set_radius(self, radius: float) -> None:
        self.radius = float(radius)

    # ----- polygons, boxes and vertices ------------------------------------------------------
    def drawing(self) -> bool:
        """A polygon or box is being drawn (Esc cancels it)."""
        return bool(self.polygon) or self._box_from is not None

    def cancel_shape(self) -> None:
        self.polygon, self._box_from, self._hover, self._drag_vertex = [], None, None, None
        self._draw_shape()

    def finish_polygon(self) -> bool:
        points = self.polygon
        if len(points) < 3:
            return False
        self.cancel_shape()
        self.shapeFinished.emit("polygon", points)
        return True

    def set_vertices(self, points: list[tuple[float, float]]) -> None:
        """The outline the edit tool shows and lets the user drag."""
        self.vertices = list(points)
        self._draw_shape()

    def _clamp(self, p: QPointF) -> tuple[float, float]:
        w, h = self.image_size
        return min(max(p.x(), 0.0), float(w)), min(max(p.y(), 0.0), float(h))

    def _near(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        return math.hypot(a[0] - b[0], a[1] - b[1]) * self.zoom() <= self.CLOSE_PX

    def _draw_shape(self) -> None:
        path = QPainterPath()
        pts = []
        if self.tool == "polygon" and self.polygon:
            pts = self.polygon + ([self._hover] if self._hover else [])
        elif self.tool == "box" and self._box_from and self._hover:
            (x0, y0), (x1, y1) = self._box_from, self._hover
            pts = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        elif self.tool == "edit" and self.vertices:
            pts = self.vertices
        if pts:
            path.moveTo(*pts[0])
            for p in pts[1:]:
                path.lineTo(*p)
            if self.tool != "polygon":
                path.closeSubpath()
            r = 3 / max(self.zoom(), 1e-6)  # handles 3 screen pixels wide at any zoom
            for x, y in (self.polygon if self.tool == "polygon" else self.vertices if self.tool == "edit" else []):
                path.addEllipse(QPointF(x, y), r, r)
        self._shape.setPath(path)

    def _shape_press(self, p: tuple[float, float]) -> None:
        if self.tool == "polygon":
            if len(self.polygon) >= 3 and self._near(p, self.polygon[0]):
                self.finish_polygon()
                return
            self.polygon.append(p)
        elif self.tool == "box":
            self._box_from = self._hover = p
        elif self.tool == "edit":
            near = [i for i, v in enumerate(self.vertices) if self._near(p, v)]
            self._drag_vertex = near[0] if near else None
        self._draw_shape()

    def mouseDoubleClickEvent(self, event):
        if self.tool == "polygon" and event.button() == Qt.LeftButton and self.image_size:
            self.finish_polygon()  # the double-click's first press already placed the last vertex
            return
        super().mouseDoubleClickEvent(event)

    def keyPressEvent(self, event):
        if self.tool == "polygon" and self.polygon:
            if event.key() in (Qt.Key_Return, Qt.Key_Enter):
                self.finish_polygon()
                return
            if event.key() == Qt.Key_Backspace:
                self.polygon.pop()
                self._draw_shape()
                return
        super().keyPressEvent(event)

    # ----- strokes and middle-button pan ----------------------------------------------------
    def mousePressEvent(self, event):
        if event.button() == Qt.MiddleButton:
            self._pan_from = event.position()
            return
        if self.tool in ("polygon", "box", "edit") and event.button() == Qt.LeftButton and self.image_size:
            self.setFocus()
            self._shape_press(self._clamp(self.mapToScene(event.position().toPoint())))
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
        if self.image_size and (self.polygon or self._box_from):
            self._hover = self._clamp(p)
            self._draw_shape()
        if self._drag_vertex is not None:
            self.vertices[self._drag_vertex] = self._clamp(p)
            self._draw_shape()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MiddleButton:
            self._pan_from = None
            return
        if self._box_from is not None and event.button() == Qt.LeftButton:
            a, b = self._box_from, self._clamp(self.mapToScene(event.position().toPoint()))
            self.cancel_shape()
            if abs(a[0] - b[0]) >= 1 and abs(a[1] - b[1]) >= 1:  # a click is not a box
                self.shapeFinished.emit("box", [a, b])
            return
        if self._drag_vertex is not None and event.button() == Qt.LeftButton:
            self._drag_vertex = None
            self.verticesEdited.emit(list(self.vertices))
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
