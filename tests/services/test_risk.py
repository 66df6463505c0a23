"""Pre-trade risk on the simulated exchange: what is refused, what is asked, and that nothing leaks out."""

from dataclasses import replace

import pytest

from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderModification, OrderRequest, OrderType, Position, Product, Side
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.background import BackgroundRunner
from terminal.services.kill_switch import EntryLock
from terminal.services.market_store import MarketStore
from terminal.services.messages import Level, MessageLog
from terminal.services.order_service import OrderService
from terminal.services.portfolio_store import PortfolioStore
from terminal.services.risk import RiskCheck, RiskLimits, day_mtm, is_exit
from terminal.sim.exchange import SimulatedExchange
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings


@pytest.fixture
def desk(tmp_path):
    """A paper account with live quotes in the market store, and an order service over it."""
    broker = PaperBroker(SimulatedExchange(seed=11))
    broker.login()
    catalog = InstrumentCatalog(broker.instruments())
    market = MarketStore(catalog)
    portfolio = PortfolioStore()
    expiry = catalog.expiries("NIFTY")[0]
    rows = catalog.option_chain("NIFTY", expiry)
    option = rows[len(rows) // 2][1]
    future = catalog.futures("NIFTY")[0]
    reliance = catalog.get("NSE:2885")
    market.apply_ticks({t.key: t for t in broker.quotes([option.key, future.key, reliance.key])})
    journal = OrderJournal(tmp_path / "journal.sqlite3")
    messages = MessageLog()
    lock = EntryLock(tmp_path / "lock.json")

    def service(limits=RiskLimits(), **kw):
        risk = RiskCheck(limits, market, portfolio, lock=lock, **kw)
        return OrderService(broker, market, journal, BackgroundRunner(), messages, risk=risk)

    class Desk:
        pass

    d = Desk()
    d.__dict__.update(broker=broker, market=market, portfolio=portfolio, option=option, future=future,
                      reliance=reliance, journal=journal, messages=messages, lock=lock, service=service)
    yield d
    journal.close()


def limit_buy(d, instrument, lots=1, **kw):
    ltp = d.market.ltp(instrument.key)
    fields = dict(account=d.broker.account, instrument_key=instrument.key, side=Side.BUY,
                  quantity=lots * instrument.lot_size, order_type=OrderType.LIMIT,
                  product=Product.NRML if instrument.is_derivative else Product.MIS, price=ltp)
    fields.update(kw)
    return OrderRequest(**fields)


def nothing_went_out(d):
    return d.journal.entries() == [] and d.broker.order_book() == []


def last_error(d):
    return next(m for m in reversed(d.messages.messages()) if m.level is Level.ERROR)


def test_limits_come_from_settings_and_bad_values_fall_back(tmp_path):
    settings = Settings(tmp_path / "s.json")
    settings.set("risk", {"max_order_lots": 5, "price_band_percent": "wide", "block_on_stale_quote": True,
                          "daily_loss_limit_rupees": -3})
    limits = RiskLimits.from_settings(settings)
    assert limits.max_order_lots == 5 and limits.block_on_stale_quote is True
    assert limits.price_band_percent == RiskLimits().price_band_percent
    assert limits.daily_loss_limit_rupees == RiskLimits().daily_loss_limit_rupees
    assert RiskLimits.from_settings(Settings(tmp_path / "none.json")) == RiskLimits()


def test_a_fat_finger_price_is_refused_before_the_journal(desk, run_async):
    service = desk.service()
    ltp = desk.market.ltp(desk.future.key)
    typo = limit_buy(desk, desk.future, price=(ltp * 12 // 10) // 10 * 10)  # 20% above the LTP
    assert run_async(service.place(typo)) == []
    assert nothing_went_out(desk)
    error = last_error(desk)
    assert "fat-finger band 10%" in error.text and "typo" in error.hint


def test_options_have_their_own_wider_band(desk, run_async):
    service = desk.service(RiskLimits(confirm_above_value_rupees=0))
    ltp = desk.market.ltp(desk.option.key)
    inside = limit_buy(desk, desk.option, price=(ltp * 125 // 100) // 5 * 5)  # 25%: fine for an option
    assert run_async(service.place(inside))[0].accepted
    outside = limit_buy(desk, desk.option, price=(ltp * 150 // 100) // 5 * 5)
    assert run_async(service.place(outside)) == []
    assert "fat-finger band 40%" in last_error(desk).text


def test_order_value_and_lot_limits(desk, run_async):
    service = desk.service(RiskLimits(max_order_value_rupees=1_00_000, max_order_lots=3))
    assert run_async(service.place(limit_buy(desk, desk.future))) == []  # one NIFTY lot is > ₹1 lakh
    assert "order value" in last_error(desk).text and "above the limit" in last_error(desk).text
    assert run_async(service.place(limit_buy(desk, desk.option, lots=4))) == []
    assert "4 lots is above the limit of 3 lots" in last_error(desk).text
    assert nothing_went_out(desk)


def test_a_big_order_is_asked_about_and_declining_sends_nothing(desk, run_async):
    service = desk.service(RiskLimits(confirm_above_value_rupees=10_000))
    asked = []

    async def decline(text):
        asked.append(text)
        return False

    service.confirm = decline
    assert run_async(service.place(limit_buy(desk, desk.future))) == []
    assert nothing_went_out(desk)
    assert "order value" in asked[0] and asked[0].endswith("Send it?")

    async def agree(text):
        asked.append(text)
        return True

    service.confirm = agree
    [outcome] = run_async(service.place(limit_buy(desk, desk.future)))
    assert outcome.accepted and len(asked) == 2


def test_open_orders_count_those_at_the_broker_and_those_being_sent(desk, run_async):
    service = desk.service(RiskLimits(max_open_orders=2, confirm_above_value_rupees=0))
    resting = limit_buy(desk, desk.option, price=max(desk.market.ltp(desk.option.key) * 8 // 10 // 5 * 5, 5))
    assert run_async(service.place(resting))[0].accepted
    desk.portfolio.replace_orders(desk.broker.account, desk.broker.order_book())
    risk = service.risk
    assert risk.check(resting, desk.option).allowed
    assert not risk.check(resting, desk.option, in_flight=1).allowed
    assert not risk.check(resting, desk.option, slices=2).allowed
    message = risk.check(resting, desk.option, slices=2).problems[0].message
    assert "1 orders are open or being sent; 2 more would pass the limit of 2" in message


def test_the_daily_loss_limit_refuses_entries_but_not_exits(desk):
    account = desk.broker.account
    ltp = desk.market.ltp(desk.future.key)
    lot = desk.future.lot_size
    losing = Position(account, desk.future.key, desk.future.trading_symbol, Product.NRML, net_quantity=lot,
                      average_price=ltp + 1000_00)  # ₹1,000 a unit under water
    desk.portfolio.replace_positions(account, [losing])
    assert day_mtm([losing], desk.market.ltp) == -1000_00 * lot
    risk = RiskCheck(RiskLimits(daily_loss_limit_rupees=50_000), desk.market, desk.portfolio)
    entry = limit_buy(desk, desk.future)
    exit_ = replace(entry, side=Side.SELL)
    assert is_exit(exit_, [losing]) and not is_exit(entry, [losing])
    verdict = risk.check(entry, desk.future)
    assert not verdict.allowed and "daily loss limit" in verdict.problems[0].message
    assert risk.check(exit_, desk.future).allowed
    bigger_than_position = replace(exit_, quantity=2 * lot)  # would open a short: an entry
    assert not risk.check(bigger_than_position, desk.future).allowed


def test_a_stale_quote_warns_and_asks_by_default(desk, run_async):
    quote = desk.market.tick(desk.reliance.key)
    service = desk.service(clock=lambda: quote.timestamp + 60)
    [outcome] = run_async(service.place(limit_buy(desk, desk.reliance)))  # nobody to ask: sent with a warning
    assert outcome.accepted
    warning = next(m for m in desk.messages.messages() if m.level is Level.WARNING)
    assert "last quote is 60 s old" in warning.text and "stale" in warning.hint

    asked = []

    async def decline(text):
        asked.append(text)
        return False

    service.confirm = decline
    assert run_async(service.place(limit_buy(desk, desk.reliance))) == []
    assert "60 s old" in asked[0] and "Send anyway?" in asked[0]
    assert len(desk.broker.order_book()) == 1


def test_a_stale_quote_blocks_when_configured(desk, run_async):
    quote = desk.market.tick(desk.reliance.key)
    service = desk.service(RiskLimits(block_on_stale_quote=True), clock=lambda: quote.timestamp + 60)
    assert run_async(service.place(limit_buy(desk, desk.reliance))) == []
    assert nothing_went_out(desk) and "60 s old" in last_error(desk).text
    fresh = desk.service(RiskLimits(block_on_stale_quote=True), clock=lambda: quote.timestamp + 2)
    assert run_async(fresh.place(limit_buy(desk, desk.reliance)))[0].accepted


def test_no_quote_at_all_counts_as_stale(desk, run_async):
    desk.market._ticks.clear()  # nothing received yet for any instrument
    service = desk.service(RiskLimits(block_on_stale_quote=True))
    assert run_async(service.place(limit_buy(desk, desk.reliance, price=1400_00))) == []
    assert "no live quote" in last_error(desk).text


def test_the_entry_lock_refuses_entries_and_bigger_modifications(desk, run_async):
    service = desk.service(RiskLimits(confirm_above_value_rupees=0))
    resting = limit_buy(desk, desk.option, price=max(desk.market.ltp(desk.option.key) * 8 // 10 // 5 * 5, 5))
    [outcome] = run_async(service.place(resting))
    desk.lock.lock(desk.broker.account, "kill switch at 10:00 (test)")
    assert run_async(service.place(resting)) == []
    assert "New entries are locked for today: kill switch at 10:00 (test)" in last_error(desk).text
    order = desk.broker.exchange.order(desk.broker.account, outcome.order_id)
    assert not run_async(service.modify(order, OrderModification(quantity=2 * order.quantity)))
    assert run_async(service.modify(order, OrderModification(price=order.price - 5)))
    assert run_async(service.cancel(order))
