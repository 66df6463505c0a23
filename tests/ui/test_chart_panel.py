"""The chart: visible-slice and level-of-detail rules as pure functions, and the panel driven
with pytest-qt (history, timeframe keys, live bars, order-line drag, context menu, state)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from terminal.analytics.candles import IST_OFFSET_SECONDS, CandleSeries, resample  # noqa: E402
from terminal.analytics.indicators import EMA, MACD, RSI, VWAP, BollingerBands  # noqa: E402
from terminal.domain import (  # noqa: E402
    Candle, Exchange, Instrument, InstrumentKind, Order, OrderStatus, OrderType, Position, Product, Side, Validity,
)
from terminal.ui.widgets.chart_lod import (  # noqa: E402
    merge_extreme, merge_factor, merge_line, merge_ohlc, merge_sum, price_range, visible_slice,
)

# --- pure level-of-detail rules -------------------------------------------------------------


def test_visible_slice_covers_bars_touching_the_range():
    assert visible_slice(-0.5, 9.4, 100) == (0, 10)
    assert visible_slice(10.6, 19.4, 100) == (11, 20)
    assert visible_slice(10.4, 19.6, 100) == (10, 21)  # bars 10 and 20 are partly in view
    assert visible_slice(95, 200, 100) == (95, 100)
    assert visible_slice(-50, -10, 100) == (0, 0)
    assert visible_slice(150, 200, 100) == (0, 0)
    assert visible_slice(0, 10, 0) == (0, 0)


def test_merge_factor_is_a_power_of_two_at_least_bars_per_pixel():
    assert merge_factor(0.1) == 1 and merge_factor(1.0) == 1
    assert merge_factor(1.01) == 2 and merge_factor(2.0) == 2 and merge_factor(3) == 4
    assert merge_factor(700.0) == 1024
    for bpp in np.linspace(0.5, 5000, 97):
        assert merge_factor(bpp) >= bpp


def ref_merge(o, h, l, c, first, stop, k):
    out = []
    for g in range((first // k) * k, stop, k):
        e = min(g + k, len(o))
        out.append(((g + e - 1) / 2, o[g], max(h[g:e]), min(l[g:e]), c[e - 1]))
    return out


@pytest.mark.parametrize("first,stop,k", [(0, 100, 1), (3, 97, 4), (5, 100, 8), (0, 1, 16), (90, 100, 64)])
def test_merge_ohlc_against_reference(first, stop, k):
    rng = np.random.default_rng(k)
    c = 1000 + np.cumsum(rng.integers(-5, 6, 100))
    o = np.r_[c[0], c[:-1]]
    h, l = np.maximum(o, c) + rng.integers(0, 4, 100), np.minimum(o, c) - rng.integers(0, 4, 100)
    got = list(zip(*merge_ohlc(o, h, l, c, first, stop, k)))
    assert [tuple(map(float, g)) for g in got] == [tuple(map(float, r)) for r in ref_merge(o, h, l, c, first, stop, k)]


def test_merged_runs_are_aligned_so_panning_does_not_change_them():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 100, 1000)
    a = merge_ohlc(c, c, c, c, 100, 600, 8)
    b = merge_ohlc(c, c, c, c, 104, 604, 8)  # panned by half a run
    common = np.intersect1d(a[0], b[0])
    assert len(common) > 50
    for col in range(1, 5):
        assert np.array_equal(a[col][np.isin(a[0], common)], b[col][np.isin(b[0], common)])


def test_drawn_bars_never_exceed_pixels():
    n, pixels = 1_000_000, 1200
    c = np.arange(n)
    for visible in (50, 5_000, 200_000, n):
        first, stop = visible_slice(n - visible - 0.5, n - 0.5, n)
        k = merge_factor(visible / pixels)
        x = merge_ohlc(c, c, c, c, first, stop, k)[0]
        assert len(x) <= pixels + 2


def test_volume_sums_histogram_extremes_and_line_keeps_spikes():
    v = np.array([1, 2, 3, 4, 5, 6, 7, 8])
    assert merge_sum(v, 0, 8, 4)[1].tolist() == [10, 26]
    h = np.array([1.0, -5.0, 2.0, 0.5, np.nan, 3.0, -1.0, 2.0])
    assert merge_extreme(h, 0, 8, 4)[1].tolist() == [-5.0, 3.0]
    line = np.array([1.0, 1.0, 9.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    assert merge_line(line, 0, 8, 4)[1].max() == 9.0
    assert price_range(np.array([10, 20]), np.array([30, 40]), 0, 2, pad=0) == (10.0, 40.0)


# --- the panel ------------------------------------------------------------------------------

NIFTY_FUT = Instrument(Exchange.NFO, "43650", "NIFTY24MARFUT", InstrumentKind.FUTURE, name="NIFTY MAR FUT",
                       lot_size=75, tick_size=5)


def minute_history(days: int = 30, seed: int = 7) -> CandleSeries:
    """Random-walk 1-minute bars, 375 a weekday from 09:15 IST."""
    rng = np.random.default_rng(seed)
    n = days * 375
    day0 = 1_709_510_400 - IST_OFFSET_SECONDS + (9 * 60 + 15) * 60  # Mon 2024-03-04 09:15 IST
    i = np.arange(n)
    d = i // 375
    start = day0 + (d + (d // 5) * 2) * 86_400 + (i % 375) * 60
    close = (2_200_000 + np.cumsum(rng.normal(0, 400, n))).astype(np.int64) // 5 * 5
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.integers(0, 60, n) * 5
    low = np.minimum(open_, close) - rng.integers(0, 60, n) * 5
    return CandleSeries.from_arrays(start, open_, high, low, close, rng.integers(1, 100, n) * 75)


@pytest.fixture
def panel(qtbot):
    from terminal.ui.panels.chart import ChartPanel

    chart = ChartPanel(NIFTY_FUT, 5, indicators=[EMA(20), VWAP(), BollingerBands(), RSI(), MACD()])
    qtbot.addWidget(chart)
    chart.resize(1200, 800)
    chart.set_history(minute_history())
    chart.show()
    qtbot.waitExposed(chart)
    chart.activateWindow()
    chart.setFocus()
    return chart


def test_history_is_resampled_to_the_timeframe_and_latest_bars_shown(panel):
    history = minute_history()
    assert panel.bars.to_candles() == resample(history, 5).to_candles()
    lo, hi = panel.visible_range()
    assert lo < len(panel.bars) - 1 < hi
    panel.grab()  # paint once
    assert 0 < panel._candles.last_draw_count <= 200


def test_timeframe_keys_switch_and_resample(panel, qtbot):
    from terminal.ui.panels.chart import CHART_KEYMAP, TIMEFRAMES

    history = minute_history()
    for key, (minutes, _) in zip((Qt.Key_4, Qt.Key_7, Qt.Key_1, Qt.Key_6), ((15, 0), (1440, 0), (1, 0), (60, 0))):
        with qtbot.waitSignal(panel.timeframe_changed, timeout=1000) as signal:
            qtbot.keyClick(panel._view, key)
        assert signal.args == [minutes] and panel.timeframe == minutes
        assert panel.bars.to_candles() == resample(history, minutes).to_candles()
    assert [h.default for h in CHART_KEYMAP[:len(TIMEFRAMES)]] == ["1", "2", "3", "4", "5", "6", "7"]


def test_keyboard_pan_zoom_and_jump_to_latest(panel, qtbot):
    lo, hi = panel.visible_range()
    qtbot.keyClick(panel._view, Qt.Key_Left)
    lo2, hi2 = panel.visible_range()
    assert lo2 < lo and hi2 < hi
    qtbot.keyClick(panel._view, Qt.Key_Up)
    assert panel.visible_range()[1] - panel.visible_range()[0] < hi2 - lo2
    qtbot.keyClick(panel._view, Qt.Key_Minus)
    qtbot.keyClick(panel._view, Qt.Key_Minus)
    assert panel.visible_range()[1] - panel.visible_range()[0] > hi2 - lo2
    qtbot.keyClick(panel._view, Qt.Key_End)
    assert panel.visible_range()[1] > len(panel.bars) - 1


def test_y_range_fits_visible_bars_only(panel):
    bars = panel.bars
    panel.set_visible_range(99.5, 199.5)
    y_lo, y_hi = panel._price_plot.viewRange()[1]
    assert y_lo * 100 <= bars.low[100:200].min() and y_hi * 100 >= bars.high[100:200].max()
    assert y_hi - y_lo < (bars.high.max() - bars.low.min()) / 100  # not the whole history


def _drawn_lines(panel):
    """(indicator values, scale, drawn x, drawn y) of every line the last paint drew, in the
    panel's order: price pane (EMA, VWAP, BB upper/middle/lower), RSI, MACD and signal."""
    lines = [panel.indicator_lines(i) for i in range(5)]
    wanted = {"price": [(lines[0]["ema"], 0.01), (lines[1]["vwap"], 0.01), (lines[2]["upper"], 0.01),
                        (lines[2]["middle"], 0.01), (lines[2]["lower"], 0.01)],
              "rsi": [(lines[3]["rsi"], 1.0)], "macd": [(lines[4]["macd"], 0.01), (lines[4]["signal"], 0.01)]}
    out = []
    for pane, values in wanted.items():
        item = panel._pane_lines[pane]
        assert len(item.drawn) == len(values), pane
        out += [(v, scale, x, y, item.last_factor) for (v, scale), (x, y) in zip(values, item.drawn)]
    return out


