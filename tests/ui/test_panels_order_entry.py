"""Order entry: prefill, lots and units, tick stepping, inline problems, Enter sends, Esc closes.

Orders go to the terminal's PaperBroker over a simulated exchange frozen in time (see conftest);
what was sent is read back from the broker's order book.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from terminal.domain import OrderRequest, OrderStatus, OrderType, Product, Side, Validity, round_to_tick
from terminal.ui.panels.order_entry import OrderEntryPanel

RELIANCE = "NSE:2885"
NIFTY_FUT = "NFO:436130"  # NIFTY25NOVFUT, lot 65


@pytest.fixture
def panel(qtbot, ctx):
    panel = OrderEntryPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(460, 300)
    panel.show()
    return panel


def test_buy_prefills_best_ask_and_focuses_lots(panel, ctx, make_tick):
    ctx.market.apply_ticks({NIFTY_FUT: make_tick(NIFTY_FUT, 25_550_00, 25_500_00)})
    panel.open_order(Side.BUY, NIFTY_FUT)
    assert panel.price.paise() == 25_550_05  # best ask
    assert panel.lots.value() == 1
    assert panel.units_label.text() == "× 65 = 65 units"
    assert panel.focusWidget() is panel.lots
    assert panel.submit_button.text() == "Buy"
    assert [panel.product.itemText(i) for i in range(panel.product.count())] == ["MIS", "NRML"]
    panel.lots.setValue(2)
    assert panel.units_label.text() == "× 65 = 130 units"
    assert panel.value_label.text() == format_value(25_550_05 * 130)


def format_value(paise):
    from terminal.domain.money import format_price
    return format_price(paise)


def test_sell_prefills_best_bid_and_given_quantity(panel, ctx, make_tick):
    ctx.market.apply_ticks({NIFTY_FUT: make_tick(NIFTY_FUT, 25_550_00)})
    panel.open_order(Side.SELL, NIFTY_FUT, quantity=195)
    assert panel.price.paise() == 25_550_00  # best bid
    assert panel.lots.value() == 3
    assert panel.mode_label.text() == "SELL"
    assert panel.submit_button.text() == "Sell"


def test_explicit_price_and_equity_products(panel, ctx):
    panel.open_order(Side.BUY, RELIANCE, price=1545_10)
    assert panel.price.paise() == 1545_10
    assert [panel.product.itemText(i) for i in range(panel.product.count())] == ["MIS", "CNC"]
    assert panel.units_label.text() == "× 1 = 1 unit"


def test_up_and_down_keys_step_one_tick(panel, qtbot):
    panel.open_order(Side.BUY, RELIANCE, price=1545_00)
    panel.price.setFocus()
    qtbot.keyClick(panel.price, Qt.Key_Up)
    assert panel.price.paise() == 1545_05
    qtbot.keyClick(panel.price, Qt.Key_Down)
    qtbot.keyClick(panel.price, Qt.Key_Down)
    assert panel.price.paise() == 1544_95


def test_off_tick_price_snaps_on_the_next_step(panel, qtbot):
    panel.open_order(Side.BUY, RELIANCE, price=1545_03)
    panel.price.stepBy(1)
    assert panel.price.paise() == 1545_05
    panel.price.set_paise(1545_03)
    panel.price.stepBy(-1)
    assert panel.price.paise() == 1545_00


def test_order_type_enables_price_and_trigger(panel):
    panel.open_order(Side.BUY, RELIANCE, price=1545_00)
    panel.order_type.setCurrentText("MARKET")
    assert not panel.price.isEnabled() and not panel.trigger.isEnabled()
    assert panel.build_request().price == 0
    panel.order_type.setCurrentText("SL")
    assert panel.price.isEnabled() and panel.trigger.isEnabled()
    assert panel.trigger.paise() == 1545_00
    panel.order_type.setCurrentText("SL-M")
    assert not panel.price.isEnabled() and panel.trigger.isEnabled()
    request = panel.build_request()
    assert request.order_type is OrderType.SL_M and request.price == 0 and request.trigger_price == 1545_00


def test_enter_sends_the_order_through_the_service(panel, ctx, broker, qtbot, event_loop_qt, make_tick):
    ctx.market.apply_ticks({NIFTY_FUT: make_tick(NIFTY_FUT, 25_550_00)})
    panel.open_order(Side.BUY, NIFTY_FUT)
    panel.lots.setValue(2)
    panel.product.setCurrentText("NRML")
    with qtbot.waitSignal(panel.close_requested):
        qtbot.keyClick(panel.lots, Qt.Key_Return)
    qtbot.waitUntil(lambda: panel.last_task.done(), timeout=5000)
    [sent] = broker.order_book()
    assert (sent.instrument_key, sent.side, sent.quantity, sent.price) == (NIFTY_FUT, Side.BUY, 130, 25_550_05)
    assert sent.product is Product.NRML and sent.order_type is OrderType.LIMIT and sent.validity is Validity.DAY
    assert sent.account == ctx.account
    assert sent.status is not OrderStatus.REJECTED, sent.status_message
    assert any("Sent" in m.text for m in ctx.messages.messages())


def test_typed_lots_count_when_enter_follows_at_once(panel, broker, qtbot, event_loop_qt):
    panel.open_order(Side.SELL, RELIANCE, price=1545_00)
    qtbot.keyClicks(panel.lots, "7")
    qtbot.keyClick(panel.lots, Qt.Key_Return)
    qtbot.waitUntil(lambda: panel.last_task is not None and panel.last_task.done(), timeout=5000)
    [sent] = broker.order_book()
    assert sent.quantity == 7 and sent.side is Side.SELL and sent.status is not OrderStatus.REJECTED


def test_problems_are_shown_inline_and_block_sending(panel, broker, qtbot, event_loop_qt):
    panel.open_order(Side.BUY, RELIANCE, price=1545_03)
    assert "not a multiple of the tick size" in panel.problems_label.text()
    panel.product.setCurrentText("CNC")
    assert not panel.submit()
    assert panel.last_task is None and broker.order_book() == []
    assert panel.focusWidget() is panel.price
    panel.price.set_paise(1545_05)
    assert panel.problems_label.text() == ""


def test_index_cannot_be_traded(panel):
    panel.open_order(Side.BUY, "NSE:26000", price=25_500_00)
    assert "index" in panel.problems_label.text()
    assert not panel.submit()


def test_escape_emits_close_requested(panel, qtbot):
    panel.open_order(Side.BUY, RELIANCE, price=1545_00)
    with qtbot.waitSignal(panel.close_requested):
        qtbot.keyClick(panel.price, Qt.Key_Escape)


def test_search_picks_instrument_when_opened_without_one(panel, qtbot, ctx):
    panel.open_order(Side.BUY, None)
    assert panel.focusWidget() is panel.search
    qtbot.keyClicks(panel.search, "reliance")
    qtbot.keyClick(panel.search, Qt.Key_Return)
    assert panel.instrument.key == RELIANCE
    assert panel.focusWidget() is panel.lots


def test_modify_locks_side_and_sends_a_modification(panel, ctx, broker, qtbot, run_async):
    best_bid = broker.quotes([NIFTY_FUT])[0].best_bid
    price = round_to_tick(best_bid * 102 // 100, 5)  # 2% above the bid: inside the ±10% band, rests
    request = OrderRequest(ctx.account, NIFTY_FUT, Side.SELL, 130, OrderType.LIMIT, Product.NRML, price=price)
    outcome = run_async(ctx.orders.place(request))[0]
    order = next(o for o in broker.order_book() if o.order_id == outcome.order_id)
    assert order.status is OrderStatus.OPEN
    panel.open_modify(order)
    assert panel.mode_label.text() == "MODIFY SELL"
    assert not panel.buy_button.isEnabled() and not panel.search.isVisible()
    assert panel.lots.value() == 2 and panel.price.paise() == price
    panel.toggle_side()
    assert panel.side is Side.SELL
    panel.price.setFocus()
    qtbot.keyClick(panel.price, Qt.Key_Down)
    qtbot.keyClick(panel.price, Qt.Key_Enter)
    qtbot.waitUntil(lambda: panel.last_task.done(), timeout=5000)
    assert panel.last_task.result() is True
    [modified] = broker.order_book()
    assert modified.order_id == order.order_id and modified.status is OrderStatus.OPEN
    assert modified.price == price - 5 and modified.quantity == 130 and modified.side is Side.SELL
    assert panel.modifying is None


def test_screenshot(qtbot, ctx, make_tick, shots, dark_theme):
    ctx.market.apply_ticks({NIFTY_FUT: make_tick(NIFTY_FUT, 25_550_00, 25_500_00)})
    for side in (Side.BUY, Side.SELL):
        panel = OrderEntryPanel(ctx)
        qtbot.addWidget(panel)
        panel.resize(440, 260)
        panel.show()
        panel.open_order(side, NIFTY_FUT, quantity=130)
        if side is Side.SELL:
            panel.order_type.setCurrentText("SL")
            panel.trigger.set_paise(25_560_03)
        qtbot.wait(20)  # let the layouts settle, as they would on screen
        panel.grab().save(str(shots / f"order_entry_{side.value.lower()}.png"))


def test_enter_places_at_the_paper_broker_and_the_order_book_shows_it(qtbot, ctx, run_async):
    from terminal.ui.panels.order_book import OrderBookPanel

    entry = OrderEntryPanel(ctx)
    book = OrderBookPanel(ctx)
    for widget in (entry, book):
        qtbot.addWidget(widget)
        widget.show()
    ltp = ctx.orders.broker.quotes([RELIANCE])[0].ltp
    price = round_to_tick(ltp * 95 // 100, 5)  # 5% below: inside the band, stays open
    entry.open_order(Side.BUY, RELIANCE, price=price)
    qtbot.keyClick(entry.lots, Qt.Key_Return)
    outcomes = run_async(entry.last_task)
    assert outcomes and outcomes[0].accepted, ctx.messages.messages()[-1].text
    run_async(ctx.session.refresh_orders())
    rows = [book.open_model.item(r) for r in range(len(book.open_model))]
    assert [(o.order_id, o.price, o.side) for o in rows] == [(outcomes[0].order_id, price, Side.BUY)]


def test_a_price_outside_the_band_is_rejected_by_the_exchange_with_its_reason(qtbot, ctx, broker, run_async):
    from terminal.ui.panels.order_book import OrderBookPanel

    entry, book = OrderEntryPanel(ctx), OrderBookPanel(ctx)
    for widget in (entry, book):
        qtbot.addWidget(widget)
        widget.show()
    ltp = broker.quotes([RELIANCE])[0].ltp
    entry.open_order(Side.BUY, RELIANCE, price=round_to_tick(ltp * 120 // 100, 5))  # band is LTP ± 10%
    qtbot.keyClick(entry.lots, Qt.Key_Return)
    [outcome] = run_async(entry.last_task)
    assert not outcome.accepted and "outside the price band" in outcome.message
    error = ctx.messages.messages()[-1]
    assert error.text.startswith("Rejected: BUY 1 Reliance Industries") and "outside the price band" in error.text
    assert "band" in error.hint
    [rejected] = broker.order_book()
    assert rejected.status is OrderStatus.REJECTED
    run_async(ctx.session.refresh_orders())
    assert len(book.open_model) == 0
    completed = book.completed_model
    columns = [c.header for c in completed.columns]
    assert completed.data(completed.index(0, columns.index("Status"))) == "REJECTED"
    assert "outside the price band" in completed.data(completed.index(0, columns.index("Reason")))


# --- what a broker adds: charge estimate, market protection notice, GTT (their sandboxes) -----------
@pytest.fixture
def angel_ctx(qtbot, run_async, tmp_path):
    """The terminal's context over an AngelOneBroker logged in to the SmartAPI sandbox."""
    from terminal.app import create_broker, create_context, shutdown, start_session
    from terminal.sim.servers.smartapi import SmartApiSandbox
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings

    server = SmartApiSandbox(seed=5)
    broker = create_broker("angelone", Settings(tmp_path / "s.json"), sandbox=server.start())
    context = create_context(broker, Settings(tmp_path / "settings.json"), OrderJournal(tmp_path / "j.db"))
    try:
        assert run_async(start_session(context), timeout_ms=30_000)
        yield context
    finally:
        shutdown(context)
        server.stop()


