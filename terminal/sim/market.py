"""The simulated market: correlated spot prices, derivatives priced off them, five-level books.

Model (all prices integer paise on the 5-paise grid when they leave this module):
- Spots (indices and stocks) follow geometric Brownian motion in *running* time scaled to the
  trading year (252 sessions of 6h15m), with a common market factor (``market_beta``) so indices
  and stocks move loosely together. Annual volatility: NIFTY 13%, banks 15%, stocks 18-30%.
- Futures: the forward ``spot * exp(r t)`` (r = 6.5%, t in calendar years to expiry) times a
  small mean-reverting basis noise.
- Options: Black-76 on the forward with a volatility smile: ``vol = atm * (1 - 0.10 x + 0.025 x^2)``
  where ``x = ln(K/F) / (atm sqrt(t))``, so out-of-the-money puts are richer than calls.
- Books: spread in ticks grows with price and, for options, with distance from the money; five
  levels a side, one or two ticks apart, quantities in whole lots, larger near the money.
- Each refresh of an instrument happens with probability ``1 - exp(-rate * dt)`` (``rate`` =
  ticks per second per instrument) and trades at the bid or ask two times in three, which moves
  the LTP, volume, average price and open interest.
Only the instruments asked for are refreshed, as numpy arrays, so a step over 1,000 instruments
costs one vectorised pass plus the creation of the Tick objects.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

import numpy as np

from terminal.analytics.greeks import black76_price
from terminal.domain import DepthLevel, InstrumentKey, InstrumentKind, OptionType, Side, Tick
from terminal.sim.calendar import IST
from terminal.sim.history import (
    IST_OFFSET_SECONDS, Bars, MinuteBarRecorder, derive_bars, generate_underlying_bars, stable_seed,
)
from terminal.sim.instruments import InstrumentMaster

RISK_FREE_RATE = 0.065
TRADING_YEAR_SECONDS = 252 * 375 * 60
CALENDAR_YEAR_SECONDS = 365 * 86_400
DEPTH_LEVELS = 5
INDEX, EQUITY, FUTURE, OPTION = 0, 1, 2, 3
_KIND_CODE = {InstrumentKind.INDEX: INDEX, InstrumentKind.EQUITY: EQUITY, InstrumentKind.FUTURE: FUTURE,
              InstrumentKind.OPTION: OPTION}
BASIS_NOISE = 0.0003  # futures basis wander, fraction of price
OPTION_NOISE = 0.004  # option mid wander around the model, fraction of price
NOISE_HALF_LIFE_SECONDS = 30.0


def smile_vol(atm_vol: np.ndarray, strike: np.ndarray, forward: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volatility at each strike, and the moneyness ``x`` in standard deviations (negative below F)."""
    x = np.log(strike / forward) / (atm_vol * np.sqrt(years))
    x = np.clip(x, -6.0, 6.0)
    vol = atm_vol * np.maximum(1.0 - 0.10 * x + 0.025 * x * x, 0.3)
    return vol, x


