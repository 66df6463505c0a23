"""A websocket that keeps itself alive: its own thread, heartbeat, stall watchdog, reconnect with backoff.

Shared by the market feed (smart-stream) and the order-update socket. Subclasses say which
headers to send, what to do once connected, and how to read frames; this class owns the
loop. A 401 on the upgrade asks the session for new tokens before the next attempt; a 429
(too many connections) waits at least ``reconnect_max_delay / 2``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

import websocket

from terminal.brokers.base import FeedState

log = logging.getLogger(__name__)

StateCallback = Callable[[FeedState, str], None]


class ReconnectingSocket:
    """Runs ``url`` in a daemon thread until ``stop``. Times are seconds."""

    #: what the trader sees in status messages: "market feed", "order updates"
    label = "socket"

    def __init__(self, url: str, *, ping_interval: float, stall_timeout: float, reconnect_delay: float,
                 reconnect_max_delay: float, on_state: StateCallback, renew_tokens: Callable[[], None]):
        self.url = url
        self.ping_interval = ping_interval
        self.stall_timeout = stall_timeout
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self._on_state = on_state
        self._renew_tokens = renew_tokens
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: websocket.WebSocket | None = None
        self.connections = 0  # successful connects so far (tests and diagnostics)

    # --- hooks --------------------------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def on_open(self, ws: websocket.WebSocket) -> None:
        """Connected: send what the server needs to start (subscriptions)."""

    def on_binary(self, data: bytes) -> None:
        """A binary frame arrived."""

    def on_text(self, text: str) -> None:
        """A text frame arrived."""

    def on_idle(self, ws: websocket.WebSocket) -> None:
        """Called at least every 0.2 s while connected (send pending changes here)."""

    def heartbeat(self, ws: websocket.WebSocket) -> None:
        ws.send("ping")

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"angelone-{self.label}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close(timeout=0.5)
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def drop(self) -> None:
        """Close the current connection; the loop reconnects (used after a token change)."""
        ws = self._ws
        if ws is not None:
            try:
                ws.abort()
            except Exception:
                pass

    # --- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        failures = 0
        self._on_state(FeedState.CONNECTING, f"Angel One {self.label}: connecting")
        while not self._stop.is_set():
            delay = None
            try:
                ws = websocket.create_connection(self.url, header=self.headers(), timeout=self.stall_timeout,
                                                 enable_multithread=True)
            except websocket.WebSocketBadStatusException as exc:
                status = getattr(exc, "status_code", 0)
                failures += 1
                log.warning("angelone %s: upgrade refused (HTTP %s)", self.label, status)
                if status in (401, 403):
                    self._try_renew()
                if status == 429:
                    delay = max(self._backoff(failures), self.reconnect_max_delay / 2)
                self._on_state(FeedState.RECONNECTING, f"Angel One {self.label}: refused (HTTP {status}), retrying")
            except (OSError, websocket.WebSocketException) as exc:
                failures += 1
                self._on_state(FeedState.RECONNECTING, f"Angel One {self.label}: cannot connect ({exc}), retrying")
            else:
                self._ws = ws
                self.connections += 1
                try:
                    healthy = self._serve(ws)
                finally:
                    self._ws = None
                    try:
                        ws.close(timeout=0.2)
                    except Exception:
                        pass
                failures = 0 if healthy else failures + 1
                if self._stop.is_set():
                    break
                self._on_state(FeedState.RECONNECTING, f"Angel One {self.label}: connection lost, reconnecting")
            if self._stop.wait(delay if delay is not None else self._backoff(max(failures, 1))):
                break
        self._on_state(FeedState.DISCONNECTED, f"Angel One {self.label}: stopped")

    def _serve(self, ws: websocket.WebSocket) -> bool:
        """Read frames until the socket dies, stalls or ``stop``. True if it was healthy for a while."""
        opened = last_frame = last_ping = time.monotonic()
        got_data = False
        ws.settimeout(0.2)
        try:
            self.on_open(ws)
            self._on_state(FeedState.CONNECTED, f"Angel One {self.label}: connected")
            while not self._stop.is_set():
                now = time.monotonic()
                if now - last_frame > self.stall_timeout:
                    log.warning("angelone %s: nothing for %.0f s, rebuilding the socket", self.label, now - last_frame)
                    return got_data
                if now - last_ping >= self.ping_interval:
                    self.heartbeat(ws)
                    last_ping = now
                self.on_idle(ws)
                try:
                    opcode, data = ws.recv_data(control_frame=True)
                except websocket.WebSocketTimeoutException:
                    continue
                last_frame = time.monotonic()
                if opcode == websocket.ABNF.OPCODE_BINARY:
                    got_data = True
                    self.on_binary(data)
                elif opcode == websocket.ABNF.OPCODE_TEXT:
                    got_data = True
                    self.on_text(data.decode("utf-8", "replace"))
                elif opcode == websocket.ABNF.OPCODE_CLOSE:
                    return got_data
        except (OSError, websocket.WebSocketException) as exc:
            log.info("angelone %s: connection ended: %s", self.label, exc)
        except Exception:
            log.exception("angelone %s: handler failed; reconnecting", self.label)
        return got_data or time.monotonic() - opened > self.stall_timeout

    def _backoff(self, failures: int) -> float:
        base = min(self.reconnect_max_delay, self.reconnect_delay * 2 ** (failures - 1))
        return base * random.uniform(0.8, 1.2)

    def _try_renew(self) -> None:
        try:
            self._renew_tokens()
        except Exception as exc:
            log.warning("angelone %s: could not renew the session: %s", self.label, exc)
