"""The Noren sandbox's fault profile: its syntax, its errors, and seeded reproducible draws."""

from __future__ import annotations

import pytest

from terminal.sim.servers.noren import serve_main
from terminal.sim.servers.noren_faults import FaultInjector, FaultProfile

SPEC = ("drop_reply_after_accept=0.1,http_500=0.05,html_error=0.03,truncated_json=0.03,rate_limited=0.03,"
        "session_expired=0.02,delay_ms=0-300,ws_drop=0.01,ws_stall=0.01")


def test_the_documented_example_parses_and_prints_back():
    profile = FaultProfile.parse(SPEC)
    assert profile.drop_reply_after_accept == 0.1 and profile.delay_ms == (0, 300) and profile.ws_stall == 0.01
    assert profile.rest_rate == pytest.approx(0.26)
    assert FaultProfile.parse(str(profile)) == profile
    assert FaultProfile.parse("routes=PlaceOrder+OrderBook,http_500=1").routes == {"PlaceOrder", "OrderBook"}
    assert not FaultProfile.parse("").active and FaultProfile.parse("delay_ms=50").delay_ms == (50, 50)


@pytest.mark.parametrize("spec, words", [
    ("http_5OO=0.1", "unknown fault"), ("http_500", "name=value"), ("http_500=abc", "not a probability"),
    ("http_500=1.5", "between 0 and 1"), ("http_500=0.6,rate_limited=0.6", "add up"),
    ("delay_ms=300-10", "LO <= HI"), ("delay_ms=x", "LO-HI"), ("ws_drop=0.1,ws_drop=0.2", "twice"),
])
def test_a_bad_profile_is_a_clear_error(spec, words):
    with pytest.raises(ValueError, match=words):
        FaultProfile.parse(spec)


def test_the_command_line_refuses_a_bad_profile_before_serving(capsys):
    with pytest.raises(SystemExit) as exit_:
        serve_main(["--faults", "http_500=2"])
    assert exit_.value.code == 2 and "--faults" in capsys.readouterr().err


def test_seeded_draws_repeat_and_keep_to_their_rates():
    first, second = FaultInjector(SPEC, seed=4), FaultInjector(SPEC, seed=4)
    draws = [first.rest_fault("PlaceOrder") for _ in range(4000)]
    assert draws == [second.rest_fault("PlaceOrder") for _ in range(4000)]
    assert first.measured_rate("PlaceOrder") == pytest.approx(0.26, abs=0.025)
    assert all(0.0 <= d.delay <= 0.3 for d in draws)
    assert {d.kind for d in draws if d.refuses} == {"http_500", "rate_limited", "session_expired"}
    only_orders = FaultInjector("http_500=1,routes=PlaceOrder", seed=1)
    assert only_orders.rest_fault("OrderBook").kind is None and only_orders.rest_fault("PlaceOrder").kind == "http_500"
