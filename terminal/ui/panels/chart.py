"""The candlestick chart panel: candles with volume, indicators, crosshair, and trading lines.

History comes in as 1-minute bars (``set_history``); the panel resamples them locally to the
chosen timeframe (1, 3, 5, 15, 30, 60 minutes or daily), so switching timeframes needs no
new request. Live 1-minute bar updates (``apply_bar``, built off the UI thread by
``terminal.analytics.candles.CandleBuilder``) are folded into the forming bar, and only the
indicators' tail is recomputed.

Keys while the chart has focus (``CHART_KEYMAP``): 1..7 timeframes (1m 3m 5m 15m 30m 1h 1D),
Left/Right pan, Up/+ zoom in, Down/- zoom out, End jump to the latest bar, Home the first.
Mouse: wheel zooms around the pointer, drag pans, right-click offers buy/sell at that price,
order lines drag to a new price.

Repaints: the view does not repaint on every item change (pyqtgraph items mark themselves
dirty again while painting, which cost a second full paint per pan). Every change goes
through ``_request_frame``: one paint per pan or zoom, and a live bar repaints only the
forming bar's column, the last-price line and the price axis when the y range holds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QGraphicsItem, QGraphicsScene, QGraphicsView, QHBoxLayout,
    QLabel, QMenu, QSpinBox, QToolBar, QToolButton, QVBoxLayout, QWidget,
)

from terminal.analytics.candles import DAILY, CandleSeries, bucket_start, resample
from terminal.analytics.indicators import (
    EMA, INDICATOR_TYPES, MACD, RSI, SMA, VWAP, BollingerBands, Indicator, indicator_from_dict,
)
from terminal.domain import Candle, Instrument, Order, OrderType, Position, Side
from terminal.domain.money import format_price, format_quantity
from terminal.ui import theme
from terminal.ui.hotkeys import Hotkey
from terminal.ui.widgets.candle_plot import (
    BarsItem, BarTimeAxis, CandleItem, GridItem, OrderLine, PriceAxis, PriceLine, PriceLines, ValueAxis, VolumeAxis,
    compact_count, horizontal_line,
)
from terminal.ui.widgets.chart_lod import padded_range
from terminal.ui.widgets.indicator_lines import DASHED, SOLID, IndicatorLines

log = logging.getLogger(__name__)

_DEVICE_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache
_NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents

TIMEFRAMES: tuple[tuple[int, str], ...] = ((1, "1m"), (3, "3m"), (5, "5m"), (15, "15m"), (30, "30m"),
                                          (60, "1h"), (DAILY, "1D"))

CHART_KEYMAP: tuple[Hotkey, ...] = tuple(
    Hotkey(f"chart_tf_{minutes}", f"{label} bars", str(i + 1), "Chart")
    for i, (minutes, label) in enumerate(TIMEFRAMES)
) + (
    Hotkey("chart_pan_left", "Pan left", "Left", "Chart"),
    Hotkey("chart_pan_right", "Pan right", "Right", "Chart"),
    Hotkey("chart_zoom_in", "Zoom in", "Up", "Chart"),
    Hotkey("chart_zoom_out", "Zoom out", "Down", "Chart"),
    Hotkey("chart_jump_latest", "Jump to latest bar", "End", "Chart"),
    Hotkey("chart_jump_first", "Jump to first bar", "Home", "Chart"),
)
_EXTRA_KEYS = {"chart_zoom_in": ("+", "="), "chart_zoom_out": ("-",)}

DEFAULT_VISIBLE_BARS = 120
RIGHT_MARGIN_BARS = 6  # empty slots right of the last bar, room for the forming bar's label
PAN_FRACTION = 0.2  # of the visible width per key press
ZOOM_STEP = 1.25

LINE_COLOURS = ("#f5c542", "#42a5f5", "#ab47bc", "#ff7043", "#26c6da", "#d4e157")
DEFAULT_INDICATORS = (lambda: EMA(20), lambda: VWAP())


class ChartPanel(QWidget):
    """A candlestick chart of one instrument.

    Signals: ``history_requested(key, 1)`` asks for 1-minute history (on ``request_history``:
    at start and when the trader wants more); ``order_price_drag_requested(order_id, paise)``
    when an order line is dropped at a new price (for SL-M orders the trigger price, else the
    limit price) — ask the trader to confirm, then modify; ``order_at_price_requested(side,
    paise)`` from the context menu ("BUY" or "SELL" at the clicked price, on the tick).
    """

    history_requested = Signal(str, int)
    order_price_drag_requested = Signal(str, int)
    order_at_price_requested = Signal(str, int)
    timeframe_changed = Signal(int)

    def __init__(self, instrument: Instrument, timeframe: int = 5, parent: QWidget | None = None,
                 indicators: Sequence[Indicator] | None = None) -> None:
        super().__init__(parent)
        if timeframe not in dict(TIMEFRAMES):
            raise ValueError(f"timeframe must be one of {[m for m, _ in TIMEFRAMES]}, got {timeframe}")
        self.instrument = instrument
        self.timeframe = timeframe
        self._minutes = CandleSeries(1)  # the 1-minute history and live bars
        self._bars = CandleSeries(timeframe)  # what is drawn: _minutes at the timeframe
        self._indicators: list[Indicator] = list(indicators) if indicators is not None else [f() for f in DEFAULT_INDICATORS]
        self._lines: list[dict[str, np.ndarray]] = []
        self._histograms: list[BarsItem] = []  # one per MACD, in its pane
        self._order_lines: dict[str, OrderLine] = {}
        self._orders: list[Order] = []
        self._position: Position | None = None
        self._position_line: PriceLine | None = None
        self._cursor_index: int | None = None
        self._fitting = False
        self._setting_range = False  # set_visible_range is ranging the panes itself
        self._view_ready = False  # the x range has been set for real data at least once
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._t = theme.current()
        self._build_ui()
        self._build_actions()
        self._rebuild_indicators()
        self._arrange_panes()

    # --- public API ------------------------------------------------------------------------
    def request_history(self) -> None:
        """Ask the main window for this instrument's 1-minute history."""
        self.history_requested.emit(self.instrument.key, 1)

    def set_history(self, candles: CandleSeries | Sequence[Candle]) -> None:
        """Replace the history with 1-minute bars (oldest first) and show the latest bars."""
        if isinstance(candles, CandleSeries):
            if candles.interval_minutes != 1:
                raise ValueError(f"set_history takes 1-minute bars, got {candles.interval_minutes}-minute bars")
            self._minutes = candles.copy()
        else:
            self._minutes = CandleSeries.from_candles(list(candles), 1)
        self._rebuild_bars()
        self.jump_to_latest()

    def apply_bar(self, candle: Candle) -> None:
        """Fold a live 1-minute bar (new or an update of a recent one) into the chart."""
        minutes = self._minutes
        if len(minutes) and candle.start < minutes.start[-1]:
            i = int(np.searchsorted(minutes.start, candle.start))
            if i >= len(minutes) or minutes.start[i] != candle.start:
                log.warning("%s: 1-minute bar at %s is older than the chart's last bar and not in it; ignored",
                            self.instrument.key, candle.start)
                return
            minutes.replace(i, candle)
        else:
            minutes.upsert(candle)
        self._fold_minute(candle.start)

    def set_orders(self, orders: Sequence[Order]) -> None:
        """Show this instrument's open orders as draggable lines (others are ignored)."""
        mine = [o for o in orders if o.instrument_key == self.instrument.key and o.is_open]
        self._orders = mine
        keep = set()
        for order in mine:
            price = _order_line_price(order)
            if price <= 0:
                continue  # a market order has no price to draw
            keep.add(order.order_id)
            text = f"{order.side.value} {format_quantity(order.pending_quantity)} @ {format_price(price)}"
            line = self._order_lines.get(order.order_id)
            if line is None:
                colour = self._t.buy if order.side is Side.BUY else self._t.sell
                line = OrderLine(order.order_id, price, text, colour, self.instrument.tick_size)
                line.price_dropped.connect(self.order_price_drag_requested)
                self._price_lines.add(line)
                self._order_lines[order.order_id] = line
            else:
                line.set_order_price(price, text)
        for order_id in list(self._order_lines):
            if order_id not in keep:
                self._price_lines.remove(self._order_lines.pop(order_id))
        self._request_frame()

    def set_position(self, position: Position | None) -> None:
        """Draw the open position's average price (None or a flat position removes it)."""
        if position is not None and position.instrument_key != self.instrument.key:
            raise ValueError(f"position is for {position.instrument_key}, the chart shows {self.instrument.key}")
        self._position = position if position is not None and position.is_open else None
        if self._position_line is not None:
            self._price_lines.remove(self._position_line)
            self._position_line = None
        if self._position is None:
            self._request_frame()
            return
        p = self._position
        colour = self._t.positive if p.net_quantity > 0 else self._t.negative
        self._position_line = self._price_lines.add(horizontal_line(p.average_price, self._position_text(), colour))
        self._request_frame()

    def set_timeframe(self, minutes: int) -> None:
        """Show ``minutes`` bars (one of TIMEFRAMES), resampled from the 1-minute history."""
        if minutes not in dict(TIMEFRAMES):
            raise ValueError(f"timeframe must be one of {[m for m, _ in TIMEFRAMES]}, got {minutes}")
        if minutes == self.timeframe:
            return
        visible = self._visible_bar_count()
        self.timeframe = minutes
        self._timeframe_actions[minutes].setChecked(True)
        self._rebuild_bars()
        self.jump_to_latest(visible)
        self.timeframe_changed.emit(minutes)

    def set_indicators(self, indicators: Sequence[Indicator]) -> None:
        self._indicators = list(indicators)
        self._rebuild_indicators()
        self._arrange_panes()
        self._fit_y()
        self._request_frame()

    @property
    def indicators(self) -> list[Indicator]:
        return list(self._indicators)

    @property
    def bars(self) -> CandleSeries:
        """The bars as drawn (at the current timeframe). Read-only by convention."""
        return self._bars

    def indicator_lines(self, index: int) -> dict[str, np.ndarray]:
        return self._lines[index]

    def state(self) -> dict:
        """What the layout saves: instrument, timeframe, indicators with parameters, zoom."""
        return {"instrument_key": self.instrument.key, "timeframe": self.timeframe,
                "indicators": [i.to_dict() for i in self._indicators],
                "visible_bars": self._visible_bar_count()}

    def restore_state(self, state: dict) -> None:
        """Apply ``state()`` of a chart of the same instrument; bad entries raise ValueError."""
        key = state.get("instrument_key", self.instrument.key)
        if key != self.instrument.key:
            raise ValueError(f"chart state is for {key}, this chart shows {self.instrument.key}")
        indicators = [indicator_from_dict(d) for d in state.get("indicators", [])]
        self.set_indicators(indicators)
        self.set_timeframe(int(state.get("timeframe", self.timeframe)))
        self.jump_to_latest(int(state.get("visible_bars", DEFAULT_VISIBLE_BARS)))

    # --- navigation ------------------------------------------------------------------------
    def visible_range(self) -> tuple[float, float]:
        return tuple(self._price_plot.viewRange()[0])

    def set_visible_range(self, x_min: float, x_max: float) -> None:
        """Show bars ``x_min``..``x_max`` (bar index, within the view's limits) in every pane,
        each pane's y fitted to them.

        Each shown pane is ranged directly, x and y in one call, with pyqtgraph's x links
        blocked: through the links a pan re-ranged every linked pane for x (after mapping
        both panes' screen geometry) and then again for y. A drag or wheel in a pane still
        goes through the links (and ``_on_x_range``)."""
        boxes = [plot.getViewBox() for plot in self._plots()]
        self._setting_range = True
        for box in boxes:
            box.blockLink(True)
        try:
            # auto-range is off for good (_make_plot): not re-disabling it each call skips a
            # state-changed signal per pane
            boxes[0].setRange(xRange=(x_min, x_max), padding=0, disableAutoRange=False)
            view = self.visible_range()  # as the limits allowed
            fits = self._y_fits(view)
            if self._price_plot in fits:
                boxes[0].setRange(yRange=fits[self._price_plot], padding=0, disableAutoRange=False)
            for plot, box in zip(self._plots()[1:], boxes[1:]):
                if plot.isVisible():
                    box.setRange(xRange=view, yRange=fits.get(plot), padding=0, disableAutoRange=False)
        finally:
            for box in boxes:
                box.blockLink(False)
            self._setting_range = False
        self._request_frame()

    def jump_to_latest(self, bar_count: int | None = None) -> None:
        count = bar_count or (self._visible_bar_count() if self._view_ready else DEFAULT_VISIBLE_BARS)
        n = len(self._bars)
        self._view_ready = n > 0
        self.set_visible_range(n - count - 0.5, n - 0.5 + RIGHT_MARGIN_BARS)

    def jump_to_first(self) -> None:
        count = self._visible_bar_count() or DEFAULT_VISIBLE_BARS
        self.set_visible_range(-0.5 - RIGHT_MARGIN_BARS, count - 0.5)

    def pan(self, fraction: float) -> None:
        lo, hi = self.visible_range()
        shift = (hi - lo) * fraction
        self.set_visible_range(lo + shift, hi + shift)

    def zoom(self, factor: float) -> None:
        """factor > 1 zooms in (fewer bars), keeping the right edge (the latest bars) fixed."""
        lo, hi = self.visible_range()
        width = max((hi - lo) / factor, 10.0)
        width = min(width, max(len(self._bars), 10) + 2 * RIGHT_MARGIN_BARS)
        self.set_visible_range(hi - width, hi)

    def _visible_bar_count(self) -> int:
        lo, hi = self.visible_range()
        return max(int(round(hi - lo)) - RIGHT_MARGIN_BARS, 1) if hi > lo else 0

    # --- building --------------------------------------------------------------------------
    def _build_ui(self) -> None:
        t = self._t
        self._toolbar = QToolBar(self)
        self._toolbar.setIconSize(self._toolbar.iconSize() * 0.8)
        self._title = QLabel(f"<b>{self.instrument.display_name}</b>", self)
        self._toolbar.addWidget(self._title)
        self._toolbar.addSeparator()
        self._readout = BarReadout(self)
        self._view = pg.GraphicsLayoutWidget(self)
        self._view.setBackground(t.base)
        self._view.ci.setSpacing(0)
        self._view.ci.setContentsMargins(2, 2, 2, 2)
        self._view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.NoViewportUpdate)
        # a few dozen items that move on every pan and tick: a BSP index re-filed them on each
        # move (~0.5 ms a moved line); a linear scan for mouse hits costs nothing at this size
        self._view.scene().setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        top = QHBoxLayout()
        top.addWidget(self._toolbar)
        top.addStretch(1)
        layout.addLayout(top)
        layout.addWidget(self._readout)
        layout.addWidget(self._view, 1)

        self._time_axes: list[BarTimeAxis] = []
        self._price_plot = self._make_plot(_PriceAxis("right"))
        self._volume_plot = self._make_plot(_VolumeAxis("right"))
        self._rsi_plot = self._make_plot(_ValueAxis("right"))
        self._macd_plot = self._make_plot(_ValueAxis("right"))
        self._grid_ticks = _ShownTimeTicks(self._time_axes[-1])
        self._grid = GridItem(_blend(t.border, t.base, 0.6), self._grid_ticks, self._price_plot.getAxis("right"))
        self._price_plot.addItem(self._grid, ignoreBounds=True)
        for plot in (self._volume_plot, self._rsi_plot, self._macd_plot):
            plot.setXLink(self._price_plot)

        self._candles = CandleItem(t.positive, t.negative)
        self._candles.set_columns(lambda: (self._bars.open, self._bars.high, self._bars.low, self._bars.close))
        self._price_plot.addItem(self._candles)
        self._volume = BarsItem(_blend(t.positive, t.base), _blend(t.negative, t.base), mode="sum")
        self._volume.set_values(lambda: self._bars.volume, rising=lambda i: self._bars.close[i] >= self._bars.open[i])
        self._volume_plot.addItem(self._volume)
        # every indicator line of a pane is one item (see IndicatorLines), over the candles
        # and the MACD histogram
        self._pane_lines = {"price": IndicatorLines(), "rsi": IndicatorLines(), "macd": IndicatorLines()}
        for pane, plot in (("price", self._price_plot), ("rsi", self._rsi_plot), ("macd", self._macd_plot)):
            self._pane_lines[pane].setZValue(1)
            plot.addItem(self._pane_lines[pane])
        # every horizontal line of a pane is one item (see PriceLines)
        self._price_lines = PriceLines()
        self._price_plot.addItem(self._price_lines, ignoreBounds=True)
        self._last_price_line = self._price_lines.add(
            PriceLine(0, "", t.positive, Qt.PenStyle.DotLine, label_at=0.99, pen_colour=t.muted))
        rsi_levels, macd_zero = PriceLines(), PriceLines()
        for level in (30, 70):
            rsi_levels.add(PriceLine(level, "", t.muted, Qt.PenStyle.DotLine))
        macd_zero.add(PriceLine(0, "", t.border))
        self._rsi_plot.addItem(rsi_levels, ignoreBounds=True)
        self._macd_plot.addItem(macd_zero, ignoreBounds=True)
        self._rsi_plot.setYRange(0, 100, padding=0.05)
        # the RSI scale is fixed (0-100): its axis repaints from a cached pixmap, not per pan
        self._rsi_plot.getAxis("right").setCacheMode(_DEVICE_CACHE)

        self._cross_v = [pg.InfiniteLine(angle=90, pen=pg.mkPen(t.muted, style=Qt.PenStyle.DashLine))
                         for _ in range(4)]
        for line, plot in zip(self._cross_v, self._plots()):
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
        # the crosshair's price is a line of the price pane's PriceLines: an InfiniteLine
        # label re-positioned itself on every pan, shown or not (~0.15 ms a pan)
        self._cross_h = self._price_lines.add(
            PriceLine(0, "", t.highlight, Qt.PenStyle.DashLine, label_at=0.98, pen_colour=t.muted))
        self._cross_h.setVisible(False)

        self._price_plot.sigXRangeChanged.connect(self._on_x_range)
        for plot in self._plots():
            plot.getViewBox().sigResized.connect(self._on_x_range)  # pixels per bar changed
        self._view.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._view.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self._update_readout()

    def _make_plot(self, right_axis: pg.AxisItem) -> pg.PlotItem:
        time_axis = _TimeAxis()
        time_axis.set_bars(lambda: self._bars.start, self.timeframe)
        self._time_axes.append(time_axis)
        plot = pg.PlotItem(axisItems={"bottom": time_axis, "right": right_axis})
        plot.hideAxis("left")
        plot.showAxis("right")
        for name in ("left", "top"):
            # never shown: unlinked, they no longer re-set their (hidden) HTML titles on each pan
            plot.getAxis(name).unlinkFromView()
        plot.hideButtons()
        plot.setMenuEnabled(False)
        vb = plot.getViewBox()
        vb.setMouseEnabled(x=True, y=False)
        vb.setFlag(_NO_CONTENTS)  # it has no border to paint: Qt skips its Python paint() each frame
        vb.disableAutoRange()
        vb.setDefaultPadding(0)
        for name in ("right", "bottom"):
            axis = plot.getAxis(name)
            axis.setPen(pg.mkPen(self._t.border))
            axis.setTextPen(pg.mkPen(self._t.muted))
        right_axis.setWidth(78)
        return plot

    def _plots(self) -> list[pg.PlotItem]:
        return [self._price_plot, self._volume_plot, self._rsi_plot, self._macd_plot]

    def _build_actions(self) -> None:
        self._actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        self._timeframe_actions: dict[int, QAction] = {}
        handlers = {
            "chart_pan_left": lambda: self.pan(-PAN_FRACTION), "chart_pan_right": lambda: self.pan(PAN_FRACTION),
            "chart_zoom_in": lambda: self.zoom(ZOOM_STEP), "chart_zoom_out": lambda: self.zoom(1 / ZOOM_STEP),
            "chart_jump_latest": lambda: self.jump_to_latest(), "chart_jump_first": self.jump_to_first,
        }
        for hotkey in CHART_KEYMAP:
            action = QAction(hotkey.label, self)
            keys = [QKeySequence(hotkey.default)] + [QKeySequence(k) for k in _EXTRA_KEYS.get(hotkey.action_id, ())]
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.setToolTip(f"{hotkey.label} ({hotkey.default})")
            if hotkey.action_id.startswith("chart_tf_"):
                minutes = int(hotkey.action_id.removeprefix("chart_tf_"))
                action.setText(dict(TIMEFRAMES)[minutes])
                action.setCheckable(True)
                action.setChecked(minutes == self.timeframe)
                group.addAction(action)
                action.triggered.connect(lambda _=False, m=minutes: self.set_timeframe(m))
                self._timeframe_actions[minutes] = action
                self._toolbar.addAction(action)
            else:
                action.triggered.connect(handlers[hotkey.action_id])
            self.addAction(action)
            self._actions[hotkey.action_id] = action
        self._toolbar.addSeparator()
        self._indicator_button = QToolButton(self)
        self._indicator_button.setText("Indicators")
        self._indicator_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._indicator_menu = QMenu(self._indicator_button)
        self._indicator_menu.aboutToShow.connect(self._fill_indicator_menu)
        self._indicator_button.setMenu(self._indicator_menu)
        self._toolbar.addWidget(self._indicator_button)
        latest = self._actions["chart_jump_latest"]
        latest.setText("Latest ⇥")
        self._toolbar.addAction(latest)

    # --- data to items -----------------------------------------------------------------------
    def _rebuild_bars(self) -> None:
        self._bars = resample(self._minutes, self.timeframe) if self.timeframe != 1 else self._minutes
        for axis in self._time_axes:
            axis.set_bars(lambda: self._bars.start, self.timeframe)
        self._lines = [ind.compute(self._bars) for ind in self._indicators]
        self._refresh_items()
        self._update_limits()

    def _fold_minute(self, minute_start: int) -> None:
        """Recompute the timeframe bar holding ``minute_start`` from its 1-minute bars."""
        if self.timeframe == 1:
            bars, index = self._minutes, int(np.searchsorted(self._minutes.start, minute_start))
            appended = index == len(bars) - 1 and self._bars is bars and self._last_count != len(bars)
        else:
            start = int(bucket_start(minute_start, self.timeframe))
            lo = self._minutes.index_at_or_after(start)
            hi = self._minutes.index_at_or_after(start + self._span_seconds())
            m = self._minutes
            folded = Candle(start, int(m.open[lo]), int(m.high[lo:hi].max()), int(m.low[lo:hi].min()),
                            int(m.close[hi - 1]), int(m.volume[lo:hi].sum()), int(m.open_interest[hi - 1]))
            bars = self._bars
            if len(bars) and start < bars.start[-1]:
                index = int(np.searchsorted(bars.start, start))
                bars.replace(index, folded)
                appended = False
            else:
                appended = bars.upsert(folded)
                index = len(bars) - 1
        following = self._is_following()
        self._last_count = len(self._bars)
        self._lines = [ind.update_tail(self._bars, lines, index) for ind, lines in zip(self._indicators, self._lines)]
        old_close = self._last_price_line.value()
        self._candles.refresh_tail(index)
        self._volume.refresh_tail(index)
        for item in self._indicator_items():
            item.refresh_tail(index)
        self._update_last_price()
        y_before = [p.viewRange()[1] for p in self._plots()]
        if appended:
            self._update_limits()
            if following:
                self.pan_by_bars(1)  # a full frame: the view moved
        self._fit_y()
        if self._cursor_index is None:
            self._update_readout()
        if appended or y_before != [p.viewRange()[1] for p in self._plots()]:
            self._request_frame()
        else:
            self._request_bar_frame(index, old_close)

    def _span_seconds(self) -> int:
        return 86_400 if self.timeframe == DAILY else self.timeframe * 60

    def pan_by_bars(self, bars: float) -> None:
        lo, hi = self.visible_range()
        self.set_visible_range(lo + bars, hi + bars)

    def _is_following(self) -> bool:
        lo, hi = self.visible_range()
        return hi >= len(self._bars) - 1.5

    def _refresh_items(self) -> None:
        self._last_count = len(self._bars)
        self._candles.refresh()
        self._volume.refresh()
        for item in self._indicator_items():
            item.refresh()
        self._update_last_price()
        self._update_position_text()
        self._update_readout()
        self._request_frame()

    def _indicator_items(self) -> list[pg.GraphicsObject]:
        """The items that draw indicators: each pane's lines, the MACD histograms."""
        return [lines for lines in self._pane_lines.values() if lines.line_count()] + self._histograms

    def _request_frame(self, *_) -> None:
        """Schedule one repaint of the whole view (coalesced by Qt into one paint)."""
        self._view.viewport().update()

    def _request_bar_frame(self, index: int, old_close_rupees: float) -> None:
        """Schedule a repaint of what a live bar changes when the y ranges hold: the column
        of bars ``index - 1`` onwards through all panes and the axis on the right (the
        forming candle, its volume, the indicators' tail, the last-price label), and the
        last-price line's old and new rows. The rest of the chart is not repainted."""
        viewport = self._view.viewport()
        vb = self._price_plot.getViewBox()

        def to_view(x: float, y: float) -> QPointF:
            return self._view.mapFromScene(vb.mapViewToScene(QPointF(x, y)))

        left = int(to_view(index - 1.5, 0).x()) - 2
        viewport.update(QRect(max(left, 0), 0, viewport.width(), viewport.height()))
        rows = [old_close_rupees, self._last_price_line.value()]
        if self._position_line is not None:
            rows.append(self._position_line.value())  # its label shows the P&L at the last price
        for price in rows:
            viewport.update(QRect(0, int(to_view(0, price).y()) - 12, viewport.width(), 24))

    def _update_limits(self) -> None:
        n = max(len(self._bars), 1)
        for plot in self._plots():
            plot.getViewBox().setLimits(xMin=-0.5 - n * 0.5, xMax=n + n * 0.5 + RIGHT_MARGIN_BARS,
                                        minXRange=8, maxXRange=n + 2 * RIGHT_MARGIN_BARS)

    def _rebuild_indicators(self) -> None:
        for hist in self._histograms:
            hist.getViewBox() and hist.getViewBox().removeItem(hist)
        self._histograms = []
        self._lines = [ind.compute(self._bars) for ind in self._indicators]
        for lines in self._pane_lines.values():
            lines.clear_lines()
        colours = iter(LINE_COLOURS * 4)
        for i, ind in enumerate(self._indicators):
            getter = (lambda i=i: (lambda name: (lambda: self._lines[i][name])))()
            if ind.pane == "price":
                colour = next(colours)
                names = ("upper", "middle", "lower") if isinstance(ind, BollingerBands) else (_main_line(ind),)
                for name in names:
                    self._pane_lines["price"].add_line(getter(name), colour, DASHED if name == "middle" else SOLID,
                                                       scale=0.01)
            elif isinstance(ind, RSI):
                self._pane_lines["rsi"].add_line(getter("rsi"), "#b388ff")
            elif isinstance(ind, MACD):
                hist = BarsItem(_blend(self._t.positive, self._t.base), _blend(self._t.negative, self._t.base),
                                mode="extreme")
                hist.set_values(getter("histogram"), scale=0.01)
                self._macd_plot.addItem(hist)
                self._histograms.append(hist)
                for name, colour in (("macd", "#42a5f5"), ("signal", "#ff7043")):
                    self._pane_lines["macd"].add_line(getter(name), colour, scale=0.01)
        for lines in self._pane_lines.values():
            lines.refresh()

    def _arrange_panes(self) -> None:
        ci = self._view.ci
        for plot in self._plots():
            if plot.scene() is not None:
                ci.removeItem(plot)
        panes = [(self._price_plot, 6), (self._volume_plot, 1.6)]
        if any(isinstance(i, RSI) for i in self._indicators):
            panes.append((self._rsi_plot, 2))
        if any(isinstance(i, MACD) for i in self._indicators):
            panes.append((self._macd_plot, 2))
        for row, (plot, stretch) in enumerate(panes):
            ci.addItem(plot, row=row, col=0)
            ci.layout.setRowStretchFactor(row, int(stretch * 10))
            self._show_time_axis(plot, row == len(panes) - 1)
        self._grid_ticks.axis = panes[-1][0].getAxis("bottom")
        for row in range(len(panes), 4):
            ci.layout.setRowStretchFactor(row, 0)
        for plot in self._plots():
            plot.setVisible(any(plot is p for p, _ in panes))
        self.set_visible_range(*self.visible_range())  # a pane shown again has not followed the pans

    @staticmethod
    def _show_time_axis(plot: pg.PlotItem, shown: bool) -> None:
        """Only the bottom pane shows its time axis; the hidden ones are unlinked from their
        view, so a pan does not re-range axes that are never drawn."""
        axis = plot.getAxis("bottom")
        plot.showAxis("bottom", shown)
        linked = axis.linkedView() is not None
        if shown and not linked:
            axis.linkToView(plot.getViewBox())
            axis.linkedViewChanged(plot.getViewBox())
        elif not shown and linked:
            axis.unlinkFromView()

    # --- view reactions --------------------------------------------------------------------
    def _on_x_range(self, *_) -> None:
        if self._setting_range:
            return  # set_visible_range fits and ranges every pane itself
        self._fit_y()
        self._request_frame()

    def _fit_y(self) -> None:
        """Fit each pane's y range to the bars in view (not to the whole history)."""
        if self._fitting:
            return
        self._fitting = True
        try:
            view = self.visible_range()  # linked panes may not have moved yet
            for plot, (lo, hi) in self._y_fits(view).items():
                plot.getViewBox().setRange(yRange=(lo, hi), padding=0, disableAutoRange=False)
        finally:
            self._fitting = False

    def _y_fits(self, view: tuple[float, float]) -> dict[pg.PlotItem, tuple[float, float]]:
        """The y range of each pane that fits the bars in the x range ``view``, from the
        items' drawn runs: O(pixels), whatever the zoom. Empty when no bar is in view."""
        prices = self._candles.visible_price_range(view)
        if prices is None:
            return {}
        fits = {}
        fit = padded_range(prices[0], prices[1], 0.06)
        if fit:
            fits[self._price_plot] = (fit[0] / 100, fit[1] / 100)
        volume = self._volume.visible_values(view)
        top = float(volume.max()) if len(volume) else 0.0
        fits[self._volume_plot] = (0.0, max(top, 1.0) * 1.1)
        if self._histograms:
            fit = self._macd_fit(view)
            if fit:
                fits[self._macd_plot] = fit
        return fits

    def _macd_fit(self, view: tuple[float, float]) -> tuple[float, float] | None:
        """The MACD pane's y range: its histograms' drawn bars and its lines' lows and highs in view."""
        lo = hi = math.nan
        for hist in self._histograms:
            values = hist.visible_values(view)
            finite = values[np.isfinite(values)]
            if len(finite):
                lo, hi = np.fmin(lo, float(finite.min())), np.fmax(hi, float(finite.max()))
        extent = self._pane_lines["macd"].visible_extent(view)
        if extent is not None:
            lo, hi = np.fmin(lo, extent[0]), np.fmax(hi, extent[1])
        return padded_range(float(lo), float(hi), 0.08)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        vb = self._price_plot.getViewBox()
        inside = any(p.isVisible() and p.getViewBox().sceneBoundingRect().contains(scene_pos) for p in self._plots())
        if not inside or not len(self._bars):
            self._set_cursor(None)
            self._request_frame()
            return
        point = vb.mapSceneToView(scene_pos)
        index = int(round(point.x()))
        in_price = vb.sceneBoundingRect().contains(scene_pos)
        self._cross_h.setVisible(in_price)
        if in_price:
            self._cross_h.setValue(point.y())
            self._cross_h.set_text(f"{point.y():.2f}")
        self._set_cursor(min(max(index, 0), len(self._bars) - 1), x=point.x())
        self._request_frame()

    def _set_cursor(self, index: int | None, x: float | None = None) -> None:
        self._cursor_index = index
        for line in self._cross_v:
            line.setVisible(index is not None)
            if x is not None:
                line.setValue(round(x))
        if index is None:
            self._cross_h.setVisible(False)
        self._update_readout()

    def _on_mouse_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.RightButton:
            return
        vb = self._price_plot.getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        price = int(round(vb.mapSceneToView(event.scenePos()).y() * 100))
        menu = self.context_menu_at(price)
        event.accept()
        menu.popup(event.screenPos().toPoint())

    def context_menu_at(self, price_paise: int) -> QMenu:
        """The right-click menu for a click at ``price_paise``: buy/sell there, navigation."""
        price = self._on_tick(price_paise)
        menu = QMenu(self)
        if self.instrument.is_tradeable and price > 0:
            buy = menu.addAction(f"Buy at {format_price(price)}")
            buy.triggered.connect(lambda: self.order_at_price_requested.emit(Side.BUY.value, price))
            sell = menu.addAction(f"Sell at {format_price(price)}")
            sell.triggered.connect(lambda: self.order_at_price_requested.emit(Side.SELL.value, price))
            menu.addSeparator()
        menu.addAction(self._actions["chart_jump_latest"])
        indicators = menu.addMenu("Indicators")
        self._fill_indicator_menu(indicators)
        return menu

    def _on_tick(self, price_paise: int) -> int:
        tick = self.instrument.tick_size
        return max(tick, ((price_paise + tick // 2) // tick) * tick)

    # --- readout and labels ------------------------------------------------------------------
    def _update_readout(self) -> None:
        t = self._t
        n = len(self._bars)
        name = [(self.instrument.display_name, t.text), (f" · {dict(TIMEFRAMES)[self.timeframe]}", t.text)]
        if not n:
            self._readout.set_lines([name + [("  no data", t.muted)]])
            return
        i = n - 1 if self._cursor_index is None else self._cursor_index
        bar = self._bars.candle(i)
        previous = int(self._bars.close[i - 1]) if i > 0 else bar.open
        change = bar.close - previous
        pct = 100.0 * change / previous if previous else 0.0
        colour = t.positive if bar.close >= bar.open else t.negative
        ch_colour = t.positive if change >= 0 else t.negative
        top = name + [(f"  {self._time_axes[0].label_at(i)}", t.muted)]
        for label, value in (("O", bar.open), ("H", bar.high), ("L", bar.low), ("C", bar.close)):
            top += [(f"  {label} ", t.muted), (format_price(value), colour)]
        top += [("  V ", t.muted), (compact_count(bar.volume), t.text)]
        if bar.open_interest:
            top += [("  OI ", t.muted), (compact_count(bar.open_interest), t.text)]
        sign = "+" if change >= 0 else "-"
        top.append((f"  {sign}{format_price(abs(change))} ({pct:+.2f}%)", ch_colour))
        values = []
        colours = iter(LINE_COLOURS * 4)
        for ind, lines in zip(self._indicators, self._lines):
            c = next(colours) if ind.pane == "price" else t.text
            v = lines[_main_line(ind)][i] if i < len(lines[_main_line(ind)]) else math.nan
            shown = "–" if not math.isfinite(v) else (f"{v:.2f}" if ind.pane != "price" and not isinstance(ind, MACD)
                                                     else format_price(int(round(v))))
            values.append((f"{ind.label} {shown}  ", c))
        self._readout.set_lines([top, values])

    def _update_last_price(self) -> None:
        if not len(self._bars):
            self._last_price_line.setVisible(False)
            return
        last = self._bars.candle(-1)
        colour = self._t.positive if last.close >= last.open else self._t.negative
        self._last_price_line.setVisible(True)
        self._last_price_line.setValue(last.close / 100)
        self._last_price_line.set_text(format_price(last.close))
        self._last_price_line.set_fill(colour)
        self._update_position_text()

    def _position_text(self) -> str:
        p = self._position
        if p is None:
            return ""
        text = f"POS {p.net_quantity:+,} @ {format_price(p.average_price)}"
        if len(self._bars):
            pnl = p.unrealised_pnl(int(self._bars.close[-1]))
            text += f"  P&L {'+' if pnl >= 0 else '-'}{format_price(abs(pnl))}"
        return text

    def _update_position_text(self) -> None:
        if self._position_line is not None:
            self._position_line.set_text(self._position_text())

    # --- indicator menu and dialog ---------------------------------------------------------
    def _fill_indicator_menu(self, menu: QMenu | None = None) -> None:
        menu = menu if isinstance(menu, QMenu) else self._indicator_menu
        menu.clear()
        add = menu.addMenu("Add")
        for kind, cls in INDICATOR_TYPES.items():
            add.addAction(kind, lambda c=cls: self._add_indicator(c()))
        if self._indicators:
            menu.addSeparator()
        for i, ind in enumerate(self._indicators):
            sub = menu.addMenu(ind.label)
            if ind.params:
                sub.addAction("Parameters…", lambda i=i: self._edit_indicator(i))
            sub.addAction("Remove", lambda i=i: self.set_indicators(self._indicators[:i] + self._indicators[i + 1:]))

    def _add_indicator(self, indicator: Indicator) -> None:
        self.set_indicators(self._indicators + [indicator])

    def _edit_indicator(self, index: int) -> None:
        dialog = IndicatorDialog(self._indicators[index], self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            edited = list(self._indicators)
            edited[index] = dialog.indicator()
            self.set_indicators(edited)


class BarReadout(QWidget):
    """The OHLC and indicator readout above the chart: two lines of coloured plain-text
    segments, painted directly. (A rich-text QLabel re-laid out its HTML document on every
    live tick, ~1 ms; this draws a few short strings.) Repaints only when the text changes,
    and at most once a frame, as Qt coalesces the update() calls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        font = self.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.setFont(font)
        self._lines: list[list[tuple[str, str]]] = []
        metrics = self.fontMetrics()
        self._line_height = metrics.height()
        self.setFixedHeight(2 * self._line_height + 4)
        self._bold = self.font()
        self._bold.setBold(True)

    def set_lines(self, lines: list[list[tuple[str, str]]]) -> None:
        """Each line is a list of (text, colour) segments, drawn left to right."""
        if lines != self._lines:
            self._lines = lines
            self.update()

    def text(self) -> str:
        """The readout as plain text, one line per row."""
        return "\n".join("".join(text for text, _ in line) for line in self._lines)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        y = 2 + self.fontMetrics().ascent()
        for row, line in enumerate(self._lines):
            x = 6
            for k, (text, colour) in enumerate(line):
                painter.setFont(self._bold if row == k == 0 else self.font())  # the instrument's name
                painter.setPen(pg.mkColor(colour))
                painter.drawText(x, y, text)
                x += painter.fontMetrics().horizontalAdvance(text)
            y += self._line_height
        painter.end()


class IndicatorDialog(QDialog):
    """Edits an indicator's parameters; ``indicator()`` returns a new one with them."""

    def __init__(self, indicator: Indicator, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"{indicator.kind} parameters")
        self._kind = indicator.kind
        self._fields: dict[str, QSpinBox | QDoubleSpinBox] = {}
        form = QFormLayout(self)
        for name, value in indicator.params.items():
            if isinstance(value, float):
                box = QDoubleSpinBox(self)
                box.setRange(0.1, 10.0)
                box.setSingleStep(0.1)
            else:
                box = QSpinBox(self)
                box.setRange(1, 1000)
            box.setValue(value)
            form.addRow(name.capitalize(), box)
            self._fields[name] = box
        self._error = QLabel(self)
        self._error.setStyleSheet(f"color: {theme.current().negative}")
        form.addRow(self._error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def set_value(self, name: str, value) -> None:
        self._fields[name].setValue(value)

    def indicator(self) -> Indicator:
        return indicator_from_dict({"kind": self._kind, "params": {k: b.value() for k, b in self._fields.items()}})

    def _accept(self) -> None:
        try:
            self.indicator()
        except ValueError as exc:  # e.g. MACD fast >= slow: say so and keep the dialog open
            self._error.setText(str(exc))
            return
        self.accept()


class _TicksOncePerFrame:
    """Axis ticks asked for by the axis itself and by the price pane's grid in the same
    frame come with sizes (pixels) that differ in the last float digits (the axis's length
    against the view's); rounded to a millionth of a pixel, both calls hit the axis's
    one-frame cache, so the tick search (pyqtgraph's, or the time axis's calendar walk)
    runs once a frame, not twice."""

    def tickValues(self, minVal, maxVal, size):
        return super().tickValues(minVal, maxVal, round(size, 6))


class _BoundsOncePerGeometry:
    """pyqtgraph's AxisItem.boundingRect is Python (maps the axis's geometry through its
    parent) and Qt asks each axis for it several times a frame, ~17 calls a pan with four
    panes; without a grid it changes only with the geometry and the tick style, so it is
    kept until they change."""

    _bounds_for = None
    _bounds = None

    def boundingRect(self):
        key = (self.geometry(), self.style["tickLength"], self.style["hideOverlappingLabels"])
        if self.grid is not False or key != self._bounds_for:
            self._bounds_for, self._bounds = key, super().boundingRect()
        return QRectF(self._bounds)  # a copy: callers may adjust it in place


class _PriceAxis(_TicksOncePerFrame, _BoundsOncePerGeometry, PriceAxis):
    pass


class _TimeAxis(_TicksOncePerFrame, _BoundsOncePerGeometry, BarTimeAxis):
    pass


class _VolumeAxis(_BoundsOncePerGeometry, VolumeAxis):
    pass


class _ValueAxis(_BoundsOncePerGeometry, ValueAxis):
    pass


class _ShownTimeTicks:
    """The time ticks the price pane's grid is drawn at: those of the time axis that is
    shown (the bottom pane's), so the axis and the grid share its cached ticks."""

    def __init__(self, axis: BarTimeAxis) -> None:
        self.axis = axis

    def tickValues(self, min_value: float, max_value: float, size: float):
        return self.axis.tickValues(min_value, max_value, size)


def _main_line(indicator: Indicator) -> str:
    return {"SMA": "sma", "EMA": "ema", "VWAP": "vwap", "BB": "middle", "RSI": "rsi", "MACD": "macd"}[indicator.kind]


def _order_line_price(order: Order) -> int:
    if order.order_type is OrderType.SL_M:
        return order.trigger_price
    return order.price


def _blend(colour: str, background: str, weight: float = 0.45) -> str:
    """An opaque colour ``weight`` of the way from ``background`` to ``colour``: looks like a
    translucent fill but paints without alpha blending (much cheaper for big areas)."""
    a, b = pg.mkColor(colour), pg.mkColor(background)
    mix = [round(b_ + (a_ - b_) * weight) for a_, b_ in zip(a.getRgb()[:3], b.getRgb()[:3])]
    return "#{:02x}{:02x}{:02x}".format(*mix)


__all__ = ["CHART_KEYMAP", "ChartPanel", "IndicatorDialog", "TIMEFRAMES", "SMA", "EMA", "VWAP", "BollingerBands",
           "RSI", "MACD"]
