"""The rupee text both brokers' REST APIs take for a price: one helper, byte-for-byte the protocol's."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from terminal.domain.money import rupees_text, to_paise


def test_prices_read_as_the_protocol_notes_write_them():
    # Noren "prc":"102.35"; SmartAPI "price":"105.50", "95.00"; a tick of five paise; no grouping.
    assert rupees_text(10235) == "102.35"
    assert rupees_text(10550) == "105.50"
    assert rupees_text(9500) == "95.00"
    assert rupees_text(5) == "0.05"
    assert rupees_text(0) == "0.00"
    assert rupees_text(2_440_000_00) == "2440000.00"


def test_a_negative_amount_keeps_its_sign_below_one_rupee():
    assert (rupees_text(-250), rupees_text(-5)) == ("-2.50", "-0.05")


def test_an_integer_valued_float_of_paise_reads_like_the_integer():
    assert rupees_text(10235.0) == "102.35"  # paise computed as a float, e.g. a ratio of two prices


@given(st.integers(-10**12, 10**12))
def test_the_text_is_exact_and_reads_back_to_the_same_paise(paise):
    text = rupees_text(paise)
    assert text == f"{Decimal(paise) / 100:.2f}"
    assert to_paise(text) == paise
