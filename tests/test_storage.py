import json
import sqlite3

import keyring
import pytest
from keyring.backends import fail

from terminal.domain import OrderRequest, Side
from terminal.storage import secrets
from terminal.storage.journal import JournalState, OrderJournal
from terminal.storage.settings import Settings


def request(tag="TTAAAA000001"):
    return OrderRequest(account="paper:T", instrument_key="NFO:1", side=Side.BUY, quantity=65, price=10_000, tag=tag)


def test_intent_is_on_disk_before_the_outcome(tmp_path):
    journal = OrderJournal(tmp_path / "j.sqlite3")
    journal.record_intent(request())
    # A second connection (as after a crash) sees the intent without any close or flush.
    other = sqlite3.connect(tmp_path / "j.sqlite3")
    assert other.execute("SELECT state FROM order_journal WHERE tag = 'TTAAAA000001'").fetchone() == ("INTENT",)
    journal.record_outcome("TTAAAA000001", JournalState.SENT, "1001")
    entry = journal.entry("TTAAAA000001")
    assert (entry.state, entry.order_id, entry.payload["side"], entry.payload["price"]) == (
        JournalState.SENT, "1001", "BUY", 10_000)


def test_a_tag_is_journaled_once(tmp_path):
    journal = OrderJournal(tmp_path / "j.sqlite3")
    journal.record_intent(request())
    with pytest.raises(sqlite3.IntegrityError):
        journal.record_intent(request())


def test_unresolved_lists_intents_and_unknowns_only(tmp_path):
    journal = OrderJournal(tmp_path / "j.sqlite3")
    for i, state in enumerate([None, JournalState.UNKNOWN, JournalState.SENT, JournalState.REJECTED]):
        tag = f"TT{i:010d}"
        journal.record_intent(request(tag))
        if state:
            journal.record_outcome(tag, state)
    assert sorted(e.tag for e in journal.unresolved()) == ["TT0000000000", "TT0000000001"]
    reopened = OrderJournal(tmp_path / "j.sqlite3")
    assert len(reopened.unresolved("paper:T")) == 2 and reopened.unresolved("other") == []


def test_outcome_for_an_unknown_tag_is_an_error(tmp_path):
    with pytest.raises(KeyError):
        OrderJournal(tmp_path / "j.sqlite3").record_outcome("nope", JournalState.SENT)


def test_journal_uses_wal(tmp_path):
    OrderJournal(tmp_path / "j.sqlite3")
    assert sqlite3.connect(tmp_path / "j.sqlite3").execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_settings_round_trip_and_defaults(tmp_path):
    settings = Settings(tmp_path / "s.json")
    assert settings.get("theme") == "dark"
    settings.set("theme", "light")
    settings.save()
    settings.flush()
    assert json.loads((tmp_path / "s.json").read_text())["theme"] == "light"
    assert Settings(tmp_path / "s.json").get("theme") == "light"


def test_corrupt_settings_fall_back_to_defaults(tmp_path):
    (tmp_path / "s.json").write_text("{not json")
    assert Settings(tmp_path / "s.json").get("theme") == "dark"


def test_secrets_go_to_the_keyring_and_nowhere_else(memory_keyring, isolated_home):
    secrets.save_secret("flattrade", "FT1", "api_secret", "s3cr3t-value")
    assert secrets.load_secret("flattrade", "FT1", "api_secret") == "s3cr3t-value"
    assert ("TradingTerminal", "flattrade:FT1:api_secret") in memory_keyring.store
    on_disk = [p.read_bytes() for p in isolated_home.rglob("*") if p.is_file()] if isolated_home.exists() else []
    assert not any(b"s3cr3t-value" in blob for blob in on_disk)
    secrets.delete_secret("flattrade", "FT1", "api_secret")
    assert secrets.load_secret("flattrade", "FT1", "api_secret") is None
    assert secrets.mask("s3cr3t-value") == "••••••••"


def test_no_keyring_backend_means_a_clear_error_not_plain_text(memory_keyring):
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(secrets.SecretStoreUnavailable, match="keyring"):
            secrets.save_secret("angelone", "A1", "pin", "1234")
    finally:
        keyring.set_keyring(memory_keyring)
