"""The Noren wire format of the simulator's objects, for the loopback Flattrade sandbox.

Maps the simulated exchange's instruments to Noren trading symbols (NIFTY24NOV26C26000,
NIFTY24NOV26F, RELIANCE-EQ, "Nifty 50"), writes the scrip-master CSV files in Flattrade's
layout, and renders ticks, orders, fills, positions, holdings and funds as Noren payloads:
every value a string, prices in rupees with two decimals, IST wall-clock times.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from terminal.domain import (
    Funds, Holding, Instrument, InstrumentKind, Order, OrderStatus, OrderType, Position, Product, Side, Tick,
    Trade, Validity,
)

IST = ZoneInfo("Asia/Kolkata")
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
SCRIP_HEADER = ["Exchange", "Token", "Lotsize", "Symbol", "Tradingsymbol", "Instrument", "Expiry", "Strike",
                "Optiontype"]
SCRIP_FILES = ("NSE_Equity.csv", "Nfo_Index_Derivatives.csv", "Nfo_Equity_Derivatives.csv", "Currency_Derivatives.csv",
               "Commodity.csv", "BSE_Equity.csv", "Bfo_Index_Derivatives.csv", "Bfo_Equity_Derivatives.csv")
INDEX_NAMES = {"NIFTY 50": "Nifty 50", "NIFTY BANK": "Nifty Bank", "NIFTY FIN SERVICE": "Nifty Fin Service"}

SIDE = {Side.BUY: "B", Side.SELL: "S"}
PRODUCT = {Product.CNC: "C", Product.NRML: "M", Product.MIS: "I"}
PRODUCT_ALIAS = {"C": "CNC", "M": "NRML", "I": "MIS"}
PRICE_TYPE = {OrderType.LIMIT: "LMT", OrderType.MARKET: "MKT", OrderType.SL: "SL-LMT", OrderType.SL_M: "SL-MKT"}
STATUS = {OrderStatus.PENDING: "PENDING", OrderStatus.OPEN: "OPEN", OrderStatus.PARTIALLY_FILLED: "OPEN",
          OrderStatus.TRIGGER_PENDING: "TRIGGER_PENDING", OrderStatus.COMPLETE: "COMPLETE",
          OrderStatus.CANCELLED: "CANCELED", OrderStatus.REJECTED: "REJECTED"}


def price(paise: int) -> str:
    sign = "-" if paise < 0 else ""
    rupees, frac = divmod(abs(int(paise)), 100)
    return f"{sign}{rupees}.{frac:02d}"


def norentm(epoch: float) -> str:
    """'HH:MM:SS DD-MM-YYYY' IST, the request_time / norentm format."""
    return datetime.fromtimestamp(epoch, IST).strftime("%H:%M:%S %d-%m-%Y")


def exch_tm(epoch: float) -> str:
    """'DD-MM-YYYY HH:MM:SS' IST, the exch_tm / fltm format."""
    return datetime.fromtimestamp(epoch, IST).strftime("%d-%m-%Y %H:%M:%S")


def noren_symbol(inst: Instrument) -> str:
    """Flattrade's trading symbol: <SYM><DD><MMM><YY>F for futures, ...<C|P><strike> for options."""
    if inst.kind is InstrumentKind.INDEX:
        return INDEX_NAMES.get(inst.trading_symbol, inst.trading_symbol)
    if inst.kind is InstrumentKind.EQUITY or inst.expiry is None:
        return inst.trading_symbol
    stem = f"{inst.underlying}{inst.expiry:%d}{MONTHS[inst.expiry.month - 1]}{inst.expiry:%y}"
    if inst.kind is InstrumentKind.FUTURE:
        return stem + "F"
    assert inst.strike is not None and inst.option_type is not None
    strike = str(inst.strike // 100) if inst.strike % 100 == 0 else price(inst.strike)
    return f"{stem}{inst.option_type.value[0]}{strike}"


def instrument_code(inst: Instrument) -> str:
    if inst.kind is InstrumentKind.INDEX:
        return "INDEX"
    if inst.kind is InstrumentKind.EQUITY:
        return "EQ"
    index = inst.underlying in ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50")
    return ("FUT" if inst.kind is InstrumentKind.FUTURE else "OPT") + ("IDX" if index else "STK")


def scrip_file_for(inst: Instrument) -> str:
    if inst.exchange.value == "NSE":
        return "NSE_Equity.csv"
    if inst.exchange.value == "NFO":
        return "Nfo_Index_Derivatives.csv" if instrument_code(inst).endswith("IDX") else "Nfo_Equity_Derivatives.csv"
    return {"BSE": "BSE_Equity.csv", "BFO": "Bfo_Index_Derivatives.csv", "MCX": "Commodity.csv",
            "CDS": "Currency_Derivatives.csv"}[inst.exchange.value]


def scrip_master_files(instruments: list[Instrument]) -> dict[str, str]:
    """File name -> CSV text, one file per Flattrade segment (header only where the sim has none)."""
    rows: dict[str, list[list[str]]] = {name: [] for name in SCRIP_FILES}
    for inst in instruments:
        expiry = f"{inst.expiry:%d}-{MONTHS[inst.expiry.month - 1]}-{inst.expiry:%Y}" if inst.expiry else ""
        if inst.kind is InstrumentKind.OPTION:
            strike, option = price(inst.strike or 0), inst.option_type.value if inst.option_type else ""
        elif inst.kind is InstrumentKind.FUTURE:
            strike, option = "-0.01", "XX"
        else:
            strike, option = "", ""
        rows[scrip_file_for(inst)].append([inst.exchange.value, inst.token, str(inst.lot_size), inst.underlying,
                                           noren_symbol(inst), instrument_code(inst), expiry, strike, option])
    files = {}
    for name, body in rows.items():
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SCRIP_HEADER)
        writer.writerows(body)
        files[name] = out.getvalue()
    return files


