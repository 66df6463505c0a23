"""The broker session's life: a countdown to token expiry, and logging in again without a restart.

Two pieces:

- ``SessionGuard`` wraps the broker every service uses. It tells the lifecycle when any call (from
  any thread) fails with SessionExpiredError, and while the session is dead or being renewed it
  refuses place, modify and cancel with a clear message instead of sending them (or queueing them)
  blindly. Reads (order book, positions, quotes) always go through: reconciling needs them.
- ``SessionLifecycle`` (one per AccountSession) counts down to the token's expiry, warns
  ``warn_before_s`` ahead, notices a dead session (the guard, or the feed going down and a probe
  call failing), and logs in again: by itself for a broker whose login needs nobody (Angel One:
  refresh token or TOTP), on the trader's request for one that needs a browser (Flattrade). After
  a login the books are reloaded, the feed restarted with every subscription, and the order
  journal reconciled; only then are orders accepted again.

Times: ``seconds_left`` is whole seconds (None when the broker gives no expiry, e.g. paper).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from enum import Enum

from PySide6.QtCore import QObject, QTimer, Signal

from terminal.brokers.base import Broker, BrokerError, FeedSink, SessionExpiredError, SessionInfo
from terminal.services.background import spawn

log = logging.getLogger(__name__)

RELOGGING_REFUSAL = "session expired: logging in again"
EXPIRED_REFUSAL = "session expired: log in again"
REFUSAL_HINT = "The order was not sent. Place it again once the session is back (Session > Log in again)."

MAX_RETRY_WAIT_S = 600.0  # a refused automatic login is retried at most this far apart

#: adapter extras that send something to the exchange: refused like place/modify/cancel
ORDER_LIKE_EXTRAS = frozenset({"gtt_create", "gtt_modify", "gtt_cancel", "convert_position"})

#: brokers whose login needs the trader (a browser page); the others log in again by themselves
INTERACTIVE_LOGIN = frozenset({"flattrade"})


class SessionState(str, Enum):
    ACTIVE = "ACTIVE"
    EXPIRING_SOON = "EXPIRING_SOON"
    EXPIRED = "EXPIRED"
    RELOGGING = "RELOGGING"


class SessionGuard(Broker):
    """A broker that reports a dead session and refuses orders while it is dead.

    Every Broker method is passed to ``inner``; other attributes (an adapter's extras such as
    ``search``) are passed through too, and their calls are watched the same way. Thread-safe:
    the refusal text and the generation are single attribute writes.
    """

    def __init__(self, inner: Broker):
        self.inner = inner
        self.name = inner.name
        #: bumped after every successful login again; a failure from an older call is stale news
        self.generation = 0
        #: set while orders must not go out: the text the trader sees; None = orders go out
        self.refusal: str | None = None
        #: called as ``listener(error, generation)`` from the failing call's thread
        self.expired_listeners: list[Callable[[SessionExpiredError, int], None]] = []

    def __getattr__(self, name: str):
        value = getattr(self.inner, name)  # only reached for names the guard does not define
        if not callable(value):
            return value

        def watched(*args, **kwargs):
            if name in ORDER_LIKE_EXTRAS:
                self._refuse_if_dead()
            return self._call(value, *args, **kwargs)

        return watched

    def _call(self, fn, *args, **kwargs):
        generation = self.generation
        try:
            return fn(*args, **kwargs)
        except SessionExpiredError as exc:
            for listener in list(self.expired_listeners):
                try:
                    listener(exc, generation)
                except Exception:  # a broken listener must not hide the broker's error
                    log.exception("session-expired listener failed")
            raise

    def _refuse_if_dead(self) -> None:
        refusal = self.refusal
        if refusal is not None:
            raise SessionExpiredError(refusal, hint=REFUSAL_HINT)

    @property
    def account(self):
        return self.inner.account

    # --- session ---------------------------------------------------------------------------------
    def login(self) -> SessionInfo:
        return self._call(self.inner.login)

    def logout(self) -> None:
        self.inner.logout()

    # --- market data -----------------------------------------------------------------------------
    def instruments(self, progress=None):
        return self._call(self.inner.instruments, progress=progress)

    def quotes(self, keys):
        return self._call(self.inner.quotes, keys)

    def history(self, key, interval_minutes, start, end):
        return self._call(self.inner.history, key, interval_minutes, start, end)

    def connect_feed(self, sink: FeedSink) -> None:
        self._call(self.inner.connect_feed, sink)

    def disconnect_feed(self) -> None:
        self.inner.disconnect_feed()

    def subscribe(self, keys) -> None:
        self._call(self.inner.subscribe, keys)

    def unsubscribe(self, keys) -> None:
        self._call(self.inner.unsubscribe, keys)

    # --- orders: refused while the session is dead -----------------------------------------------
    def place_order(self, request) -> str:
        self._refuse_if_dead()
        return self._call(self.inner.place_order, request)

    def modify_order(self, order_id, modification) -> None:
        self._refuse_if_dead()
        self._call(self.inner.modify_order, order_id, modification)

    def cancel_order(self, order_id) -> None:
        self._refuse_if_dead()
        self._call(self.inner.cancel_order, order_id)

    # --- reads: always allowed (reconciling an unknown order needs them) -------------------------
    def order_book(self):
        return self._call(self.inner.order_book)

    def trade_book(self):
        return self._call(self.inner.trade_book)

    def find_order_by_tag(self, tag):
        return self._call(self.inner.find_order_by_tag, tag)

    def positions(self):
        return self._call(self.inner.positions)

    def holdings(self):
        return self._call(self.inner.holdings)

    def funds(self):
        return self._call(self.inner.funds)


def token_expiry(broker: Broker, info: SessionInfo | None) -> datetime | None:
    """When the session's token dies: the adapter's live value if it keeps one
    (``session_expires_at``, which follows its own refreshes), else the last login's."""
    inner = getattr(broker, "inner", broker)
    live = getattr(type(inner), "session_expires_at", None)
    if live is not None:
        value = getattr(inner, "session_expires_at", None)
        if isinstance(value, datetime):
            return value
    return info.expires_at if info is not None else None