def _entry(qtbot, context):
    entry = OrderEntryPanel(context)
    qtbot.addWidget(entry)
    entry.show()
    return entry


def _next_estimate(qtbot, run_async, entry):
    """Wait for the debounced estimate to start, then for the broker's answer."""
    qtbot.waitUntil(lambda: entry.charges_task is not None, timeout=3000)
    result = run_async(entry.charges_task, timeout_ms=15_000)
    entry.charges_task = None
    return result


def test_paper_broker_shows_no_charges_notice_or_gtt(panel):
    panel.open_order(Side.BUY, RELIANCE, price=1545_10)
    panel.order_type.setCurrentText(OrderType.MARKET.value)
    assert not panel.charges_label.isVisible() and not panel.gtt_button.isVisible()
    assert not panel.protection_label.isVisible()
    assert panel.charges_task is None


def test_charges_are_estimated_by_the_broker_once_the_form_rests(qtbot, run_async, angel_ctx):
    entry = _entry(qtbot, angel_ctx)
    broker = angel_ctx.session.broker
    calls = []
    real = broker.estimate_charges

    def counting(requests_):
        calls.append(requests_[0].quantity)
        return real(requests_)

    broker.estimate_charges = counting
    ltp = broker.quotes([RELIANCE])[0].ltp
    price = round_to_tick(ltp, 5)
    entry.open_order(Side.BUY, RELIANCE, price=price)
    for lots in (2, 20, 200, 25):  # typed quickly: one estimate, for the last value
        entry.lots.setValue(lots)
    assert entry.charges_label.isVisible() and entry.charges_label.text() == "…"
    assert _next_estimate(qtbot, run_async, entry) is True
    assert calls == [25]
    expected = real([entry.build_request()])
    assert entry.charges_label.text() == f"≈ {format_value(expected.total)}"
    assert "Brokerage" in entry.charges_label.toolTip()
    entry.price.set_paise(0)  # a problem: no estimate, and no stale figure
    assert entry.charges_label.text() == "—"


