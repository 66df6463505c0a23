"""Strategy builder: an iron condor from the template, placed hedge first at the paper broker;
a failed leg stops the basket, shows what went through, and unwinds it."""

from __future__ import annotations

import threading

import pytest

from terminal.brokers.base import OrderRejectedError
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import Side
from terminal.services.basket import StrategyGroups, strategy_group_mtm
from terminal.ui.panels.strategy_builder import StrategyBuilderPanel


class RecordingBroker(PaperBroker):
    """The PaperBroker with a log of every place_order call, and an optional rejection at the edge.

    ``reject(request)`` returns a reason to refuse that order as a broker would, or None.
    """

    def __init__(self, reject=None, **kwargs):
        super().__init__(**kwargs)
        self.reject = reject
        self.calls: list[tuple[str, Side, str, str]] = []  # (event, side, key, order id or reason)
        self._calls_lock = threading.Lock()

    def _log(self, *entry) -> None:
        with self._calls_lock:
            self.calls.append(entry)

    def place_order(self, request):
        self._log("start", request.side, request.instrument_key, "")
        reason = self.reject(request) if self.reject else None
        if reason:
            self._log("rejected", request.side, request.instrument_key, reason)
            raise OrderRejectedError(reason)
        order_id = super().place_order(request)
        self._log("accepted", request.side, request.instrument_key, order_id)
        return order_id


def make_context(broker, tmp_path):
    from terminal.domain.catalog import InstrumentCatalog
    from terminal.services.account_session import AccountSession
    from terminal.services.background import BackgroundRunner
    from terminal.services.market_store import MarketStore
    from terminal.services.messages import MessageLog
    from terminal.services.order_service import OrderService
    from terminal.services.portfolio_store import PortfolioStore
    from terminal.storage.journal import OrderJournal
    from terminal.storage.settings import Settings
    from terminal.ui.context import TerminalContext

    broker.login()
    market = MarketStore(InstrumentCatalog(broker.instruments()))
    portfolio, messages, runner = PortfolioStore(), MessageLog(), BackgroundRunner(workers=4)
    journal = OrderJournal(tmp_path / "journal.sqlite")
    ctx = TerminalContext(market, portfolio, messages, OrderService(broker, market, journal, runner, messages),
                          AccountSession(broker, market, portfolio, runner, messages),
                          Settings(tmp_path / "settings.json"), runner)
    return ctx, runner, journal


@pytest.fixture
def builder_for(qapp, qtbot, tmp_path):
    made = []

    def build(broker):
        ctx, runner, journal = make_context(broker, tmp_path)
        made.append((runner, journal))
        panel = StrategyBuilderPanel(ctx)
        qtbot.addWidget(panel)
        panel.resize(1300, 520)
        panel.show()
        quote(ctx, panel)
        return ctx, panel

    yield build
    for runner, journal in made:
        runner.shutdown()
        journal.close()


def quote(ctx, panel) -> None:
    """Step the simulated exchange and bring the builder's chain quotes into the market store."""
    broker = ctx.orders.broker
    keys = list(panel.chain._subscribed)
    broker.exchange.step(keys=keys)
    ctx.market.apply_ticks({t.key: t for t in broker.quotes(keys)})
    panel.chain.recompute()


def test_iron_condor_from_the_template_shows_a_bounded_credit(builder_for):
    ctx, panel = builder_for(RecordingBroker(seed=3))
    panel.template_box.setCurrentText("Iron condor")
    assert panel.build_from_template()
    legs = panel.strategy_legs()
    assert [(leg.side, leg.option_type.value) for leg in legs] == [
        (Side.BUY, "PE"), (Side.SELL, "PE"), (Side.SELL, "CE"), (Side.BUY, "CE")]
    strikes = [leg.strike for leg in legs]
    assert strikes == sorted(strikes) and len(set(strikes)) == 4
    assert panel.summary["premium"].text().endswith("credit")
    assert "Unlimited" not in panel.summary["max_loss"].text()
    assert len(panel.summary["breakevens"].text().split(" / ")) == 2  # two breakevens
    xs, ys = panel.expiry_curve.getData()
    assert len(xs) > 100 and ys.max() > 0 > ys.min()
    assert panel.today_curve.getData()[0] is not None and len(panel.today_curve.getData()[0]) == len(xs)


def test_delta_picks_wider_strikes_for_a_smaller_delta(builder_for):
    ctx, panel = builder_for(RecordingBroker(seed=3))
    panel.template_box.setCurrentText("Short strangle")
    panel.pick_box.setCurrentIndex(1)
    widths = []
    for target in (0.35, 0.10):
        panel.delta_box.setValue(target)
        assert panel.build_from_template()
        call = next(leg for leg in panel.strategy_legs() if leg.is_call)
        widths.append(call.strike)
    assert widths[1] > widths[0]


