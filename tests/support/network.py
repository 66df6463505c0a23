"""Loopback helpers for the sandbox tests and the benchmarks: a free port and the test 'browser'.

Kept free of pytest so that ``bench/`` can import it too (as ``tests.support.network``).
"""

from __future__ import annotations

import socket
import threading

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for the Flattrade login redirect)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def follow_login_page(url: str, timeout: float = 5.0) -> None:
    """The 'browser': GET the Noren sandbox's auto-approving login page on a background thread and
    follow its redirect to the broker's loopback listener. ``timeout`` in seconds, per request.

    Pass it as the broker's ``opener``; for another timeout, ``functools.partial(follow_login_page,
    timeout=...)``."""
    threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": timeout}, daemon=True).start()
