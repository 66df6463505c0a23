"""Prices travel as integer paise; these helpers convert at the edges and format for people."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PAISE_PER_RUPEE = 100


def to_paise(rupees: str | float | int | Decimal) -> int:
    """Rupees (as text or number) to integer paise, rounding half up. Raises ValueError."""
    try:
        value = Decimal(str(rupees).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"not a price: {rupees!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a price: {rupees!r}")
    return int((value * PAISE_PER_RUPEE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_rupees(paise: int) -> Decimal:
    return Decimal(paise) / PAISE_PER_RUPEE


def rupees_text(paise: int) -> str:
    """Paise as plain rupee text, two decimals, no grouping, no symbol: 10235 -> '102.35', -5 -> '-0.05'.

    Both brokers' REST APIs take prices this way (Noren ``"prc":"102.35"``, SmartAPI
    ``"price":"105.50"``). Exact integer arithmetic, so no float ever rounds a price on the wire.
    """
    sign = "-" if paise < 0 else ""
    rupees, frac = divmod(abs(int(paise)), PAISE_PER_RUPEE)
    return f"{sign}{rupees}.{frac:02d}"


def format_price(paise: int | None) -> str:
    """Paise as rupees with two decimals and Indian grouping: 1234567 -> '12,345.67'."""
    if paise is None:
        return ""
    sign = "-" if paise < 0 else ""
    rupees, frac = divmod(abs(int(paise)), PAISE_PER_RUPEE)
    return f"{sign}{group_indian(rupees)}.{frac:02d}"


def format_rupees(paise: int | None, signed: bool = False) -> str:
    """'₹1,23,456.00'; with ``signed`` the sign goes before the symbol: '+₹500.00', '-₹1,234.50'."""
    if paise is None:
        return ""
    sign = "-" if paise < 0 else ("+" if signed and paise > 0 else "")
    return f"{sign}₹{format_price(abs(paise))}"


def group_indian(number: int) -> str:
    """Indian digit grouping: 10000000 -> '1,00,00,000' (last three, then pairs)."""
    sign = "-" if number < 0 else ""
    digits = str(abs(int(number)))
    if len(digits) <= 3:
        return sign + digits
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while len(head) > 2:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    if head:
        pairs.insert(0, head)
    return sign + ",".join(pairs) + "," + tail


def format_quantity(quantity: int | None) -> str:
    return "" if quantity is None else group_indian(quantity)


def format_compact_rupees(paise: int) -> str:
    """Large amounts the way Indian traders say them: 1.25 Cr, 4.50 L."""
    rupees = paise / PAISE_PER_RUPEE
    magnitude = abs(rupees)
    if magnitude >= 1e7:
        return f"{rupees / 1e7:.2f} Cr"
    if magnitude >= 1e5:
        return f"{rupees / 1e5:.2f} L"
    return format_price(paise)


def format_percent(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}%"