# --- market data -----------------------------------------------------------------------------
def touchline(inst: Instrument, tick: Tick) -> dict[str, str]:
    """The fields of a tk/tf frame (without "t")."""
    change = 100.0 * (tick.ltp - tick.close) / tick.close if tick.close else 0.0
    fields = {"e": inst.exchange.value, "tk": inst.token, "ts": noren_symbol(inst), "pp": "2",
              "ls": str(inst.lot_size), "ti": price(inst.tick_size), "lp": price(tick.ltp), "pc": f"{change:.2f}",
              "o": price(tick.open), "h": price(tick.high), "l": price(tick.low), "c": price(tick.close),
              "ft": str(int(tick.timestamp))}
    if inst.kind is InstrumentKind.INDEX:
        return fields
    fields.update({"v": str(tick.volume), "ap": price(tick.average_price), "ltq": str(tick.last_quantity)})
    if inst.is_derivative:
        fields.update({"oi": str(tick.open_interest), "poi": str(tick.open_interest_day_open)})
    if tick.bids:
        fields.update({"bp1": price(tick.bids[0].price), "bq1": str(tick.bids[0].quantity)})
    if tick.asks:
        fields.update({"sp1": price(tick.asks[0].price), "sq1": str(tick.asks[0].quantity)})
    return fields


def depth(inst: Instrument, tick: Tick) -> dict[str, str]:
    """The fields of a dk/df frame (without "t"): touchline plus five levels and totals."""
    fields = touchline(inst, tick)
    if inst.kind is InstrumentKind.INDEX:
        return fields
    fields.update({"ltt": datetime.fromtimestamp(tick.timestamp, IST).strftime("%H:%M:%S"),
                   "tbq": str(tick.total_buy_quantity), "tsq": str(tick.total_sell_quantity)})
    for n in range(1, 6):
        for side, levels in (("b", tick.bids), ("s", tick.asks)):
            level = levels[n - 1] if len(levels) >= n else None
            fields[f"{side}p{n}"] = price(level.price) if level else "0.00"
            fields[f"{side}q{n}"] = str(level.quantity) if level else "0"
            fields[f"{side}o{n}"] = str(level.orders) if level else "0"
    return fields


