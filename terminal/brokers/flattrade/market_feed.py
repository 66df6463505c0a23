"""The PiConnect websocket: market data (touchline and depth) and order updates on one link.

Transport plus decoding, on the adapter's own thread:
- v2 handshake ``{"t":"a", "uid", "actid", "source":"API", "accesstoken"}``, ack ``{"t":"ak","s":"OK"}``
  (a v1 ``ck`` ack is accepted too). Any other ack means the token is dead: the feed stops and
  says "log in again" instead of hammering the server.
- Subscriptions keyed ``EXCH|TOKEN`` joined by "#": ``t`` touchline, ``d`` depth, ``o`` orders.
- ``tk``/``dk`` are full records and ``tf``/``df`` deltas carrying only what changed: TickCache
  merges them per EXCH|TOKEN and emits a complete Tick each time.
- ``{"t":"h"}`` every ``heartbeat_interval`` s; no inbound frame for ``dead_link_after`` s means
  the link is dead. Reconnects back off (doubling from ``initial_delay`` to ``max_delay``, with
  jitter) because the server refuses an immediate reconnect with the same token for a while;
  after a reconnect every subscription is sent again and ``on_reconnected`` lets the broker
  catch up on order updates missed while the link was down.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable

import websocket

from terminal.brokers.base import FeedSink, FeedState
from terminal.brokers.flattrade.order_updates import order_update_from_wire
from terminal.brokers.flattrade.schemas import PayloadError, domain_key, text, tick_from_wire, wire_key, wire_row
from terminal.domain import InstrumentKey, Tick

log = logging.getLogger(__name__)

KEYS_PER_FRAME = 50  # keep subscription frames small; the server takes many frames
_KEEP_IF_ZERO = ("o", "h", "l", "c", "ap")  # a delta with "0" here is a feed glitch, not a new value
_MARKET_FRAMES = frozenset({"tk", "tf", "dk", "df"})
_ACK_TIMEOUT = 10.0  # seconds to wait for the connect ack
_RECV_POLL = 0.25  # seconds; how often the loop looks at stop, heartbeat and watchdog


class TickCache:
    """The merged wire record per EXCH|TOKEN. The feed thread writes; any thread may read ``latest``."""

    def __init__(self) -> None:
        self._records: dict[str, dict] = {}
        self._lock = threading.Lock()

    def apply(self, frame: dict) -> Tick:
        """Merge one tk/tf/dk/df frame and return the instrument's complete Tick. Raises PayloadError,
        and then keeps the record as it was: one garbled frame must not spoil the next deltas."""
        exchange, token = text(wire_row(frame, "market frame"), "e"), text(frame, "tk")
        if not exchange or not token:
            raise PayloadError(f"market frame without e/tk: {json.dumps(frame)[:120]}")
        key = domain_key(exchange, token)
        wire = f"{exchange}|{token}"
        with self._lock:
            record = dict(self._records.get(wire) or {})
            for name, value in frame.items():
                if name in _KEEP_IF_ZERO and _is_zero(value) and not _is_zero(record.get(name)):
                    continue
                record[name] = value
            tick = tick_from_wire(record, key=key, now=time.time())
            self._records[wire] = record
        return tick

    def forget(self, keys: Iterable[InstrumentKey]) -> None:
        with self._lock:
            for key in keys:
                self._records.pop(wire_key(key), None)

    def latest(self, key: InstrumentKey) -> Tick | None:
        with self._lock:
            record = self._records.get(wire_key(key))
        return tick_from_wire(record, key=key, now=time.time()) if record else None


def _is_zero(value) -> bool:
    try:
        return value is None or float(value) == 0.0
    except (TypeError, ValueError, OverflowError):
        return False


class NorenFeed:
    """One websocket session with reconnects. All public methods are thread-safe."""

    def __init__(self, ws_url: str, client_id: str, token: Callable[[], str | None], sink: FeedSink, *,
                 account: str, token_for_symbol: Callable[[str, str], str] = lambda exch, tsym: "",
                 on_reconnected: Callable[[], None] | None = None, heartbeat_interval: float = 30.0,
                 dead_link_after: float = 120.0, initial_delay: float = 2.0, max_delay: float = 60.0,
                 connect: Callable[..., websocket.WebSocket] = websocket.create_connection):
        self.ws_url = ws_url
        self.client_id = client_id
        self._token = token
        self._sink = sink
        self._account = account
        self._token_for_symbol = token_for_symbol
        self._on_reconnected = on_reconnected
        self.heartbeat_interval = heartbeat_interval
        self.dead_link_after = dead_link_after
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self._connect = connect
        self._lock = threading.Lock()  # guards the sets, _ws and _connected; also serialises sends
        self._touchline: set[InstrumentKey] = set()
        self._depth: set[InstrumentKey] = set()
        self._ws: websocket.WebSocket | None = None
        self._connected = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cache = TickCache()
        self.connections = 0  # successful handshakes so far (a reconnect makes it 2, 3, ...)

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="flattrade-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            ws = self._ws
        if ws is not None:
            try:
                ws.close(timeout=0.5)
            except Exception:  # closing a dead socket may fail; we are leaving anyway
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def connected(self) -> bool:
        return self._connected

    # --- subscriptions -------------------------------------------------------------------
    def subscribe(self, keys: list[InstrumentKey], depth: bool = True) -> None:
        """Stream ``keys``: touchline, plus five-level depth when ``depth``."""
        with self._lock:
            new_touch = [k for k in keys if k not in self._touchline]
            new_depth = [k for k in keys if depth and k not in self._depth]
            self._touchline.update(new_touch)
            self._depth.update(new_depth)
            if self._connected:
                self._send_keys("t", new_touch)
                self._send_keys("d", new_depth)

    def unsubscribe(self, keys: list[InstrumentKey]) -> None:
        with self._lock:
            gone_touch = [k for k in keys if k in self._touchline]
            gone_depth = [k for k in keys if k in self._depth]
            self._touchline.difference_update(gone_touch)
            self._depth.difference_update(gone_depth)
            if self._connected:
                self._send_keys("ud", gone_depth)
                self._send_keys("u", gone_touch)
        self.cache.forget(keys)

    def subscriptions(self) -> tuple[set[InstrumentKey], set[InstrumentKey]]:
        with self._lock:
            return set(self._touchline), set(self._depth)

    def _send_keys(self, kind: str, keys: list[InstrumentKey]) -> None:
        """Caller holds the lock. A failed send is left to the reader loop, which reconnects."""
        for start in range(0, len(keys), KEYS_PER_FRAME):
            chunk = "#".join(wire_key(k) for k in keys[start:start + KEYS_PER_FRAME])
            self._send_locked({"t": kind, "k": chunk})

    def _send_locked(self, frame: dict) -> None:
        if self._ws is None:
            return
        try:
            self._ws.send(json.dumps(frame, separators=(",", ":")))
        except (websocket.WebSocketException, OSError) as exc:
            log.info("Flattrade feed send failed (%s); the reader will reconnect", exc)

    # --- the feed thread -----------------------------------------------------------------
    def _run(self) -> None:
        delay = self.initial_delay
        first = True
        try:
            while not self._stop.is_set():
                self._sink.on_feed_state(FeedState.CONNECTING if first else FeedState.RECONNECTING,
                                         "Connecting to Flattrade" if first else "Reconnecting to Flattrade")
                outcome = self._session()
                if outcome == "auth":
                    self._sink.on_feed_state(FeedState.DISCONNECTED,
                                             "Flattrade refused the session token: log in again.")
                    return
                if outcome == "connected":
                    delay = self.initial_delay  # it worked once: start the back-off afresh
                first = False
                if self._stop.is_set():
                    break
                wait = delay * random.uniform(0.8, 1.2)
                self._sink.on_feed_state(FeedState.RECONNECTING, f"Link lost; retrying in {wait:.1f} s")
                if self._stop.wait(wait):
                    break
                delay = min(delay * 2, self.max_delay)
        finally:
            self._sink.on_feed_state(FeedState.DISCONNECTED, "")

    def _session(self) -> str:
        """One connection's life. Returns 'auth' (token refused), 'connected' or 'failed'."""
        ws = None
        handshook = False
        try:
            ws = self._connect(self.ws_url, timeout=_ACK_TIMEOUT)
            with self._lock:
                self._ws = ws
            if self._stop.is_set():
                return "failed"
            token = self._token() or ""
            ws.send(json.dumps({"t": "a", "uid": self.client_id, "actid": self.client_id, "source": "API",
                                "accesstoken": token}))
            if not self._await_ack(ws):
                return "auth"
            handshook = True
            self.connections += 1
            self._after_connect()
            self._read(ws)
        except (websocket.WebSocketException, OSError, ConnectionError) as exc:
            if not self._stop.is_set():
                log.info("Flattrade feed link lost: %s", exc)
        finally:
            with self._lock:
                self._connected = False
                self._ws = None
            if ws is not None:
                try:
                    ws.close(timeout=0.5)
                except Exception:
                    pass
        return "connected" if handshook else "failed"

    def _await_ack(self, ws: websocket.WebSocket) -> bool:
        """Wait for the connect ack. A garbled frame before it is skipped; a silent server times out."""
        ws.settimeout(_ACK_TIMEOUT)
        while True:
            message = ws.recv()
            if not message:
                raise ConnectionError("Flattrade closed the websocket before the connect ack")
            try:
                frame = json.loads(message)
            except (ValueError, RecursionError):
                log.warning("Flattrade sent a frame that is not JSON before the ack: %r", message[:120])
                continue
            if not isinstance(frame, dict):
                continue
            if frame.get("t") in ("ak", "ck"):
                if str(frame.get("s", "")).upper() == "OK":
                    return True
                log.warning("Flattrade websocket refused the token: %s", frame)
                return False

    def _after_connect(self) -> None:
        with self._lock:
            self._connected = True
            self._send_locked({"t": "o", "actid": self.client_id})
            self._send_keys("t", sorted(self._touchline))
            self._send_keys("d", sorted(self._depth))
        self._sink.on_feed_state(FeedState.CONNECTED, "Flattrade live")
        if self.connections > 1 and self._on_reconnected is not None:
            try:
                self._on_reconnected()
            except Exception as exc:  # catching up is best effort; the next update corrects it
                log.warning("Flattrade order catch-up after reconnect failed: %s", exc)

    def _read(self, ws: websocket.WebSocket) -> None:
        ws.settimeout(_RECV_POLL)
        last_inbound = last_heartbeat = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now - last_heartbeat >= self.heartbeat_interval:
                with self._lock:
                    self._send_locked({"t": "h"})
                last_heartbeat = now
            if now - last_inbound >= self.dead_link_after:
                raise ConnectionError(f"no message from Flattrade for {self.dead_link_after:.0f} s")
            try:
                message = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            last_inbound = time.monotonic()
            if not message:
                raise ConnectionError("Flattrade closed the websocket")
            self.handle_message(message)

    # --- decoding ------------------------------------------------------------------------
    def handle_message(self, message: str | bytes) -> None:
        """Decode one text frame and push what it carries into the sink. Bad frames are logged and
        dropped: one unreadable frame must never stop the feed."""
        try:
            frame = json.loads(message)
        except (ValueError, RecursionError):
            log.error("Flattrade sent a frame that is not JSON: %r", message[:120])
            return
        if not isinstance(frame, dict):
            log.error("Flattrade sent an unexpected frame: %r", message[:120])
            return
        kind = frame.get("t")
        if not isinstance(kind, str):
            log.error("Flattrade sent a frame without a type: %r", message[:120])
            return
        try:
            if kind in _MARKET_FRAMES:
                self._sink.on_ticks([self.cache.apply(frame)])
            elif kind == "om":
                if not frame.get("token") and frame.get("exch") and frame.get("tsym"):
                    frame["token"] = self._token_for_symbol(str(frame["exch"]), str(frame["tsym"]))
                order, trade = order_update_from_wire(frame, self._account)
                self._sink.on_order_update(order)
                if trade is not None:
                    self._sink.on_trade(trade)
        except PayloadError as exc:
            log.error("Flattrade %s frame could not be read: %s", kind, exc)
        except Exception:  # a decoder bug: keep the feed alive, and say so loudly
            log.exception("Flattrade %s frame broke the decoder: %r", kind, message[:200])