def test_indicator_lines_draw_the_indicator_values_bar_by_bar(panel):
    """Zoomed in, every drawn point of every indicator line is that indicator's value at the
    point's bar (NaN where it is not yet defined), and the points span the view."""
    panel.jump_to_latest(150)
    panel.grab()
    lo, hi = panel.visible_range()
    for values, scale, x, y, factor in _drawn_lines(panel):
        assert factor == 1
        bars = x.astype(np.int64)
        assert np.array_equal(bars, x) and np.all(np.diff(bars) == 1)
        assert bars[0] <= lo and bars[-1] >= min(hi, len(panel.bars) - 1)
        np.testing.assert_array_equal(y, values[bars] * scale)
    panel.jump_to_first()  # the head: no EMA, bands, RSI or MACD yet, so NaN gaps are drawn
    panel.grab()
    ema_values, _, x, y, _ = _drawn_lines(panel)[0]
    assert np.isnan(y[:19]).all() and np.isfinite(y[19:]).all() and np.isnan(ema_values[:19]).all()


def test_indicator_lines_follow_a_live_bar(panel):
    """A live bar that opens a new bar: after the repaint, every line's last drawn point is
    the indicator's value at the new bar (the pane items' pyramids were tail-updated)."""
    last = panel.bars.last()
    panel.apply_bar(Candle(int(minute_history().start[-1]) + 60, last.close, last.close + 900, last.close - 5,
                           last.close + 800, 750))
    panel.jump_to_latest(100)
    panel.grab()
    n = len(panel.bars)
    for values, scale, x, y, factor in _drawn_lines(panel):
        assert factor == 1 and int(x[-1]) == n - 1 and len(values) == n
        assert y[-1] == values[-1] * scale


