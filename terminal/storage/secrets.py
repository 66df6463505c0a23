"""Broker secrets in the operating system's keyring, never in files or logs.

There is no plain-text fallback: on a machine with no keyring backend, saving a secret raises
SecretStoreUnavailable with a message that says what to install.
"""

from __future__ import annotations

import keyring
import keyring.errors
from keyring.backends import fail

SERVICE = "TradingTerminal"


class SecretStoreUnavailable(RuntimeError):
    pass


def _name(broker: str, client_id: str, field: str) -> str:
    return f"{broker}:{client_id}:{field}"


def _check_backend() -> None:
    if isinstance(keyring.get_keyring(), fail.Keyring):
        raise SecretStoreUnavailable(
            "No system keyring is available to store broker secrets safely. Install and unlock one "
            "(GNOME Keyring or KWallet on Linux; Windows and macOS have one built in)."
        )


def save_secret(broker: str, client_id: str, field: str, value: str) -> None:
    _check_backend()
    try:
        keyring.set_password(SERVICE, _name(broker, client_id, field), value)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreUnavailable(f"The system keyring refused to store the secret: {exc}") from exc


def load_secret(broker: str, client_id: str, field: str) -> str | None:
    _check_backend()
    try:
        return keyring.get_password(SERVICE, _name(broker, client_id, field))
    except keyring.errors.KeyringError as exc:
        raise SecretStoreUnavailable(f"The system keyring could not be read: {exc}") from exc


def delete_secret(broker: str, client_id: str, field: str) -> None:
    _check_backend()
    try:
        keyring.delete_password(SERVICE, _name(broker, client_id, field))
    except keyring.errors.PasswordDeleteError:
        pass


def mask(secret: str | None) -> str:
    """What may appear in a log or on screen instead of a secret."""
    if not secret:
        return "(not set)"
    return "•" * 8
