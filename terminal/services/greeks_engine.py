"""One expiry of an option chain kept live: quotes by row, and IV and greeks for the whole chain.

``ChainData`` is what the option chain and the strategy builder both read. It subscribes the
chain's options plus the index and the future, maps every tick batch to the rows it touched
(``quotes_changed``, at once), and recomputes the analytics of the whole chain in one
vectorised call at most every ``GREEKS_INTERVAL_MS`` (``greeks_changed``): a batch of 200
options costs well under a millisecond, so this runs on the UI thread without a worker.

``chain_analytics`` is the pure part (numpy only): forward from put-call parity (or the future,
or the spot), Black-76 IV and greeks to the exact 15:30 IST expiry, PCR and max pain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from terminal.analytics.expiry import IST, years_to_expiry
from terminal.analytics.greeks import forward_from_parity, greeks_black76, implied_volatility_black76
from terminal.analytics.strategies import ChainQuote, OptionChain
from terminal.domain import Instrument, InstrumentKey, InstrumentKind, OptionType, Side, Tick

RISK_FREE_RATE = 0.065  # annual; the settings key "risk_free_rate" overrides it
GREEKS_INTERVAL_MS = 250  # at most 4 recomputes a second: the eye cannot follow faster greeks
CALL, PUT = 0, 1  # the side axis of every (2, n) array: row 0 calls, row 1 puts


# --- the pure part ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainAnalytics:
    """Analytics of one expiry. Arrays are (2, strikes): calls then puts; NaN where unknown.

    ``forward`` paise (NaN when nothing is quoted), ``forward_source`` "parity", "future",
    "spot" or "". ``iv`` annual (0.14); ``delta`` w.r.t. the forward; ``gamma`` per rupee of
    the forward; ``theta`` rupees per calendar day; ``vega`` rupees per vol point (all per unit).
    ``price`` is the premium the IV was solved from (mid when both sides quote, else LTP), paise.
    """

    years: float
    forward: float
    forward_source: str
    price: np.ndarray
    iv: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray


def option_premium(tick: Tick | None) -> float:
    """The premium to solve IV from, paise: the mid of a two-sided quote, else the LTP, else NaN.

    The mid, not the LTP: an illiquid strike's last trade can be minutes old while its quote is live.
    """
    if tick is None:
        return math.nan
    bid, ask = tick.best_bid, tick.best_ask
    if bid and ask and ask >= bid:
        return 0.5 * (bid + ask)
    return float(tick.ltp) if tick.ltp > 0 else math.nan


def chain_analytics(strikes: np.ndarray, prices: np.ndarray, years: float, rate: float, *,
                    future: float | None = None, spot: float | None = None, tick: float = 5.0) -> ChainAnalytics:
    """IV and greeks of a whole expiry in one vectorised pass.

    ``strikes`` (n,) paise; ``prices`` (2, n) paise, calls then puts, NaN where not quoted;
    ``years`` to the exact expiry moment; ``future`` the price (paise) of a future expiring with
    the options, if there is one; ``spot`` the index (paise); ``tick`` paise.

    The forward is the one put-call parity implies (what the options themselves price off);
    without a quoted pair, the same-expiry future; without that, spot·e^(rT).
    """
    k = np.asarray(strikes, dtype=float)
    p = np.asarray(prices, dtype=float)
    forward = forward_from_parity(p[CALL], p[PUT], k, years, rate) if years > 0 else math.nan
    source = "parity"
    if not math.isfinite(forward) and future:
        forward, source = float(future), "future"
    if not math.isfinite(forward) and spot:
        forward, source = float(spot) * math.exp(rate * years), "spot"
    if not math.isfinite(forward):
        source = ""
    calls = np.array([[True], [False]])
    iv = implied_volatility_black76(p, forward, k, years, rate, calls, tick=tick)
    g = greeks_black76(forward, k, years, rate, iv, calls)
    return ChainAnalytics(years, forward, source, p, iv, g.delta, g.gamma * 100.0, g.theta / 100.0,
                          g.vega / 100.0)


def put_call_ratio(call_oi: np.ndarray, put_oi: np.ndarray) -> float:
    """Put open interest over call open interest for the expiry (NaN when no call OI)."""
    calls = float(np.nansum(call_oi))
    return float(np.nansum(put_oi)) / calls if calls > 0 else math.nan


def max_pain(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> int | None:
    """The strike (paise) at which option holders' total payout at expiry is least, or None.

    For each candidate expiry price S (every strike): sum of call OI·max(S-K, 0) and put
    OI·max(K-S, 0). On a tie the lowest strike wins.
    """
    k = np.asarray(strikes, dtype=float)
    c = np.nan_to_num(np.asarray(call_oi, dtype=float))
    p = np.nan_to_num(np.asarray(put_oi, dtype=float))
    if k.size == 0 or (c.sum() + p.sum()) <= 0:
        return None
    s = k[:, None]  # candidate settlement prices down, strikes across
    payout = (np.maximum(s - k, 0.0) * c).sum(axis=1) + (np.maximum(k - s, 0.0) * p).sum(axis=1)
    return int(k[int(np.argmin(payout))])


def nearest_strike(strikes: Sequence[int], price: float) -> int | None:
    """The listed strike nearest ``price`` (paise); the lower one on a tie."""
    if not strikes or not math.isfinite(price):
        return None
    return min(strikes, key=lambda k: (abs(k - price), k))


# --- the live chain -------------------------------------------------------------------------------


class ChainData(QObject):
    """One underlying's option chain for one expiry, live. Lives on the UI thread.

    Signals: ``structure_changed`` when the underlying or expiry changes (rows replaced);
    ``quotes_changed(list[int])`` rows whose option ticked in this batch; ``greeks_changed``
    after the analytics of the whole chain were recomputed (``changed_rows`` then holds the rows
    whose shown values moved); ``header_changed`` when spot, future or forward moved.

    A chain whose panel (its parent widget) is hidden in a shown window -- a dock tabbed behind
    another, or closed -- does no chain-wide work and sends nothing: ticks only mark it behind,
    and within a batch or a quarter of a second of the panel coming into sight ``catch_up``
    brings it up to date (its quotes are read live, so only IV and greeks lag that long).
    ``open_interest`` and ``open_interest_change`` are (2, strikes) arrays as of the last
    recompute, units, 0 where unknown.
    """

    structure_changed = Signal()
    quotes_changed = Signal(object)
    greeks_changed = Signal(object)
    header_changed = Signal()

    def __init__(self, market, session, *, rate: float = RISK_FREE_RATE, interval_ms: int = GREEKS_INTERVAL_MS,
                 clock: Callable[[], datetime] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.market = market
        self.session = session
        self.rate = rate
        self.clock = clock or (lambda: datetime.now(IST))
        self.underlying = ""
        self.expiry: datetime | None = None
        self.strikes: list[int] = []
        self.call_keys: list[InstrumentKey | None] = []
        self.put_keys: list[InstrumentKey | None] = []
        self.index_key: InstrumentKey | None = None
        self.future_key: InstrumentKey | None = None
        self.lot_size = 1
        self.tick_size = 5
        self.strike_step = 0
        self.analytics: ChainAnalytics | None = None
        self.pcr = math.nan
        self.max_pain: int | None = None
        self.open_interest = np.zeros((2, 0))
        self.open_interest_change = np.zeros((2, 0))
        self._behind = False  # ticks arrived while out of sight: catch up when shown
        self._where: dict[InstrumentKey, tuple[int, int]] = {}  # key -> (row, side)
        self._subscribed: list[InstrumentKey] = []
        self._shown: np.ndarray | None = None  # analytics as displayed last time, to find moved rows
        self._timer = QTimer(self, singleShot=True, interval=interval_ms)
        self._timer.timeout.connect(self._on_timer)
        market.ticks_updated.connect(self._on_ticks)
        self._panel = parent if parent is not None and parent.isWidgetType() else None  # the panel showing it

    def out_of_sight(self) -> bool:
        """True when the panel is hidden inside a shown window: closed, or a dock tabbed behind
        another (Qt keeps those "visible" but out of the window, so the visible region tells).
        A panel whose window is not shown (a test, a tool) counts as in sight."""
        panel = self._panel
        return panel is not None and panel.window().isVisible() and panel.visibleRegion().isEmpty()

    def catch_up(self) -> None:
        """Bring a chain that skipped batches while out of sight up to date: every row's quotes,
        then the analytics (and the header)."""
        if not self._behind:
            return
        self._behind = False
        if self.strikes:
            self.quotes_changed.emit(list(range(len(self.strikes))))
        self.recompute()

    def _on_timer(self) -> None:
        if self.out_of_sight():
            if self._behind:
                self._timer.start()  # look again shortly: the panel may come into sight with no new tick
        elif self._behind:
            self.catch_up()
        else:
            self.recompute()

    # --- choosing the chain ---------------------------------------------------------------------
    def underlyings(self) -> list[str]:
        return self.market.catalog.underlyings_with_options()

    def expiries(self, underlying: str | None = None) -> list[datetime]:
        return self.market.catalog.expiries(underlying or self.underlying)

    def set_underlying(self, name: str, expiry: datetime | None = None) -> None:
        """Show ``name``'s chain at ``expiry`` (default: the nearest expiry still to come)."""
        expiries = self.expiries(name)
        if not expiries:
            raise ValueError(f"{name} has no options in the instrument master")
        if expiry is None:
            now = self.clock()
            expiry = next((e for e in expiries if e > now), expiries[-1])
        self.underlying = name
        self.set_expiry(expiry)

    def set_expiry(self, expiry: datetime) -> None:
        catalog = self.market.catalog
        if expiry not in catalog.expiries(self.underlying):
            raise ValueError(f"{self.underlying} has no expiry {expiry:%d %b %Y}")
        self.expiry = expiry
        rows = catalog.option_chain(self.underlying, expiry)
        self.strikes = [strike for strike, _, _ in rows]
        self.call_keys = [c.key if c else None for _, c, _ in rows]
        self.put_keys = [p.key if p else None for _, _, p in rows]
        sample = next((i for _, c, p in rows for i in (c, p) if i is not None), None)
        self.lot_size = sample.lot_size if sample else 1
        self.tick_size = sample.tick_size if sample else 5
        steps = np.diff(self.strikes)
        self.strike_step = int(steps.min()) if steps.size else 0
        self.index_key = self._index_key(self.underlying)
        self.future_key = self._future_key(self.underlying, expiry)
        self._where = {}
        for at, (call, put) in enumerate(zip(self.call_keys, self.put_keys)):
            if call:
                self._where[call] = (at, CALL)
            if put:
                self._where[put] = (at, PUT)
        self._resubscribe()
        self._shown = None
        self.open_interest = np.zeros((2, 0))  # another chain: PCR and max pain are redone
        self.recompute(emit=False)
        self.structure_changed.emit()

    def _index_key(self, underlying: str) -> InstrumentKey | None:
        for instrument in self.market.catalog.search(underlying, limit=20):
            if instrument.kind is InstrumentKind.INDEX and instrument.underlying == underlying:
                return instrument.key
        return None

    def _future_key(self, underlying: str, expiry: datetime) -> InstrumentKey | None:
        """The nearest future expiring on or after the options (the same one for a monthly expiry)."""
        futures = [f for f in self.market.catalog.futures(underlying) if f.expiry and f.expiry >= expiry]
        return futures[0].key if futures else None

    def _resubscribe(self) -> None:
        keys = [k for k in (*self.call_keys, *self.put_keys, self.index_key, self.future_key) if k]
        old, new = set(self._subscribed), set(keys)
        if old - new:
            self.session.unsubscribe(sorted(old - new))
        if new - old:
            self.session.subscribe(sorted(new - old))
        self._subscribed = keys

    def close(self) -> None:
        """Stop streaming this chain (the panel is closing)."""
        if self._subscribed:
            self.session.unsubscribe(self._subscribed)
        self._subscribed = []
        self._timer.stop()

    # --- lookups ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.strikes)

    def key(self, row: int, side: int) -> InstrumentKey | None:
        keys = self.call_keys if side == CALL else self.put_keys
        return keys[row] if 0 <= row < len(keys) else None

    def where(self, key: InstrumentKey) -> tuple[int, int] | None:
        """(row, side) of an option of this chain, or None."""
        return self._where.get(key)

    def tick(self, row: int, side: int) -> Tick | None:
        key = self.key(row, side)
        return self.market.tick(key) if key else None

    def instrument(self, row: int, side: int) -> Instrument | None:
        key = self.key(row, side)
        return self.market.instrument(key) if key else None

    def spot(self) -> int | None:
        return self.market.ltp(self.index_key) if self.index_key else None

    def future(self) -> int | None:
        return self.market.ltp(self.future_key) if self.future_key else None

    def reference_price(self) -> float:
        """What ATM and in-the-money are measured against: the spot, else the forward (paise)."""
        spot = self.spot()
        if spot:
            return float(spot)
        return self.analytics.forward if self.analytics else math.nan

    def atm_row(self) -> int | None:
        strike = nearest_strike(self.strikes, self.reference_price())
        return None if strike is None else self.strikes.index(strike)

    def value(self, name: str, row: int, side: int) -> float:
        """One analytic (iv, delta, gamma, theta, vega, price) of one option; NaN if unknown."""
        if self.analytics is None or not 0 <= row < len(self.strikes):
            return math.nan
        return float(getattr(self.analytics, name)[side, row])

    # --- live updates -----------------------------------------------------------------------------
    def _on_ticks(self, keys: frozenset) -> None:
        if not self._where:
            return
        if self.out_of_sight():
            # Nobody sees the rows, the greeks or the header: skip the chain-wide work (IV
            # solve, max pain, repaint signals) until the panel is in sight again; the timer
            # looks for that four times a second.
            self._behind = True
            if not self._timer.isActive():
                self._timer.start()
            return
        if self._behind:
            self.catch_up()
        rows = sorted({self._where[k][0] for k in keys & self._where.keys()})
        if rows:
            self.quotes_changed.emit(rows)
        underlying_moved = (self.index_key in keys) or (self.future_key in keys)
        if underlying_moved:
            self.header_changed.emit()
        if (rows or underlying_moved) and not self._timer.isActive():
            self._timer.start()

    def recompute(self, emit: bool = True) -> None:
        """IV and greeks of the whole chain from the latest quotes; PCR and max pain."""
        n = len(self.strikes)
        if n == 0 or self.expiry is None:
            self.analytics = None
            return
        prices = np.full((2, n), np.nan)
        oi = np.zeros((2, n))
        oi_change = np.zeros((2, n))
        tick = self.market.tick
        for side, keys in ((CALL, self.call_keys), (PUT, self.put_keys)):
            side_prices, side_oi, side_change = prices[side], oi[side], oi_change[side]
            for at, key in enumerate(keys):
                if key and (t := tick(key)) is not None:
                    side_prices[at] = option_premium(t)
                    side_oi[at] = t.open_interest
                    side_change[at] = t.open_interest_change
        years = years_to_expiry(self.expiry, self.clock())
        strikes = np.asarray(self.strikes, dtype=float)
        self.analytics = chain_analytics(strikes, prices, years, self.rate, future=self._same_expiry_future(),
                                         spot=self.spot(), tick=float(self.tick_size))
        if oi.shape != self.open_interest.shape or not np.array_equal(oi, self.open_interest):
            # OI moves a few times a minute, premiums many times a second: max pain (strikes²
            # work) and PCR are redone only when the open interest moved.
            self.pcr = put_call_ratio(oi[CALL], oi[PUT])
            self.max_pain = max_pain(strikes, oi[CALL], oi[PUT])
        self.open_interest, self.open_interest_change = oi, oi_change
        if emit:
            self.greeks_changed.emit(self._moved_rows())
            self.header_changed.emit()
        else:
            self._moved_rows()

    def _same_expiry_future(self) -> float | None:
        instrument = self.market.instrument(self.future_key) if self.future_key else None
        if instrument is None or instrument.expiry != self.expiry:
            return None
        return self.future()

    def _moved_rows(self) -> list[int]:
        """Rows whose analytics changed at display precision since the last call."""
        a = self.analytics
        shown = np.stack([np.round(a.iv * 1e4), np.round(a.delta * 1e3), np.round(a.gamma * 1e6),
                          np.round(a.theta * 1e2), np.round(a.vega * 1e2)])
        before, self._shown = self._shown, shown
        if before is None or before.shape != shown.shape:
            return list(range(len(self.strikes)))
        same = (before == shown) | (np.isnan(before) & np.isnan(shown))
        return np.nonzero(~same.all(axis=(0, 1)))[0].tolist()

    # --- for the strategy builder --------------------------------------------------------------------
    def touch_price(self, key: InstrumentKey, side: Side) -> int | None:
        """What an order on ``side`` would pay now (paise): the ask to buy, the bid to sell, else LTP."""
        t = self.market.tick(key)
        if t is None:
            return None
        price = t.best_ask if side is Side.BUY else t.best_bid
        return price or (t.ltp or None)

    def strategy_chain(self) -> OptionChain:
        """This expiry as the strategy templates want it: quotes at the mid, IVs, ATM by the reference price."""
        if self.expiry is None or not self.strikes:
            raise ValueError("no option chain chosen")
        self.catch_up()  # quotes and IVs as of now, even if the panel is out of sight
        atm = nearest_strike(self.strikes, self.reference_price())
        if atm is None:
            raise ValueError(f"{self.underlying}: no price yet to find the ATM strike")
        options: dict[tuple[int, OptionType], ChainQuote] = {}
        for at, strike in enumerate(self.strikes):
            for side, option_type in ((CALL, OptionType.CALL), (PUT, OptionType.PUT)):
                key = self.key(at, side)
                premium = self.value("price", at, side)
                if key is None or not math.isfinite(premium):
                    continue
                iv = self.value("iv", at, side)
                options[(strike, option_type)] = ChainQuote(key, int(round(premium)), iv if math.isfinite(iv) else None)
        future = None
        if self.future_key and (price := self.future()):
            future = ChainQuote(self.future_key, price)
        future_instrument = self.market.instrument(self.future_key) if self.future_key else None
        return OptionChain(self.expiry, atm, self.strike_step or 1, self.lot_size, options, future,
                           future_instrument.expiry if future_instrument else None)
