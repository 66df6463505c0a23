"""Secrets never reach a log file or a crash report.

Every log record is redacted when it is made (a log record factory), so every logger and every
handler, including ones added later and third-party ones (urllib3, websocket), sees clean text;
a filter on the root logger's handlers catches records made any other way. Redaction masks:

- the value of any secret-bearing field, written ``key=value`` (query strings, form bodies),
  ``"key": "value"`` (JSON, Python reprs), ``key: value`` (headers) or URL-encoded JSON
  (``%22pwd%22%3A%22...%22``, as in Noren's ``jData``);
- ``Bearer <token>`` wherever it appears;
- every literal secret value registered with ``register_secret`` (the secret store registers each
  value it saves or loads), in plain, URL-encoded and JSON-escaped form.

Exception text and tracebacks are redacted too, and ``install_crash_reports`` writes a redacted
report for an exception nobody caught.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import sys
import threading
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

MASK = "[redacted]"
MIN_LITERAL_LENGTH = 4  # a 4-digit PIN is a secret; anything shorter would mask half the log

#: Field names whose values are secrets, in the words of Noren (Flattrade), SmartAPI (Angel One) and OAuth.
SECRET_FIELDS = (
    "jkey", "susertoken", "accesstoken", "access_token", "access-token", "authorization", "password", "passwd",
    "pwd", "pin", "mpin", "totp", "otp", "totp_secret", "totpsecret", "api_secret", "apisecret", "secret",
    "client_secret", "secret_key", "refresh_token", "refreshtoken", "feed_token", "feedtoken", "jwttoken",
    "jwt_token", "jwt", "appkey", "app_key", "api_key", "apikey", "x-privatekey", "privatekey", "request_code",
    "passphrase", "factor2",
)

_KEYS = "|".join(re.escape(k) for k in sorted(SECRET_FIELDS, key=len, reverse=True))
_START = r"(?<![A-Za-z0-9_\-])"  # a whole field name, not the tail of another word ("mapping", "spin")
_QUOTED = re.compile(
    _START + r"(?P<k>(?:" + _KEYS + r"))(?P<sep>[\"']?\s*[:=]\s*)(?P<q>[\"'])(?P<v>(?:\\.|(?!(?P=q)).)*)(?P=q)",
    re.IGNORECASE)
_UNQUOTED = re.compile(
    _START + r"(?P<k>(?:" + _KEYS + r"))(?P<sep>[\"']?\s*[:=]\s*)(?![\"'\s\[{])(?P<v>[^\s&,;\"'(){}\[\]<>]+)",
    re.IGNORECASE)
_URL_JSON = re.compile(
    r"(?P<k>(?:%22|%27)(?:" + _KEYS + r")(?:%22|%27))(?P<sep>(?:%3A|:)(?:%20|\+)*)(?P<q>%22|%27)(?P<v>.*?)(?P=q)",
    re.IGNORECASE)
_BEARER = re.compile(r"\b(?P<k>Bearer|Basic)\s+(?P<v>[A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)

_literals: set[str] = set()
_literal_pattern: re.Pattern | None = None
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in a log line from now on (plain, URL- and JSON-encoded)."""
    global _literal_pattern
    if not value or len(value) < MIN_LITERAL_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    with _lock:
        if forms <= _literals:
            return
        _literals.update(f for f in forms if len(f) >= MIN_LITERAL_LENGTH)
        alternatives = sorted(_literals, key=len, reverse=True)
        _literal_pattern = re.compile("|".join(re.escape(a) for a in alternatives))


def forget_registered_secrets() -> None:
    """Tests only: start from no registered values."""
    global _literal_pattern
    with _lock:
        _literals.clear()
        _literal_pattern = None


def redact(text: str) -> str:
    """``text`` with every secret value masked."""
    if not text:
        return text
    pattern = _literal_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_JSON.sub(lambda m: f"{m['k']}{m['sep']}{m['q']}{MASK}{m['q']}", text)
    text = _QUOTED.sub(lambda m: f"{m['k']}{m['sep']}{m['q']}{MASK}{m['q']}", text)
    text = _BEARER.sub(lambda m: f"{m['k']} {MASK}", text)
    text = _UNQUOTED.sub(lambda m: f"{m['k']}{m['sep']}{MASK}", text)
    return text


# --- logging ---------------------------------------------------------------------------------------
def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Bake the message and any exception text into the record, redacted (idempotent)."""
    if getattr(record, "_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what we can, masked
        message = f"{record.msg!r} % {record.args!r}"
    record.msg, record.args = redact(message), None
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        record.exc_info = None  # only the redacted text may reach a handler
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._redacted = True
    return record


class RedactingFilter(logging.Filter):
    """A handler filter: never drops a record, only masks it."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_FILTER = RedactingFilter()
_installed_factory = None  # the factory that was in place before ours, once installed


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Redact every record from now on: a record factory, plus the filter on ``logger`` (root) and
    its handlers. Call it at start, and again after adding a handler (it is idempotent)."""
    global _installed_factory
    with _lock:
        if _installed_factory is None:
            previous = logging.getLogRecordFactory()

            def factory(*args, **kwargs):
                return redact_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            _installed_factory = previous
    target = logger or logging.getLogger()
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)
    for handler in target.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return _FILTER


def uninstall_log_redaction(logger: logging.Logger | None = None) -> None:
    """Undo ``install_log_redaction`` (tests, which share one process)."""
    global _installed_factory
    with _lock:
        if _installed_factory is not None:
            logging.setLogRecordFactory(_installed_factory)
            _installed_factory = None
    target = logger or logging.getLogger()
    target.removeFilter(_FILTER)
    for handler in target.handlers:
        handler.removeFilter(_FILTER)


# --- crash reports -----------------------------------------------------------------------------------
def write_crash_report(exc_type, exc, tb, folder: Path | None = None) -> Path | None:
    """Write a redacted traceback to ``crash-<time>.txt`` in the log folder; returns its path.

    Never raises: it runs inside an exception hook, where a second error would hide the first.
    """
    try:
        from terminal.storage.paths import log_dir

        text = redact("".join(traceback.format_exception(exc_type, exc, tb)))
        folder = folder or log_dir()
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        path = folder / f"crash-{stamp}.txt"
        path.write_text(text, encoding="utf-8")
        logging.getLogger("terminal.crash").critical("Unhandled error; crash report written to %s\n%s", path, text)
        return path
    except BaseException:  # noqa: BLE001 - last line of defence
        try:
            sys.__stderr__.write("Unhandled error, and the crash report could not be written.\n")
        except BaseException:  # noqa: BLE001
            pass
        return None


# Called with the report's path after each crash report (from whichever thread crashed): the app
# uses it to tell the trader where the report is.
crash_listeners: list = []


def _excepthook(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    path = write_crash_report(exc_type, exc, tb)
    for listener in list(crash_listeners):
        try:
            listener(path)
        except BaseException:  # noqa: BLE001 - a listener must not hide the crash
            pass
    try:
        # What the default hook would print, but redacted.
        sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))
        if path is not None:
            sys.stderr.write(f"Crash report: {path}\n")
    except BaseException:  # noqa: BLE001
        pass


def _thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    _excepthook(args.exc_type, args.exc_value, args.exc_traceback)


def install_crash_reports() -> None:
    """Route uncaught exceptions (main thread, other threads, Qt slots) to redacted crash reports."""
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook


def install() -> RedactingFilter:
    """What the app calls once at start, after setting up logging."""
    install_crash_reports()
    return install_log_redaction()
