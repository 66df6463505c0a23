"""The simulated exchange: the terminal's default market, so it runs with no broker account.

Pieces (no Qt, numpy only):
- ``instruments``: NIFTY 50 / NIFTY BANK / FINNIFTY with monthly futures (current and next),
  NIFTY weekly (next four Tuesdays) and monthly options, BANKNIFTY/FINNIFTY monthly options,
  50 strikes either side, and 22 liquid NSE stocks with their real tokens. Built from "now".
- ``market``: correlated GBM spots in running time (annual vol 13-30%), futures at
  ``spot * exp(r t)`` plus a small basis, options by Black-76 on the forward with a put-skewed
  smile; five-level books in whole lots, spreads widening away from the money; ticks on the
  5-paise grid, refreshed at ``ticks_per_second`` per instrument, vectorised over instruments.
- ``history``: 60 trading days of one-minute bars generated backwards from the start price, then
  live bars; derivatives priced from their underlying's bars; resampling to 3..1440 minutes.
- ``matching``: LIMIT / MARKET / SL / SL-M, DAY / IOC, partial fills against displayed depth,
  stops that trigger on the LTP, and the price band (equities and futures LTP ± 10%, options
  LTP ± max(50%, ₹20)).
- ``accounts``: cash, positions (``terminal.domain.apply_fill``), holdings and margin.
- ``exchange``: ``SimulatedExchange``, everything behind one lock, shareable by many clients.

Margin approximation (not SPAN): option bought = premium; option sold = rate x spot x qty;
future = rate x LTP x qty; equity = rate x LTP x qty. Rates: index F&O NRML 12%, MIS 8%;
equity CNC 100%, MIS 20%. Available margin = opening cash + realised P&L - used margin (open
positions plus what open orders block); unrealised P&L is reported, not credited.

Rejections: ``SimulatedExchange.place`` returns the order REJECTED with the reason (the exchange
order book shows it), while modify/cancel raise ``terminal.sim.errors.SimError`` subclasses.
"""

from terminal.sim.errors import (
    ModificationRejectedError, OrderNotOpenError, SimError, UnknownAccountError, UnknownInstrumentError,
    UnknownOrderError,
)
from terminal.sim.exchange import SimulatedExchange, StepResult

__all__ = [
    "ModificationRejectedError", "OrderNotOpenError", "SimError", "SimulatedExchange", "StepResult",
    "UnknownAccountError", "UnknownInstrumentError", "UnknownOrderError",
]