def test_indicator_lines_zoomed_out_draw_each_runs_low_and_high(panel):
    """Zoomed out, each run of ``factor`` bars is drawn as two points at its centre: the
    lowest and highest value of the indicator over those bars, in the order they happened
    (so a one-bar spike still shows)."""
    n = len(panel.bars)
    panel.jump_to_latest(n)
    panel.grab()
    for values, scale, x, y, factor in _drawn_lines(panel):
        assert factor > 1 and len(x) == len(y) and len(x) % 2 == 0
        assert np.array_equal(x[0::2], x[1::2])
        starts = (np.floor(x[0::2] / factor) * factor).astype(np.int64)
        for k, start in enumerate(starts.tolist()):
            run = values[start:min(start + factor, n)]
            if np.isnan(run).all():
                assert np.isnan(y[2 * k:2 * k + 2]).all()
                continue
            low, high = np.nanmin(run) * scale, np.nanmax(run) * scale
            if np.isnan(run[[0, -1]]).any():  # where the indicator starts: either order
                assert sorted(y[2 * k:2 * k + 2]) == [low, high], (start, factor)
                continue
            expected = (low, high) if run[-1] >= run[0] else (high, low)
            assert tuple(y[2 * k:2 * k + 2]) == expected, (start, factor)


def test_indicator_line_gap_is_not_drawn_across():
    """A NaN stretch inside a line is a gap on screen: no pixel of the line's colour in the
    columns of the missing bars, the line drawn on either side."""
    import pyqtgraph as pg
    from PySide6.QtCore import QPointF

    from terminal.ui.widgets.indicator_lines import IndicatorLines

    values = np.full(100, 50.0)
    values[40:60] = np.nan
    item = IndicatorLines()
    item.add_line(lambda: values, "#ff0000")
    item.refresh()
    plot = pg.PlotWidget()
    plot.resize(400, 300)
    plot.setBackground("#000000")
    plot.addItem(item)
    vb = plot.getViewBox()
    vb.setRange(xRange=(0, 99), yRange=(0, 100), padding=0)
    image = plot.grab().toImage()
    row = int(plot.mapFromScene(vb.mapViewToScene(QPointF(0, 50))).y())

    def red_at(bar: float) -> bool:
        column = int(plot.mapFromScene(vb.mapViewToScene(QPointF(bar, 50))).x())
        return any(image.pixelColor(column, r).red() > 200 and image.pixelColor(column, r).green() < 50
                   for r in range(row - 2, row + 3))

    assert red_at(20) and red_at(80)
    assert not any(red_at(b) for b in (41, 45, 50, 55, 58))
    assert np.isnan(item.drawn[0][1][40:60]).all()
    plot.close()


