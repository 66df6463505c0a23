"""Order book, trade book, positions, funds, depth and log panels on real stores and the paper broker.

Orders, cancels and square-offs go to the terminal's PaperBroker over a simulated exchange frozen in
time (see conftest): what a test asserts about the broker it reads from the broker's own books.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt

from terminal.domain import (
    Funds, Order, OrderRequest, OrderStatus, OrderType, Position, Product, Side, Trade, Validity, round_to_tick,
)
from terminal.ui.panels.funds import FundsPanel
from terminal.ui.panels.log_panel import LogPanel
from terminal.ui.panels.market_depth import MarketDepthPanel
from terminal.ui.panels.order_book import OrderBookPanel
from terminal.ui.panels.positions import PositionsPanel
from terminal.ui.panels.trade_book import TradeBookPanel

ACCOUNT = "paper:SIM001"  # the paper broker's account in conftest
RELIANCE, HDFC, NIFTY_FUT = "NSE:2885", "NSE:1333", "NFO:436130"


def show(qtbot, panel, w=900, h=260):
    qtbot.addWidget(panel)
    panel.resize(w, h)
    panel.show()
    return panel


def order(order_id, status=OrderStatus.OPEN, key=RELIANCE, symbol="RELIANCE-EQ", side=Side.BUY, qty=10,
          filled=0, message="", at=None):
    at = at or time.time()
    return Order(ACCOUNT, order_id, key, symbol, side, qty, OrderType.LIMIT, Product.MIS, Validity.DAY, status,
                 price=1545_00, filled_quantity=filled, average_price=1545_00 if filled else 0, tag="TT" + order_id,
                 status_message=message, placed_at=at, updated_at=at)


def resting_buy_price(broker, key, percent_below=5):
    """A buy limit (paise) inside the exchange's ±10% band but below the market, so the order stays open."""
    return round_to_tick(broker.quotes([key])[0].ltp * (100 - percent_below) // 100, 5)


def orders_with_status(broker, status):
    return [o.order_id for o in broker.order_book() if o.status is status]


def text(model, row, header):
    column = [c.header for c in model.columns].index(header)
    return model.data(model.index(row, column))


# --- order book --------------------------------------------------------------------------------
def test_order_book_splits_open_and_completed(qtbot, ctx):
    ctx.portfolio.replace_orders(ACCOUNT, [
        order("1", at=1_763_600_000), order("2", OrderStatus.COMPLETE, filled=10, at=1_763_600_100),
        order("3", OrderStatus.REJECTED, message="RMS: margin exceeds", at=1_763_600_200)])
    panel = show(qtbot, OrderBookPanel(ctx))
    assert panel.open_model.keys() == [(ACCOUNT, "1")]
    assert panel.completed_model.keys() == [(ACCOUNT, "3"), (ACCOUNT, "2")]
    assert panel.tabs.tabText(0) == "Open (1)"
    assert text(panel.completed_model, 1, "Qty") == "10/10"
    assert text(panel.completed_model, 0, "Status") == "REJECTED"
    assert text(panel.completed_model, 0, "Reason") == "RMS: margin exceeds"
    assert text(panel.open_model, 0, "Time") == "06:23:20"  # 00:53:20 UTC in IST


def test_order_update_keeps_selection_and_signals_one_row(qtbot, ctx, spy_model):
    ctx.portfolio.replace_orders(ACCOUNT, [order("1", at=100.0), order("2", at=200.0)])
    panel = show(qtbot, OrderBookPanel(ctx))
    panel.focus_primary()
    panel.open_table.select_row(1)
    spy = spy_model(panel.open_model)
    ctx.portfolio.apply_orders([order("1", OrderStatus.PARTIALLY_FILLED, filled=4, at=100.0)])
    assert spy.resets == 0 and spy.changed == [(1, 1)]
    assert panel.selected_order().order_id == "1"
    assert text(panel.open_model, 1, "Qty") == "4/10"


def test_delete_cancels_selected_open_order(qtbot, ctx, broker, run_async):
    price = resting_buy_price(broker, RELIANCE)
    outcome = run_async(ctx.orders.place(OrderRequest(ACCOUNT, RELIANCE, Side.BUY, 5, price=price)))[0]
    assert outcome.accepted and orders_with_status(broker, OrderStatus.OPEN) == [outcome.order_id]
    run_async(ctx.session.refresh_orders())
    panel = show(qtbot, OrderBookPanel(ctx))
    panel.focus_primary()
    assert panel.selected_order().order_id == outcome.order_id
    qtbot.keyClick(panel.open_table, Qt.Key_Delete)
    qtbot.waitUntil(lambda: panel.last_task.done(), timeout=5000)
    assert orders_with_status(broker, OrderStatus.CANCELLED) == [outcome.order_id]
    assert orders_with_status(broker, OrderStatus.OPEN) == []
    run_async(ctx.session.refresh_orders())
    assert len(panel.open_model) == 0 and len(panel.completed_model) == 1


def test_cancel_of_an_order_already_closed_at_the_broker_fails_and_says_why(qtbot, ctx, broker, run_async):
    price = resting_buy_price(broker, RELIANCE)
    outcome = run_async(ctx.orders.place(OrderRequest(ACCOUNT, RELIANCE, Side.BUY, 5, price=price)))[0]
    run_async(ctx.session.refresh_orders())
    panel = show(qtbot, OrderBookPanel(ctx))
    panel.focus_primary()
    broker.cancel_order(outcome.order_id)  # cancelled elsewhere (the broker's web page); the panel is stale
    qtbot.keyClick(panel.open_table, Qt.Key_Delete)
    qtbot.waitUntil(lambda: panel.last_task.done(), timeout=5000)
    assert panel.last_task.result() is False
    error = ctx.messages.messages()[-1]
    assert f"Cancel of order {outcome.order_id} failed" in error.text and "nothing left to cancel" in error.text
    assert "Refresh the order book" in error.hint
    run_async(ctx.session.refresh_orders())
    assert len(panel.open_model) == 0
    assert text(panel.completed_model, 0, "Status") == "CANCELLED"


def test_modify_button_asks_the_window(qtbot, ctx):
    ctx.portfolio.replace_orders(ACCOUNT, [order("1")])
    panel = show(qtbot, OrderBookPanel(ctx))
    panel.focus_primary()
    with qtbot.waitSignal(ctx.requests.modify_order_requested) as request:
        qtbot.keyClick(panel.open_table, Qt.Key_Return)
    assert request.args[0].order_id == "1"


def test_cancel_all_asks_first_and_respects_no(qtbot, ctx, broker, run_async, monkeypatch):
    price = resting_buy_price(broker, RELIANCE)
    for limit in (price, price + 1_00):
        run_async(ctx.orders.place(OrderRequest(ACCOUNT, RELIANCE, Side.BUY, 5, price=limit)))
    assert len(orders_with_status(broker, OrderStatus.OPEN)) == 2
    run_async(ctx.session.refresh_orders())
    panel = show(qtbot, OrderBookPanel(ctx))
    asked = []
    monkeypatch.setattr(panel, "confirm", lambda title, text: asked.append(text) or False)
    panel.cancel_all()
    assert asked == ["Cancel all 2 open orders?"] and panel.last_task is None
    assert len(orders_with_status(broker, OrderStatus.OPEN)) == 2
    monkeypatch.setattr(panel, "confirm", lambda title, text: True)
    panel.cancel_all()
    qtbot.waitUntil(lambda: panel.last_task.done(), timeout=5000)
    assert panel.last_task.result() == 2
    assert len(orders_with_status(broker, OrderStatus.CANCELLED)) == 2
    assert orders_with_status(broker, OrderStatus.OPEN) == []


def test_unsettled_intents_are_shown_until_settled(qtbot, ctx):
    panel = show(qtbot, OrderBookPanel(ctx))
    ctx.orders.intent_state_changed.emit("TTABC", "unknown, checking")
    assert "TTABC: unknown, checking" in panel.intent_label.text()
    ctx.orders.intent_state_changed.emit("TTABC", "sent")
    assert panel.intent_label.text() == ""
    # A change whose check could not reach the broker stays flagged until the book is read again.
    ctx.orders.intent_state_changed.emit("TTCHG", "unknown")
    assert "TTCHG: unknown" in panel.intent_label.text()
    ctx.portfolio.replace_orders(ACCOUNT, [])
    assert panel.intent_label.text() == ""


# --- trade book --------------------------------------------------------------------------------
def test_trade_book_lists_trades(qtbot, ctx):
    ctx.portfolio.replace_trades(ACCOUNT, [
        Trade(ACCOUNT, "T1", "1", RELIANCE, "RELIANCE-EQ", Side.BUY, 100, 1545_00, Product.MIS, 1_763_600_000),
        Trade(ACCOUNT, "T2", "2", RELIANCE, "RELIANCE-EQ", Side.SELL, 40, 1550_00, Product.MIS, 1_763_600_100)])
    panel = show(qtbot, TradeBookPanel(ctx))
    assert panel.model.keys() == [(ACCOUNT, "T2"), (ACCOUNT, "T1")]
    assert text(panel.model, 1, "Price") == "1,545.00" and text(panel.model, 1, "Qty") == "100"
    assert "Bought ₹1,54,500.00" in panel.summary.text()
    panel.focus_primary()
    assert panel.selected_key() == RELIANCE


# --- positions ---------------------------------------------------------------------------------
def positions():
    return [
        Position(ACCOUNT, NIFTY_FUT, "NIFTY25NOVFUT", Product.NRML, net_quantity=130, average_price=25_500_00,
                 day_buy_quantity=130, day_buy_value=130 * 25_500_00),
        Position(ACCOUNT, RELIANCE, "RELIANCE-EQ", Product.MIS, net_quantity=-50, average_price=1550_00,
                 realised_pnl=1_000_00, day_sell_quantity=50, day_sell_value=50 * 1550_00),
        Position(ACCOUNT, HDFC, "HDFCBANK-EQ", Product.MIS, realised_pnl=-200_00,
                 day_buy_quantity=10, day_buy_value=10 * 990_00, day_sell_quantity=10, day_sell_value=10 * 970_00),
    ]


def test_positions_mtm_follows_ticks_for_their_rows_only(qtbot, ctx, make_tick, spy_model):
    ctx.portfolio.replace_positions(ACCOUNT, positions())
    panel = show(qtbot, PositionsPanel(ctx), 1100)
    assert panel.model.keys()[0][1] == NIFTY_FUT
    assert ctx.session.feed.subscribed() == {NIFTY_FUT, RELIANCE, HDFC}
    assert panel.total_mtm() == 1_000_00 - 200_00
    spy = spy_model(panel.model)
    ctx.market.apply_ticks({NIFTY_FUT: make_tick(NIFTY_FUT, 25_510_00), "NSE:3045": make_tick("NSE:3045", 9_00)})
    row = panel.model.row_for_key((ACCOUNT, NIFTY_FUT, Product.NRML))
    assert spy.changed == [(row, row)] and spy.resets == 0
    assert text(panel.model, row, "MTM") == "+1,300.00"  # 10 rupees x 130
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1540_00)})
    reliance = panel.model.row_for_key((ACCOUNT, RELIANCE, Product.MIS))
    assert text(panel.model, reliance, "Unrealised") == "+500.00"
    assert text(panel.model, reliance, "MTM") == "+1,500.00"
    assert panel.total_mtm() == 1_300_00 + 1_500_00 - 200_00
    assert "+₹2,600.00" in panel.total_label.text()
    hdfc = panel.model.row_for_key((ACCOUNT, HDFC, Product.MIS))
    assert text(panel.model, hdfc, "Buy Avg") == "990.00" and text(panel.model, hdfc, "Sell Avg") == "970.00"


