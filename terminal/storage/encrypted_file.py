"""An encrypted secrets file, for machines with no OS keyring, used only when the trader opts in.

The file holds one Fernet token (AES-128-CBC with HMAC-SHA256) of a JSON map name -> secret, and
the scrypt parameters and salt that turn the trader's passphrase into the key. Nothing in it is
readable without the passphrase, a wrong passphrase or a tampered file is detected (the HMAC), and
the passphrase itself is never stored.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from terminal.storage.settings import write_atomically

FORMAT = "trading-terminal-secrets"
VERSION = 1
MIN_PASSPHRASE_LENGTH = 8
SCRYPT_N = 2 ** 15  # ~32 MB and ~0.1 s per unlock: cheap for the trader, costly for a guesser
SCRYPT_R = 8
SCRYPT_P = 1


class SecretFileError(RuntimeError):
    """The encrypted secrets file cannot be opened; the message says why and what to do."""


class WrongPassphraseError(SecretFileError):
    pass


def _derive_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
    return base64.urlsafe_b64encode(kdf.derive(passphrase.encode("utf-8")))


class EncryptedSecretFile:
    """Secrets by name in one encrypted file. Thread-safe; every change is written at once.

    Open an existing file with its passphrase, or create one with ``create=True``.
    """

    def __init__(self, path: Path, passphrase: str, *, create: bool = False, scrypt_n: int = SCRYPT_N):
        self.path = Path(path)
        self._lock = threading.Lock()
        if self.path.exists():
            self._open(passphrase)
        elif create:
            if len(passphrase) < MIN_PASSPHRASE_LENGTH:
                raise SecretFileError(f"Choose a passphrase of at least {MIN_PASSPHRASE_LENGTH} characters.")
            self._salt = os.urandom(16)
            self._params = {"n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P}
            self._fernet = Fernet(_derive_key(passphrase, self._salt, **self._params))
            self._secrets: dict[str, str] = {}
            self._write()
        else:
            raise SecretFileError(f"There is no encrypted secrets file at {self.path}.")

    def _open(self, passphrase: str) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError("not a secrets file of this terminal")
            kdf = data["kdf"]
            self._salt = base64.b64decode(kdf["salt"])
            self._params = {"n": int(kdf["n"]), "r": int(kdf["r"]), "p": int(kdf["p"])}
            token = data["data"].encode("ascii")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SecretFileError(f"The encrypted secrets file {self.path} is unreadable ({exc}).") from exc
        self._fernet = Fernet(_derive_key(passphrase, self._salt, **self._params))
        try:
            self._secrets = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise WrongPassphraseError(
                "The passphrase does not open the encrypted secrets file (or the file was altered).") from None

    def _write(self) -> None:
        token = self._fernet.encrypt(json.dumps(self._secrets).encode("utf-8")).decode("ascii")
        document = {"format": FORMAT, "version": VERSION,
                    "kdf": {"name": "scrypt", "salt": base64.b64encode(self._salt).decode("ascii"), **self._params},
                    "data": token}
        write_atomically(self.path, json.dumps(document, indent=1))
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass  # Windows: the user's profile folder is private already

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._secrets.get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            self._secrets[name] = value
            self._write()

    def delete(self, name: str) -> None:
        with self._lock:
            if self._secrets.pop(name, None) is not None:
                self._write()