def test_every_pane_follows_the_view_and_fits_what_it_shows(panel, qtbot):
    """Keyboard pans range every shown pane to the same bars; the MACD pane fits its lines
    and histogram in view; a pane shown later has followed; a drag goes through the links."""
    panel.jump_to_latest(300)
    qtbot.keyClick(panel._view, Qt.Key_Left)
    view = panel.visible_range()
    shown = [p for p in panel._plots() if p.isVisible()]
    assert len(shown) == 4 and all(tuple(p.viewRange()[0]) == view for p in shown)
    lines = panel.indicator_lines(4)
    first, stop = max(int(np.ceil(view[0])), 0), min(int(view[1]) + 1, len(panel.bars))
    y_lo, y_hi = panel._macd_plot.viewRange()[1]
    for name in ("macd", "signal", "histogram"):
        part = lines[name][first:stop] / 100
        assert y_lo <= np.nanmin(part) and np.nanmax(part) <= y_hi, name
    panel.set_indicators([EMA(20)])  # RSI and MACD panes go away while the view moves
    panel.pan(-0.5)
    panel.set_indicators([EMA(20), RSI(), MACD()])
    view = panel.visible_range()
    assert tuple(panel._rsi_plot.viewRange()[0]) == view and tuple(panel._macd_plot.viewRange()[0]) == view
    panel._rsi_plot.getViewBox().translateBy(x=-25)  # as a drag in the RSI pane does
    moved = panel.visible_range()
    assert moved[0] == pytest.approx(view[0] - 25)
    assert all(p.viewRange()[0] == pytest.approx(list(moved)) for p in panel._plots() if p.isVisible())


