"""No keyring: a clear message, and an opt-in encrypted file that never holds a secret in plain text."""

import base64

import keyring
import pytest
from keyring.backends import fail

from terminal.storage import secrets
from terminal.storage.encrypted_file import EncryptedSecretFile, SecretFileError, WrongPassphraseError

PASSPHRASE = "correct horse battery staple"
SECRET = "TOTP-SEED-JBSWY3DPEHPK3PXP"


@pytest.fixture
def no_keyring(memory_keyring):
    keyring.set_keyring(fail.Keyring())
    yield
    secrets.stop_using_encrypted_file()
    keyring.set_keyring(memory_keyring)


def every_file_under(home):
    return [p.read_bytes() for p in home.rglob("*") if p.is_file()] if home.exists() else []


def test_without_a_keyring_the_message_says_what_to_do(no_keyring, isolated_home):
    with pytest.raises(secrets.SecretStoreUnavailable) as refused:
        secrets.save_secret("angelone", "A1", "totp_secret", SECRET)
    assert "No system keyring" in str(refused.value) and "encrypted secrets file" in str(refused.value)
    assert "never kept in plain text" in str(refused.value)
    assert not any(SECRET.encode() in blob for blob in every_file_under(isolated_home))
    assert secrets.backend_description() == "none"


def test_the_opted_in_file_stores_secrets_encrypted(no_keyring, isolated_home):
    secrets.use_encrypted_file(PASSPHRASE, create=True)
    secrets.save_secret("angelone", "A1", "totp_secret", SECRET)
    secrets.save_secret("angelone", "A1", "pin", "4321")
    assert secrets.load_secret("angelone", "A1", "totp_secret") == SECRET
    assert secrets.backend_description().startswith("encrypted file")
    path = secrets.encrypted_file_path()
    assert path.is_relative_to(isolated_home) and path.exists()
    blobs = every_file_under(isolated_home)
    for needle in (SECRET.encode(), base64.b64encode(SECRET.encode()), PASSPHRASE.encode(), b"4321"):
        assert not any(needle in blob for blob in blobs)
    assert oct(path.stat().st_mode & 0o777) == "0o600"

    # Next start: locked until the trader gives the passphrase again.
    secrets.stop_using_encrypted_file()
    with pytest.raises(secrets.SecretStoreUnavailable, match="unlock it with your passphrase"):
        secrets.load_secret("angelone", "A1", "totp_secret")
    with pytest.raises(WrongPassphraseError, match="does not open"):
        secrets.use_encrypted_file("not the passphrase")
    secrets.use_encrypted_file(PASSPHRASE)
    assert secrets.load_secret("angelone", "A1", "pin") == "4321"
    secrets.delete_secret("angelone", "A1", "pin")
    assert secrets.load_secret("angelone", "A1", "pin") is None


def test_the_file_refuses_weak_passphrases_missing_files_and_tampering(tmp_path):
    with pytest.raises(SecretFileError, match="at least 8 characters"):
        EncryptedSecretFile(tmp_path / "s.enc", "short", create=True)
    with pytest.raises(SecretFileError, match="no encrypted secrets file"):
        EncryptedSecretFile(tmp_path / "missing.enc", PASSPHRASE)
    store = EncryptedSecretFile(tmp_path / "s.enc", PASSPHRASE, create=True, scrypt_n=2 ** 12)
    store.set("k", SECRET)
    text = (tmp_path / "s.enc").read_text()
    token_start = text.index('"data": "') + len('"data": "')
    flipped = text[:token_start + 40] + ("A" if text[token_start + 40] != "A" else "B") + text[token_start + 41:]
    (tmp_path / "s.enc").write_text(flipped)
    with pytest.raises(WrongPassphraseError):
        EncryptedSecretFile(tmp_path / "s.enc", PASSPHRASE)
    (tmp_path / "s.enc").write_text("{not json")
    with pytest.raises(SecretFileError, match="unreadable"):
        EncryptedSecretFile(tmp_path / "s.enc", PASSPHRASE)


def test_the_keyring_stays_the_store_when_it_exists(memory_keyring, isolated_home):
    secrets.save_secret("flattrade", "FT1", "api_secret", SECRET)
    assert memory_keyring.store[("TradingTerminal", "flattrade:FT1:api_secret")] == SECRET
    assert not secrets.encrypted_file_path().exists()
    assert secrets.backend_description().startswith("system keyring")
