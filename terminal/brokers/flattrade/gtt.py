"""GTT and OCO rules on Flattrade (Noren ``PlaceGTTOrder`` ... ``CancelOCOOrder``), Angel One-shaped.

``FlattradeGtt`` is a mixin of FlattradeBroker. Its ``gtt_*`` methods have the names, arguments
and return types of AngelOneBroker's, and speak the same ``GttRule``, so one GTT panel serves
both brokers. Prices are integer paise, quantities units.

The wire, from Flattrade's documentation and the Noren clients:
- A GTT rule is an alert (``ai_t``) plus an order: ``LTP_A_O`` fires when the LTP is at or above
  ``d`` (the trigger, rupees), ``LTP_B_O`` at or below it; the order is ``trantype/prctyp/prd/qty/prc``.
  Angel One's rule has no direction: it fires when the LTP reaches the trigger. So the direction
  is taken from the last price: a trigger above it is ``LTP_A_O``, below it ``LTP_B_O``. A trigger
  on the LTP, or (on modify, where ``ai_t`` cannot change) on the wrong side of it, is refused:
  the rule would fire at once.
- An OCO rule (``ai_t`` ``LMT_BOS_O``) holds two orders: ``place_order_params`` fires when the
  LTP reaches ``x`` (the upper trigger) and ``place_order_params_leg2`` when it reaches ``y``
  (the lower one); whichever fires first cancels the other. Typical use: the target and the
  stop-loss of an open position.
- Success is not ``stat: "Ok"`` but "Oi created" / "OI replaced" / "Oi delete success" (case
  and wording vary), the id is ``al_id`` or ``Al_id``, and the reply is a dict or a one-element
  list. Pending rules come back with keys in mixed case (``Al_id``, ``Token``, ``Qty``).

Writes are never retried: an unclear reply is OrderOutcomeUnknown (the rule may exist; list the
pending rules to see). Flattrade lists only pending rules, so a rule that fired or was cancelled
is gone from ``gtt_list`` and ``gtt_details`` says so; the order it placed is in the order book.
"""

from __future__ import annotations

import json
import secrets as _random
from dataclasses import dataclass
from urllib.parse import quote_plus

import requests

from terminal.brokers.angelone.models import GttRule
from terminal.brokers.base import BrokerError, NetworkError, OrderOutcomeUnknown, OrderRejectedError
from terminal.brokers.flattrade.http import NorenError, check_reply
from terminal.brokers.flattrade.schemas import (
    PRODUCT_FROM_WIRE, PRODUCT_TO_WIRE, SIDE_FROM_WIRE, SIDE_TO_WIRE, PayloadError, paise, text, units,
    wire_price,
)
from terminal.domain import InstrumentKey, Product, Side

LTP_ABOVE = "LTP_A_O"  # fire when LTP >= trigger
LTP_BELOW = "LTP_B_O"  # fire when LTP <= trigger
OCO = "LMT_BOS_O"  # two orders: one at the upper trigger (x), one at the lower (y)
PENDING_STATUSES = ("NEW", "ACTIVE")  # the GttRule statuses a pending Flattrade rule can have


@dataclass(frozen=True, slots=True)
class OcoRule:
    """A pending OCO rule: when the LTP reaches ``upper_trigger`` a LIMIT order at ``upper_price``
    is placed, when it reaches ``lower_trigger`` one at ``lower_price``; the first cancels the other.
    Both legs have the same side, product and quantity. Prices in paise, quantity in units."""

    rule_id: str
    instrument_key: InstrumentKey
    trading_symbol: str
    side: Side
    product: Product
    quantity: int
    upper_trigger: int
    upper_price: int
    lower_trigger: int
    lower_price: int
    status: str = "ACTIVE"