def test_crosshair_shows_the_price_under_the_pointer(panel):
    from PySide6.QtCore import QPointF

    panel.grab()
    vb = panel._price_plot.getViewBox()
    y_lo, y_hi = vb.viewRange()[1]
    price = y_lo + (y_hi - y_lo) * 0.3
    panel._on_mouse_moved(vb.mapViewToScene(QPointF(sum(panel.visible_range()) / 2, price)))
    assert panel._cross_h.isVisible() and panel._cross_h.value() == pytest.approx(price)
    assert panel._cross_h.text == f"{price:.2f}"
    volume = panel._volume_plot.getViewBox()
    panel._on_mouse_moved(volume.mapViewToScene(QPointF(sum(panel.visible_range()) / 2, 1.0)))
    assert not panel._cross_h.isVisible() and all(line.isVisible() for line in panel._cross_v)


def test_live_bar_updates_forming_bar_and_indicators_tail(panel):
    last_minute = int(minute_history().start[-1])
    n = len(panel.bars)
    before = panel.bars.last()
    update = Candle(last_minute, before.close, before.close + 2000, before.close - 5, before.close + 1500, 9000)
    panel.apply_bar(update)  # a new state of the last minute: same 5-minute bar
    assert len(panel.bars) == n
    after = panel.bars.last()
    assert after.close == before.close + 1500 and after.high == before.close + 2000
    new_minute = Candle(last_minute + 60, 2_000_000, 2_000_100, 1_999_000, 2_000_050, 750)  # 15:30: a new bar
    panel.apply_bar(new_minute)
    assert len(panel.bars) == n + 1 and panel.bars.last().close == 2_000_050
    for indicator, lines in zip(panel.indicators, (panel.indicator_lines(i) for i in range(5))):
        full = indicator.compute(panel.bars)
        for name in full:
            np.testing.assert_allclose(lines[name], full[name], rtol=1e-9, equal_nan=True)
    assert "20,000.50" in panel._readout.text()


def open_order(order_id: str, side: Side, price: int, order_type=OrderType.LIMIT, trigger=0) -> Order:
    return Order("paper:SIM", order_id, NIFTY_FUT.key, NIFTY_FUT.trading_symbol, side, 75, order_type, Product.MIS,
                 Validity.DAY, OrderStatus.OPEN, price=price, trigger_price=trigger)


def test_order_lines_drag_emits_snapped_price_and_waits_for_confirmation(panel, qtbot):
    other = Order("paper:SIM", "X", "NSE:2885", "RELIANCE-EQ", Side.BUY, 1, OrderType.LIMIT, Product.MIS,
                  Validity.DAY, OrderStatus.OPEN, price=100)
    panel.set_orders([open_order("A1", Side.BUY, 2_190_000), other,
                      open_order("A2", Side.SELL, 0, OrderType.SL_M, trigger=2_180_000)])
    assert set(panel._order_lines) == {"A1", "A2"}
    line = panel._order_lines["A1"]
    with qtbot.waitSignal(panel.order_price_drag_requested) as signal:
        line.drop_at(21_950.03)
    assert signal.args == ["A1", 2_195_005]  # on the 5-paise tick
    assert line.value() == pytest.approx(21_900.00)  # stays until the modified order comes back
    panel.set_orders([open_order("A1", Side.BUY, 2_195_005)])
    assert set(panel._order_lines) == {"A1"} and line.value() == pytest.approx(21_950.05)
    with qtbot.assertNotEmitted(panel.order_price_drag_requested):
        line.drop_at(21_950.06)  # same tick: nothing to modify


def test_context_menu_buys_and_sells_at_clicked_price(panel, qtbot):
    menu = panel.context_menu_at(2_201_234)
    actions = {a.text(): a for a in menu.actions()}
    with qtbot.waitSignal(panel.order_at_price_requested) as signal:
        actions["Buy at 22,012.35"].trigger()
    assert signal.args == ["BUY", 2_201_235]
    with qtbot.waitSignal(panel.order_at_price_requested) as signal:
        actions["Sell at 22,012.35"].trigger()
    assert signal.args == ["SELL", 2_201_235]


def test_position_line_and_wrong_instrument(panel):
    panel.set_position(Position("paper:SIM", NIFTY_FUT.key, "NIFTY24MARFUT", Product.MIS, net_quantity=-75,
                                average_price=2_200_000))
    assert "POS -75 @ 22,000.00" in panel._position_line.text
    panel.set_position(None)
    assert panel._position_line is None
    with pytest.raises(ValueError, match="NSE:2885"):
        panel.set_position(Position("paper:SIM", "NSE:2885", "RELIANCE-EQ", Product.CNC, net_quantity=1))