def open_positions_at_the_broker(ctx, broker, run_async) -> set[str]:
    """The account goes long 2 lots of NIFTY futures (NRML), short 50 RELIANCE (MIS) and in and out of
    10 HDFCBANK (MIS, flat); the positions panel loads them. Returns the ids of those orders."""
    for key, side, quantity, product in ((NIFTY_FUT, Side.BUY, 130, Product.NRML),
                                         (RELIANCE, Side.SELL, 50, Product.MIS),
                                         (HDFC, Side.BUY, 10, Product.MIS), (HDFC, Side.SELL, 10, Product.MIS)):
        broker.place_order(OrderRequest(ACCOUNT, key, side, quantity, OrderType.MARKET, product))
    run_async(ctx.session.refresh_portfolio())
    return {o.order_id for o in broker.order_book()}


def net_quantities(broker):
    return {(p.instrument_key, p.product): p.net_quantity for p in broker.positions()}


def test_square_off_selected_sends_a_market_order(qtbot, ctx, broker, monkeypatch, run_async):
    before = open_positions_at_the_broker(ctx, broker, run_async)
    panel = show(qtbot, PositionsPanel(ctx))
    panel.focus_primary()
    panel.table.select_row(panel.model.row_for_key((ACCOUNT, RELIANCE, Product.MIS)))
    assert panel.selected_key() == RELIANCE
    monkeypatch.setattr(panel, "confirm", lambda title, text: True)
    qtbot.keyClick(panel.table, Qt.Key_Delete)
    qtbot.waitUntil(lambda: panel.last_task.done(), timeout=5000)
    [sent] = [o for o in broker.order_book() if o.order_id not in before]
    assert (sent.instrument_key, sent.side, sent.quantity, sent.order_type, sent.product) == (
        RELIANCE, Side.BUY, 50, OrderType.MARKET, Product.MIS)
    assert net_quantities(broker)[(RELIANCE, Product.MIS)] == 0
    assert net_quantities(broker)[(NIFTY_FUT, Product.NRML)] == 130  # only the selected row