def form_safe(value):
    """``value`` with every string leaf form-escaped and every number made a string (nested
    dicts and lists kept): the server form-decodes the whole body once."""
    if isinstance(value, dict):
        return {k: form_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [form_safe(v) for v in value]
    return quote_plus(str(value))


def is_rule_success(stat: str) -> bool:
    """'Oi created', 'OI replaced', 'Oi delete success', 'OI deleted' (and a plain 'Ok')."""
    word = stat.strip().lower()
    return word == "ok" or word.startswith("oi ")


def rule_reply(reply, route: str) -> dict:
    """The one dict of a GTT/OCO write reply, checked; raises the mapped error otherwise."""
    row = reply[0] if isinstance(reply, list) and len(reply) == 1 else reply
    if not isinstance(row, dict):
        raise OrderOutcomeUnknown(f"Flattrade {route}: unexpected reply {str(reply)[:120]!r}")
    stat = str(row.get("stat") or "")
    if is_rule_success(stat):
        if not (text(row, "al_id") or text(row, "Al_id")):
            raise OrderOutcomeUnknown(f"Flattrade {route}: '{stat}' without a rule id")
        return row
    if not row.get("emsg") and stat:  # "Invalid Oi": the refusal is in stat itself
        raise NorenError(stat, route)
    check_reply(row, route)  # session expired, rate limit, server timeout -> their own errors
    raise NorenError(str(row.get("emsg") or stat or "no error text"), route)


def _lower_keys(row: dict) -> dict:
    return {str(k).lower(): v for k, v in row.items()}


class FlattradeGtt:
    """GTT and OCO methods of FlattradeBroker (uses its ``http``, ``config``, ``instrument``,
    ``_last_price`` and ``_token_for_symbol``). Blocking: call from a worker thread."""

    # --- GTT, as AngelOneBroker has them ---------------------------------------------------
    def gtt_create(self, key: InstrumentKey, side: Side, product: Product, quantity: int, price: int,
                   trigger_price: int, time_period_days: int = 365) -> str:
        """A rule that places a LIMIT order of ``quantity`` units at ``price`` (paise) when the LTP
        reaches ``trigger_price`` (paise); returns its id. ``time_period_days`` 1 makes it a day rule
        (validity DAY); any other value a standing one (validity GTT, until Flattrade expires it)."""
        inst = self.instrument(key)
        self._check_order_shape(product, quantity, price, trigger_price)
        ltp = self._last_price(inst)
        if trigger_price == ltp:
            raise OrderRejectedError(f"The trigger {wire_price(trigger_price)} is the last price: the rule "
                                     "would fire at once.", hint="Place a limit order instead, or move the trigger.")
        alert = LTP_ABOVE if trigger_price > ltp else LTP_BELOW
        fields = self._gtt_fields(inst, alert, side, product, quantity, price, trigger_price,
                                  validity="DAY" if time_period_days == 1 else "GTT")
        fields["remarks"] = "gtt-" + _random.token_hex(4)
        return self._rule_id(self._rule_write("PlaceGTTOrder", fields))

    def gtt_modify(self, rule: GttRule, quantity: int, price: int, trigger_price: int) -> None:
        """New quantity (units), limit price and trigger (paise) for a pending rule. Its direction
        cannot change on Flattrade, so a trigger across the LTP is refused (cancel and create)."""
        row = self._pending_row(rule.rule_id)
        alert = text(row, "ai_t")
        if alert not in (LTP_ABOVE, LTP_BELOW):
            raise BrokerError(f"Rule {rule.rule_id} is an {alert or 'unknown'} rule, not a single GTT.",
                              hint="Modify OCO rules with oco_modify.")
        inst = self.instrument(rule.instrument_key)
        self._check_order_shape(rule.product, quantity, price, trigger_price)
        ltp = self._last_price(inst)
        if (alert == LTP_ABOVE and trigger_price <= ltp) or (alert == LTP_BELOW and trigger_price >= ltp):
            where = "above" if alert == LTP_ABOVE else "below"
            raise OrderRejectedError(
                f"This rule waits for the price to go {where} the trigger, and {wire_price(trigger_price)} is "
                f"not {where} the last price {wire_price(ltp)}: it would fire at once.",
                hint="Cancel the rule and create a new one with this trigger.")
        fields = self._gtt_fields(inst, alert, rule.side, rule.product, quantity, price, trigger_price,
                                  validity=text(row, "validity") or "GTT")
        fields.update(al_id=rule.rule_id, remarks=text(row, "remarks") or "gtt")
        self._rule_write("ModifyGTTOrder", fields)

    def gtt_cancel(self, rule: GttRule) -> None:
        self._rule_write("CancelGTTOrder", {"uid": self.config.client_id, "al_id": rule.rule_id})

    def gtt_details(self, rule_id: str) -> GttRule:
        """The pending rule ``rule_id``. Raises BrokerError when Flattrade no longer lists it."""
        row = self._pending_row(rule_id)
        if text(row, "ai_t") == OCO:
            raise BrokerError(f"Rule {rule_id} is an OCO rule.", hint="Read it with oco_list.")
        return self._gtt_rule(row)

    def gtt_list(self, statuses: tuple[str, ...] = ("NEW", "ACTIVE", "SENTTOEXCHANGE", "CANCELLED"),
                 page: int = 1, count: int = 50) -> list[GttRule]:
        """Pending single rules (status ACTIVE), ``count`` a page. Flattrade keeps no fired or
        cancelled rules, so ``statuses`` without NEW or ACTIVE gives an empty list."""
        if page < 1 or count < 1:
            raise ValueError("page and count start at 1")
        if not set(statuses) & set(PENDING_STATUSES):
            return []
        rules = [self._gtt_rule(r) for r in self._pending_rows() if text(r, "ai_t") in (LTP_ABOVE, LTP_BELOW)]
        return rules[(page - 1) * count: page * count]

    def gtt_alert_types(self) -> list[str]:
        """The alert types the account may use (GetEnabledGTTs), e.g. ['LTP_A_O', 'LTP_B_O', 'LMT_BOS_O']."""
        reply = self.http.post("GetEnabledGTTs", {"uid": self.config.client_id})
        rows = reply.get("ai_ts", []) if isinstance(reply, dict) else []
        return [text(r, "ai_t") for r in rows if isinstance(r, dict) and text(r, "ai_t")]

    # --- OCO -------------------------------------------------------------------------------
    def oco_create(self, key: InstrumentKey, side: Side, product: Product, quantity: int, upper_trigger: int,
                   upper_price: int, lower_trigger: int, lower_price: int) -> str:
        """Two LIMIT orders of ``quantity`` units, one placed when the LTP reaches ``upper_trigger``
        (at ``upper_price``), one when it reaches ``lower_trigger`` (at ``lower_price``), all paise;
        the first cancels the other. The LTP must lie between the triggers. Returns the rule id."""
        inst = self.instrument(key)
        fields = self._oco_fields(inst, side, product, quantity, upper_trigger, upper_price, lower_trigger,
                                  lower_price, remarks="oco-" + _random.token_hex(4))
        return self._rule_id(self._rule_write("PlaceOCOOrder", fields))

    def oco_modify(self, rule: OcoRule, quantity: int, upper_trigger: int, upper_price: int, lower_trigger: int,
                   lower_price: int) -> None:
        row = self._pending_row(rule.rule_id)
        if text(row, "ai_t") != OCO:
            raise BrokerError(f"Rule {rule.rule_id} is not an OCO rule.", hint="Modify it with gtt_modify.")
        inst = self.instrument(rule.instrument_key)
        fields = self._oco_fields(inst, rule.side, rule.product, quantity, upper_trigger, upper_price,
                                  lower_trigger, lower_price, remarks=text(row, "remarks") or "oco")
        fields["al_id"] = rule.rule_id
        self._rule_write("ModifyOCOOrder", fields)

    def oco_cancel(self, rule: OcoRule) -> None:
        self._rule_write("CancelOCOOrder", {"uid": self.config.client_id, "al_id": rule.rule_id})

    def oco_list(self) -> list[OcoRule]:
        """Pending OCO rules."""
        return [self._oco_rule(r) for r in self._pending_rows() if text(r, "ai_t") == OCO]

    # --- wire ------------------------------------------------------------------------------
    @staticmethod
    def _check_order_shape(product: Product, quantity: int, price: int, trigger: int) -> None:
        if product not in PRODUCT_TO_WIRE:
            raise OrderRejectedError(f"Flattrade GTT rules take CNC, NRML or MIS, not {product}.")
        if quantity <= 0:
            raise OrderRejectedError(f"Quantity must be positive, not {quantity}.")
        if price <= 0 or trigger <= 0:
            raise OrderRejectedError("The limit price and the trigger must both be above zero.")

    def _order_params(self, inst, side: Side, product: Product, quantity: int, price: int) -> dict:
        """The order half of a rule: a LIMIT order, day retention (API orders are LMT or SL-LMT)."""
        return {"tsym": inst.trading_symbol, "exch": inst.exchange.value, "trantype": SIDE_TO_WIRE[side],
                "prctyp": "LMT", "prd": PRODUCT_TO_WIRE[product], "ret": "DAY", "actid": self.config.client_id,
                "uid": self.config.client_id, "ordersource": "API", "qty": str(quantity), "prc": wire_price(price)}

    def _gtt_fields(self, inst, alert: str, side: Side, product: Product, quantity: int, price: int,
                    trigger: int, *, validity: str) -> dict:
        return {**self._order_params(inst, side, product, quantity, price), "ai_t": alert, "validity": validity,
                "d": wire_price(trigger), "dscqty": "0"}

    def _oco_fields(self, inst, side: Side, product: Product, quantity: int, upper_trigger: int, upper_price: int,
                    lower_trigger: int, lower_price: int, *, remarks: str) -> dict:
        self._check_order_shape(product, quantity, upper_price, upper_trigger)
        self._check_order_shape(product, quantity, lower_price, lower_trigger)
        ltp = self._last_price(inst)
        if not lower_trigger < ltp < upper_trigger:
            raise OrderRejectedError(
                f"The last price {wire_price(ltp)} must lie between the lower trigger {wire_price(lower_trigger)} "
                f"and the upper trigger {wire_price(upper_trigger)}, or a leg would fire at once.",
                hint="Put one trigger above the market and one below it.")
        return {"uid": self.config.client_id, "ai_t": OCO, "remarks": remarks, "validity": "GTT",
                "tsym": inst.trading_symbol, "exch": inst.exchange.value,
                "oivariable": [{"d": wire_price(upper_trigger), "var_name": "x"},
                               {"d": wire_price(lower_trigger), "var_name": "y"}],
                "place_order_params": self._order_params(inst, side, product, quantity, upper_price),
                "place_order_params_leg2": self._order_params(inst, side, product, quantity, lower_price)}

    def _rule_write(self, route: str, data: dict) -> dict:
        """POST a GTT/OCO write (nested jData). Never retried; anything unclear is OrderOutcomeUnknown."""
        if not self.http.token:
            raise BrokerError("Not logged in to Flattrade.", hint="Log in first.")
        self.http.limits.acquire("orders")
        body = "jData=" + json.dumps(form_safe(data), separators=(",", ":")) + "&jKey=" + self.http.token
        try:
            response = requests.post(self.http.rest_url + route, data=body, timeout=self.http.timeout,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        except requests.exceptions.ConnectTimeout as exc:
            raise NetworkError(f"Flattrade {route}: not sent ({exc.__class__.__name__})") from exc
        except requests.RequestException as exc:
            raise OrderOutcomeUnknown(f"Flattrade {route}: no reply ({exc.__class__.__name__})") from exc
        try:
            reply = response.json()
        except ValueError:
            raise OrderOutcomeUnknown(f"Flattrade {route}: HTTP {response.status_code}, not JSON: "
                                      f"{response.text[:120]!r}") from None
        try:
            return rule_reply(reply, route)
        except NorenError as exc:
            raise OrderRejectedError(exc.emsg) from exc

    @staticmethod
    def _rule_id(row: dict) -> str:
        return text(row, "al_id") or text(row, "Al_id")

    def _pending_rows(self) -> list[dict]:
        """GetPendingGTTOrder, keys lower-cased (the server mixes 'Al_id', 'Token', 'Qty')."""
        rows = self.http.post("GetPendingGTTOrder", {"uid": self.config.client_id}, list_route=True)
        return [_lower_keys(r) for r in rows if isinstance(r, dict)]

    def _pending_row(self, rule_id: str) -> dict:
        for row in self._pending_rows():
            if text(row, "al_id") == str(rule_id):
                return row
        raise BrokerError(f"Flattrade lists no pending GTT rule {rule_id}: it has fired or was cancelled.",
                          hint="The order a fired rule placed is in the order book.")

    def _rule_key(self, row: dict) -> InstrumentKey:
        exchange, token = text(row, "exch"), text(row, "token")
        token = token or self._token_for_symbol(exchange, text(row, "tsym"))
        if not exchange or not token:
            raise PayloadError(f"GTT rule {text(row, 'al_id')}: no instrument ({exchange} {text(row, 'tsym')})")
        return f"{exchange}:{token}"

    @staticmethod
    def _order_half(params: dict) -> tuple[Side, Product, int, int]:
        """(side, product, quantity, price) of a rule's order fields. Raises PayloadError."""
        params = _lower_keys(params)
        try:
            side = SIDE_FROM_WIRE[text(params, "trantype")]
            product = PRODUCT_FROM_WIRE[text(params, "prd")]
        except KeyError:
            raise PayloadError(f"GTT order fields unreadable: {json.dumps(params)[:160]}") from None
        return side, product, units(params, "qty"), paise(params, "prc")

    def _gtt_rule(self, row: dict) -> GttRule:
        try:
            side, product, quantity, price = self._order_half(row)
            return GttRule(rule_id=text(row, "al_id"), instrument_key=self._rule_key(row),
                           trading_symbol=text(row, "tsym"), side=side, product=product, quantity=quantity,
                           price=price, trigger_price=paise(row, "d"), status="ACTIVE",
                           disclosed_quantity=units(row, "dscqty"),
                           time_period_days=1 if text(row, "validity") == "DAY" else 365)
        except PayloadError as exc:
            raise BrokerError(f"Flattrade GTT rule unreadable: {exc}") from exc

    def _oco_rule(self, row: dict) -> OcoRule:
        try:
            levels = {text(v, "var_name"): paise(v, "d") for v in row.get("oivariable") or [] if isinstance(v, dict)}
            upper = row.get("place_order_params")
            lower = row.get("place_order_params_leg2")
            if "x" not in levels or "y" not in levels or not isinstance(upper, dict) or not isinstance(lower, dict):
                raise PayloadError(f"OCO rule {text(row, 'al_id')} lacks its triggers or legs")
            side, product, quantity, upper_price = self._order_half(upper)
            lower_price = self._order_half(lower)[3]
            return OcoRule(text(row, "al_id"), self._rule_key(row), text(row, "tsym"), side, product, quantity,
                           upper_trigger=levels["x"], upper_price=upper_price, lower_trigger=levels["y"],
                           lower_price=lower_price)
        except PayloadError as exc:
            raise BrokerError(f"Flattrade OCO rule unreadable: {exc}") from exc