class MarketModel:
    """Prices and books of every instrument in ``master``. Not thread-safe: the exchange locks."""

    def __init__(self, master: InstrumentMaster, start: datetime, seed: int = 0, ticks_per_second: float = 2.0):
        if ticks_per_second <= 0:
            raise ValueError("ticks_per_second must be positive")
        self.master = master
        self.seed = seed
        self.ticks_per_second = float(ticks_per_second)
        self.time = start.timestamp()
        start_day = start.astimezone(IST).date()
        self.rng = np.random.default_rng(stable_seed("market", seed, start_day))
        specs = list(master.specs.values())
        self.specs = specs
        self.underlying_index = {s.symbol: j for j, s in enumerate(specs)}
        opening = [np.random.default_rng(stable_seed("spot", seed, s.symbol, start_day)).normal(0, 0.006)
                   for s in specs]
        self.spot = np.array([s.reference_price * math.exp(max(-0.015, min(0.015, g))) for s, g in zip(specs, opening)])
        self.start_spot = self.spot.copy()
        self.start_time = self.time
        self.vol = np.array([s.annual_vol for s in specs])
        self.beta = np.array([s.market_beta for s in specs])
        self.recorders = [MinuteBarRecorder() for _ in specs]
        self._generated: dict[int, Bars] = {}
        self._day_stats: dict[int, dict] = {}

        insts = master.instruments
        n = len(insts)
        self.instruments = insts
        self.index_of: dict[InstrumentKey, int] = {inst.key: i for i, inst in enumerate(insts)}
        self.kind = np.array([_KIND_CODE[i.kind] for i in insts], dtype=np.int8)
        self.und = np.array([self.underlying_index[master.underlying_of[i.key]] for i in insts], dtype=np.int64)
        self.strike = np.array([float(i.strike or 0) for i in insts])
        self.expiry = np.array([i.expiry.timestamp() if i.expiry else np.inf for i in insts])
        self.is_call = np.array([i.option_type is OptionType.CALL for i in insts])
        self.lot = np.array([i.lot_size for i in insts], dtype=np.int64)
        self.tick_size = np.array([i.tick_size for i in insts], dtype=np.int64)
        self.cash_minute_volume = np.array([float(specs[j].minute_volume) for j in self.und])
        # Live state, filled in when an instrument is first refreshed.
        self.initialised = np.zeros(n, dtype=bool)
        self.ltp = np.zeros(n, dtype=np.int64)
        self.volume = np.zeros(n, dtype=np.int64)
        self.turnover = np.zeros(n)
        self.open = np.zeros(n, dtype=np.int64)
        self.high = np.zeros(n, dtype=np.int64)
        self.low = np.zeros(n, dtype=np.int64)
        self.prev_close = np.zeros(n, dtype=np.int64)
        self.oi = np.zeros(n, dtype=np.int64)
        self.oi_day_open = np.zeros(n, dtype=np.int64)
        self.last_quantity = np.zeros(n, dtype=np.int64)
        self.liquidity = np.zeros(n)  # 0..1, highest at the money
        self.minute_volume = np.zeros(n)  # units per minute, typical
        self.noise = np.zeros(n)
        self.last_update = np.full(n, -np.inf)
        self.ticks: list[Tick | None] = [None] * n
        self.seq = np.zeros(n, dtype=np.int64)
        self._seq = 0

    # --- spot process ----------------------------------------------------------------------
    def advance(self, now: float) -> None:
        """Move every spot from the model's time to ``now`` (epoch seconds); no-op if not later."""
        dt = now - self.time
        if dt <= 0:
            return
        years = min(dt, 86_400.0) / TRADING_YEAR_SECONDS
        common = self.rng.standard_normal()
        own = self.rng.standard_normal(len(self.spot))
        shock = self.beta * common + np.sqrt(1.0 - self.beta ** 2) * own
        self.spot *= np.exp(self.vol * math.sqrt(years) * shock - 0.5 * self.vol ** 2 * years)
        self.time = now
        for recorder, price in zip(self.recorders, self.spot.tolist()):
            recorder.record(now, price)

    # --- pricing ---------------------------------------------------------------------------
    def fair_price(self, idx: np.ndarray, spot: np.ndarray, epoch: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Model mid price (float paise) of instruments ``idx`` at underlying ``spot`` and ``epoch``.

        Also returns option moneyness in standard deviations (0 for everything else).
        """
        idx = np.asarray(idx)
        spot = np.asarray(spot, dtype=float)
        idx, spot, epoch = np.broadcast_arrays(idx, spot, np.asarray(epoch, dtype=float))
        kind = self.kind[idx]
        price = spot.astype(float).copy()
        x = np.zeros(price.shape)
        derivative = kind >= FUTURE
        if derivative.any():
            d = idx[derivative]
            years = np.maximum((self.expiry[d] - epoch[derivative]) / CALENDAR_YEAR_SECONDS, 1e-6)
            forward = spot[derivative] * np.exp(RISK_FREE_RATE * years)
            out = forward.copy()
            option = self.kind[d] == OPTION
            if option.any():
                o = d[option]
                atm = self.vol[self.und[o]] * 1.05  # implied trades a little above realised
                vol, xo = smile_vol(atm, self.strike[o], forward[option], years[option])
                out[option] = np.maximum(black76_price(forward[option], self.strike[o], years[option],
                                                       RISK_FREE_RATE, vol, self.is_call[o]), 0.0)
                xs = np.zeros(len(d))
                xs[option] = xo
                x[derivative] = xs
            price[derivative] = out
        return price, x

    def price_path(self, i: int, spot: np.ndarray, epoch: np.ndarray) -> np.ndarray:
        """Model price of instrument ``i`` along an underlying path (for derived history)."""
        return self.fair_price(np.full(len(spot), i), spot, epoch)[0]

    # --- history ---------------------------------------------------------------------------
    def generated_bars(self, j: int) -> Bars:
        """Underlying ``j``'s generated one-minute bars before the start, ending at its start spot."""
        if j not in self._generated:
            spec = self.specs[j]
            self._generated[j] = generate_underlying_bars(
                self.start_time, float(self.start_spot[j]), spec.annual_vol, spec.minute_volume,
                stable_seed("history", self.seed, spec.symbol, datetime.fromtimestamp(self.start_time, IST).date()))
        return self._generated[j]

    def underlying_bars(self, j: int) -> Bars:
        """Generated plus live one-minute bars of underlying ``j`` (float paise)."""
        return Bars.concat([self.generated_bars(j), self.recorders[j].bars()])

    def _underlying_day_stats(self, j: int) -> dict:
        """Previous close and today's open/high/low of underlying ``j``, from its generated bars."""
        if j not in self._day_stats:
            bars = self.generated_bars(j)
            day = (bars.start + IST_OFFSET_SECONDS) // 86_400
            today_number = int((self.start_time + IST_OFFSET_SECONDS) // 86_400)
            today = day == today_number
            before = np.flatnonzero(~today)
            stats = dict(prev_close=float(bars.close[before[-1]]) if len(before) else float(self.start_spot[j]),
                         prev_epoch=float(bars.start[before[-1]] + 60) if len(before) else self.start_time,
                         has_today=bool(today.any()), minutes_today=int(today.sum()))
            if today.any():
                t = np.flatnonzero(today)
                stats.update(open=float(bars.open[t[0]]), open_epoch=float(bars.start[t[0]]),
                             high=float(bars.high[t].max()), low=float(bars.low[t].min()),
                             volume=int(bars.volume[t].sum()))
            self._day_stats[j] = stats
        return self._day_stats[j]

    def _initialise(self, idx: np.ndarray) -> None:
        """Previous close, today's open/high/low, volume and open interest for first-seen instruments."""
        now = self.time
        stats = [self._underlying_day_stats(int(j)) for j in self.und[idx]]
        tick = self.tick_size[idx]
        prev_spot = np.array([s["prev_close"] for s in stats])
        prev_epoch = np.array([s["prev_epoch"] for s in stats])
        self.prev_close[idx] = _snap(self.fair_price(idx, prev_spot, prev_epoch)[0], tick)
        price_now, x = self.fair_price(idx, self.spot[self.und[idx]], now)
        kind = self.kind[idx]
        liquidity = np.where(kind == OPTION, np.exp(-0.5 * (x / 1.2) ** 2), 1.0)
        self.liquidity[idx] = liquidity
        lots_per_minute = np.where(kind == OPTION, 2 + 400 * liquidity, np.where(kind == FUTURE, 150.0, 0.0))
        self.minute_volume[idx] = np.where(kind == EQUITY, self.cash_minute_volume[idx], lots_per_minute * self.lot[idx])
        oi_lots = np.where(kind == OPTION, 200 + 150_000 * liquidity, np.where(kind == FUTURE, 120_000.0, 0.0))
        rng = self.rng
        self.oi_day_open[idx] = np.round(oi_lots * rng.uniform(0.6, 1.4, len(idx))).astype(np.int64) * self.lot[idx]
        self.oi[idx] = self.oi_day_open[idx]
        has_today = np.array([s["has_today"] for s in stats])
        self.open[idx] = self.high[idx] = self.low[idx] = 0  # no session yet: the first trade sets them
        self.volume[idx] = 0
        if has_today.any():
            t_idx = idx[has_today]
            today = [s for s, h in zip(stats, has_today) if h]
            field = lambda name: np.array([s[name] for s in today], dtype=float)  # noqa: E731
            t_tick = tick[has_today]
            opened = _snap(self.fair_price(t_idx, field("open"), field("open_epoch"))[0], t_tick)
            at_high = _snap(self.fair_price(t_idx, field("high"), now)[0], t_tick)
            at_low = _snap(self.fair_price(t_idx, field("low"), now)[0], t_tick)
            self.open[t_idx] = opened
            self.high[t_idx] = np.maximum.reduce([opened, at_high, at_low])
            self.low[t_idx] = np.minimum.reduce([opened, at_high, at_low])
            self.volume[t_idx] = np.where(self.kind[t_idx] == EQUITY, field("volume"),
                                          self.minute_volume[t_idx] * field("minutes_today")).astype(np.int64)
        self.turnover[idx] = self.volume[idx] * price_now
        self.initialised[idx] = True

    # --- quotes ----------------------------------------------------------------------------
    def refresh(self, idx: np.ndarray, force: bool = False) -> np.ndarray:
        """Re-quote instruments ``idx`` at the model's time; returns the indices that changed.

        Each one changes with probability ``1 - exp(-rate * seconds since its last change)``
        (always on its first refresh, or with ``force``).
        """
        idx = np.unique(np.asarray(idx, dtype=np.int64))
        if not len(idx):
            return idx
        now = self.time
        fresh = idx[~self.initialised[idx]]
        if len(fresh):
            self._initialise(fresh)
        since = now - self.last_update[idx]
        if force:
            chosen = np.ones(len(idx), dtype=bool)
        else:
            chosen = self.rng.random(len(idx)) < -np.expm1(-self.ticks_per_second * np.maximum(since, 0.0))
        upd = idx[chosen]
        if not len(upd):
            return upd
        first = ~np.isfinite(self.last_update[upd])
        since = np.where(first, 1e9, now - self.last_update[upd])
        self.last_update[upd] = now
        decay = np.exp(-since / NOISE_HALF_LIFE_SECONDS)
        self.noise[upd] = self.noise[upd] * decay + self.rng.standard_normal(len(upd)) * np.sqrt(1 - decay ** 2)
        self._quote(upd, first)
        self._seq += 1
        self.seq[upd] = self._seq
        return upd

    def _quote(self, upd: np.ndarray, first: np.ndarray) -> None:
        rng = self.rng
        n = len(upd)
        now = self.time
        kind = self.kind[upd]
        tick = self.tick_size[upd]
        lot = self.lot[upd]
        fair, x = self.fair_price(upd, self.spot[self.und[upd]], now)
        wander = np.where(kind == FUTURE, BASIS_NOISE, np.where(kind == OPTION, OPTION_NOISE, 0.0))
        mid = fair * (1.0 + wander * self.noise[upd])
        is_index = kind == INDEX
        # Spread in ticks: a fraction of the price, wider away from the money.
        rel = np.where(kind == EQUITY, 0.00006, np.where(kind == FUTURE, 0.00003, 0.0012))
        spread = np.maximum(1, np.round(mid * rel / tick * (0.5 + rng.random(n)))).astype(np.int64)
        spread += np.floor(np.abs(x) * 0.8).astype(np.int64)
        bid0 = np.maximum(np.floor(mid / tick - spread / 2.0), 1).astype(np.int64)
        ask0 = bid0 + spread
        gaps = 1 + (rng.random((n, DEPTH_LEVELS)) < 0.3)
        gaps[:, 0] = 0
        steps = np.cumsum(gaps, axis=1)
        bid_px = (bid0[:, None] - steps) * tick[:, None]
        ask_px = (ask0[:, None] + steps) * tick[:, None]
        level_lots = np.where(kind == EQUITY, np.maximum(self.minute_volume[upd] / 20.0, 5.0),
                              np.where(kind == FUTURE, 40.0, 2.0 + 40.0 * self.liquidity[upd]))
        growth = 1.0 + 0.15 * np.arange(DEPTH_LEVELS)
        bid_lots = np.maximum(1, np.round(level_lots[:, None] * growth * rng.gamma(1.5, 1 / 1.5, (n, DEPTH_LEVELS))))
        ask_lots = np.maximum(1, np.round(level_lots[:, None] * growth * rng.gamma(1.5, 1 / 1.5, (n, DEPTH_LEVELS))))
        bid_lots = np.where(bid_px > 0, bid_lots, 0).astype(np.int64)
        bid_qty = bid_lots * lot[:, None]
        ask_qty = ask_lots.astype(np.int64) * lot[:, None]
        bid_orders = np.maximum(1, np.round(bid_lots / rng.uniform(1.0, 4.0, (n, DEPTH_LEVELS)))).astype(np.int64)
        ask_orders = np.maximum(1, np.round(ask_lots / rng.uniform(1.0, 4.0, (n, DEPTH_LEVELS)))).astype(np.int64)
        total_buy = (bid_qty.sum(axis=1) * rng.uniform(3, 8, n)).astype(np.int64) // lot * lot
        total_sell = (ask_qty.sum(axis=1) * rng.uniform(3, 8, n)).astype(np.int64) // lot * lot

        # Trades at the touch: two refreshes in three, and always on the first so LTP exists.
        traded = (first | (rng.random(n) < 0.65)) & ~is_index
        buyer = rng.random(n) < 0.5
        trade_lots = np.minimum(rng.geometric(0.35, n), np.where(buyer, ask_lots[:, 0], bid_lots[:, 0]).astype(np.int64))
        trade_qty = np.maximum(trade_lots, 1) * lot
        trade_px = np.where(buyer, ask0, bid0) * tick
        ltp = np.where(traded, trade_px, self.ltp[upd])
        ltp = np.where(is_index, _snap(mid, tick), ltp)
        self.ltp[upd] = ltp
        qty = np.where(traded, trade_qty, 0)
        self.volume[upd] += qty
        self.turnover[upd] += qty * trade_px
        self.last_quantity[upd] = np.where(traded, trade_qty, self.last_quantity[upd])
        derivative = (kind >= FUTURE) & traded
        oi_change = np.round(trade_qty * rng.uniform(-0.3, 0.35, n) / lot) * lot
        self.oi[upd] = np.where(derivative, np.maximum(self.oi[upd] + oi_change.astype(np.int64), 0), self.oi[upd])
        opened = self.open[upd] == 0
        self.open[upd] = np.where(opened, ltp, self.open[upd])
        self.high[upd] = np.where(opened, ltp, np.maximum(self.high[upd], ltp))
        self.low[upd] = np.where(opened, ltp, np.minimum(self.low[upd], ltp))
        for j_und, q, k, t in zip(self.und[upd].tolist(), qty.tolist(), kind.tolist(), traded.tolist()):
            if t and k == EQUITY:
                self.recorders[j_und].record(now, float(self.spot[j_und]), q)

        # Tick objects: the one unavoidable per-instrument Python loop.
        avg = np.where(self.volume[upd] > 0, self.turnover[upd] / np.maximum(self.volume[upd], 1), ltp)
        avg = _snap(avg, tick)
        columns = [upd, ltp, self.last_quantity[upd], self.volume[upd], avg, self.open[upd], self.high[upd],
                   self.low[upd], self.prev_close[upd], self.oi[upd], self.oi_day_open[upd], total_buy, total_sell,
                   is_index]
        rows = zip(*(c.tolist() for c in columns), bid_px.tolist(), bid_qty.tolist(), bid_orders.tolist(),
                   ask_px.tolist(), ask_qty.tolist(), ask_orders.tolist())
        instruments = self.instruments
        ticks = self.ticks
        for (i, lp, lq, vol, ap, op, hi, lo, cl, oi, oi0, tb, ts, index, bp, bq, bo, ap_, aq, ao) in rows:
            if index:
                ticks[i] = Tick(instruments[i].key, lp, now, open=op, high=hi, low=lo, close=cl)
                continue
            bids = tuple(DepthLevel(p, q, o) for p, q, o in zip(bp, bq, bo) if q > 0)
            asks = tuple(DepthLevel(p, q, o) for p, q, o in zip(ap_, aq, ao))
            ticks[i] = Tick(instruments[i].key, lp, now, lq, vol, ap, op, hi, lo, cl, oi, oi0, tb, ts, bids, asks)

    def tick(self, i: int) -> Tick:
        """The latest tick of instrument ``i``, quoting it first if it never was."""
        current = self.ticks[i]
        if current is None:
            self.refresh(np.array([i]), force=True)
            current = self.ticks[i]
        assert current is not None
        return current

    def ticks_since(self, cursor: int, idx: np.ndarray) -> tuple[list[Tick], int]:
        """Ticks of ``idx`` that changed after ``cursor``, and the cursor to pass next time."""
        idx = np.asarray(idx, dtype=np.int64)
        changed = idx[self.seq[idx] > cursor]
        return [self.ticks[i] for i in changed.tolist()], self._seq

    def record_fill(self, i: int, side: Side, fills: list[tuple[int, int]]) -> None:
        """Show our own fills in the book: take the filled quantity off the levels, move LTP and volume.

        ``side`` is the aggressor's side; ``fills`` are (price paise, quantity units) pairs.
        """
        tick = self.tick(i)
        taken: dict[int, int] = {}
        for price, qty in fills:
            taken[price] = taken.get(price, 0) + qty
        levels = tick.asks if side is Side.BUY else tick.bids
        remaining = tuple(DepthLevel(lv.price, lv.quantity - taken.get(lv.price, 0), lv.orders)
                          for lv in levels if lv.quantity - taken.get(lv.price, 0) > 0)
        qty = sum(q for _, q in fills)
        value = sum(p * q for p, q in fills)
        last_price = fills[-1][0]
        self.volume[i] += qty
        self.turnover[i] += value
        self.ltp[i] = last_price
        self.last_quantity[i] = fills[-1][1]
        self.high[i] = max(self.high[i], last_price)
        self.low[i] = min(self.low[i], last_price) if self.low[i] else last_price
        j = int(self.und[i])
        if self.kind[i] == EQUITY:
            self.recorders[j].record(self.time, float(self.spot[j]), qty)
        book = dict(asks=remaining) if side is Side.BUY else dict(bids=remaining)
        avg = int(_snap(np.array([self.turnover[i] / max(self.volume[i], 1)]), np.array([self.tick_size[i]]))[0])
        self.ticks[i] = replace(tick, ltp=last_price, last_quantity=fills[-1][1], volume=int(self.volume[i]),
                                average_price=avg, high=int(self.high[i]), low=int(self.low[i]),
                                timestamp=self.time, **book)
        self._seq += 1
        self.seq[i] = self._seq

    def history_bars(self, i: int) -> Bars:
        """One-minute bars of instrument ``i`` (float paise), the last one closing at its live LTP."""
        ltp = self.tick(i).ltp  # first, so that a first quote's trade is in the live bars
        underlying = self.underlying_bars(int(self.und[i]))
        bars = underlying if self.kind[i] in (INDEX, EQUITY) else _derive(self, i, underlying)
        return bars.ending_at(float(ltp)).on_tick_grid(int(self.tick_size[i]))


def _derive(model: MarketModel, i: int, underlying: Bars) -> Bars:
    inst = model.instruments[i]
    return derive_bars(underlying, lambda s, t: model.price_path(i, s, t),
                       stable_seed("derived", model.seed, inst.trading_symbol),
                       float(model.minute_volume[i]), float(model.oi[i]))


def _snap(price: np.ndarray, tick: np.ndarray) -> np.ndarray:
    """Float paise to the tick grid, at least one tick."""
    return (np.maximum(np.round(np.asarray(price) / tick), 1) * tick).astype(np.int64)
