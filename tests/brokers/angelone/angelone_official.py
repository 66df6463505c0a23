"""Import the official smartapi-python client as a test reference, with its outside calls neutralised.

On import it fetches https://api.ipify.org (its public-IP lookup). Here every socket connect to a
non-loopback address raises and is recorded, so a test can prove nothing outside was contacted.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from contextlib import contextmanager

OUTSIDE_ATTEMPTS: list[object] = []


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@contextmanager
def loopback_only():
    """Refuse (and record) every outside connect and DNS lookup while active."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            OUTSIDE_ATTEMPTS.append(address)
            raise OSError(f"blocked outside connection to {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_loopback(host):
            OUTSIDE_ATTEMPTS.append(host)
            raise socket.gaierror(f"blocked lookup of {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect, socket.getaddrinfo = real_connect, real_getaddrinfo


def import_official(log_dir):
    """(SmartConnect, SmartWebSocketV2) with the import-time IP lookup blocked; logs go to ``log_dir``."""
    cwd = os.getcwd()
    os.chdir(log_dir)  # the client writes ./logs/<date>/app.log
    try:
        with loopback_only():
            from SmartApi.smartConnect import SmartConnect
            from SmartApi.smartWebSocketV2 import SmartWebSocketV2
    finally:
        os.chdir(cwd)
    return SmartConnect, SmartWebSocketV2