def test_a_failed_estimate_says_so_and_the_order_can_still_go(qtbot, run_async, angel_ctx):
    from terminal.brokers.base import BrokerError

    entry = _entry(qtbot, angel_ctx)
    broker = angel_ctx.session.broker

    def refuse(_requests):
        raise BrokerError("Access denied because of exceeding access rate")

    broker.estimate_charges = refuse
    entry.open_order(Side.BUY, RELIANCE, price=round_to_tick(broker.quotes([RELIANCE])[0].ltp, 5))
    assert _next_estimate(qtbot, run_async, entry) is False
    assert entry.charges_label.text() == "not available"
    assert "access rate" in entry.charges_label.toolTip()
    assert entry.problems() == []


def test_gtt_button_hands_the_form_to_the_gtt_panel(qtbot, run_async, angel_ctx):
    from terminal.ui.panels.gtt_orders import GttOrdersPanel

    entry = _entry(qtbot, angel_ctx)
    gtt = GttOrdersPanel(angel_ctx)
    qtbot.addWidget(gtt)
    entry.gtt_requested.connect(gtt.prefill)
    assert entry.gtt_button.isVisible()
    ltp = angel_ctx.session.broker.quotes([RELIANCE])[0].ltp
    price = round_to_tick(ltp * 95 // 100, 5)
    entry.open_order(Side.SELL, RELIANCE, quantity=4, price=price)
    entry._select(entry.product, Product.CNC.value)
    with qtbot.waitSignal(entry.gtt_requested, timeout=1000) as asked:
        qtbot.mouseClick(entry.gtt_button, Qt.LeftButton)
    assert asked.args[0].instrument_key == RELIANCE
    assert gtt.instrument.key == RELIANCE and gtt.side.currentText() == "SELL"
    assert (gtt.quantity.value(), gtt.price.paise(), gtt.trigger.paise()) == (4, price, price)


def test_flattrade_market_orders_carry_a_protection_notice(qtbot, tmp_path):
    import socket

    from terminal.app import create_broker, create_context, shutdown
    from terminal.sim.servers.noren import NorenSandbox
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = NorenSandbox(redirect_port=port, step_interval=0.05, seed=5).start()
    try:
        broker = create_broker("flattrade", Settings(tmp_path / "s.json"), sandbox=server.info())
        context = create_context(broker, Settings(tmp_path / "settings.json"), OrderJournal(tmp_path / "j.db"))
        try:
            entry = _entry(qtbot, context)
            percent = broker.config.market_protection_percent
            for order_type, shown in ((OrderType.LIMIT, False), (OrderType.MARKET, True), (OrderType.SL, False),
                                      (OrderType.SL_M, True)):
                entry.order_type.setCurrentText(order_type.value)
                assert entry.protection_label.isVisible() is shown, order_type
            assert entry.protection_label.text() == (
                f"Market orders go out as limit orders {percent:g}% through the LTP (Flattrade API)")
        finally:
            shutdown(context)
    finally:
        server.stop()