def test_square_off_all_respects_the_confirmation(qtbot, ctx, broker, monkeypatch, run_async):
    before = open_positions_at_the_broker(ctx, broker, run_async)
    panel = show(qtbot, PositionsPanel(ctx))
    monkeypatch.setattr(panel, "confirm", lambda title, text: False)
    panel.square_off_all()
    assert panel.last_task is None
    assert {o.order_id for o in broker.order_book()} == before
    ctx.settings.set("confirm", {"square_off": False})
    panel.square_off_all()
    qtbot.waitUntil(lambda: panel.last_task.done(), timeout=5000)
    sent = [o for o in broker.order_book() if o.order_id not in before]
    assert sorted(o.instrument_key for o in sent) == [NIFTY_FUT, RELIANCE]  # not the flat HDFCBANK
    assert set(net_quantities(broker).values()) == {0}


# --- funds -------------------------------------------------------------------------------------
def test_funds_show_indian_grouping_and_live_unrealised(qtbot, ctx, make_tick):
    ctx.portfolio.set_funds(Funds(ACCOUNT, opening_balance=10_00_000_00, available_cash=7_50_000_00,
                                  used_margin=2_50_000_00, realised_pnl=-1_234_50))
    panel = show(qtbot, FundsPanel(ctx), 320, 260)
    assert panel.values["Opening balance"].text() == "₹10,00,000.00"
    assert panel.values["Available margin"].text() == "₹5,00,000.00"
    assert panel.values["Realised P&L"].text() == "-₹1,234.50"
    ctx.portfolio.replace_positions(ACCOUNT, positions()[:1])
    ctx.market.apply_ticks({NIFTY_FUT: make_tick(NIFTY_FUT, 25_490_00)})
    assert panel.values["Unrealised P&L"].text() == "-₹1,300.00"