def countdown_text(state: SessionState, seconds_left: int | None) -> str:
    """The status-bar text: "Session 7h 42m", "Session expires in 04:59", "Session expired"..."""
    if state is SessionState.RELOGGING:
        return "Logging in again…"
    if state is SessionState.EXPIRED:
        return "Session expired: log in again"
    if seconds_left is None:
        return ""
    if state is SessionState.EXPIRING_SOON or seconds_left < 3600:
        minutes, seconds = divmod(max(seconds_left, 0), 60)
        return f"Session expires in {minutes:02d}:{seconds:02d}"
    hours, rest = divmod(seconds_left, 3600)
    return f"Session {hours}h {rest // 60:02d}m"


class SessionLifecycle(QObject):
    """Countdown, dead-session detection and logging in again for one AccountSession.

    ``session`` is the AccountSession (its broker should be a SessionGuard: without one, expiry
    is still counted down and ``relogin`` still works, but failures of other calls go unnoticed
    and orders are not refused). ``orders`` (an OrderService) has its journal reconciled after
    each login. ``auto_relogin``: log in again without asking (default: every broker but those
    needing a browser); a refused one is retried after ``retry_after_s``, doubling each time.
    ``warn_before_s``/``renew_before_s``: seconds before expiry to warn / to log in again ahead.
    ``clock`` returns an aware datetime (tests move it).
    """

    state_changed = Signal(str)  # SessionState value
    seconds_left_changed = Signal(int)  # seconds to expiry, -1 when unknown; once a second
    status_text_changed = Signal(str)  # countdown_text, only when it changes
    expiring_soon = Signal(int)  # seconds left, once per token when the warning is due
    relogged = Signal()  # logged in again and resynchronised; orders accepted again
    relogin_failed = Signal(str)
    _expired_reported = Signal(str, int)  # from any thread: message, guard generation

    def __init__(self, session, orders=None, *, warn_before_s: int = 600, renew_before_s: int = 120,
                 auto_relogin: bool | None = None, retry_after_s: float = 60.0, tick_ms: int = 1000,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), parent=None):
        super().__init__(parent)
        self.session = session
        self.orders = orders
        self.messages = session.messages
        self.guard: SessionGuard | None = session.broker if isinstance(session.broker, SessionGuard) else None
        self.warn_before_s = warn_before_s
        self.renew_before_s = renew_before_s
        name = session.broker.name
        self.auto_relogin = (name not in INTERACTIVE_LOGIN) if auto_relogin is None else auto_relogin
        self.retry_after_s = retry_after_s
        self._retry_wait = retry_after_s  # doubles after each failed automatic login, up to MAX_RETRY_WAIT_S
        self._clock = clock
        self._state = SessionState.ACTIVE
        self._dead = False  # a call proved the token dead (not just the clock)
        self._warned_for: datetime | None = None  # the expiry already warned about
        self._last_auto_attempt = -float("inf")  # time.monotonic() of the last automatic login
        self._relogin_task: asyncio.Task | None = None
        self._probing = False
        self._stopped = False
        self._seconds_left: int | None = None
        self._text = ""
        self._timer = QTimer(self, interval=tick_ms)
        self._timer.timeout.connect(self.check_now)
        self._expired_reported.connect(self._on_expired_reported)
        self._retired = False
        self._listener = lambda exc, gen: self._expired_reported.emit(str(exc), gen)
        if self.guard is not None:
            self.guard.expired_listeners.append(self._listener)
        session.feed_state_changed.connect(self._on_feed_state)
        previous = getattr(session, "lifecycle", None)
        if isinstance(previous, SessionLifecycle) and previous is not self:
            previous.retire()  # one countdown per session: two would both log in again on expiry
        session.lifecycle = self

    # --- what the UI reads ----------------------------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def seconds_left(self) -> int | None:
        """Whole seconds until the token dies (negative once past), None when unknown."""
        return self._seconds_left

    @property
    def expires_at(self) -> datetime | None:
        return token_expiry(self.session.broker, self.session.info)

    @property
    def status_text(self) -> str:
        return self._text

    def start(self) -> None:
        """Begin counting down (connect to AccountSession.ready); a retired lifecycle stays still."""
        if self._retired:
            return
        self._stopped = False
        self.check_now()
        self._timer.start()

    def stop(self) -> None:
        """At shutdown: no more ticks, and a feed going down is no longer news."""
        self._stopped = True
        self._timer.stop()

    def retire(self) -> None:
        """Replaced by a newer lifecycle of the same session: stop for good and stop listening."""
        self._retired = True
        self.stop()
        if self.guard is not None:  # a new list, not an edit: a pool thread may be walking the old one
            self.guard.expired_listeners = [f for f in self.guard.expired_listeners if f is not self._listener]
        try:
            self.session.feed_state_changed.disconnect(self._on_feed_state)
        except (RuntimeError, TypeError):
            pass  # already disconnected

    # --- the countdown --------------------------------------------------------------------------
    def check_now(self) -> None:
        """One tick: recount the seconds left, move the state, renew or warn when due."""
        if self._retired:
            return
        expires = self.expires_at
        left = self._recount()
        self.seconds_left_changed.emit(-1 if left is None else left)
        if self._state is not SessionState.RELOGGING:
            self._set_state(self._state_for(left))
            if self._state is SessionState.EXPIRING_SOON and self._warned_for != expires:
                self._warned_for = expires
                self.messages.warning(f"The {self.session.broker.name} session expires in {max(left, 0) // 60} min.",
                                      "Log in again (Session > Log in again) to keep trading without a break."
                                      if not self.auto_relogin else "The terminal will log in again by itself.")
                self.expiring_soon.emit(left)
            if self._due_for_automatic_login(left):
                self._start_automatic_login()
        self._show_text()

    def _recount(self) -> int | None:
        expires = self.expires_at
        self._seconds_left = None if expires is None else int((expires - self._clock()).total_seconds())
        return self._seconds_left

    def _state_for(self, left: int | None) -> SessionState:
        if self._dead or (left is not None and left <= 0):
            return SessionState.EXPIRED
        if left is not None and left <= self.warn_before_s:
            return SessionState.EXPIRING_SOON
        return SessionState.ACTIVE

    def _due_for_automatic_login(self, left: int | None) -> bool:
        if not self.auto_relogin or time.monotonic() - self._last_auto_attempt < self._retry_wait:
            return False
        return self._dead or (left is not None and left <= self.renew_before_s)

    def _start_automatic_login(self) -> None:
        self._last_auto_attempt = time.monotonic()
        spawn(self.relogin())

    def _set_state(self, state: SessionState) -> None:
        if self.guard is not None:  # orders go out only while the session is alive
            self.guard.refusal = {SessionState.RELOGGING: RELOGGING_REFUSAL,
                                  SessionState.EXPIRED: EXPIRED_REFUSAL}.get(state)
        if state is self._state:
            return
        self._state = state
        log.info("%s session: %s", self.session.broker.name, state.value)
        self.state_changed.emit(state.value)
        self._show_text()

    def _show_text(self) -> None:
        text = countdown_text(self._state, self._seconds_left)
        if text != self._text:
            self._text = text
            self.status_text_changed.emit(text)

    # --- noticing a dead session ----------------------------------------------------------------
    def _on_expired_reported(self, message: str, generation: int) -> None:
        """UI thread: a call through the guard found the session dead."""
        if self._retired:
            return
        if self._state is SessionState.RELOGGING or (self.guard is not None and generation != self.guard.generation):
            return  # a call from before the latest login: already handled
        if not self._dead:
            self._dead = True
            self._set_state(SessionState.EXPIRED)
            if self.auto_relogin:
                self.messages.warning(f"The {self.session.broker.name} session expired ({message}); logging in again.")
            else:
                self.messages.error(f"The {self.session.broker.name} session expired: {message}",
                                    "Log in again (Session > Log in again); orders are refused until then.")
        if self._due_for_automatic_login(self._seconds_left):
            self._start_automatic_login()

    def _on_feed_state(self, state: str, message: str) -> None:
        """The feed went down with a reason: ask the broker whether the session still lives."""
        if state != "DISCONNECTED" or not message or self._probing or self._dead or self._stopped:
            return
        if self._state is SessionState.RELOGGING:
            return
        spawn(self._probe())

    async def _probe(self) -> None:
        """One cheap read; through the guard, a dead session reports itself."""
        self._probing = True
        try:
            await self.session.runner.run(self.session.broker.funds)
        except BrokerError as exc:
            log.info("Session probe after the feed went down: %s", exc)
        finally:
            self._probing = False

    # --- logging in again -----------------------------------------------------------------------
    async def relogin(self) -> bool:
        """Log in again (the "Log in again" action), then resynchronise; True when trading can go on.

        Single-flight: a second call while one runs waits for the same login. Orders are refused
        from the start until the books, the feed and the journal are back in step.
        """
        if self._relogin_task is not None and not self._relogin_task.done():
            return await asyncio.shield(self._relogin_task)
        self._relogin_task = asyncio.ensure_future(self._relogin())
        return await asyncio.shield(self._relogin_task)

    async def _relogin(self) -> bool:
        name = self.session.broker.name
        self._set_state(SessionState.RELOGGING)
        self.messages.info(f"Logging in to {name} again" + ("" if self.auto_relogin else
                                                            " (complete the login in the browser)") + "…")
        try:
            if self.session.info is None:  # never logged in (start failed): the whole start
                ok = await self.session.start()
            else:
                ok = await self.session.log_in_again()
            if ok and self.orders is not None:
                await self.orders.reconcile_journal()
        except Exception as exc:  # never leave the state stuck at RELOGGING
            log.exception("Logging in again failed")
            self.messages.error(f"Logging in to {name} again failed: {exc}")
            ok = False
        if not ok:
            self._dead = True
            self._last_auto_attempt = time.monotonic()  # the next automatic try waits from now
            self._retry_wait = min(self._retry_wait * 2, MAX_RETRY_WAIT_S)
            self._set_state(SessionState.EXPIRED)
            self.relogin_failed.emit(f"Could not log in to {name} again.")
            self.check_now()
            return False
        self._dead = False
        self._retry_wait = self.retry_after_s
        if self.guard is not None:
            self.guard.generation += 1
        self._set_state(self._state_for(self._recount()))  # leave RELOGGING for what the clock says
        self.check_now()
        self.messages.info(f"Logged in to {name} again; orders, positions and subscriptions resynchronised.")
        self.relogged.emit()
        return True