def quote_reply(inst: Instrument, tick: Tick, now: float) -> dict[str, str]:
    reply = {"request_time": norentm(now), "stat": "Ok", "exch": inst.exchange.value, "tsym": noren_symbol(inst),
             "cname": inst.display_name, "symname": inst.underlying, "token": inst.token, "pp": "2",
             "ls": str(inst.lot_size), "ti": price(inst.tick_size), "mult": "1", "prcftr_d": "(1 / 1 ) * (1 / 1)"}
    fields = depth(inst, tick)
    for name in ("e", "tk", "ts", "pc", "ft"):
        fields.pop(name, None)
    reply.update(fields)
    reply["ltd"] = datetime.fromtimestamp(tick.timestamp, IST).strftime("%d-%m-%y")
    return reply


def security_info(inst: Instrument, now: float) -> dict[str, str]:
    info = {"request_time": norentm(now), "stat": "Ok", "exch": inst.exchange.value, "tsym": noren_symbol(inst),
            "cname": inst.display_name + " ", "symname": inst.underlying,
            "seg": "DER" if inst.is_derivative else "EQT", "instname": instrument_code(inst),
            "ti": price(inst.tick_size), "ls": str(inst.lot_size), "pp": "2", "mult": "1", "token": inst.token,
            "prcftr_d": "(1 / 1 ) * (1 / 1)"}
    if inst.freeze_quantity:
        info["frzqty"] = str(inst.freeze_quantity)
    if inst.expiry:
        info["exd"] = f"{inst.expiry:%d}-{MONTHS[inst.expiry.month - 1]}-{inst.expiry:%Y}"
    if inst.kind is InstrumentKind.OPTION:
        info.update({"strprc": price(inst.strike or 0), "optt": inst.option_type.value if inst.option_type else ""})
    return info


def scrip_value(inst: Instrument) -> dict[str, str]:
    """One element of SearchScrip / GetOptionChain ``values``."""
    value = {"exch": inst.exchange.value, "token": inst.token, "tsym": noren_symbol(inst), "pp": "2",
             "ti": price(inst.tick_size), "ls": str(inst.lot_size)}
    if inst.kind is InstrumentKind.OPTION:
        value.update({"optt": inst.option_type.value if inst.option_type else "", "strprc": price(inst.strike or 0)})
    return value


# --- orders and portfolio --------------------------------------------------------------------
def order_row(order: Order, inst: Instrument | None, uid: str) -> dict[str, str]:
    """An OrderBook row for the order as it stands now."""
    tsym = noren_symbol(inst) if inst else order.trading_symbol
    exchange, _, token = order.instrument_key.partition(":")
    row = {"stat": "Ok", "norenordno": order.order_id, "uid": uid, "actid": uid, "exch": exchange, "tsym": tsym,
           "token": token, "qty": str(order.quantity), "prc": price(order.price), "prctyp": PRICE_TYPE[order.order_type],
           "trantype": SIDE[order.side], "prd": PRODUCT[order.product], "s_prdt_ali": PRODUCT_ALIAS[PRODUCT[order.product]],
           "ret": "IOC" if order.validity is Validity.IOC else "DAY", "status": STATUS[order.status],
           "dscqty": "0", "pp": "2", "ls": str(inst.lot_size if inst else 1), "ti": price(inst.tick_size if inst else 5),
           "remarks": order.tag, "ordersource": "API", "norentm": norentm(order.updated_at),
           "ordenttm": str(int(order.placed_at))}
    if order.order_type.needs_trigger:
        row["trgprc"] = price(order.trigger_price)
    if order.status is not OrderStatus.PENDING and order.status is not OrderStatus.REJECTED:
        row["exchordid"] = order.exchange_order_id
        row["exch_tm"] = exch_tm(order.updated_at)
    if order.filled_quantity:
        row["fillshares"] = str(order.filled_quantity)
        row["avgprc"] = price(order.average_price)
    if order.status is OrderStatus.REJECTED:
        row["rejreason"] = order.status_message
        row["rejby"] = "RED"
    if order.status is OrderStatus.CANCELLED:
        row["cancelqty"] = str(order.quantity - order.filled_quantity)
    return row


