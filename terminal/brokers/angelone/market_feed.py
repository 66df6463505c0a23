"""The WebSocket 2.0 market feed (smart-stream): subscriptions, binary ticks, error frames.

The feed keeps its own authoritative subscription set and replays it on every reconnect.
Limits: 1,000 (token, mode) pairs per connection and 3 connections per client code, so
subscriptions are spread over up to three sockets; asking for more raises BrokerError.
Each key streams in one mode (SNAP_QUOTE by default: it carries the five-level depth).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import websocket

from terminal.brokers.angelone.auth import SessionTokens
from terminal.brokers.angelone.config import AngelOneConfig
from terminal.brokers.angelone.decoder import SNAP_QUOTE, TYPE_BY_EXCHANGE, FrameError, decode_tick
from terminal.brokers.angelone.sockets import ReconnectingSocket, StateCallback
from terminal.brokers.base import BrokerError, FeedSink, FeedState
from terminal.domain import Exchange, InstrumentKey

log = logging.getLogger(__name__)

MAX_PER_CONNECTION = 1000
MAX_CONNECTIONS = 3
TOKENS_PER_MESSAGE = 200  # keep one subscribe frame small
BAD_FRAME_REPORT_S = 10.0  # a broken feed can send bad frames by the thousand: one log line per 10 s at most

Wire = tuple[int, str]  # (exchangeType, token)


def wire_of(key: InstrumentKey) -> Wire:
    exchange, _, token = key.partition(":")
    try:
        return TYPE_BY_EXCHANGE[Exchange(exchange)], token
    except (ValueError, KeyError):
        raise BrokerError(f"{key}: Angel One streams no such exchange.") from None


def subscription_messages(action: int, mode: int, wires: list[Wire]) -> list[str]:
    """JSON subscribe (1) / unsubscribe (0) requests, tokens grouped by exchangeType."""
    by_type: dict[int, list[str]] = {}
    for exchange_type, token in sorted(wires):
        by_type.setdefault(exchange_type, []).append(token)
    messages = []
    for exchange_type, tokens in by_type.items():
        for i in range(0, len(tokens), TOKENS_PER_MESSAGE):
            messages.append(json.dumps({
                "correlationID": f"tt{action}{mode}{exchange_type:02d}{i:05d}"[:10], "action": action,
                "params": {"mode": mode, "tokenList": [{"exchangeType": exchange_type,
                                                         "tokens": tokens[i:i + TOKENS_PER_MESSAGE]}]},
            }))
    return messages


class MarketSocket(ReconnectingSocket):
    """One smart-stream connection and the (token, mode) pairs it carries."""

    label = "market feed"

    def __init__(self, config: AngelOneConfig, tokens: Callable[[], SessionTokens], sink: FeedSink,
                 on_state: StateCallback, renew_tokens: Callable[[], None]):
        super().__init__(config.ws_url, ping_interval=config.ping_interval, stall_timeout=config.stall_timeout,
                         reconnect_delay=config.reconnect_delay, reconnect_max_delay=config.reconnect_max_delay,
                         on_state=on_state, renew_tokens=renew_tokens)
        self._config = config
        self._tokens = tokens
        self._sink = sink
        self._lock = threading.Lock()
        self.wanted: dict[Wire, int] = {}  # what should stream -> mode
        self._sent: dict[Wire, int] = {}  # what this connection has asked for
        self.errors: list[str] = []  # the server's JSON error frames, newest last
        self.bad_frames = 0  # binary frames dropped because they are not a possible tick
        self._bad_frames_logged = 0  # how many of them the log has told of
        self._last_bad_frame = ""  # why the latest was dropped
        self._bad_frame_logged_at = float("-inf")  # monotonic time of the last line about them

    def headers(self) -> dict[str, str]:
        tokens = self._tokens()
        return {"Authorization": f"Bearer {tokens.jwt}", "x-api-key": self._config.api_key,
                "x-client-code": self._config.client_code, "x-feed-token": tokens.feed}

    def set(self, wire: Wire, mode: int | None) -> None:
        with self._lock:
            if mode is None:
                self.wanted.pop(wire, None)
            else:
                self.wanted[wire] = mode

    def on_open(self, ws: websocket.WebSocket) -> None:
        self._sent = {}
        self.on_idle(ws)

    def on_idle(self, ws: websocket.WebSocket) -> None:
        if self.bad_frames != self._bad_frames_logged:
            self._report_unlogged_bad_frames()
        with self._lock:
            wanted = dict(self.wanted)
        if wanted == self._sent:
            return
        drop: dict[int, list[Wire]] = {}
        add: dict[int, list[Wire]] = {}
        for wire, mode in self._sent.items():
            if wanted.get(wire) != mode:
                drop.setdefault(mode, []).append(wire)
        for wire, mode in wanted.items():
            if self._sent.get(wire) != mode:
                add.setdefault(mode, []).append(wire)
        for action, groups in ((0, drop), (1, add)):
            for mode, wires in groups.items():
                for message in subscription_messages(action, mode, wires):
                    ws.send(message)
        self._sent = wanted

    def on_binary(self, data: bytes) -> None:
        try:
            tick = decode_tick(data)  # raises FrameError, and only that, for a frame that is no possible tick
        except FrameError as exc:
            if len(data) > 1:  # 1-byte frames are heartbeat payloads, not ticks
                self._report_bad_frame(data, exc)
            return
        self._sink.on_ticks([tick])

    def _report_bad_frame(self, data: bytes, exc: FrameError) -> None:
        """Count a dropped frame; log it with its reason unless a line about bad frames was logged in
        the last BAD_FRAME_REPORT_S (then on_idle logs how many more there were, once that is over)."""
        self.bad_frames += 1
        self._last_bad_frame = str(exc)
        now = time.monotonic()
        if now - self._bad_frame_logged_at < BAD_FRAME_REPORT_S:
            return
        log.warning("angelone feed: dropped a bad tick frame of %d bytes (starts %s): %s", len(data),
                    data[:8].hex(" "), exc)
        self._bad_frames_logged = self.bad_frames
        self._bad_frame_logged_at = now

    def _report_unlogged_bad_frames(self) -> None:
        """One line for the frames dropped (and only counted) since the last line, once its time is over."""
        now = time.monotonic()
        if now - self._bad_frame_logged_at >= BAD_FRAME_REPORT_S:
            log.warning("angelone feed: dropped %d more bad tick frame(s) in the last %.0f s; the latest: %s",
                        self.bad_frames - self._bad_frames_logged, now - self._bad_frame_logged_at,
                        self._last_bad_frame)
            self._bad_frames_logged = self.bad_frames
            self._bad_frame_logged_at = now

    def on_text(self, text: str) -> None:
        if text.strip() == "pong":
            return
        try:
            message = json.loads(text)
        except ValueError:
            log.warning("angelone feed: unexpected text frame %r", text[:100])
            return
        if isinstance(message, dict) and message.get("errorCode"):
            detail = f"{message.get('errorCode')}: {message.get('errorMessage', '')}"
            self.errors.append(detail)
            log.warning("angelone feed error %s", detail)
            self._sink.on_feed_state(FeedState.CONNECTED, f"Angel One feed refused a request: {detail}")


class MarketFeed:
    """Up to three MarketSockets sharing one subscription set. Thread-safe."""

    def __init__(self, config: AngelOneConfig, tokens: Callable[[], SessionTokens], renew_tokens: Callable[[], None]):
        self._config = config
        self._tokens = tokens
        self._renew = renew_tokens
        self._lock = threading.Lock()
        self._modes: dict[InstrumentKey, int] = {}
        self._sockets: list[MarketSocket] = []
        self._sink: FeedSink | None = None

    @property
    def sockets(self) -> list[MarketSocket]:
        return list(self._sockets)

    def subscriptions(self) -> dict[InstrumentKey, int]:
        with self._lock:
            return dict(self._modes)

    def start(self, sink: FeedSink) -> None:
        with self._lock:
            self._stop_locked()
            self._sink = sink
            modes = dict(self._modes)
            self._modes = {}
            self._new_socket()
        self.subscribe(list(modes), None, modes)

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()
            self._sink = None

    def _stop_locked(self) -> None:
        for sock in self._sockets:
            sock.stop()
        self._sockets = []

    def subscribe(self, keys: list[InstrumentKey], mode: int | None = SNAP_QUOTE,
                  modes: dict[InstrumentKey, int] | None = None) -> None:
        """Stream ``keys`` in ``mode`` (or per-key ``modes``). Raises BrokerError beyond the limits."""
        wires = {key: wire_of(key) for key in keys}
        with self._lock:
            new = [k for k in keys if k not in self._modes]
            if len(self._modes) + len(new) > MAX_PER_CONNECTION * MAX_CONNECTIONS:
                raise BrokerError(
                    f"Angel One streams at most {MAX_PER_CONNECTION * MAX_CONNECTIONS} instruments "
                    f"({MAX_CONNECTIONS} sockets of {MAX_PER_CONNECTION}); unsubscribe some first.")
            for key in keys:
                self._modes[key] = (modes or {}).get(key, mode or SNAP_QUOTE)
            if self._sink is None:
                return
            for key in keys:
                sock = self._socket_for(wires[key])
                sock.set(wires[key], self._modes[key])

    def unsubscribe(self, keys: list[InstrumentKey]) -> None:
        with self._lock:
            for key in keys:
                if self._modes.pop(key, None) is None:
                    continue
                wire = wire_of(key)
                for sock in self._sockets:
                    sock.set(wire, None)

    def drop_connections(self) -> None:
        """Force every socket to reconnect (after new tokens)."""
        for sock in self.sockets:
            sock.drop()

    def _socket_for(self, wire: Wire) -> MarketSocket:
        for sock in self._sockets:
            if wire in sock.wanted:
                return sock
        for sock in self._sockets:
            if len(sock.wanted) < MAX_PER_CONNECTION:
                return sock
        return self._new_socket()

    def _new_socket(self) -> MarketSocket:
        assert self._sink is not None
        sink = self._sink
        sock = MarketSocket(self._config, self._tokens, sink, sink.on_feed_state, self._renew)
        self._sockets.append(sock)
        sock.start()
        return sock
