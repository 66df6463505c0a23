"""The benchmarks still run: each of them in a tiny configuration, and the report renders.

No timing is asserted here (speed is judged in BENCHMARKS.md, side by side with references);
this only keeps the benchmark code from rotting as the terminal changes under it.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # bench/ sits beside terminal/, outside the installed package
    sys.path.insert(0, str(REPO))

ROW_KEYS = {"name", "value", "unit", "reference", "reference_value", "ratio"}


def check_rows(rows: list[dict]) -> None:
    assert rows
    for r in rows:
        assert ROW_KEYS <= set(r), r
        assert r["value"] is None or math.isfinite(r["value"]) or math.isnan(r["value"])


@pytest.fixture
def fresh_loop():
    """The benches install their own qasync loop; leave none behind for the next test."""
    import asyncio

    yield
    asyncio.set_event_loop(None)


def test_pipeline_runs_both_designs_on_a_tiny_load(qapp, fresh_loop):
    from bench import bench_pipeline

    rows = bench_pipeline.run(bench_pipeline.SMOKE)
    check_rows(rows)
    busy = next(r for r in rows if "UI thread busy (CPU" in r["name"])
    assert busy["value"] is not None and busy["reference_value"] is not None
    latency = next(r for r in rows if r["name"].endswith("latency p50"))
    assert latency["value"] is not None and latency["value"] == latency["value"]  # ticks reached the watch
    assert "| 2,000 |" in bench_pipeline.details()


def test_orders_reach_the_broker_from_key_presses(qapp, fresh_loop):
    from bench import bench_orders

    rows = bench_orders.run(bench_orders.SMOKE)
    check_rows(rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["F1/F2 then Enter → place_order, p50"]["value"] is not None
    condor = next(r for r in rows if r["name"].startswith("iron condor") and r["name"].endswith("p50"))
    assert condor["value"] is not None and condor["reference_value"] is not None
    assert not condor["note"], condor["note"]  # every leg accepted
    for label in ("Noren sandbox (Flattrade adapter)", "SmartAPI sandbox (Angel One adapter)"):
        sandbox = by_name[f"Enter → first request bytes on the {label} socket, p50"]
        assert sandbox["value"] is not None and sandbox["reference_value"] is not None, sandbox
        assert not sandbox["note"], sandbox["note"]  # every order and reference accepted, and cancelled


def test_the_request_clock_stamps_only_the_order_route():
    import requests

    from bench.bench_orders import RequestClock, start_sandbox

    sandbox, info, clock = start_sandbox("smartapi")
    try:
        base = info["rest_url"]
        requests.post(base + "/rest/secure/angelbroking/order/v1/getOrderBook", data=b"{}", timeout=10)
        assert clock.count() == 0
        reply = requests.post(base + clock.route, data=b'{"variety": "NORMAL"}', timeout=10)
        assert reply.status_code == 200  # refused for its headers, but it reached the route
        assert clock.count() == 1 and clock.arrivals[0].body == b'{"variety": "NORMAL"}'
    finally:
        sandbox.stop()
    assert RequestClock("/PiConnectAPI/PlaceOrder").matches("/PiConnectAPI//PlaceOrder/?x=1")


def test_memory_steps_report_resident_memory(qapp, fresh_loop):
    from bench import bench_memory

    rows = bench_memory.run(bench_memory.SMOKE)
    check_rows(rows)
    assert all(r["value"] is None or r["value"] > 0 for r in rows)


def test_startup_times_a_real_launch_and_lists_imports():
    from bench import bench_startup

    rows = bench_startup.run(starts=1)
    check_rows(rows)
    assert rows[0]["value"] > 0 and rows[0]["reference_value"] > 0
    assert "terminal" in bench_startup.details()


def test_the_report_says_when_a_goal_is_missed(tmp_path):
    from bench.__main__ import write_report
    from bench.common import machine_info, row

    results = {
        "bench_pipeline": {"rows": [row("stall", 30.0, "ms", "naive", 90.0, "≤ 16 ms", False),
                                    row("busy", 5.0, "%", "naive", 50.0, "≤ 12%", True)],
                           "details": "method", "doc": "doc", "seconds": 1.0},
        "bench_chart": {"rows": [{"name": "pan", "value": 7.0, "unit": "ms", "reference": "target",
                                  "reference_value": 5.0, "ratio": 1.4}], "seconds": 1.0},
        "bench_broken": {"error": "exit code 1: boom", "seconds": 0.0},
    }
    out = tmp_path / "BENCHMARKS.md"
    write_report(results, machine_info(), 3.0, out)
    text = out.read_text(encoding="utf-8")
    assert text.count("**NO — missed**") == 2  # the stall, and the chart's pan over its target
    assert "| yes |" in text
    assert "Did not run: exit code 1: boom" in text
    assert "CPU" in text and "Python" in text
