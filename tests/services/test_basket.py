"""Baskets hedge first at the paper broker: order of sending, freeze slicing, partial acceptance,
strategy groups and their MTM."""

from __future__ import annotations

import asyncio
import threading

import pytest

from terminal.brokers.base import OrderRejectedError
from terminal.brokers.paper.broker import PaperBroker
from terminal.domain import OrderRequest, OrderType, Position, Product, Side
from terminal.domain.catalog import InstrumentCatalog
from terminal.services.background import BackgroundRunner
from terminal.services.basket import (
    GroupLeg, StrategyGroups, accepted_units, claimants, group_exit_requests, group_legs, group_mtm, place_basket,
)
from terminal.services.market_store import MarketStore
from terminal.services.messages import MessageLog
from terminal.services.order_service import OrderService
from terminal.storage.journal import OrderJournal
from terminal.storage.settings import Settings


class GateBroker(PaperBroker):
    """Logs every place_order; ``reject(request)`` may refuse one as a broker would (the edge)."""

    def __init__(self, reject=None, **kwargs):
        super().__init__(**kwargs)
        self.reject = reject
        self.calls: list[tuple[str, Side, int]] = []
        self._lock_calls = threading.Lock()

    def place_order(self, request):
        with self._lock_calls:
            self.calls.append(("start", request.side, request.quantity))
        reason = self.reject(request) if self.reject else None
        if reason:
            raise OrderRejectedError(reason)
        order_id = super().place_order(request)
        with self._lock_calls:
            self.calls.append(("accepted", request.side, request.quantity))
        return order_id


@pytest.fixture
def service(tmp_path):
    made = []

    def make(broker):
        broker.login()
        market = MarketStore(InstrumentCatalog(broker.instruments()))
        journal = OrderJournal(tmp_path / "journal.sqlite3")
        runner = BackgroundRunner(workers=4)
        made.append((runner, journal))
        return OrderService(broker, market, journal, runner, MessageLog()), market

    yield make
    for runner, journal in made:
        runner.shutdown()
        journal.close()


def nifty_options(market):
    """(call, put) instruments two strikes either side of the middle of the nearest chain, and the ATM pair."""
    expiry = market.catalog.expiries("NIFTY")[0]
    rows = market.catalog.option_chain("NIFTY", expiry)
    mid = len(rows) // 2
    return rows[mid - 2][2], rows[mid][2], rows[mid][1], rows[mid + 2][1]  # wing put, short put, short call, wing call


def request(broker, instrument, side, lots):
    quote = broker.quotes([instrument.key])[0]
    price = quote.best_ask if side is Side.BUY else quote.best_bid
    return OrderRequest(broker.account, instrument.key, side, lots * instrument.lot_size, OrderType.LIMIT,
                        Product.NRML, price=price)


def test_buys_go_first_and_a_leg_above_the_freeze_is_sliced(service):
    broker = GateBroker(seed=5)
    orders, market = service(broker)
    wing_put, short_put, short_call, wing_call = nifty_options(market)
    # 30 lots of 65 = 1,950 units: above NIFTY's freeze of 1,800, so two orders of 15 lots.
    legs = [request(broker, short_put, Side.SELL, 1), request(broker, wing_put, Side.BUY, 30),
            request(broker, short_call, Side.SELL, 1), request(broker, wing_call, Side.BUY, 1)]
    result = asyncio.run(place_basket(orders, legs))
    assert result.complete, [leg.status for leg in result.legs]
    assert [leg.request.side for leg in result.legs] == [Side.BUY, Side.BUY, Side.SELL, Side.SELL]
    assert len(result.legs[0].outcomes) == 2 and len(result.legs[0].order_ids) == 2
    starts = [i for i, c in enumerate(broker.calls) if c[0] == "start"]
    accepted_buys = [i for i, c in enumerate(broker.calls) if c[0] == "accepted" and c[1] is Side.BUY]
    first_sell = min(i for i in starts if broker.calls[i][1] is Side.SELL)
    assert len(accepted_buys) == 3 and max(accepted_buys) < first_sell  # both slices, then the other buy
    assert sorted(c[2] for c in broker.calls if c[0] == "start" and c[1] is Side.BUY) == [65, 975, 975]
    legs_of_group = group_legs(result, market.instrument)
    assert sorted(leg.quantity for leg in legs_of_group) == [-65, -65, 65, 1950]


def test_a_partly_accepted_leg_counts_only_its_accepted_slices(service):
    seen = []

    def refuse_second_slice(req):
        seen.append(req.quantity)
        return "Freeze quantity exceeded" if req.side is Side.BUY and len(seen) == 2 else None

    broker = GateBroker(reject=refuse_second_slice, seed=5)
    orders, market = service(broker)
    wing_put, short_put, _, _ = nifty_options(market)
    result = asyncio.run(place_basket(orders, [request(broker, wing_put, Side.BUY, 30),
                                               request(broker, short_put, Side.SELL, 1)]))
    assert not result.complete
    leg = result.legs[0]
    assert len(leg.order_ids) == 1 and "1 of 2 slices accepted" in leg.status
    assert accepted_units(leg, market.instrument(wing_put.key)) == 975
    assert result.legs[1].status == "not sent" and result.held_back == [result.legs[1]]
    assert [g.quantity for g in group_legs(result, market.instrument)] == [975]
    assert not [c for c in broker.calls if c[1] is Side.SELL]


