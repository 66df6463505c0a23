"""Flattrade login: the browser flow with a loopback redirect (RFC 8252) and the code exchange.

1. Listen on 127.0.0.1:<redirect_port> (the redirect URL registered with the API key).
2. Open ``{auth_url}?app_key=<API_KEY>`` in the system browser; the trader logs in there.
3. Flattrade redirects the browser to the listener with ``?code=...`` (the docs also say
   ``request_code``; both are accepted) and usually ``&client=<UCC>``.
4. POST JSON ``{"api_key", "request_code", "api_secret": sha256hex(api_key + code + secret)}`` to
   the token URL; the reply's ``token`` is the session for the trading day (``jKey`` on every
   REST call, ``accesstoken`` on the websocket). Tokens die between 05:00 and 06:00 IST.

If the redirect cannot be caught (another program holds the port, a remote browser), the
trader pastes the redirect URL and ``code_from_redirect_url`` reads the code from it.
"""

from __future__ import annotations

import hashlib
import threading
import webbrowser
from collections.abc import Callable
from datetime import datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import requests

from terminal.brokers.base import AuthenticationError, NetworkError

IST = ZoneInfo("Asia/Kolkata")
TOKEN_RESET_START = time(5, 0)  # Flattrade clears tokens between 05:00 and 06:00 IST

Opener = Callable[[str], object]


def token_checksum(api_key: str, code: str, api_secret: str) -> str:
    """Lower-case hex SHA-256 of api_key + code + api_secret, plain concatenation."""
    return hashlib.sha256(f"{api_key}{code}{api_secret}".encode()).hexdigest()


def auth_page_url(auth_url: str, api_key: str) -> str:
    return f"{auth_url}?{urlencode({'app_key': api_key})}"


def code_from_redirect_url(url: str) -> str:
    """The one-time code in a pasted redirect URL (``code`` or ``request_code``). Raises AuthenticationError."""
    query = parse_qs(urlsplit(url.strip()).query)
    for name in ("code", "request_code"):
        if query.get(name) and query[name][0].strip():
            return query[name][0].strip()
    raise AuthenticationError(
        "That URL carries no login code.",
        hint="Copy the whole address from the browser after logging in; it contains ?code=...")


def exchange_code(token_url: str, api_key: str, api_secret: str, code: str, timeout: float = 10.0,
                  session: requests.Session | None = None) -> tuple[str, str]:
    """Trade the one-time ``code`` for a session token; returns (token, client id from the reply)."""
    body = {"api_key": api_key, "request_code": code, "api_secret": token_checksum(api_key, code, api_secret)}
    poster = session or requests
    try:
        response = poster.post(token_url, json=body, timeout=timeout)
    except requests.RequestException as exc:
        raise NetworkError(f"Flattrade token exchange failed: {exc.__class__.__name__}: {exc}") from exc
    try:
        reply = response.json()
    except ValueError:
        raise AuthenticationError(f"Flattrade token exchange: HTTP {response.status_code}, "
                                  f"{response.text[:160]!r}") from None
    token = str(reply.get("token") or "") if isinstance(reply, dict) else ""
    if not token:
        emsg = reply.get("emsg") if isinstance(reply, dict) else None
        raise AuthenticationError(f"Flattrade refused the login code: {emsg or response.text[:160]}",
                                  hint="Log in again: the code lives only a few minutes and works once. "
                                       "Check the API key and secret in Settings > Brokers.")
    return token, str(reply.get("client") or "")


def token_valid_until(issued: datetime) -> datetime:
    """When a token issued at ``issued`` dies: the next 05:00 IST (one issued during the 05:00-06:00
    reset window is trusted only until 06:00)."""
    issued = issued.astimezone(IST)
    reset_start = datetime.combine(issued.date(), TOKEN_RESET_START, tzinfo=IST)
    if issued < reset_start:
        return reset_start
    if issued < reset_start + timedelta(hours=1):
        return reset_start + timedelta(hours=1)
    return reset_start + timedelta(days=1)


class _RedirectHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        query = parse_qs(urlsplit(self.path).query)
        code = (query.get("code") or query.get("request_code") or [""])[0]
        error = (query.get("error") or query.get("emsg") or [""])[0]
        if code or error:
            self.server.result = (code, (query.get("client") or [""])[0], error)  # type: ignore[attr-defined]
            self.server.done.set()  # type: ignore[attr-defined]
        message = ("Login complete. You can close this tab and return to the trading terminal."
                   if code else "Waiting for the Flattrade login..." if not error else f"Login failed: {error}")
        body = f"<html><body><h3>{message}</h3></body></html>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the code out of logs
        pass


class LoopbackRedirect:
    """A one-shot listener on 127.0.0.1:``port`` that catches the login redirect."""

    def __init__(self, port: int):
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), _RedirectHandler)
        except OSError as exc:
            raise AuthenticationError(
                f"Cannot listen for the login redirect on 127.0.0.1:{port}: {exc.strerror}",
                hint="Close the program using that port, or log in by pasting the redirect URL.") from exc
        self._server.done = threading.Event()  # type: ignore[attr-defined]
        self._server.result = ("", "", "")  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="flattrade-login-redirect", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def wait(self, timeout: float) -> tuple[str, str]:
        """(code, client) once the browser arrives. Raises AuthenticationError on timeout or error."""
        try:
            if not self._server.done.wait(timeout):  # type: ignore[attr-defined]
                raise AuthenticationError("The Flattrade login was not completed in time.",
                                          hint="Log in again, or paste the redirect URL from the browser.")
            code, client, error = self._server.result  # type: ignore[attr-defined]
            if not code:
                raise AuthenticationError(f"Flattrade login failed: {error}")
            return code, client
        finally:
            self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def browser_login_code(auth_url: str, api_key: str, redirect_port: int, timeout: float,
                       opener: Opener | None = None) -> tuple[str, str]:
    """Run steps 1-3: listen, open the browser (``opener``, default webbrowser.open), catch the code."""
    listener = LoopbackRedirect(redirect_port)
    try:
        (opener or webbrowser.open)(auth_page_url(auth_url, api_key))
    except Exception:
        listener.close()
        raise
    return listener.wait(timeout)
