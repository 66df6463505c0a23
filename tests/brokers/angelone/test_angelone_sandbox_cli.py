"""`trading-terminal sandbox smartapi` prints one JSON line that configures the adapter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from terminal.brokers.angelone import create_broker, sandbox_config, store_sandbox_secrets
from terminal.sim.servers.smartapi import SmartApiSandbox


def test_sandbox_cli_first_line_and_login(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from terminal.sim.servers.cli import main; "
                             "sys.exit(main(['smartapi', '--port', '0']))"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) >= {"rest_url", "ws_url", "order_ws_url", "scrip_master_url", "api_key", "client_code",
                             "pin", "totp_secret"}
        assert info["rest_url"].startswith("http://127.0.0.1:") and info["ws_url"].endswith("/smart-stream")
        store_sandbox_secrets(info)
        broker = create_broker(sandbox_config(info))
        assert broker.login().user_name == "SANDBOX TRADER"
    finally:
        proc.terminate()
        proc.wait(10)


def test_sandbox_binds_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        SmartApiSandbox(host="0.0.0.0")


def test_sandbox_cli_takes_a_fault_profile_and_refuses_a_bad_one(tmp_path):
    from terminal.sim.servers.cli import main

    code = ("import sys; from terminal.sim.servers.cli import main; "
            "sys.exit(main(['smartapi', '--faults', 'http_500=0.5,delay_ms=0-10,ws_drop=0.1', '--fault-seed', '3']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)
    try:
        info = json.loads(proc.stdout.readline())
        assert "injecting faults http_500=0.5,delay_ms=0-10,ws_drop=0.1" in proc.stderr.readline()
        store_sandbox_secrets(info)
        broker = create_broker(sandbox_config(info))
        assert broker.session.login().jwt  # the login route itself is never faulted
    finally:
        proc.terminate()
        proc.wait(10)
    with pytest.raises(SystemExit) as exit_:
        main(["smartapi", "--faults", "http_500=1.5"])
    assert exit_.value.code == 2
