"""pyqtgraph items of the chart: candles, bars (volume, histogram), indicator lines, the
bar-index time axis, the price axis and the horizontal lines (last price, position, draggable
order lines), all drawn in one item per pane (``PriceLines``). Axes paint their ticks and
cached static-text labels directly (``_FastAxis``), as pyqtgraph's axis re-measured every
label and replayed a QPicture on each pan.

Each series item draws only the visible slice, merged to at most one drawn bar per pixel
(read from chart_lod's precomputed Pyramid, never a pass over the bars in view), with a handful of batched QPainter calls per frame: one drawLines and one
drawRects per colour, fed from numpy through pyqtgraph's PrimitiveArray (one native call,
no Python object per bar). x is the bar index; y is rupees (paise / 100) for prices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from datetime import datetime, timedelta, timezone

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import internals
from PySide6.QtCore import QLineF, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPen, QStaticText

from terminal.domain.money import format_price, group_indian
from terminal.ui.widgets.chart_lod import Pyramid, merge_factor, visible_slice

IST = timezone(timedelta(hours=5, minutes=30))
BODY_WIDTH = 0.72  # of a bar's slot
MIN_PIXELS_FOR_BODIES = 3.0  # narrower drawn bars are just high-low strokes


class _Batch:
    """Reusable numpy-backed arrays of QLineF / QRectF for one drawLines / drawRects call."""

    def __init__(self) -> None:
        self.lines = internals.PrimitiveArray(QLineF, 4)
        self.rects = internals.PrimitiveArray(QRectF, 4)

    def draw_lines(self, painter: QPainter, x0, y0, x1, y1) -> None:
        if not len(x0):
            return
        self.lines.resize(len(x0))
        a = self.lines.ndarray()
        a[:, 0], a[:, 1], a[:, 2], a[:, 3] = x0, y0, x1, y1
        painter.drawLines(*self.lines.drawargs())

    def draw_rects(self, painter: QPainter, x, y, w, h) -> None:
        if not len(x):
            return
        self.rects.resize(len(x))
        a = self.rects.ndarray()
        a[:, 0], a[:, 1], a[:, 2], a[:, 3] = x, y, w, h
        painter.drawRects(*self.rects.drawargs())


class _SeriesItem(pg.GraphicsObject):
    """Base of the chart's items: a per-bar source read at paint time, its level-of-detail
    pyramid (chart_lod.Pyramid), and the y extent for the bounding rect.

    ``refresh()`` rebuilds the pyramid after a history load (O(bars)); ``refresh_tail(i)``
    after bars [i, end) changed or were added (a live bar: O(levels)).
    """

    _merges: dict[str, str] = {}

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._y_extent = (0.0, 1.0)
        self._pyramid = Pyramid(self._merges)
        self.last_draw_count = 0  # drawn bars of the last paint (for tests and the bench)
        self.last_factor = 1

    def _data(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _extent(self) -> tuple[float, float]:
        raise NotImplementedError

    def refresh(self) -> None:
        self._pyramid.build(self._data())
        self._set_extent(self._pyramid.count, *self._extent())

    def refresh_tail(self, first_changed: int) -> None:
        self._pyramid.update_tail(self._data(), first_changed)
        self._set_extent(self._pyramid.count, *self._extent())

    def _top(self, name: str, how) -> float:
        """``how`` (np.nanmin / np.nanmax) of a column over all bars, from the top level."""
        data = self._data()
        x, runs = self._pyramid.runs(data, 0, self._pyramid.count, 1 << 62)
        column = runs[name]
        if not len(column) or not np.isfinite(column).any():
            return np.nan
        return float(how(column))

    def boundingRect(self) -> QRectF:
        lo, hi = self._y_extent
        return QRectF(-0.5, lo, max(self._count, 1), max(hi - lo, 1e-9))

    def _set_extent(self, count: int, lo: float, hi: float) -> None:
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi = 0.0, 1.0
        if (count, (lo, hi)) != (self._count, self._y_extent):
            self.prepareGeometryChange()
            self._count, self._y_extent = count, (lo, hi)
        self.update()

    def _visible(self, x_range: tuple[float, float] | None = None) -> tuple[int, int, int, float]:
        """(first, stop, merge factor, pixels per merged bar) for the current view, or for
        ``x_range`` (bars) across this item's view box (the panel fits y before linked
        panes have moved)."""
        if x_range is not None:
            view = self.getViewBox()
            width = view.width() if view is not None else 0.0
            left, right = x_range
            per_pixel = (right - left) / width if width > 0 else 0.0
        else:
            rect = self.viewRect()
            per_pixel = self.pixelWidth()  # x units (bars) per screen pixel
            left, right = (rect.left(), rect.right()) if rect is not None else (0.0, 0.0)
        if not per_pixel:
            return 0, 0, 1, 0.0
        first, stop = visible_slice(left, right, self._count)
        factor = merge_factor(per_pixel)
        return first, stop, factor, factor / per_pixel

    def visible_runs(self, x_range=None) -> tuple[np.ndarray, dict[str, np.ndarray], int, float]:
        """(x centres, merged columns, factor, pixels per drawn bar) of the current view (or
        of ``x_range``): a slice of the pyramid, O(drawn bars) whatever the zoom."""
        first, stop, factor, px = self._visible(x_range)
        x, runs = self._pyramid.runs(self._data(), first, stop, factor)
        return x, runs, factor, px


class CandleItem(_SeriesItem):
    """Candles from paise columns; reads the arrays it is given at paint time, so a live
    update is ``refresh_tail`` plus one repaint of the visible slice."""

    _merges = {"open": "first", "high": "max", "low": "min", "close": "last"}

    def __init__(self, up: str, down: str) -> None:
        super().__init__()
        self._columns: Callable[[], tuple[np.ndarray, ...]] = lambda: (np.empty(0),) * 4
        self._up_pen, self._down_pen = pg.mkPen(up, width=1), pg.mkPen(down, width=1)
        self._up_brush, self._down_brush = pg.mkBrush(up), pg.mkBrush(down)
        self._batch = _Batch()

    def set_columns(self, columns: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """``columns()`` returns (open, high, low, close) in paise; called at each paint."""
        self._columns = columns
        self.refresh()

    def _data(self) -> dict[str, np.ndarray]:
        return dict(zip(("open", "high", "low", "close"), self._columns()))

    def _extent(self) -> tuple[float, float]:
        return self._top("low", np.nanmin) / 100, self._top("high", np.nanmax) / 100

    def refresh_last(self, low_paise: int, high_paise: int, count: int) -> None:
        """Kept for callers of the old API: the forming bar changed (same as refresh_tail)."""
        self.refresh_tail(max(count - 1, 0))

    def visible_price_range(self, x_range=None) -> tuple[float, float] | None:
        """(lowest low, highest high) in paise of the drawn bars, from the pyramid."""
        x, runs, _, _ = self.visible_runs(x_range)
        if not len(x):
            return None
        return float(runs["low"].min()), float(runs["high"].max())

    def paint(self, painter: QPainter, *args) -> None:
        x, runs, factor, px = self.visible_runs()
        self.last_factor = factor
        self.last_draw_count = len(x)
        if not len(x):
            return
        o, h, l, c = (runs[k] / 100.0 for k in ("open", "high", "low", "close"))
        up = c >= o
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        width = BODY_WIDTH * factor
        for mask, pen, brush in ((up, self._up_pen, self._up_brush), (~up, self._down_pen, self._down_brush)):
            xs = x[mask]
            painter.setPen(pen)
            self._batch.draw_lines(painter, xs, l[mask], xs, h[mask])
            if px >= MIN_PIXELS_FOR_BODIES:  # narrower drawn bars are just high-low strokes
                top, bottom = np.maximum(o[mask], c[mask]), np.minimum(o[mask], c[mask])
                painter.setBrush(brush)
                self._batch.draw_rects(painter, xs - width / 2, bottom, np.full(len(xs), width), top - bottom)


class GridItem(pg.GraphicsObject):
    """Grid lines at the axes' ticks, as one batched drawLines in an opaque colour.
    (pyqtgraph's own axis grid replays a QPicture of translucent lines: ~4 ms a frame.)"""

    def __init__(self, colour: str, x_axis: pg.AxisItem, y_axis: pg.AxisItem) -> None:
        super().__init__()
        self._pen = pg.mkPen(colour, width=1)
        self._x_axis, self._y_axis = x_axis, y_axis
        self._batch = _Batch()
        self.setZValue(-100)

    def boundingRect(self) -> QRectF:
        return QRectF(-1e9, -1e12, 2e9, 2e12)  # added with ignoreBounds: never used for ranges

    def paint(self, painter: QPainter, *args) -> None:
        rect = self.viewRect()
        if rect is None or not self.pixelWidth() or not self.pixelHeight():
            return
        left, right = rect.left(), rect.right()
        bottom, top = sorted((rect.top(), rect.bottom()))
        xs = _major(self._x_axis.tickValues(left, right, (right - left) / self.pixelWidth()))
        ys = _major(self._y_axis.tickValues(bottom, top, (top - bottom) / self.pixelHeight()))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(self._pen)
        self._batch.draw_lines(painter, xs, np.full(len(xs), bottom), xs, np.full(len(xs), top))
        self._batch.draw_lines(painter, np.full(len(ys), left), ys, np.full(len(ys), right), ys)


def _major(levels) -> np.ndarray:
    values = [v for _, vs in levels[:2] for v in vs]
    return np.asarray(values, dtype=np.float64)


class BarsItem(_SeriesItem):
    """Vertical bars from zero: volume (coloured like its candle, runs summed) or a
    histogram (coloured by sign, runs show their extreme)."""

    def __init__(self, up: str, down: str, mode: str = "sum") -> None:
        if mode not in ("sum", "extreme"):
            raise ValueError(f"unknown bar mode {mode!r}")
        self._merges = {"value": "sum"} if mode == "sum" else {"high": "max", "low": "min"}
        super().__init__()
        self._mode = mode
        self._values: Callable[[], np.ndarray] = lambda: np.empty(0)
        self._rising: Callable[[np.ndarray], np.ndarray] | None = None
        self._scale = 1.0
        self._pens = pg.mkPen(up, width=1), pg.mkPen(down, width=1)
        self._brushes = pg.mkBrush(up), pg.mkBrush(down)
        self._batch = _Batch()

    def set_values(self, values: Callable[[], np.ndarray],
                   rising: Callable[[np.ndarray], np.ndarray] | None = None, scale: float = 1.0) -> None:
        """``values()`` gives one number per bar (drawn times ``scale``: 0.01 for paise);
        ``rising(indices)`` (optional) says which of the drawn bars take the up colour, else
        the sign does. The scale applies to the drawn bars only, never to the whole column."""
        self._values, self._rising, self._scale = values, rising, scale
        self.refresh()

    def _data(self) -> dict[str, np.ndarray]:
        v = self._values()
        return {"value": v} if self._mode == "sum" else {"high": v, "low": v}

    def _extent(self) -> tuple[float, float]:
        if self._mode == "sum":
            lo, hi = self._top("value", np.nanmin), self._top("value", np.nanmax)
        else:
            lo, hi = self._top("low", np.nanmin), self._top("high", np.nanmax)
        if not np.isfinite(lo):
            return 0.0, 1.0
        lo, hi = sorted((lo * self._scale, hi * self._scale))
        return min(lo, 0.0), max(hi, 0.0)

    def _merged(self, x_range=None) -> tuple[np.ndarray, np.ndarray, float, int]:
        x, runs, factor, px = self.visible_runs(x_range)
        if self._mode == "sum":
            return x, runs["value"] * self._scale, px, factor
        top, bottom = runs["high"], runs["low"]
        return x, np.where(np.abs(bottom) > np.abs(top), bottom, top) * self._scale, px, factor

    def visible_values(self, x_range=None) -> np.ndarray:
        """The drawn (merged) values of the current view, for fitting the y range."""
        return self._merged(x_range)[1]

    def paint(self, painter: QPainter, *args) -> None:
        x, v, px, factor = self._merged()
        self.last_draw_count = len(x)
        if not len(x):
            return
        v = np.nan_to_num(np.asarray(v, dtype=np.float64))
        if self._rising is not None:
            up = np.asarray(self._rising(np.clip(np.round(x).astype(np.int64), 0, self._count - 1)), dtype=bool)
        else:
            up = v >= 0
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        width = BODY_WIDTH * factor
        for mask, pen, brush in ((up, self._pens[0], self._brushes[0]), (~up, self._pens[1], self._brushes[1])):
            xs, vs = x[mask], v[mask]
            painter.setPen(pen)
            if px < MIN_PIXELS_FOR_BODIES:
                self._batch.draw_lines(painter, xs, np.zeros(len(xs)), xs, vs)
            else:
                painter.setBrush(brush)
                self._batch.draw_rects(painter, xs - width / 2, np.zeros(len(xs)), np.full(len(xs), width), vs)


# --- axes ------------------------------------------------------------------------------------

_MINUTE_STEPS = (1, 2, 3, 5, 10, 15, 30, 60, 120)
_CALENDAR_STEPS = ("day", "week", "month", "quarter", "year")
_TRADING_MINUTES_PER_DAY = 375  # 09:15 to 15:30
_CALENDAR_DAYS = {"day": 1, "week": 5, "month": 21, "quarter": 63, "year": 250}  # trading days
LABEL_SPACING_PX = 90
_STATIC_TEXT_CACHE = 4096  # laid-out labels kept per axis (a price axis meets a few hundred a session)


class _FastAxis(pg.AxisItem):
    """An AxisItem that paints straight from its tick values each frame: one drawLines per
    tick level and each label as a cached QStaticText (laid out once per distinct string).

    pyqtgraph's AxisItem re-measures every label with QPainter.boundingRect, records a
    QPicture and replays it on every pan (~1 ms an axis); this paints the same ticks and
    labels, by the same density rules (``textFillLimits``, labels kept inside the axis), in
    ~0.1 ms. The view is assumed unscaled (one scene unit a pixel), as in the chart.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._texts: dict[str, QStaticText] = {}
        self._metrics_key = None
        self._metrics: QFontMetricsF | None = None
        self._text_widths: dict[str, float] = {}
        self._tick_pens: dict[int, QPen] = {}
        self._levels_key: tuple | None = None
        self._levels: list = []
        self.last_labels: list[str] = []  # drawn by the last paint (for tests)

    def tickValues(self, minVal, maxVal, size):
        # asked by the axis and by the grid in the same frame: compute once
        key = (minVal, maxVal, size)
        if key != self._levels_key:
            self._levels = super().tickValues(minVal, maxVal, size)
            self._levels_key = key
        return self._levels

    def _updateLabel(self) -> None:
        # the chart's axes carry no title; pyqtgraph re-set the title's HTML and re-sized the
        # axis on every range change (each pan), for a label that is never shown
        if self.label.isVisible():
            super()._updateLabel()
        else:
            self.update()

    def _static_text(self, text: str) -> QStaticText:
        st = self._texts.get(text)
        if st is None:
            if len(self._texts) >= _STATIC_TEXT_CACHE:
                self._texts.clear()
            st = QStaticText(text)
            st.setTextFormat(Qt.TextFormat.PlainText)
            self._texts[text] = st
        return st

    def _font_metrics(self, painter: QPainter) -> QFontMetricsF:
        font = self.style["tickFont"] or painter.font()
        key = font.key()
        if key != self._metrics_key:
            self._metrics, self._metrics_key = QFontMetricsF(font), key
            self._texts.clear()  # laid out for the old font
            self._text_widths: dict[str, float] = {}
        return self._metrics

    def _text_width(self, text: str) -> float:
        width = self._text_widths.get(text)
        if width is None:
            if len(self._text_widths) >= _STATIC_TEXT_CACHE:
                self._text_widths.clear()
            width = self._text_widths[text] = self._metrics.horizontalAdvance(text)
        return width

    def _tick_pen(self, level: int) -> QPen:
        pen = self._tick_pens.get(level)
        base = self.tickPen()
        if pen is None or pen.widthF() != base.widthF() or pen.color().rgb() != base.color().rgb():
            pen = QPen(base)
            colour = QColor(pen.color())
            colour.setAlpha(int(255 / (level + 1)) if self.style["tickAlpha"] is None else colour.alpha())
            pen.setColor(colour)
            self._tick_pens[level] = pen
        return pen

    def paint(self, painter: QPainter, *args) -> None:
        if self.linkedView() is None:
            return
        vertical = self.orientation in ("left", "right")
        rect = self.rect()
        length = rect.height() if vertical else rect.width()
        lo, hi = self.range
        if length <= 0 or hi == lo:
            return
        if self.style["tickFont"] is not None:
            painter.setFont(self.style["tickFont"])
        metrics = self._font_metrics(painter)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        # value -> pixel along the axis (y grows downwards)
        scale = (-length if vertical else length) / (hi - lo)
        origin = (length if vertical else 0.0) - lo * scale
        edge = {"left": rect.right(), "right": rect.left(), "top": rect.bottom(), "bottom": rect.top()}[self.orientation]
        direction = -1 if self.orientation in ("left", "top") else 1
        painter.setPen(self.pen())
        if vertical:
            painter.drawLine(QLineF(edge + direction, rect.top() - 1, edge + direction, rect.bottom() + 1))
        else:
            painter.drawLine(QLineF(rect.left() - 1, edge + direction, rect.right() + 1, edge + direction))
        levels = self.tickValues(lo, hi, length)[:self.style["maxTickLevel"] + 1]
        placed: list[list[tuple[float, float]]] = []  # per level: (value, pixel) inside the axis
        for i, (_, values) in enumerate(levels):
            v = np.asarray(values, dtype=np.float64)
            px = v * scale + origin
            inside = (px >= -0.5) & (px <= length + 0.5)
            v, px = v[inside], px[inside]
            placed.append(list(zip(v.tolist(), px.tolist())))
            tick = self.style["tickLength"] / (i * 0.5 + 1.0) * direction
            if not len(px):
                continue
            painter.setPen(self._tick_pen(i))
            lines = [QLineF(edge, p, edge + tick, p) if vertical else QLineF(p, edge, p, edge + tick) for p in px.tolist()]
            painter.drawLines(lines)
        if self.style["showValues"]:
            self._paint_labels(painter, metrics, levels, placed, vertical, edge, length, direction)

    def _paint_labels(self, painter, metrics, levels, placed, vertical, edge, length, direction) -> None:
        height = metrics.height()
        offset = max(0, self.style["tickLength"]) + self.style["tickTextOffset"][0 if vertical else 1]
        bounds = self.boundingRect()
        painter.setPen(self.textPen())
        painter.setClipRect(bounds)
        drawn: list[str] = []
        used = 0.0  # text extent along the axis so far, for the density rule
        largest = 0.0  # text extent across the axis, for the axis' own size
        for i in range(min(len(levels), self.style["maxTextLevel"] + 1)):
            spacing, values = levels[i]
            strings = self.tickStrings([v for v, _ in placed[i]], self.autoSIPrefixScale * self.scale, spacing)
            widths = [self._text_width(text) for text in strings]
            level_used = used + sum(height * 0.8 if vertical else w for w in widths)
            if i > 0 and any(len(drawn) >= count and level_used / length >= limit
                             for count, limit in self.style["textFillLimits"]):
                break
            used = level_used
            across = max(widths, default=0.0) if vertical else height * 0.8
            largest = max(largest, across)
            for (_, px), text, width in zip(placed[i], strings, widths):
                if not text:
                    continue
                if vertical:
                    x = edge + offset if direction > 0 else edge - offset - width
                    top_left = QPointF(x, px - height / 2)
                    box = QRectF(x, px - height * 0.4, width, height * 0.8)
                else:
                    y = edge + offset if direction > 0 else edge - offset - height
                    top_left = QPointF(px - width / 2, y)
                    box = QRectF(px - width / 2, y, width, height * 0.8)
                if (bounds & box) != box:
                    continue  # would stick out of the axis: pyqtgraph drops it too
                painter.drawStaticText(top_left, self._static_text(text))
                drawn.append(text)
        self.last_labels = drawn
        if largest:
            self._updateMaxTextSize(int(math.ceil(largest)))


class BarTimeAxis(_FastAxis):
    """Bottom axis for a bar-index x: ticks where the IST clock crosses a round time
    (10:00, 10:30 ...) or a new day, month or year, labelled in IST."""

    def __init__(self, **kwargs) -> None:
        super().__init__("bottom", **kwargs)
        self._starts: Callable[[], np.ndarray] = lambda: np.empty(0, dtype=np.int64)
        self._interval = 1
        self._labels: dict[int, str] = {}
        self._ticks_key: tuple | None = None
        self._ticks: list = []

    def set_bars(self, starts: Callable[[], np.ndarray], interval_minutes: int) -> None:
        self._starts, self._interval = starts, interval_minutes
        self._ticks_key = None
        self.picture = None
        self.update()

    def label_at(self, index: int) -> str:
        """The bar's start in IST: date and time for intraday bars, date for daily bars."""
        starts = self._starts()
        if not 0 <= index < len(starts):
            return ""
        moment = datetime.fromtimestamp(int(starts[index]), IST)
        return moment.strftime("%a %d %b %Y" if self._interval >= 1440 else "%a %d %b %H:%M")

    def tickValues(self, minVal, maxVal, size):
        # the grid asks too, in the same frame: compute once per (range, size, bars)
        starts = self._starts()
        key = (minVal, maxVal, size, len(starts), self._interval, int(starts[-1]) if len(starts) else 0)
        if key != self._ticks_key:
            self._ticks = self._tick_values(starts, minVal, maxVal, size)
            self._ticks_key = key
        return self._ticks

    def _tick_values(self, starts, minVal, maxVal, size):
        first, stop = visible_slice(minVal, maxVal, len(starts))
        if stop - first < 1 or size <= 0:
            return []
        bars_per_px = (maxVal - minVal) / size
        need_bars = LABEL_SPACING_PX * bars_per_px
        step = self._pick_step(need_bars)
        stride = max(1, int(bars_per_px))  # a label a bar or so off is invisible when bars < 1 px
        idx = np.arange(first, stop, stride)
        keys = _bucket_keys(starts[idx], step)
        prev = _bucket_keys(starts[max(first - stride, 0):max(first - stride, 0) + 1], step)
        change = np.r_[keys[0] != prev[0] if first else True, keys[1:] != keys[:-1]]
        ticks = idx[change]
        # drop ticks that crowd their neighbour (a short day, a holiday week)
        keep, last = [], -1e18
        for t in ticks.tolist():
            if (t - last) / bars_per_px >= LABEL_SPACING_PX * 0.8:
                keep.append(t)
                last = t
        day_keys = _bucket_keys(starts[np.asarray(keep, dtype=np.int64)], "day") if keep else []
        self._labels = {}
        previous_day = None
        for t, day in zip(keep, day_keys):
            self._labels[t] = _label(int(starts[t]), step, new_day=day != previous_day)
            previous_day = day
        return [(float(need_bars), [float(t) for t in keep])]

    def _pick_step(self, need_bars: float):
        for minutes in _MINUTE_STEPS:
            if minutes >= self._interval and minutes / self._interval >= need_bars:
                return minutes
        for name in _CALENDAR_STEPS:
            bars = _CALENDAR_DAYS[name] * (1 if self._interval >= 1440 else _TRADING_MINUTES_PER_DAY / self._interval)
            if bars >= need_bars:
                return name
        return "year"

    def tickStrings(self, values, scale, spacing):
        return [self._labels.get(int(round(v)), "") for v in values]


def _bucket_keys(starts: np.ndarray, step) -> np.ndarray:
    local = starts.astype(np.int64) + 19_800
    if isinstance(step, int):
        return (local - (9 * 60 + 15) * 60) // (step * 60)
    days = local // 86_400
    if step == "day":
        return days
    if step == "week":
        return (days + 3) // 7  # weeks starting Monday (1970-01-01 was a Thursday)
    months = local.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    if step == "month":
        return months
    if step == "quarter":
        return months // 3
    return months // 12


@lru_cache(maxsize=4096)
def _label(epoch: int, step, new_day: bool) -> str:
    moment = datetime.fromtimestamp(epoch, IST)
    if isinstance(step, int):
        return moment.strftime("%d %b") if new_day else moment.strftime("%H:%M")
    if step in ("day", "week"):
        return moment.strftime("%d %b") if moment.day != 1 or step == "week" else moment.strftime("%b %Y")
    if step in ("month", "quarter"):
        return moment.strftime("%Y") if moment.month == 1 else moment.strftime("%b")
    return moment.strftime("%Y")


class PriceAxis(_FastAxis):
    """Right-hand axis in rupees with two decimals and Indian digit grouping."""

    def tickStrings(self, values, scale, spacing):
        return [format_price(int(round(v * 100))) for v in values]


class VolumeAxis(_FastAxis):
    """Volume and other counts the Indian way: 12.5K, 3.40L, 1.20Cr."""

    def tickStrings(self, values, scale, spacing):
        return [compact_count(v) for v in values]


class ValueAxis(_FastAxis):
    """Plain values with at most two decimals (RSI, MACD in rupees)."""

    def tickStrings(self, values, scale, spacing):
        return [f"{v:,.2f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}" for v in values]


def compact_count(value: float) -> str:
    v = abs(value)
    sign = "-" if value < 0 else ""
    if v >= 1e7:
        return f"{sign}{v / 1e7:.2f}Cr"
    if v >= 1e5:
        return f"{sign}{v / 1e5:.2f}L"
    if v >= 1e3:
        return f"{sign}{v / 1e3:.1f}K"
    return f"{sign}{group_indian(int(round(v)))}"


# --- trading lines ---------------------------------------------------------------------------

LINE_GRAB_PX = 4  # a press this close to a movable line drags it


class PriceLine(QObject):
    """One horizontal line of a ``PriceLines`` item: a price (rupees), an optional label
    (drawn above the line, at ``label_at`` of the view's width, left- or right-aligned
    there) and a pen. Setting anything repaints the item; nothing else is re-laid out."""

    def __init__(self, price_rupees: float, text: str, colour: str, style=Qt.PenStyle.SolidLine,
                 label_at: float = 0.92, label_right: bool = True, movable: bool = False,
                 pen_colour: str | None = None) -> None:
        super().__init__()
        self._price = float(price_rupees)
        self._text = text
        self._visible = True
        self.label_at, self.label_right, self.movable = label_at, label_right, movable
        self._fill = QColor(colour)
        self._pen = pg.mkPen(pen_colour or colour, width=1, style=style)
        self._pen.setCosmetic(True)
        self._item: PriceLines | None = None

    def value(self) -> float:
        return self._price

    def setValue(self, price_rupees: float) -> None:
        if price_rupees != self._price:
            self._price = float(price_rupees)
            self._changed()

    @property
    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self._changed()

    def set_fill(self, colour: str) -> None:
        """The label's background colour."""
        if QColor(colour) != self._fill:
            self._fill = QColor(colour)
            self._changed()

    def isVisible(self) -> bool:
        return self._visible

    def setVisible(self, visible: bool) -> None:
        if visible != self._visible:
            self._visible = visible
            self._changed()

    def _changed(self) -> None:
        if self._item is not None:
            self._item.update()


class OrderLine(PriceLine):
    """An open order's price as a labelled dashed line that the trader can drag.

    Dropping it emits ``price_dropped(order_id, new_price_paise)`` (snapped to the tick) and
    puts the line back at the order's price: the order moves only when the broker confirms
    the modification and the panel gets the updated order.
    """

    price_dropped = Signal(str, int)

    def __init__(self, order_id: str, price_paise: int, text: str, colour: str, tick_size: int) -> None:
        super().__init__(price_paise / 100, text, colour, Qt.PenStyle.DashLine, label_at=0.08, label_right=False,
                         movable=True)
        self.order_id = order_id
        self.price_paise = price_paise
        self.tick_size = tick_size

    def set_order_price(self, price_paise: int, text: str) -> None:
        self.price_paise = price_paise
        self.set_text(text)
        self.setValue(price_paise / 100)

    def drop_at(self, price_rupees: float) -> None:
        """What a mouse drag ends with; callable directly (tests, keyboard nudges)."""
        self.setValue(price_rupees)
        self._dropped()

    def _dropped(self) -> None:
        raw = int(round(self.value() * 100))
        tick = self.tick_size
        new_price = max(tick, ((raw + tick // 2) // tick) * tick)
        self.setValue(self.price_paise / 100)
        if new_price != self.price_paise:
            self.price_dropped.emit(self.order_id, new_price)


def horizontal_line(price_paise: int, text: str, colour: str, dashed: bool = True) -> PriceLine:
    """A fixed labelled line (position average, last price), for ``PriceLines.add``."""
    style = Qt.PenStyle.DashDotLine if dashed else Qt.PenStyle.SolidLine
    return PriceLine(price_paise / 100, text, colour, style)


class PriceLines(pg.GraphicsObject):
    """Every horizontal line of a pane in one item: last price, position, order lines,
    RSI 30/70, MACD zero. One paint draws the lines and their labels (each label's text
    laid out once as a QStaticText); nothing moves or re-lays out on a pan, where
    pyqtgraph's InfiniteLine repositioned and re-set the HTML of each label.

    Movable lines (order lines) drag with the left button: a press within
    ``LINE_GRAB_PX`` of one picks it up, the drop calls its ``_dropped``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lines: list[PriceLine] = []
        self._texts: dict[str, QStaticText] = {}
        self._dragging: PriceLine | None = None
        self.setZValue(20)
        self.setAcceptHoverEvents(True)

    def add(self, line: PriceLine) -> PriceLine:
        line._item = self
        self._lines.append(line)
        self.update()
        return line

    def remove(self, line: PriceLine) -> None:
        if line in self._lines:
            self._lines.remove(line)
            line._item = None
            if self._dragging is line:
                self._dragging = None
            self.update()

    def lines(self) -> list[PriceLine]:
        return list(self._lines)

    def boundingRect(self) -> QRectF:
        return QRectF(-1e9, -1e12, 2e9, 2e12)  # added with ignoreBounds: never used for ranges

    def movable_line_at(self, price_rupees: float, tolerance_rupees: float) -> PriceLine | None:
        """The visible movable line nearest to ``price_rupees`` within the tolerance, or None."""
        near = [(abs(line.value() - price_rupees), i, line) for i, line in enumerate(self._lines)
                if line.movable and line.isVisible() and abs(line.value() - price_rupees) <= tolerance_rupees]
        return min(near, key=lambda t: (t[0], -t[1]))[2] if near else None

    def _grab_tolerance(self) -> float:
        return LINE_GRAB_PX * abs(self.pixelHeight() or 0.0)

    def hoverEvent(self, ev) -> None:
        if not ev.isExit() and self.movable_line_at(ev.pos().y(), self._grab_tolerance()) is not None:
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            self.setCursor(Qt.CursorShape.SizeVerCursor)
        else:
            self.unsetCursor()

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            self._dragging = self.movable_line_at(ev.buttonDownPos().y(), self._grab_tolerance())
        if self._dragging is None:
            ev.ignore()  # not on a line: the view pans
            return
        ev.accept()
        line = self._dragging
        line.setValue(ev.pos().y())
        if ev.isFinish():
            self._dragging = None
            line._dropped()

    def paint(self, painter: QPainter, *args) -> None:
        rect = self.viewRect()
        shown = [line for line in self._lines if line.isVisible()]
        if rect is None or not shown:
            return
        left, right = rect.left(), rect.right()
        bottom, top = sorted((rect.top(), rect.bottom()))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        to_device = painter.transform()
        labels = []
        for line in shown:
            y = line.value()
            if not bottom <= y <= top:
                continue
            painter.setPen(line._pen)
            painter.drawLine(QLineF(left, y, right, y))
            if line.text:
                labels.append((to_device.map(QPointF(left + (right - left) * line.label_at, y)), line))
        if not labels:
            return
        painter.save()
        painter.resetTransform()  # labels in pixels
        metrics = painter.fontMetrics()
        painter.setPen(QColor("#ffffff"))
        for point, line in labels:
            text = self._static_text(line.text)
            width, height = metrics.horizontalAdvance(line.text) + 8, metrics.height() + 6
            x = point.x() - width if line.label_right else point.x()
            box = QRectF(round(x), round(point.y()) - height - 1, width, height)  # just above the line
            painter.fillRect(box, line._fill)
            painter.drawStaticText(QPointF(box.left() + 4, box.top() + 3), text)
        painter.restore()

    def _static_text(self, text: str) -> QStaticText:
        st = self._texts.get(text)
        if st is None:
            if len(self._texts) >= 256:  # the P&L label changes every tick: keep the cache small
                self._texts.clear()
            st = QStaticText(text)
            st.setTextFormat(Qt.TextFormat.PlainText)
            self._texts[text] = st
        return st


__all__ = [
    "BarTimeAxis", "BarsItem", "CandleItem", "GridItem", "OrderLine", "PriceAxis", "PriceLine", "PriceLines",
    "ValueAxis", "VolumeAxis", "compact_count", "horizontal_line",
]