def test_placing_sends_no_sell_before_every_buy_is_accepted(builder_for, run_async):
    broker = RecordingBroker(seed=3)
    ctx, panel = builder_for(broker)
    panel.template_box.setCurrentText("Iron condor")
    assert panel.build_from_template()
    result = run_async(panel.place_basket("NIFTY condor"))
    assert result is not None and result.complete, ctx.messages.messages()[-1].text
    starts = [i for i, c in enumerate(broker.calls) if c[0] == "start"]
    buys_accepted = [i for i, c in enumerate(broker.calls) if c[0] == "accepted" and c[1] is Side.BUY]
    first_sell = min(i for i in starts if broker.calls[i][1] is Side.SELL)
    assert len(buys_accepted) == 2 and max(buys_accepted) < first_sell
    # The exchange's own order numbers tell the same story.
    orders = broker.exchange.orders(broker.account)
    buy_ids = [o.order_id for o in orders if o.side is Side.BUY]
    sell_ids = [o.order_id for o in orders if o.side is Side.SELL]
    assert len(buy_ids) == len(sell_ids) == 2 and max(buy_ids) < min(sell_ids)
    # Saved as a strategy group whose MTM comes from the positions.
    legs = StrategyGroups(ctx.settings).legs("NIFTY condor")
    assert sorted(leg.quantity for leg in legs) == [-65, -65, 65, 65]
    run_async(ctx.session.refresh_portfolio())
    positions = {p.instrument_key: p for p in ctx.portfolio.positions()}
    assert {leg.instrument_key for leg in legs} <= positions.keys()
    expected = sum(positions[leg.instrument_key].total_pnl(ctx.market.ltp(leg.instrument_key)) for leg in legs)
    assert strategy_group_mtm(ctx, "NIFTY condor") == expected
    assert panel.placed and all(leg.entry for leg in panel.legs)


def test_a_rejected_buy_leg_sends_no_sell_at_all(builder_for, run_async):
    def refuse_put_wing(request):
        return "RMS: insufficient funds" if request.side is Side.BUY and request.instrument_key == wing else None

    broker = RecordingBroker(reject=refuse_put_wing, seed=3)
    ctx, panel = builder_for(broker)
    assert panel.build_from_template()
    wing = panel.legs[0].key  # the long put
    result = run_async(panel.place_basket("refused"))
    assert not result.complete
    assert not [c for c in broker.calls if c[1] is Side.SELL]
    assert [leg.status for leg in result.legs if leg.request.side is Side.SELL] == ["not sent", "not sent"]
    assert "insufficient funds" in panel.status_label.text() and panel.unwind_button.isVisibleTo(panel)
    assert "refused" not in StrategyGroups(ctx.settings).names()


def test_a_failed_sell_leg_shows_what_went_through_and_unwinds_it(builder_for, run_async):
    def refuse_short_call(request):
        if request.side is Side.SELL and request.instrument_key == short_call:
            return "Margin exceeds: required 1,20,000.00 available 80,000.00"
        return None

    broker = RecordingBroker(reject=refuse_short_call, seed=3)
    ctx, panel = builder_for(broker)
    assert panel.build_from_template()
    short_call = panel.legs[2].key
    result = run_async(panel.place_basket("half"))
    assert not result.complete
    statuses = {leg.request.instrument_key: leg.status for leg in result.legs}
    assert statuses[short_call].startswith("rejected") and "Margin exceeds" in statuses[short_call]
    assert len(result.at_broker) == 3  # two wings and the short put went through
    text = panel.status_label.text()
    assert "Basket stopped" in text and text.count("filled ") == 3 and "Margin exceeds" in text
    run_async(ctx.session.refresh_portfolio())
    assert sum(1 for p in ctx.portfolio.positions() if p.net_quantity) == 3

    done = run_async(panel.unwind())
    assert done.closing is not None and done.closing.complete
    # Unwinding is hedge first too: the short put is bought back before the wings are sold.
    closing_sides = [c[1] for c in broker.calls if c[0] == "start"][-3:]
    assert closing_sides == [Side.BUY, Side.SELL, Side.SELL]
    positions = broker.positions()
    assert all(p.net_quantity == 0 for p in positions if p.instrument_key in {leg.key for leg in panel.legs})
    assert not panel.unwind_button.isVisibleTo(panel)