def test_state_round_trip(panel, qtbot):
    from terminal.ui.panels.chart import ChartPanel

    panel.set_timeframe(15)
    panel.jump_to_latest(80)
    state = panel.state()
    assert state["timeframe"] == 15 and state["instrument_key"] == NIFTY_FUT.key
    other = ChartPanel(NIFTY_FUT, 1, indicators=[])
    qtbot.addWidget(other)
    other.resize(1200, 800)
    other.set_history(minute_history())
    other.restore_state(state)
    assert other.state() == state
    assert [type(i) for i in other.indicators] == [EMA, VWAP, BollingerBands, RSI, MACD]
    with pytest.raises(ValueError, match="this chart shows"):
        other.restore_state({**state, "instrument_key": "NSE:1"})


def test_indicator_dialog_edits_params(panel, qtbot):
    from terminal.ui.panels.chart import IndicatorDialog

    dialog = IndicatorDialog(MACD(), panel)
    qtbot.addWidget(dialog)
    dialog.set_value("fast", 30)
    dialog._accept()
    assert "slow" in dialog._error.text()  # fast must stay below slow: the dialog says so
    dialog.set_value("fast", 8)
    assert dialog.indicator().params == {"fast": 8, "slow": 26, "signal": 9}


# --- the precomputed level-of-detail pyramid ----------------------------------------------------

