"""Option chain: populated from the simulated exchange, live by row, keyboard trading, chain analytics."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow

from terminal.analytics.expiry import IST
from terminal.analytics.greeks import black76_price
from terminal.domain import Side
from terminal.domain.money import format_price
from terminal.services.greeks_engine import (
    CALL, GREEKS_INTERVAL_MS, PUT, chain_analytics, max_pain, nearest_strike, put_call_ratio,
)
from terminal.ui.panels.option_chain import BAR_ROLE, OptionChainPanel, compact_count


def feed_chain(ctx, panel) -> None:
    """Quote every subscribed key of the chain from the simulated exchange into the market store."""
    paper = ctx.orders.broker
    keys = list(panel.chain._subscribed)
    paper.exchange.step(keys=keys)
    ctx.market.apply_ticks({t.key: t for t in paper.quotes(keys)})
    panel.chain.recompute()


@pytest.fixture
def chain_panel(qtbot, paper_ctx):
    panel = OptionChainPanel(paper_ctx)
    qtbot.addWidget(panel)
    panel.resize(1500, 500)
    panel.show()
    feed_chain(paper_ctx, panel)
    return panel


# --- pure analytics -----------------------------------------------------------------------------------


def test_chain_analytics_recovers_the_forward_and_the_smile():
    strikes = np.arange(23000.0, 25001.0, 100.0) * 100  # paise
    forward, years, rate = 24_123.40 * 100, 9 / 365, 0.065
    vols = 0.13 + 0.5 * np.log(strikes / forward) ** 2
    prices = np.stack([black76_price(forward, strikes, years, rate, vols, True),
                       black76_price(forward, strikes, years, rate, vols, False)])
    a = chain_analytics(strikes, prices, years, rate, spot=24_000 * 100)
    assert a.forward_source == "parity"
    assert a.forward == pytest.approx(forward, rel=1e-9)
    assert np.allclose(a.iv, vols, atol=1e-8, equal_nan=False)
    assert np.all(np.diff(a.delta[CALL]) < 0) and np.all(a.delta[PUT] < 0)
    assert np.all(a.gamma > 0) and np.all(a.vega > 0) and np.all(a.theta < 0)


def test_chain_analytics_falls_back_to_the_future_then_the_spot():
    strikes = np.array([24000.0, 24100.0]) * 100
    only_calls = np.array([[30000.0, 25000.0], [np.nan, np.nan]])
    a = chain_analytics(strikes, only_calls, 0.02, 0.065, future=24_050 * 100, spot=24_000 * 100)
    assert (a.forward_source, a.forward) == ("future", 24_050 * 100)
    b = chain_analytics(strikes, only_calls, 0.02, 0.065, spot=24_000 * 100)
    assert b.forward_source == "spot" and b.forward == pytest.approx(24_000 * 100 * math.exp(0.065 * 0.02))
    c = chain_analytics(strikes, only_calls, 0.02, 0.065)
    assert c.forward_source == "" and np.isnan(c.iv).all()


def test_max_pain_pcr_and_nearest_strike():
    strikes = np.array([100.0, 200.0, 300.0])
    # Payout to holders: at 100, 50·100 + 10·200 = 7,000; at 200, 10·100 = 1,000; at 300, 50·100 = 5,000.
    assert max_pain(strikes, np.array([0.0, 50.0, 0.0]), np.array([0.0, 50.0, 10.0])) == 200
    assert max_pain(strikes, np.zeros(3), np.zeros(3)) is None
    assert put_call_ratio(np.array([10.0, 30.0]), np.array([20.0, 40.0])) == pytest.approx(1.5)
    assert math.isnan(put_call_ratio(np.zeros(2), np.ones(2)))
    assert nearest_strike([100, 200, 300], 249.0) == 200 and nearest_strike([100, 200], 150.0) == 100


def test_compact_count_reads_the_indian_way():
    assert [compact_count(v) for v in (950, 12_345, 4_56_789, 1_23_45_678, None)] == \
        ["950", "12.3K", "4.57L", "1.23Cr", ""]


# --- the panel ---------------------------------------------------------------------------------------


def test_chain_is_populated_from_the_simulated_exchange(chain_panel, paper_ctx):
    chain = chain_panel.chain
    assert chain.underlying == "NIFTY" and chain.expiry > datetime.now(IST)
    assert len(chain_panel.model) == len(chain.strikes) > 20
    assert chain.index_key and chain.future_key
    atm = chain.atm_row()
    assert chain_panel.table.current_row() == atm
    # The simulator prices NIFTY options near 13% vol around the money: the chain must see it.
    for side in (CALL, PUT):
        assert 0.05 < chain.value("iv", atm, side) < 0.40
    assert 0.3 < chain.value("delta", atm, CALL) < 0.7 and -0.7 < chain.value("delta", atm, PUT) < -0.3
    assert chain.analytics.forward_source == "parity"
    assert abs(chain.analytics.forward - chain.future()) / chain.future() < 0.01
    model = chain_panel.model
    ltp_column = next(i for i, c in enumerate(model.chain_columns) if c.side == CALL and c.field == "ltp")
    tick = paper_ctx.market.tick(chain.key(atm, CALL))
    assert model.data(model.index(atm, ltp_column)) == format_price(tick.ltp)
    assert "Spot" in chain_panel.header_text() and "PCR" in chain_panel.header_text()
    assert chain_panel.table.spot_line_row() in (atm, atm + 1)


def test_a_tick_repaints_only_its_row(chain_panel, paper_ctx, spy_model, make_tick):
    chain = chain_panel.chain
    spy = spy_model(chain_panel.model)
    row = chain.atm_row() + 3
    key = chain.key(row, PUT)
    old = paper_ctx.market.tick(key)
    paper_ctx.market.apply_ticks({key: make_tick(key, old.ltp + 50, old.close)})
    assert spy.changed == [(row, row)] and spy.resets == 0


def test_greeks_follow_a_batch_within_the_throttle(chain_panel, paper_ctx, qtbot, make_tick):
    chain = chain_panel.chain
    row = chain.atm_row()
    key = chain.key(row, CALL)
    before = chain.value("iv", row, CALL)
    old = paper_ctx.market.tick(key)
    with qtbot.waitSignal(chain.greeks_changed, timeout=2000) as blocker:
        paper_ctx.market.apply_ticks({key: make_tick(key, old.ltp + 2000, old.close)})  # +₹20 premium
    assert row in blocker.args[0]
    assert chain.value("iv", row, CALL) > before


def test_arrows_move_through_strikes_and_sides_and_f1_prefills_the_order(chain_panel, paper_ctx, qtbot):
    chain = chain_panel.chain
    chain_panel.focus_primary()
    atm = chain.atm_row()
    qtbot.keyClick(chain_panel.table, Qt.Key_Down)
    assert chain_panel.table.current_row() == atm + 1
    assert chain_panel.selected_key() == chain.key(atm + 1, CALL)
    qtbot.keyClick(chain_panel.table, Qt.Key_Right)
    assert chain_panel.selected_key() == chain.key(atm + 1, PUT)
    qtbot.keyClick(chain_panel.table, Qt.Key_1)
    qtbot.keyClick(chain_panel.table, Qt.Key_2)  # typed quickly: 12 lots
    assert chain_panel.lots == 12 and chain_panel.lots_box.value() == 12
    key = chain.key(atm + 1, PUT)
    ask = paper_ctx.market.tick(key).best_ask
    with qtbot.waitSignal(paper_ctx.requests.order_entry_requested, timeout=1000) as blocker:
        qtbot.keyClick(chain_panel.table, Qt.Key_F1)
    assert blocker.args == [Side.BUY, key, 12 * chain.lot_size, ask]
    qtbot.keyClick(chain_panel.table, Qt.Key_Left)
    bid = paper_ctx.market.tick(chain.key(atm + 1, CALL)).best_bid
    with qtbot.waitSignal(paper_ctx.requests.order_entry_requested, timeout=1000) as blocker:
        qtbot.keyClick(chain_panel.table, Qt.Key_F2)
    assert blocker.args == [Side.SELL, chain.key(atm + 1, CALL), 12 * chain.lot_size, bid]


def test_clicking_bid_or_ask_requests_a_leg(chain_panel, qtbot):
    model, chain = chain_panel.model, chain_panel.chain
    atm = chain.atm_row()
    columns = {(c.side, c.field): i for i, c in enumerate(model.chain_columns)}
    table = chain_panel.table
    for (side, field), wanted in (((PUT, "bid"), Side.SELL), ((CALL, "ask"), Side.BUY)):
        rect = table.visualRect(model.index(atm, columns[(side, field)]))
        with qtbot.waitSignal(chain_panel.leg_requested, timeout=1000) as blocker:
            qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())
        assert blocker.args == [wanted, chain.key(atm, side)]


def test_switching_expiry_resubscribes_and_reloads(chain_panel, paper_ctx):
    chain = chain_panel.chain
    first_keys = set(chain._subscribed)
    later = chain.expiries()[1]
    chain_panel.set_expiry(later)
    assert chain.expiry == later and chain_panel.expiry_box.currentData() == later
    assert set(chain._subscribed).isdisjoint(first_keys - {chain.index_key, chain.future_key})
    with pytest.raises(ValueError):
        chain_panel.set_expiry(later + timedelta(days=1))


def test_chain_screenshot(chain_panel, paper_ctx, dark_theme, shots, qtbot):
    chain_panel.resize(1600, 560)
    chain_panel._reload()
    qtbot.wait(10)
    path = shots / "option_chain.png"
    assert chain_panel.grab().save(str(path))


def test_open_interest_moves_max_pain_pcr_and_the_oi_bars(chain_panel, paper_ctx, make_tick):
    chain, model = chain_panel.chain, chain_panel.model
    assert chain.max_pain is not None
    far = 0  # the lowest strike: holders of a huge call OI there are paid least at expiry down there
    key = chain.key(far, CALL)
    old = paper_ctx.market.tick(key)
    huge = int(chain.open_interest.max()) * 1000
    paper_ctx.market.apply_ticks({key: make_tick(key, old.ltp, old.close, oi=huge)})
    pcr_before = chain.pcr
    chain.recompute()
    assert chain.open_interest[CALL, far] == huge
    assert chain.pcr < pcr_before
    assert chain.max_pain == chain.strikes[far]
    chain_panel._greeks_changed([])
    oi_column = next(i for i, c in enumerate(model.chain_columns) if c.side == CALL and c.field == "oi")
    assert model.data(model.index(far, oi_column), BAR_ROLE) == pytest.approx(1.0)


def test_a_chain_tabbed_behind_another_dock_does_no_work_until_it_is_shown(qtbot, paper_ctx, make_tick):
    window = QMainWindow()
    qtbot.addWidget(window)
    panel = OptionChainPanel(paper_ctx)
    chain_dock, other = QDockWidget("Option Chain", window), QDockWidget("Other", window)
    chain_dock.setWidget(panel)
    other.setWidget(QLabel("in front"))
    for dock in (chain_dock, other):
        window.addDockWidget(Qt.LeftDockWidgetArea, dock)
    window.tabifyDockWidget(chain_dock, other)
    other.raise_()
    window.resize(1400, 600)
    window.show()
    qtbot.waitExposed(window)
    feed_chain(paper_ctx, panel)
    chain = panel.chain
    qtbot.waitUntil(chain.out_of_sight, timeout=2000)  # Qt keeps it "visible", but out of the window
    quotes, greeks = [], []
    chain.quotes_changed.connect(quotes.append)
    chain.greeks_changed.connect(greeks.append)
    row = chain.atm_row()
    key = chain.key(row, CALL)
    before = chain.value("iv", row, CALL)
    old = paper_ctx.market.tick(key)
    paper_ctx.market.apply_ticks({key: make_tick(key, old.ltp + 2000, old.close)})
    qtbot.wait(3 * GREEKS_INTERVAL_MS)
    assert quotes == [] and greeks == [] and chain.value("iv", row, CALL) == before
    chain_dock.raise_()
    qtbot.waitUntil(lambda: bool(greeks), timeout=3000)  # with no further tick
    assert not chain.out_of_sight()
    assert quotes[0] == list(range(len(chain.strikes)))  # every row, once
    assert chain.value("iv", row, CALL) > before


def test_a_spot_tick_within_a_strike_repaints_the_spot_price_not_the_chain(chain_panel, paper_ctx, qtbot, make_tick):
    from PySide6.QtCore import QEvent, QObject

    class Paints(QObject):
        def __init__(self):
            super().__init__()
            self.regions = []

        def eventFilter(self, watched, event):
            if event.type() == QEvent.Paint:
                self.regions.append(event.region().boundingRect())
            return False

    chain, table = chain_panel.chain, chain_panel.table
    chain._timer.setInterval(60_000)  # no greeks recompute (its changed rows repaint) during the test
    qtbot.waitExposed(chain_panel)
    spot = chain.spot()
    paints = Paints()
    table.viewport().installEventFilter(paints)
    qtbot.wait(50)
    paints.regions.clear()
    line = table.spot_line_row()
    paper_ctx.market.apply_ticks({chain.index_key: make_tick(chain.index_key, spot + 5)})  # five paise
    assert table.spot_line_row() == line
    qtbot.waitUntil(lambda: bool(paints.regions), timeout=2000)
    viewport = table.viewport().rect()
    assert all(r.height() < viewport.height() // 4 for r in paints.regions), paints.regions
    paints.regions.clear()
    step = chain.strike_step or 50_00
    paper_ctx.market.apply_ticks({chain.index_key: make_tick(chain.index_key, spot + 3 * step)})  # past strikes
    assert table.spot_line_row() != line
    qtbot.waitUntil(lambda: bool(paints.regions), timeout=2000)
    assert any(r.height() >= viewport.height() - 1 for r in paints.regions)  # the shading moved: all of it
