"""Broker secrets in the operating system's keyring, never in plain files or logs.

There is no plain-text fallback. On a machine with no keyring backend, saving or reading a secret
raises SecretStoreUnavailable with a message that says what to install, or how to opt in to the
encrypted-file fallback: ``use_encrypted_file(passphrase, create=True)`` once, then
``use_encrypted_file(passphrase)`` at every start (the passphrase is never stored).

Every secret saved or loaded is registered with the log redaction, so its value is masked in any
log line or crash report it might end up in.
"""

from __future__ import annotations

from pathlib import Path

import keyring
import keyring.errors
from keyring.backends import fail

from terminal.storage.encrypted_file import EncryptedSecretFile, SecretFileError, WrongPassphraseError
from terminal.storage.paths import config_dir
from terminal.storage.redaction import register_secret

SERVICE = "TradingTerminal"
ENCRYPTED_FILE_NAME = "secrets.enc"

__all__ = [
    "SecretStoreUnavailable", "SecretFileError", "WrongPassphraseError", "save_secret", "load_secret",
    "delete_secret", "mask", "keyring_available", "encrypted_file_path", "use_encrypted_file",
    "stop_using_encrypted_file", "backend_description",
]

_file_store: EncryptedSecretFile | None = None  # set only when the trader opted in and unlocked it


class SecretStoreUnavailable(RuntimeError):
    pass


def _name(broker: str, client_id: str, field: str) -> str:
    return f"{broker}:{client_id}:{field}"


# --- which store ----------------------------------------------------------------------------------
def keyring_available() -> bool:
    """True if the OS keyring has a usable backend."""
    return not isinstance(keyring.get_keyring(), fail.Keyring)


def encrypted_file_path() -> Path:
    return config_dir() / ENCRYPTED_FILE_NAME


def use_encrypted_file(passphrase: str, *, create: bool = False, path: Path | None = None) -> None:
    """Opt in to (``create=True``) or unlock the encrypted secrets file; from then on it is the store.

    Raises WrongPassphraseError or SecretFileError with a message for the trader.
    """
    global _file_store
    _file_store = EncryptedSecretFile(path or encrypted_file_path(), passphrase, create=create)


def stop_using_encrypted_file() -> None:
    """Forget the unlocked file (its key leaves memory); the keyring is the store again."""
    global _file_store
    _file_store = None


def backend_description() -> str:
    if _file_store is not None:
        return f"encrypted file {_file_store.path}"
    if keyring_available():
        return f"system keyring ({type(keyring.get_keyring()).__name__})"
    return "none"


def _check_backend() -> None:
    if _file_store is not None or keyring_available():
        return
    if encrypted_file_path().exists():
        raise SecretStoreUnavailable(
            "No system keyring is available, and the encrypted secrets file is locked: unlock it with "
            "your passphrase (Settings > Security).")
    raise SecretStoreUnavailable(
        "No system keyring is available to store broker secrets safely. Install and unlock one (GNOME "
        "Keyring or KWallet on Linux; Windows and macOS have one built in), or opt in to an encrypted "
        "secrets file protected by a passphrase (Settings > Security). Secrets are never kept in plain text.")


# --- secrets --------------------------------------------------------------------------------------
def save_secret(broker: str, client_id: str, field: str, value: str) -> None:
    register_secret(value)
    _check_backend()
    name = _name(broker, client_id, field)
    if _file_store is not None:
        _file_store.set(name, value)
        return
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as exc:
        raise SecretStoreUnavailable(f"The system keyring refused to store the secret: {exc}") from exc


def load_secret(broker: str, client_id: str, field: str) -> str | None:
    _check_backend()
    name = _name(broker, client_id, field)
    if _file_store is not None:
        value = _file_store.get(name)
    else:
        try:
            value = keyring.get_password(SERVICE, name)
        except keyring.errors.KeyringError as exc:
            raise SecretStoreUnavailable(f"The system keyring could not be read: {exc}") from exc
    register_secret(value)
    return value


def delete_secret(broker: str, client_id: str, field: str) -> None:
    _check_backend()
    name = _name(broker, client_id, field)
    if _file_store is not None:
        _file_store.delete(name)
        return
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass


def mask(secret: str | None) -> str:
    """What may appear in a log or on screen instead of a secret."""
    if not secret:
        return "(not set)"
    return "•" * 8
