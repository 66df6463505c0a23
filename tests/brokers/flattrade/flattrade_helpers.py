"""Helpers for the Flattrade tests, under the names these tests import them by.

The helpers themselves are shared with the other tests and live in ``tests/support``."""

from __future__ import annotations

from support.feed_sink import RecordingSink
from support.network import follow_login_page as follow_in_background
from support.network import free_port
from support.polling import wait_for

__all__ = ["RecordingSink", "follow_in_background", "free_port", "wait_for"]
