"""A keyring backend that keeps secrets in this process's memory: for tests and benchmarks only.

The test suite and the bench install it so that the sandboxes' test secrets (API secret, PIN,
TOTP seed) never reach the machine's real keyring. The product never installs it on its own:
nothing under ``terminal`` outside this module imports it, and a trader's secrets always go to
the operating system's keyring (or the encrypted file they opted in to), see ``secrets.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import keyring
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

__all__ = ["MemoryKeyring", "memory_keyring_installed"]


class MemoryKeyring(KeyringBackend):
    """Secrets in a dict keyed by (service, username); gone when the process ends."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


@contextmanager
def memory_keyring_installed() -> Iterator[MemoryKeyring]:
    """Make a fresh MemoryKeyring the keyring for the duration, then put the previous one back."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
