"""GTT and OCO rules in the Noren sandbox: the routes, and the watcher that fires them.

Routes (``PlaceGTTOrder``, ``ModifyGTTOrder``, ``CancelGTTOrder``, ``GetPendingGTTOrder``,
``GetEnabledGTTs``, ``PlaceOCOOrder``, ``ModifyOCOOrder``, ``CancelOCOOrder``) answer as Flattrade's
documentation shows: GTT writes reply with a one-element list ``[{"stat": "Oi created", "Al_id"}]``,
OCO writes with a dict ``{"stat": "OI created", "al_id"}``, pending GTT rows use the documented
mixed-case keys (``Al_id``, ``Token``, ``Remarks``, ``Qty`` as a number, ``Prc``).

Firing: a watcher thread (started with the first rule) re-quotes the rules' instruments every
market step. ``LTP_A_O`` fires when the LTP is at or above ``d``, ``LTP_B_O`` at or below it;
an OCO (``LMT_BOS_O``) fires its first leg at or above ``x`` and its second at or below ``y``, and
the other leg goes with the rule. Firing places the rule's order at the simulated exchange with
the rule's ``remarks`` as its tag, and the rule leaves the pending list. A rule whose condition
already holds fires at the next step (the sandbox evaluates a condition, as an alert does; whether
the real server refuses such a rule is not known). Validity DAY rules are not expired at the close.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from terminal.domain import OrderRequest, OrderType
from terminal.domain.money import to_paise
from terminal.sim.servers import noren_wire as wire

log = logging.getLogger(__name__)

LTP_ABOVE, LTP_BELOW, OCO = "LTP_A_O", "LTP_B_O", "LMT_BOS_O"
ENABLED = (LTP_ABOVE, LTP_BELOW, OCO)
SIDE_FROM_WIRE = {v: k for k, v in wire.SIDE.items()}
PRODUCT_FROM_WIRE = {v: k for k, v in wire.PRODUCT.items()}


class RuleRefused(Exception):
    """A rule request answered ``{"stat": "Not_Ok", "emsg": ...}``."""


@dataclass
class OrderLeg:
    """The order a rule places: its Noren fields as received, and what the exchange needs."""

    fields: dict
    key: str
    side: str  # "B"/"S"
    product: str  # "C"/"M"/"I"
    quantity: int
    price: int  # paise
    prctyp: str
    trigger: int = 0  # paise, SL-LMT only


@dataclass
class Rule:
    rule_id: str
    alert: str
    key: str
    tsym: str
    exch: str
    token: str
    remarks: str
    validity: str
    levels: dict[str, int]  # "d" for a GTT; "x" (upper) and "y" (lower) for an OCO, paise
    legs: list[OrderLeg] = field(default_factory=list)  # one for a GTT; [upper, lower] for an OCO


class GttBook:
    """The sandbox's pending rules. ``route(name)`` gives the handler of a GTT/OCO route (called
    as ``handler(data)`` with the parsed jData, like the sandbox's own routes), or None."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self._rules: dict[str, Rule] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self.fired: dict[str, str] = {}  # rule id -> order number it placed (for tests and logs)

    def route(self, name: str) -> Callable[[dict], object] | None:
        handler = getattr(self, f"_route_{name}", None)
        if handler is None:
            return None

        def answer(data: dict):
            try:
                return handler(data)
            except RuleRefused as exc:
                return {"stat": "Not_Ok", "request_time": wire.norentm(time.time()), "emsg": str(exc)}
        return answer

    # --- routes ----------------------------------------------------------------------------
    def _route_PlaceGTTOrder(self, data: dict) -> list:
        rule = self._gtt_rule(data, self._next_id())
        self._add(rule)
        return [{"request_time": wire.norentm(time.time()), "stat": "Oi created", "Al_id": rule.rule_id}]

    def _route_ModifyGTTOrder(self, data: dict) -> list:
        current = self._pending(data)
        if str(data.get("ai_t") or "") != current.alert:
            raise RuleRefused("Invalid Input : alert type cannot be modified")
        self._replace(current, self._gtt_rule(data, current.rule_id))
        return [{"request_time": wire.norentm(time.time()), "stat": "Oi Replaced", "Al_id": current.rule_id}]

    def _route_CancelGTTOrder(self, data: dict) -> list:
        rule = self._pending(data)
        self._remove(rule.rule_id)
        return [{"request_time": wire.norentm(time.time()), "stat": "Oi delete success", "Al_id": rule.rule_id}]

    def _route_PlaceOCOOrder(self, data: dict) -> dict:
        rule = self._oco_rule(data, self._next_id())
        self._add(rule)
        return {"request_time": wire.norentm(time.time()), "stat": "OI created", "al_id": rule.rule_id}

    def _route_ModifyOCOOrder(self, data: dict) -> dict:
        current = self._pending(data)
        if current.alert != OCO:
            raise RuleRefused("Invalid Oi")
        self._replace(current, self._oco_rule(data, current.rule_id))
        return {"request_time": wire.norentm(time.time()), "stat": "OI replaced", "al_id": current.rule_id}

    def _route_CancelOCOOrder(self, data: dict) -> dict:
        rule = self._pending(data)
        self._remove(rule.rule_id)
        return {"request_time": wire.norentm(time.time()), "stat": "Oi delete success", "al_id": rule.rule_id}

    def _route_GetPendingGTTOrder(self, data: dict) -> list:
        with self._lock:
            rules = sorted(self._rules.values(), key=lambda r: r.rule_id)
        if not rules:
            raise RuleRefused("no data")
        return [self._pending_row(r) for r in rules]

    def _route_GetEnabledGTTs(self, data: dict) -> dict:
        return {"stat": "Ok", "request_time": time.strftime("%d%m%Y%H%M%S"),
                "ai_ts": [{"ai_t": a} for a in ENABLED]}

    # --- reading requests ------------------------------------------------------------------
    def _next_id(self) -> str:
        with self._lock:
            self._seq += 1
            return f"{time.strftime('%y%m%d')}{self._seq:08d}"

    def _pending(self, data: dict) -> Rule:
        with self._lock:
            rule = self._rules.get(str(data.get("al_id") or ""))
        if rule is None:
            raise RuleRefused("Invalid Oi : alert not found")
        return rule

    def _instrument(self, exch: str, tsym: str):
        inst = self.sandbox.by_symbol.get((exch, tsym))
        if inst is None:
            raise RuleRefused(f"Invalid Input : Invalid Trading Symbol {tsym}")
        return inst

    @staticmethod
    def _paise(value, what: str) -> int:
        try:
            amount = to_paise(str(value))
        except (TypeError, ValueError):
            raise RuleRefused(f"Invalid Input : {what}") from None
        if amount <= 0:
            raise RuleRefused(f"Invalid Input : {what} cannot be zero")
        return amount

    def _leg(self, fields: dict, exch: str, tsym: str) -> OrderLeg:
        if str(fields.get("tsym") or tsym) != tsym or str(fields.get("exch") or exch) != exch:
            raise RuleRefused("Invalid Input : order symbol differs from the alert's")
        prctyp = str(fields.get("prctyp") or "")
        if prctyp in ("MKT", "SL-MKT"):
            raise RuleRefused("Invalid Input : Market orders not allowed")
        if prctyp not in ("LMT", "SL-LMT"):
            raise RuleRefused("Invalid Input : prctyp")
        side, product = str(fields.get("trantype") or ""), str(fields.get("prd") or "")
        if side not in SIDE_FROM_WIRE or product not in PRODUCT_FROM_WIRE:
            raise RuleRefused("Invalid Input : trantype or prd")
        try:
            quantity = int(str(fields.get("qty")))
        except ValueError:
            raise RuleRefused("Invalid Input : qty") from None
        if quantity <= 0:
            raise RuleRefused("Invalid Input : qty")
        price = self._paise(fields.get("prc"), "Order price")
        trigger = self._paise(fields.get("trgprc"), "Trigger price") if prctyp == "SL-LMT" else 0
        inst = self._instrument(exch, tsym)
        return OrderLeg(dict(fields), inst.key, side, product, quantity, price, prctyp, trigger)

    def _common(self, data: dict) -> tuple[str, str, object, str]:
        exch, tsym = str(data.get("exch") or ""), str(data.get("tsym") or "")
        inst = self._instrument(exch, tsym)
        validity = str(data.get("validity") or "")
        if validity not in ("DAY", "GTT"):
            raise RuleRefused("Invalid Input : validity")
        return exch, tsym, inst, validity

    def _gtt_rule(self, data: dict, rule_id: str) -> Rule:
        alert = str(data.get("ai_t") or "")
        if alert not in (LTP_ABOVE, LTP_BELOW):
            raise RuleRefused(f"Invalid Input : ai_t {alert}")
        exch, tsym, inst, validity = self._common(data)
        leg = self._leg(data, exch, tsym)
        return Rule(rule_id, alert, inst.key, tsym, exch, inst.token, str(data.get("remarks") or ""), validity,
                    {"d": self._paise(data.get("d"), "d")}, [leg])

    def _oco_rule(self, data: dict, rule_id: str) -> Rule:
        if str(data.get("ai_t") or "") != OCO:
            raise RuleRefused(f"Invalid Input : ai_t {data.get('ai_t')}")
        exch, tsym, inst, validity = self._common(data)
        variables = data.get("oivariable")
        if not isinstance(variables, list):
            raise RuleRefused("Invalid Input : oivariable")
        levels = {str(v.get("var_name")): self._paise(v.get("d"), "d") for v in variables if isinstance(v, dict)}
        if set(levels) != {"x", "y"}:
            raise RuleRefused("Invalid Input : oivariable needs x and y")
        if levels["x"] <= levels["y"]:
            raise RuleRefused("Invalid Input : x must be above y")
        upper, lower = data.get("place_order_params"), data.get("place_order_params_leg2")
        if not isinstance(upper, dict) or not isinstance(lower, dict):
            raise RuleRefused("Invalid Input : place_order_params")
        return Rule(rule_id, OCO, inst.key, tsym, exch, inst.token, str(data.get("remarks") or ""), validity,
                    levels, [self._leg(upper, exch, tsym), self._leg(lower, exch, tsym)])

    # --- the book --------------------------------------------------------------------------
    def _add(self, rule: Rule) -> None:
        with self._lock:
            self._rules[rule.rule_id] = rule
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="noren-gtt", daemon=True)
                self._watcher.start()

    def _replace(self, current: Rule, new: Rule) -> None:
        with self._lock:
            if self._rules.get(current.rule_id) is not current:
                raise RuleRefused("Invalid Oi : alert not found")
            self._rules[current.rule_id] = new

    def _remove(self, rule_id: str) -> None:
        with self._lock:
            if self._rules.pop(rule_id, None) is None:
                raise RuleRefused("Invalid Oi : alert not found")

    def _pending_row(self, rule: Rule) -> dict:
        if rule.alert == OCO:
            return {"stat": "Ok", "ai_t": OCO, "al_id": rule.rule_id, "tsym": rule.tsym, "exch": rule.exch,
                    "token": rule.token, "remarks": rule.remarks, "validity": rule.validity,
                    "oivariable": [{"var_name": "x", "d": wire.price(rule.levels["x"])},
                                   {"var_name": "y", "d": wire.price(rule.levels["y"])}],
                    "place_order_params": _leg_row(rule.legs[0]), "place_order_params_leg2": _leg_row(rule.legs[1])}
        leg = rule.legs[0]
        return {"stat": "Ok", "ai_t": rule.alert, "Al_id": rule.rule_id, "tsym": rule.tsym, "exch": rule.exch,
                "Token": rule.token, "Remarks": rule.remarks, "validity": rule.validity,
                "actid": self.sandbox.user_id, "trantype": leg.side, "prctyp": leg.prctyp, "Qty": leg.quantity,
                "Prc": wire.price(leg.price), "prd": leg.product, "ordersource": "API",
                "d": wire.price(rule.levels["d"]), "dscqty": str(leg.fields.get("dscqty") or "0")}

    # --- firing ----------------------------------------------------------------------------
    def _watch(self) -> None:
        """Each market step: re-quote the rules' instruments and fire the rules whose condition holds."""
        stopped = self.sandbox._stop  # the sandbox's own stop flag ends this thread with it
        while not stopped.wait(self.sandbox.step_interval):
            try:
                self.check()
            except Exception:  # a broken rule must not stop the others; the log says what broke
                log.exception("noren sandbox GTT check failed")

    def check(self) -> list[str]:
        """Fire every rule whose condition holds now; returns the ids fired."""
        with self._lock:
            rules = list(self._rules.values())
        if not rules:
            return []
        keys = sorted({r.key for r in rules})
        self.sandbox.exchange.step(keys=keys)
        ltps = {t.key: t.ltp for t in self.sandbox.exchange.quotes(keys)}
        fired = []
        for rule in rules:
            leg = _leg_to_fire(rule, ltps.get(rule.key, 0))
            if leg is None:
                continue
            with self._lock:
                if self._rules.pop(rule.rule_id, None) is None:
                    continue  # cancelled meanwhile
            self.fired[rule.rule_id] = self._place(rule, leg)
            fired.append(rule.rule_id)
        return fired

    def _place(self, rule: Rule, leg: OrderLeg) -> str:
        sandbox = self.sandbox
        request = OrderRequest(sandbox.account, leg.key, SIDE_FROM_WIRE[leg.side], leg.quantity,
                               OrderType.LIMIT if leg.prctyp == "LMT" else OrderType.SL,
                               PRODUCT_FROM_WIRE[leg.product],
                               price=leg.price, trigger_price=leg.trigger, tag=rule.remarks[:50])
        order = sandbox.exchange.place(sandbox.account, request)
        sandbox.absorb_events()
        log.info("GTT rule %s fired: order %s (%s)", rule.rule_id, order.order_id, order.status.value)
        return order.order_id


def _leg_to_fire(rule: Rule, ltp: int) -> OrderLeg | None:
    if not ltp:
        return None
    if rule.alert == LTP_ABOVE:
        return rule.legs[0] if ltp >= rule.levels["d"] else None
    if rule.alert == LTP_BELOW:
        return rule.legs[0] if ltp <= rule.levels["d"] else None
    if ltp >= rule.levels["x"]:
        return rule.legs[0]
    if ltp <= rule.levels["y"]:
        return rule.legs[1]
    return None


def _leg_row(leg: OrderLeg) -> dict:
    row = {k: str(v) for k, v in leg.fields.items() if not isinstance(v, (dict, list))}
    row.update(qty=str(leg.quantity), prc=wire.price(leg.price))
    return row