def test_adding_legs_from_the_chain(builder_for, qtbot):
    ctx, panel = builder_for(RecordingBroker(seed=3))
    chain = panel.chain
    atm = chain.atm_row()
    call, put = chain.key(atm, 0), chain.key(atm, 1)
    assert panel.add_leg(Side.SELL, call) and panel.add_leg(Side.SELL, put)
    assert panel.add_leg(Side.SELL, call)  # the same leg again adds a lot
    assert [(leg.side, leg.lots) for leg in panel.legs] == [(Side.SELL, 2), (Side.SELL, 1)]
    assert "Unlimited" in panel.summary["max_loss"].text()
    other = next(i for i in ctx.market.catalog.all() if i.is_option and i.underlying == "BANKNIFTY")
    assert not panel.add_leg(Side.BUY, other.key)
    assert "one underlying" in ctx.messages.messages()[-1].text
    qtbot.keyClick(panel.table, "-")  # no row selected: nothing happens
    panel.table.select_row(0)
    from PySide6.QtCore import Qt
    qtbot.keyClick(panel.table, Qt.Key_Delete)
    assert [(leg.key, leg.lots) for leg in panel.legs] == [(put, 1)]


def test_builder_screenshot(builder_for, dark_theme, shots, qtbot):
    ctx, panel = builder_for(RecordingBroker(seed=3))
    assert panel.build_from_template()
    panel.resize(1300, 520)
    qtbot.wait(10)
    assert panel.grab().save(str(shots / "strategy_builder.png"))


def test_a_placed_condor_is_one_strategy_group_in_positions(builder_for, run_async, qtbot):
    from PySide6.QtCore import Qt

    from terminal.ui.panels.positions import PositionsPanel

    broker = RecordingBroker(seed=3)
    ctx, builder = builder_for(broker)
    positions = PositionsPanel(ctx)
    qtbot.addWidget(positions)
    positions.show()
    assert not positions.strategies.isVisibleTo(positions)  # no group yet: no strategies list
    builder.template_box.setCurrentText("Iron condor")
    assert builder.build_from_template()
    assert run_async(builder.place_basket("NIFTY condor")).complete
    run_async(ctx.session.refresh_portfolio())

    assert positions.strategies.isVisibleTo(positions)
    assert [g.name for g in positions.strategy_model.rows()] == ["NIFTY condor"]
    group = positions.strategy_model.item(0)
    assert group.open_legs == 4
    assert positions.strategy_model.cells(0)[1].text == "4 open of 4"
    strategy_column = [c.header for c in positions.model.columns].index("Strategy")
    legs = {leg.instrument_key for leg in group.legs}
    for row, position in enumerate(positions.model.rows()):
        in_group = position.instrument_key in legs
        assert (positions.model.cells(row)[strategy_column].text == "NIFTY condor") == in_group
    assert positions.strategy_mtm(group) == strategy_group_mtm(ctx, "NIFTY condor")

    # The group's MTM moves with the market.
    before = positions.strategy_model.cells(0)[2].text
    for _ in range(40):
        broker.exchange.step(keys=sorted(legs))
        ctx.market.apply_ticks({t.key: t for t in broker.quotes(sorted(legs))})
        if positions.strategy_model.cells(0)[2].text != before:
            break
    assert positions.strategy_model.cells(0)[2].text != before
    assert positions.strategy_mtm(group) == strategy_group_mtm(ctx, "NIFTY condor")

    # Exit from the keyboard: the two shorts are bought back before the two wings are sold.
    positions.confirm = lambda title, text: True
    ctx.settings.set("confirm", {"square_off": True})
    sent_before = len(broker.calls)
    positions.strategy_table.setFocus()
    positions.strategy_table.select_row(0)
    qtbot.keyClick(positions.strategy_table, Qt.Key_Delete)
    first = positions.last_task
    qtbot.keyClick(positions.strategy_table, Qt.Key_Delete)  # pressed again before the fills show: nothing sent
    assert positions.last_task is first and "already being closed" in ctx.messages.messages()[-1].text
    qtbot.waitUntil(lambda: positions.last_task is not None and positions.last_task.done(), timeout=10_000)
    exits = [c for c in broker.calls[sent_before:] if c[0] in ("start", "accepted")]
    starts = [c[1] for c in exits if c[0] == "start"]
    assert sorted(starts) == sorted([Side.BUY, Side.BUY, Side.SELL, Side.SELL])
    first_sell = next(i for i, c in enumerate(exits) if c[0] == "start" and c[1] is Side.SELL)
    assert sum(1 for c in exits[:first_sell] if c[0] == "accepted" and c[1] is Side.BUY) == 2
    run_async(ctx.session.refresh_portfolio())
    assert not positions._closing  # the fills showed: a new exit may go out
    group = positions.strategy_model.item(0)
    assert group.open_legs == 0 and positions.strategy_model.cells(0)[1].text == "0 open of 4"
    booked = sum(p.realised_pnl for p in ctx.portfolio.positions() if p.instrument_key in legs)
    assert positions.strategy_mtm(group) == booked  # an exited strategy keeps its booked P&L

    # Forgetting the group removes it from the list (and from the settings), positions stay.
    positions.strategy_table.select_row(0)
    positions.forget_strategy_button.click()
    assert not len(positions.strategy_model) and "NIFTY condor" not in StrategyGroups(ctx.settings).names()
    assert not positions.strategies.isVisibleTo(positions)
