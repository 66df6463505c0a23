"""Persistence: the order journal (SQLite), settings (platformdirs), secrets (OS keyring). No Qt."""