def test_an_empty_basket_is_refused(service):
    orders, _ = service(GateBroker(seed=5))
    with pytest.raises(ValueError):
        asyncio.run(place_basket(orders, []))


def test_group_mtm_from_positions_and_last_prices():
    acct = "paper:SIM001"
    positions = [
        Position(acct, "NFO:1", "A", Product.NRML, net_quantity=65, average_price=10_00, realised_pnl=5_00),
        Position(acct, "NFO:2", "B", Product.NRML, net_quantity=-130, average_price=20_00),
        Position(acct, "NFO:3", "C", Product.NRML, net_quantity=0, average_price=0, realised_pnl=-3_00),
    ]
    ltp = {"NFO:1": 12_00, "NFO:2": 15_00}.get
    legs = [GroupLeg(acct, "NFO:1", Product.NRML, 65),  # the whole position: realised + unrealised
            GroupLeg(acct, "NFO:2", Product.NRML, -65),  # half of a shared short: its own units only
            GroupLeg(acct, "NFO:4", Product.NRML, 65)]  # no position: nothing
    shared = lambda leg: leg.instrument_key == "NFO:2"  # noqa: E731 (another group holds the rest)
    assert group_mtm(legs, positions, ltp, shared) == (5_00 + 2_00 * 65) + (15_00 - 20_00) * -65
    closed = [GroupLeg(acct, "NFO:3", Product.NRML, 0)]
    assert group_mtm(closed, positions, ltp) == -3_00  # flat: what was booked


def test_a_leg_partly_closed_by_hand_keeps_its_booked_pnl_and_sign():
    """Sold 100 at 100, bought 50 back at 60 (+2,000 booked), LTP 120: the position stands at +1,000."""
    acct = "paper:SIM001"
    position = Position(acct, "NFO:1", "A", Product.NRML, net_quantity=-50, average_price=100_00,
                        realised_pnl=2_000_00)
    leg = GroupLeg(acct, "NFO:1", Product.NRML, -100)
    assert group_mtm([leg], [position], {"NFO:1": 120_00}.get) == 1_000_00 == position.total_pnl(120_00)
    # Shared with another group: only this group's open units (at most the 50 left), from the average.
    assert group_mtm([leg], [position], {"NFO:1": 120_00}.get, lambda g: True) == (120_00 - 100_00) * -50



def test_an_exited_group_keeps_its_booked_pnl_unless_another_group_shares_the_position():
    acct = "paper:SIM001"
    flat = [Position(acct, "NFO:1", "A", Product.NRML, net_quantity=0, realised_pnl=7_00)]
    leg = GroupLeg(acct, "NFO:1", Product.NRML, -65)
    assert group_mtm([leg], flat, {}.get) == 7_00
    claims = claimants({"condor": [leg], "straddle": [GroupLeg(acct, "NFO:1", Product.NRML, -65)]})
    assert claims == {(acct, "NFO:1", Product.NRML): {"condor", "straddle"}}
    shared = lambda g: len(claims[g.position_key]) > 1  # noqa: E731
    assert group_mtm([leg], flat, {}.get, shared=shared) == 0  # whose booked P&L is it? nobody claims it alone


def test_exiting_a_group_closes_only_its_own_open_units():
    acct = "paper:SIM001"
    positions = [
        Position(acct, "NFO:1", "A", Product.NRML, net_quantity=130, average_price=10_00),  # shared with a manual buy
        Position(acct, "NFO:2", "B", Product.NRML, net_quantity=-30, average_price=20_00),  # partly closed by hand
        Position(acct, "NFO:3", "C", Product.NRML, net_quantity=0),  # closed by hand
        Position(acct, "NFO:4", "D", Product.NRML, net_quantity=65, average_price=5_00),  # turned the other way
    ]
    legs = [GroupLeg(acct, "NFO:1", Product.NRML, 65), GroupLeg(acct, "NFO:2", Product.NRML, -65),
            GroupLeg(acct, "NFO:3", Product.NRML, -65), GroupLeg(acct, "NFO:4", Product.NRML, -65),
            GroupLeg(acct, "NFO:5", Product.NRML, 65)]  # no position at all
    requests = group_exit_requests(legs, positions)
    assert [(r.instrument_key, r.side, r.quantity, r.order_type, r.product) for r in requests] == [
        ("NFO:1", Side.SELL, 65, OrderType.MARKET, Product.NRML),
        ("NFO:2", Side.BUY, 30, OrderType.MARKET, Product.NRML),
    ]

def test_strategy_groups_persist_in_the_settings(tmp_path):
    settings = Settings(tmp_path / "settings.json")
    groups = StrategyGroups(settings)
    legs = [GroupLeg("paper:SIM001", "NFO:1", Product.NRML, -65), GroupLeg("paper:SIM001", "NFO:2", Product.MIS, 130)]
    groups.save("NIFTY condor", legs)
    assert groups.unique_name("NIFTY condor") == "NIFTY condor (2)"
    settings.flush()
    again = StrategyGroups(Settings(tmp_path / "settings.json"))
    assert again.names() == ["NIFTY condor"] and again.legs("NIFTY condor") == legs
    with pytest.raises(ValueError):
        groups.save(" ", legs)
    with pytest.raises(ValueError):
        groups.save("empty", [])
    assert groups.remove("NIFTY condor") and not groups.remove("NIFTY condor")
    with pytest.raises(KeyError):
        groups.legs("NIFTY condor")
