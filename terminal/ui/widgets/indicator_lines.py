"""Every indicator line of one chart pane in one pyqtgraph item: EMA, SMA, VWAP and the three
Bollinger bands over the candles; RSI; MACD and its signal line.

Why one item per pane, not one per line: a pan repaints every line, and each line item paid
its own visible-slice work (the view rect and pixel size through pyqtgraph's transforms), its
own pyramid read and a QPainterPath rebuilt with ``connect='finite'`` (about 0.1 ms a line
before a pixel was drawn; eight lines with all indicators on). Here the lines of a pane share one
level-of-detail pyramid (chart_lod.Pyramid, built once per history load, tail-updated by a
live bar) and one visible-slice computation per frame. Nothing builds a QPainterPath.

Each line is drawn with ``drawPolyline`` from a reused QPolygonF filled straight from numpy,
one call per NaN-free stretch of points (NaN where the indicator is undefined: before its
period, or VWAP before the day's first volume), so nothing checks connectivity point by point.

Level of detail, as the candles: runs of 2**k bars (the smallest 2**k not under the bars a
pixel) aligned to multiples of 2**k, read from the pyramid (O(drawn runs), whatever the
zoom), each drawn as its low and high in the order they happened, so spikes survive zooming
out and a frame draws at most about two points a pixel column. (Drawing one 1-px span a
pixel column instead was tried: it fills solid the band a zoomed-out RSI sweeps, where these
zigzags leave gaps between runs, and measured no faster: the lines of a 1,000,000-bar view
are bound by the pixels they light, not by the number of points.)

x is the bar index (bar i spans [i - 0.5, i + 0.5]); y is the indicator value times the
line's ``scale`` (0.01 for paise to rupees).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPainter, QPen

from terminal.ui.widgets.chart_lod import Pyramid, merge_factor, visible_slice

# enum lookups cost microseconds each through PySide6: resolve them once
_ANTIALIASING = QPainter.RenderHint.Antialiasing
SOLID = Qt.PenStyle.SolidLine
DASHED = Qt.PenStyle.DashLine

# per line, how its runs merge (the pyramid's column suffixes): the last value, the first
# (which of low and high came first), the highest and the lowest
_MERGES = (("v", "last"), ("f", "first"), ("h", "max"), ("l", "min"))


@dataclass
class _Line:
    values: Callable[[], np.ndarray]
    pen: QPen
    scale: float


class _Frame(NamedTuple):
    first: int  # bars [first, stop) are read: the view plus one run each side
    stop: int
    factor: int  # bars a run: the smallest power of two >= bars a pixel


class IndicatorLines(pg.GraphicsObject):
    """The indicator lines of one pane. ``add_line`` them, then ``refresh()`` after a history
    load (O(bars)) or ``refresh_tail(i)`` after bars [i, end) changed or were added (a live
    bar: O(levels)). Each line reads its values through the getter at refresh and paint
    time, so the panel's recomputed arrays are always the ones drawn."""

    def __init__(self) -> None:
        super().__init__()
        self._lines: list[_Line] = []
        self._pyramid = Pyramid({})
        self._count = 0
        self._y_extent = (0.0, 1.0)
        self._polygon = pg.functions.create_qpolygonf(0)
        self.drawn: list[tuple[np.ndarray, np.ndarray]] = []  # (x, y) per line, by the last paint
        self.last_factor = 1

    # --- lines ---------------------------------------------------------------------------
    def add_line(self, values: Callable[[], np.ndarray], colour: str, style=SOLID, scale: float = 1.0) -> int:
        """Add a line; ``values()`` gives one number per bar (paise with ``scale`` 0.01).
        Returns its index. Call ``refresh()`` when all lines are added."""
        # whole-pixel cosmetic pen: Qt's raster engine strokes it with its fast line
        # rasteriser; a fractional width goes through the path stroker, ~10x slower
        pen = pg.mkPen(colour, width=1, style=style)
        pen.setCosmetic(True)
        self._lines.append(_Line(values, pen, float(scale)))
        return len(self._lines) - 1

    def clear_lines(self) -> None:
        self._lines = []
        self.refresh()

    def line_count(self) -> int:
        return len(self._lines)

    def _columns(self) -> dict[str, np.ndarray]:
        data = {}
        for i, line in enumerate(self._lines):
            v = np.asarray(line.values(), dtype=np.float64)
            for suffix, _ in _MERGES:
                data[f"{i}{suffix}"] = v
        return data

    def refresh(self) -> None:
        self._pyramid = Pyramid({f"{i}{suffix}": how for i in range(len(self._lines)) for suffix, how in _MERGES})
        self._pyramid.build(self._columns())
        self._set_extent()

    def refresh_tail(self, first_changed: int) -> None:
        self._pyramid.update_tail(self._columns(), first_changed)
        self._set_extent()

    def _set_extent(self) -> None:
        """Bounding rect: every bar in x, every line's whole range in y (from the pyramid's top)."""
        count = self._pyramid.count
        extent = None
        if count and self._lines:
            _, top = self._pyramid.runs(self._columns(), 0, count, 1 << 62)
            extent = self._extent_of(top)
        lo, hi = extent if extent is not None else (0.0, 1.0)
        if (count, (lo, hi)) != (self._count, self._y_extent):
            self.prepareGeometryChange()
            self._count, self._y_extent = count, (lo, hi)
        self.update()

    def _extent_of(self, runs: dict[str, np.ndarray]) -> tuple[float, float] | None:
        """(lowest, highest) scaled value of every line over ``runs`` (NaN ignored); None
        when no line has a value there."""
        lows, highs = [], []
        for i, line in enumerate(self._lines):
            low, high = runs[f"{i}l"], runs[f"{i}h"]
            if not len(low):
                continue
            # fmin/fmax skip NaN and give NaN only when all are (np.nanmin's checks cost ~10 us a call)
            a, b = float(np.fmin.reduce(low)) * line.scale, float(np.fmax.reduce(high)) * line.scale
            if not math.isnan(a):
                lows.append(min(a, b))  # a negative scale swaps them
                highs.append(max(a, b))
        return (min(lows), max(highs)) if lows else None

    def boundingRect(self) -> QRectF:
        lo, hi = self._y_extent
        return QRectF(-0.5, lo, max(self._count, 1), max(hi - lo, 1e-9))

    # --- what a frame draws ----------------------------------------------------------------
    def _frame(self, x_range: tuple[float, float] | None = None) -> _Frame:
        """The runs to read for the view, or for ``x_range`` across the view's width (the
        panel fits y before linked panes have moved)."""
        view = self.getViewBox()
        nothing = _Frame(0, 0, 1)
        if view is None or not self._count:
            return nothing
        left, right = view.viewRange()[0] if x_range is None else x_range
        width = view.width()
        if width <= 0 or right <= left:
            return nothing
        first, stop = visible_slice(left, right, self._count)
        if stop <= first:
            return nothing
        factor = merge_factor((right - left) / width)
        return _Frame(max(first - factor, 0), min(stop + factor, self._count), factor)

    def _runs(self, frame: _Frame) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        """Centres of the frame's runs and their merged columns; None for the columns at
        factor 1 (the lines' own values are read then)."""
        if frame.stop <= frame.first:
            return np.empty(0), None
        if frame.factor == 1 or not self._pyramid._levels:
            return np.arange(frame.first, frame.stop, dtype=np.float64), None
        return self._pyramid.runs({}, frame.first, frame.stop, frame.factor)

    def _line_runs(self, index: int, frame: _Frame, runs: dict[str, np.ndarray] | None):
        """(last, first, high, low) of line ``index`` over the frame's runs, unscaled."""
        if runs is None:
            v = np.asarray(self._lines[index].values(), dtype=np.float64)[frame.first:frame.stop]
            return v, v, v, v
        return runs[f"{index}v"], runs[f"{index}f"], runs[f"{index}h"], runs[f"{index}l"]

    def _polyline_y(self, index: int, frame: _Frame, runs: dict[str, np.ndarray] | None) -> np.ndarray:
        """y of line ``index``'s polyline, scaled, NaN where undefined: at factor 1 the values
        themselves, else each run's low and high in the order they happened (rising run:
        low first), so spikes survive zooming out. x is ``_polyline_x``."""
        last, head, high, low = self._line_runs(index, frame, runs)
        scale = self._lines[index].scale
        if runs is None:
            return last * scale
        rising = last >= head  # False where either is NaN (numpy does not warn on comparisons)
        y = np.empty((len(last), 2))
        y[:, 0] = np.where(rising, low, high)
        y[:, 1] = np.where(rising, high, low)
        y = y.reshape(-1)
        y *= scale
        return y

    @staticmethod
    def _polyline_x(x: np.ndarray, runs: dict[str, np.ndarray] | None) -> np.ndarray:
        """x of the polyline points: the bars, or each run's centre twice (low and high)."""
        return x if runs is None else np.repeat(x, 2)

    def visible_extent(self, x_range: tuple[float, float] | None = None) -> tuple[float, float] | None:
        """(lowest, highest) scaled value of every line over the runs in view (or ``x_range``),
        from the runs' own lows and highs (exact, whatever the zoom); None when nothing is
        defined there. What the panel fits a pane's y range to."""
        frame = self._frame(x_range)
        x, runs = self._runs(frame)
        if runs is None:
            runs = {}
            for i, line in enumerate(self._lines):
                runs[f"{i}l"] = runs[f"{i}h"] = np.asarray(line.values(), dtype=np.float64)[frame.first:frame.stop]
        return self._extent_of(runs)

    # --- painting --------------------------------------------------------------------------
    def paint(self, painter: QPainter, *args) -> None:
        frame = self._frame()
        self.last_factor = frame.factor
        x, runs = self._runs(frame)
        self.drawn = []
        if len(x) < 2 or not self._lines:
            return
        xs = self._polyline_x(x, runs)  # shared by every line of the pane
        painter.setRenderHint(_ANTIALIASING, False)
        for i, line in enumerate(self._lines):
            ys = self._polyline_y(i, frame, runs)
            self.drawn.append((xs, ys))
            painter.setPen(line.pen)
            self._draw_polyline(painter, xs, ys)

    def _draw_polyline(self, painter: QPainter, xs: np.ndarray, ys: np.ndarray) -> None:
        """One drawPolyline per NaN-free run of points (runs of one point draw nothing)."""
        finite = np.isfinite(ys)
        if finite.all():
            self._polyline(painter, xs, ys)
            return
        edges = np.flatnonzero(np.diff(np.concatenate(([False], finite, [False]))))
        for start, stop in zip(edges[0::2].tolist(), edges[1::2].tolist()):
            if stop - start >= 2:
                self._polyline(painter, xs[start:stop], ys[start:stop])

    def _polyline(self, painter: QPainter, xs: np.ndarray, ys: np.ndarray) -> None:
        polygon = self._polygon
        polygon.resize(len(xs))  # shrinking keeps the buffer: no allocation once grown
        points = pg.functions.ndarray_from_qpolygonf(polygon)
        points[:, 0] = xs
        points[:, 1] = ys
        painter.drawPolyline(polygon)


__all__ = ["DASHED", "IndicatorLines", "SOLID"]