def _random_bars(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = 1000 + np.cumsum(rng.integers(-5, 6, n))
    o = np.r_[c[:1], c[:-1]]
    return {"open": o, "high": np.maximum(o, c) + rng.integers(0, 4, n), "low": np.minimum(o, c) - rng.integers(0, 4, n),
            "close": c, "volume": rng.integers(0, 100, n)}


@pytest.mark.parametrize("n", [1, 2, 3, 5, 64, 65, 1000, 4097])
def test_pyramid_levels_equal_a_plain_merge_of_the_bars(n):
    from terminal.ui.widgets.chart_lod import OHLCV, Pyramid

    d = _random_bars(n, n)
    pyramid = Pyramid(OHLCV)
    pyramid.build(d)
    rng = np.random.default_rng(n)
    for factor in (1, 2, 4, 8, 64, 1024):
        if factor > 1 and factor.bit_length() - 1 > len(pyramid._levels):
            continue  # coarser than the top level: the top is used (checked below)
        for first, stop in [(0, n), (n // 3, n), *[sorted(rng.integers(0, n + 1, 2)) for _ in range(5)]]:
            x, runs = pyramid.runs(d, int(first), int(stop), factor)
            if stop <= first:
                assert len(x) == 0
                continue
            ref = ref_merge(d["open"], d["high"], d["low"], d["close"], first, stop, factor)
            assert [tuple(map(float, r)) for r in ref] == [
                (float(x[i]), *(float(runs[k][i]) for k in ("open", "high", "low", "close"))) for i in range(len(x))]
            volume = [sum(d["volume"][g:min(g + factor, n)]) for g in range((first // factor) * factor, stop, factor)]
            assert runs["volume"].tolist() == volume
    x, runs = pyramid.runs(d, 0, n, 1 << 40)  # zoomed out past everything: one run of all bars
    assert len(x) == 1 and runs["high"][0] == d["high"].max() and runs["volume"][0] == d["volume"].sum()


@pytest.mark.parametrize("n,first_changed", [(2, 1), (100, 99), (100, 37), (1025, 1024), (1024, 1000), (7, 6)])
def test_pyramid_tail_update_equals_a_full_rebuild(n, first_changed):
    from terminal.ui.widgets.chart_lod import OHLCV, Pyramid

    d = _random_bars(n, 3)
    old = {k: v[:first_changed + 1].copy() for k, v in _random_bars(n, 4).items()}  # bars after first_changed differ
    for k in old:
        old[k][:first_changed] = d[k][:first_changed]
    updated = Pyramid(OHLCV)
    updated.build({k: v[:min(first_changed + 1, n - 1)] for k, v in old.items()})  # also grows by a bar or more
    updated.update_tail(d, first_changed)
    rebuilt = Pyramid(OHLCV)
    rebuilt.build(d)
    assert updated.count == rebuilt.count == n
    assert len(updated._levels) == len(rebuilt._levels)
    for a, b in zip(updated._levels, rebuilt._levels):
        for k in OHLCV:
            assert np.array_equal(a[k], b[k])


def test_pyramid_line_keeps_spikes_and_gaps():
    from terminal.ui.widgets.chart_lod import LINE, Pyramid, line_points

    v = np.array([np.nan, np.nan, np.nan, np.nan, 1.0, 1.0, 9.0, 1.0, 1.0, -4.0, 1.0, 1.0])
    pyramid = Pyramid(LINE)
    data = {k: v for k in LINE}
    pyramid.build(data)
    x, runs = pyramid.runs(data, 0, len(v), 4)
    _, y = line_points(x, runs)
    assert np.isnan(y[:2]).all()  # no value yet: a gap, not a zero
    assert y[2:4].max() == 9.0 and y[4:6].min() == -4.0


def test_live_bar_repaints_only_the_forming_bar(panel, qtbot):
    from PySide6.QtCore import QEvent, QObject

    class Regions(QObject):
        def __init__(self):
            super().__init__()
            self.rects = []

        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                self.rects.extend(event.region())
            return False

    panel.grab()
    qtbot.wait(20)
    regions = Regions()
    panel._view.viewport().installEventFilter(regions)
    last = panel.bars.last()
    panel.apply_bar(Candle(int(minute_history().start[-1]), last.close, last.close, last.close - 5, last.close - 5, 75))
    qtbot.waitUntil(lambda: bool(regions.rects), timeout=1000)
    panel._view.viewport().removeEventFilter(regions)
    area = sum(r.width() * r.height() for r in regions.rects)
    view = panel._view.viewport()
    assert 0 < area < 0.5 * view.width() * view.height()
    assert max(r.right() for r in regions.rects) >= view.width() - 1  # the forming bar and the price axis


def test_axes_draw_the_labels_pyqtgraph_would(panel):
    """The chart's axes paint themselves (cached static text); what they show must match
    pyqtgraph's own axis layout for the same range and size."""
    import pyqtgraph as pg
    from PySide6.QtGui import QImage, QPainter

    for visible in (60, 2_000):
        panel.jump_to_latest(visible)
        panel.grab()
        for axis in (panel._price_plot.getAxis("right"), panel._volume_plot.getAxis("right"),
                     panel._macd_plot.getAxis("bottom")):
            image = QImage(10, 10, QImage.Format.Format_ARGB32_Premultiplied)
            painter = QPainter(image)
            painter.setFont(panel._view.font())
            specs = pg.AxisItem.generateDrawSpecs(axis, painter)
            painter.end()
            expected = [text for _, _, text in specs[2]]
            assert expected and axis.last_labels == expected


def test_axes_kept_bounds_follow_a_resize(panel, qtbot):
    """The axes keep their bounding rect between frames: it must be pyqtgraph's own for the
    current geometry, before and after the panes are resized."""
    import pyqtgraph as pg

    def check():
        panel.grab()
        for plot in panel._plots():
            for name in ("right", "bottom"):
                axis = plot.getAxis(name)
                assert axis.boundingRect() == pg.AxisItem.boundingRect(axis), (name, plot)

    check()
    panel.resize(900, 600)
    qtbot.waitUntil(lambda: panel._view.width() < 1000, timeout=1000)
    check()
    panel.set_indicators([EMA(20)])  # two panes: the volume pane's axes take the room
    check()


def test_readout_shows_the_bar_under_the_cursor_else_the_last(panel):
    from terminal.domain.money import format_price

    def shown(bar):
        return [f"{k} {format_price(v)}" for k, v in (("O", bar.open), ("H", bar.high), ("L", bar.low), ("C", bar.close))]

    top, values = panel._readout.text().split("\n")
    assert top.startswith("NIFTY MAR FUT · 5m") and all(part in top for part in shown(panel.bars.last()))
    assert values.startswith("EMA(20) ") and "RSI(14) " in values
    panel._set_cursor(10)
    top = panel._readout.text().split("\n")[0]
    assert all(part in top for part in shown(panel.bars.candle(10))) and panel._time_axes[0].label_at(10) in top


def test_price_lines_pick_the_nearest_visible_movable_line():
    from terminal.ui.widgets.candle_plot import OrderLine, PriceLine, PriceLines

    lines = PriceLines()
    buy = lines.add(OrderLine("B", 10_000, "BUY", "#00ff00", 5))
    sell = lines.add(OrderLine("S", 10_030, "SELL", "#ff0000", 5))
    lines.add(PriceLine(100.10, "POS", "#ffffff"))  # not movable: never picked up
    assert lines.movable_line_at(100.12, 0.2) is buy
    assert lines.movable_line_at(100.20, 0.2) is sell
    assert lines.movable_line_at(100.5, 0.1) is None
    sell.setVisible(False)
    assert lines.movable_line_at(100.18, 0.2) is buy
    lines.remove(buy)
    assert lines.movable_line_at(100.0, 0.2) is None and len(lines.lines()) == 2


def _mouse(view, kind, pos, buttons):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    types = {"press": QEvent.Type.MouseButtonPress, "move": QEvent.Type.MouseMove,
             "release": QEvent.Type.MouseButtonRelease}
    point = QPointF(pos)
    event = QMouseEvent(types[kind], point, view.viewport().mapToGlobal(point), Qt.MouseButton.LeftButton
                        if kind != "move" else Qt.MouseButton.NoButton, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)
    if kind == "move":
        QTest.qWait(20)  # pyqtgraph's scene takes at most one move each 1/60 s


def _drag(view, start, end):
    """A left-button drag as the hand does it: hover, press, moves, release."""
    held = Qt.MouseButton.LeftButton
    _mouse(view, "move", start, Qt.MouseButton.NoButton)
    _mouse(view, "press", start, held)
    for k in range(1, 6):
        _mouse(view, "move", start + (end - start) * k / 5, held)
    _mouse(view, "release", end, Qt.MouseButton.NoButton)


def test_dragging_an_order_line_with_the_mouse_asks_to_modify_and_other_drags_pan(panel, qtbot):
    from PySide6.QtCore import QPoint, QPointF

    view, vb = panel._view, panel._price_plot.getViewBox()
    y_lo, y_hi = vb.viewRange()[1]
    price = round((y_lo + (y_hi - y_lo) * 0.4) * 100) // 5 * 5
    panel.set_orders([open_order("A1", Side.BUY, price)])
    panel.grab()
    x_mid = sum(panel.visible_range()) / 2

    def at(y_rupees: float) -> QPoint:
        return view.mapFromScene(vb.mapViewToScene(QPointF(x_mid, y_rupees)))

    target = (y_lo + (y_hi - y_lo) * 0.7)
    with qtbot.waitSignal(panel.order_price_drag_requested, timeout=1000) as signal:
        _drag(view, at(price / 100), at(target))
    order_id, new_price = signal.args
    pixel = (y_hi - y_lo) * 100 / vb.height()  # paise a pixel
    assert order_id == "A1" and new_price % 5 == 0 and abs(new_price - target * 100) <= 2 * pixel + 5
    assert panel._order_lines["A1"].value() == pytest.approx(price / 100)  # back until the broker confirms
    # a drag away from any line pans the chart and modifies nothing
    before = panel.visible_range()
    away = at(y_lo + (y_hi - y_lo) * 0.9)
    with qtbot.assertNotEmitted(panel.order_price_drag_requested):
        _drag(view, away, away + QPoint(200, 0))
    assert panel.visible_range()[0] < before[0]