# --- depth -------------------------------------------------------------------------------------
def test_depth_shows_levels_and_follows_its_instrument_only(qtbot, ctx, make_tick, spy_model):
    panel = show(qtbot, MarketDepthPanel(ctx), 480, 260)
    panel.set_instrument(RELIANCE)
    assert RELIANCE in ctx.session.feed.subscribed()
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1545_00, 1540_00)})
    model = panel.model
    assert model.data(model.index(0, 2)) == "1,545.00" and model.data(model.index(0, 3)) == "1,545.05"
    assert model.data(model.index(4, 1)) == "500" and model.data(model.index(4, 4)) == "750"
    assert model.data(model.index(5, 1)) == "1,500" and model.data(model.index(5, 4)) == "2,250"
    assert "1,545.00" in panel.stats.text() and "+5.00" in panel.stats.text()
    spy = spy_model(model)
    ctx.market.apply_ticks({HDFC: make_tick(HDFC, 990_00)})
    assert spy.changed == []
    ctx.market.apply_ticks({RELIANCE: make_tick(RELIANCE, 1546_00)})
    assert spy.changed == [(0, 5)] and spy.resets == 0
    panel.set_instrument(HDFC)
    assert RELIANCE not in ctx.session.feed.subscribed()
    assert "HDFCBANK-EQ" in panel.header.text()