def update_frame(row: dict[str, str], report: str) -> dict[str, str]:
    """An ``om`` frame from an order row: ``pcode`` for the product, ``reporttype``, no token."""
    frame = {"t": "om"}
    for name, value in row.items():
        if name in ("stat", "token", "pp", "ls", "ti", "s_prdt_ali", "ordenttm", "rejby", "ordersource"):
            continue
        frame["pcode" if name == "prd" else name] = value
    frame["reporttype"] = report
    return frame


def trade_row(trade: Trade, order: Order, inst: Instrument | None, uid: str) -> dict[str, str]:
    """A TradeBook row: this fill (flqty/flprc) plus the parent order's totals, as Noren repeats them."""
    row = order_row(order, inst, uid)
    for name in ("status", "rejreason", "rejby", "cancelqty", "s_prdt_ali", "trgprc", "dscqty", "ordenttm"):
        row.pop(name, None)
    row.update({"flid": trade.trade_id, "fltm": exch_tm(trade.timestamp), "flqty": str(trade.quantity),
                "flprc": price(trade.price), "norentm": norentm(trade.timestamp), "exch_tm": exch_tm(trade.timestamp)})
    return row


def position_row(position: Position, inst: Instrument | None, ltp: int, uid: str) -> dict[str, str]:
    tsym = noren_symbol(inst) if inst else position.trading_symbol
    exchange, _, token = position.instrument_key.partition(":")
    buy_avg = position.day_buy_value // position.day_buy_quantity if position.day_buy_quantity else 0
    sell_avg = position.day_sell_value // position.day_sell_quantity if position.day_sell_quantity else 0
    return {"stat": "Ok", "uid": uid, "actid": uid, "exch": exchange, "tsym": tsym, "token": token,
            "prd": PRODUCT[position.product], "s_prdt_ali": PRODUCT_ALIAS[PRODUCT[position.product]],
            "instname": instrument_code(inst) if inst else "", "netqty": str(position.net_quantity),
            "netavgprc": price(position.average_price), "daybuyqty": str(position.day_buy_quantity),
            "daysellqty": str(position.day_sell_quantity), "daybuyamt": price(position.day_buy_value),
            "daysellamt": price(position.day_sell_value), "daybuyavgprc": price(buy_avg),
            "daysellavgprc": price(sell_avg), "cfbuyqty": str(max(position.overnight_quantity, 0)),
            "cfsellqty": str(max(-position.overnight_quantity, 0)), "lp": price(ltp),
            "rpnl": price(position.realised_pnl), "urmtom": price(position.unrealised_pnl(ltp)),
            "bep": price(position.average_price), "mult": str(position.multiplier), "prcftr": "1.000000",
            "pp": "2", "ls": str(inst.lot_size if inst else 1), "ti": price(inst.tick_size if inst else 5)}


def holding_row(holding: Holding, inst: Instrument | None) -> dict:
    listing = {"exch": "NSE", "token": holding.instrument_key.partition(":")[2],
               "tsym": noren_symbol(inst) if inst else holding.trading_symbol, "pp": "2",
               "ti": price(inst.tick_size if inst else 5), "ls": "1"}
    return {"stat": "Ok", "exch_tsym": [listing], "holdqty": str(holding.quantity), "dpqty": "0", "npoadqty": "0",
            "colqty": "0", "benqty": "0", "unplgdqty": "0", "brkcolqty": "0", "btstqty": "0", "btstcolqty": "0",
            "usedqty": "0", "upldprc": price(holding.average_price)}


def limits_reply(funds: Funds, uid: str, now: float) -> dict[str, str]:
    """Limits: cash is the account's cash (opening + booked P&L); margin used is what positions and orders block."""
    return {"request_time": norentm(now), "stat": "Ok", "actid": uid, "cash": price(funds.available_cash),
            "payin": "0.00", "payout": "0.00", "brkcollamt": price(funds.collateral),
            "marginused": price(funds.used_margin), "rpnl": price(funds.realised_pnl),
            "urmtom": price(funds.unrealised_pnl), "peak_mar": price(funds.used_margin)}
