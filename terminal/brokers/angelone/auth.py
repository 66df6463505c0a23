"""Login with client code + PIN + TOTP, token refresh, and authenticated calls that survive AG8001.

Policy (protocol notes, section 13): AG8001/AG8002/AG8003 -> refresh with the refresh token and
repeat the call once; if the refresh itself is refused (AB8050/AB8051/...) log in again from the
keyring secrets. A refresh also happens shortly before the JWT's own expiry. Refreshing is
single-flight: threads that hit an expired token together cause one refresh, not one each.

Repeating a call after AG8001 is safe even for a placement: the gateway checks the token before
the order system sees the request, so an AG8001 reply means nothing was done. It is the only
repeat in the adapter, and it happens once. The sandbox's fault profiles inject AG8001 only
before a call is carried out, as the gateway does, and tests/faults/test_angelone_faults.py
checks from the sandbox's own record of placeOrder requests that no tag ever reached the order
system twice and that a request was repeated only after AG8001.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp

from terminal.brokers.angelone.http import Reply, SmartApiError, SmartApiHttp
from terminal.brokers.base import AuthenticationError, SessionExpiredError

log = logging.getLogger(__name__)

TOKEN_CODES = frozenset({"AG8001", "AG8002", "AG8003"})  # refresh and repeat
RELOGIN_CODES = frozenset({"AB8050", "AB8051", "AB1010", "AB1011"})  # refresh impossible: log in again
REFRESH_MARGIN = 60.0  # seconds before the JWT's expiry at which it is refreshed ahead of time

# (pin, totp secret) for a client code; reads the keyring in production
SecretSource = Callable[[], tuple[str, str]]


@dataclass(frozen=True, slots=True)
class SessionTokens:
    jwt: str
    refresh: str
    feed: str
    expires_at: float | None  # epoch seconds from the JWT's "exp", None if it has none


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (epoch seconds), read without verifying; None if absent/unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _strip_bearer(token: str) -> str:
    return token[7:] if token.lower().startswith("bearer ") else token


class SmartApiSession:
    """The logged-in state of one client code and every authenticated call made with it."""

    def __init__(self, http: SmartApiHttp, client_code: str, secrets: SecretSource,
                 clock: Callable[[], float] = time.time):
        self.http = http
        self.client_code = client_code
        self._secrets = secrets
        self._clock = clock
        self._tokens: SessionTokens | None = None
        self._generation = 0  # bumped on every new token set; lets waiting threads skip a refresh
        self._lock = threading.Lock()
        self.token_listeners: list[Callable[[SessionTokens], None]] = []

    @property
    def tokens(self) -> SessionTokens | None:
        return self._tokens

    def _require(self) -> SessionTokens:
        tokens = self._tokens
        if tokens is None:
            raise SessionExpiredError("Not logged in to Angel One.")
        return tokens

    # --- login, refresh, logout ---------------------------------------------------------------
    def login(self) -> SessionTokens:
        """Log in with the PIN and the current TOTP code. Raises AuthenticationError if refused."""
        with self._lock:
            return self._login_locked()

    def _login_locked(self) -> SessionTokens:
        pin, totp_secret = self._secrets()
        try:
            code = pyotp.TOTP(totp_secret).now()
        except (ValueError, TypeError) as exc:
            raise AuthenticationError("The Angel One TOTP secret in the keyring is not valid base32.") from exc
        reply = self.http.send("login", {"clientcode": self.client_code, "password": pin, "totp": code})
        if not reply.ok:
            raise AuthenticationError(f"Angel One login refused: {reply.message or 'no reason given'}"
                                      + (f" ({reply.code})" if reply.code else ""))
        return self._store(reply.data)

    def _store(self, data) -> SessionTokens:
        if not isinstance(data, dict) or not data.get("jwtToken") or not data.get("feedToken"):
            raise AuthenticationError("Angel One login reply carried no tokens.")
        jwt = _strip_bearer(str(data["jwtToken"]))
        tokens = SessionTokens(jwt, str(data.get("refreshToken") or ""), str(data["feedToken"]), jwt_expiry(jwt))
        self._tokens = tokens
        self._generation += 1
        for listener in list(self.token_listeners):
            try:
                listener(tokens)
            except Exception:  # a listener must not break the login
                log.exception("token listener failed")
        return tokens

    def refresh(self, seen_generation: int | None = None) -> SessionTokens:
        """New tokens from the refresh token (or a fresh login if that is refused). Single-flight."""
        with self._lock:
            if seen_generation is not None and seen_generation != self._generation and self._tokens:
                return self._tokens  # another thread already refreshed
            tokens = self._tokens
            if tokens is None or not tokens.refresh:
                return self._login_locked()
            reply = self.http.send("refresh", {"refreshToken": tokens.refresh}, jwt=tokens.jwt)
            if reply.ok:
                log.info("angelone: tokens refreshed")
                return self._store(reply.data)
            log.warning("angelone: refresh refused (%s %s); logging in again", reply.code, reply.message)
            return self._login_locked()

    def logout(self) -> None:
        tokens = self._tokens
        if tokens is None:
            return
        try:
            self.http.send("logout", {"clientcode": self.client_code}, jwt=tokens.jwt)
        finally:
            self._tokens = None

    # --- authenticated calls ------------------------------------------------------------------
    def call(self, name: str, body: dict | None = None, *, suffix: str = "") -> Reply:
        """Call ``name`` with the current JWT; on a token error refresh once and repeat.

        Returns the Reply whatever its status (callers map failures); raises SessionExpiredError
        if the session cannot be renewed.
        """
        tokens = self._require()
        generation = self._generation
        if tokens.expires_at is not None and tokens.expires_at - self._clock() < REFRESH_MARGIN:
            tokens = self.refresh(generation)
            generation = self._generation
        reply = self.http.send(name, body, jwt=tokens.jwt, suffix=suffix)
        if reply.ok or reply.code not in TOKEN_CODES | RELOGIN_CODES:
            return reply
        log.info("angelone %s: %s %s; renewing the session", name, reply.code, reply.message)
        try:
            tokens = self.refresh(generation)
        except AuthenticationError as exc:
            raise SessionExpiredError(f"Angel One session expired and could not be renewed: {exc}") from exc
        reply = self.http.send(name, body, jwt=tokens.jwt, suffix=suffix)
        if not reply.ok and reply.code in TOKEN_CODES | RELOGIN_CODES:
            raise SessionExpiredError(f"Angel One refused the new session token: {reply.message} ({reply.code})")
        return reply

    def data(self, name: str, body: dict | None = None, *, suffix: str = ""):
        """``call`` and return ``data``, raising SmartApiError when the broker says no."""
        reply = self.call(name, body, suffix=suffix)
        if not reply.ok:
            raise SmartApiError(reply.message or f"Angel One refused {name}", reply.code)
        return reply.data