# --- log ---------------------------------------------------------------------------------------
def test_log_panel_shows_existing_and_new_messages(qtbot, ctx):
    ctx.messages.info("Logged in")
    panel = show(qtbot, LogPanel(ctx, capacity=3))
    ctx.messages.error("Rejected: RMS margin", "Margin shortfall: check the Funds panel")
    assert [m.text for m in panel.messages()] == ["Logged in", "Rejected: RMS margin"]
    assert text(panel.model, 1, "What to do") == "Margin shortfall: check the Funds panel"
    from terminal.ui import theme
    level = panel.model.data(panel.model.index(1, 1), Qt.ForegroundRole).color().name()
    assert level == theme.current().negative
    for i in range(600):
        ctx.messages.info(f"m{i}")
    assert len(panel.messages()) <= 3 + 500 and panel.messages()[-1].text == "m599"


def test_screenshots(qtbot, ctx, make_tick, shots, dark_theme):
    ctx.portfolio.replace_orders(ACCOUNT, [
        order("1001", at=1_763_600_000), order("1002", OrderStatus.TRIGGER_PENDING, NIFTY_FUT, "NIFTY25NOVFUT",
                                                Side.SELL, 130, at=1_763_600_050),
        order("1003", OrderStatus.COMPLETE, filled=10, at=1_763_600_100),
        order("1004", OrderStatus.REJECTED, message="RMS: margin exceeds", at=1_763_600_200)])
    ctx.portfolio.replace_positions(ACCOUNT, positions())
    ctx.portfolio.set_funds(Funds(ACCOUNT, 10_00_000_00, 7_50_000_00, 2_50_000_00, 0, -1_234_50))
    ctx.portfolio.replace_trades(ACCOUNT, [
        Trade(ACCOUNT, "T1", "1003", RELIANCE, "RELIANCE-EQ", Side.BUY, 10, 1545_00, Product.MIS, 1_763_600_100)])
    ctx.market.apply_ticks({NIFTY_FUT: make_tick(NIFTY_FUT, 25_510_00, 25_400_00, oi=1_20_00_000),
                            RELIANCE: make_tick(RELIANCE, 1540_00, 1550_00)})
    ctx.messages.info("Logged in to paper as Test Trader (229 instruments).")
    ctx.messages.error("Rejected: BUY 10 RELIANCE-EQ: RMS: margin exceeds",
                       "Margin shortfall: check the Funds panel, add funds or reduce the quantity.")
    book = show(qtbot, OrderBookPanel(ctx), 1100, 220)
    book.focus_primary()
    depth = show(qtbot, MarketDepthPanel(ctx), 440, 240)
    depth.set_instrument(NIFTY_FUT)
    panels = {"order_book": book, "trade_book": show(qtbot, TradeBookPanel(ctx), 900, 160),
              "positions": show(qtbot, PositionsPanel(ctx), 1150, 200), "funds": show(qtbot, FundsPanel(ctx), 300, 230),
              "market_depth": depth, "log": show(qtbot, LogPanel(ctx), 1000, 160)}
    qtbot.wait(20)
    for name, panel in panels.items():
        panel.grab().save(str(shots / f"{name}.png"))
