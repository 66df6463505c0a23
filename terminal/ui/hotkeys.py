"""The keymap: every hotkey of the terminal as data. Defaults follow Indian dealer terminals.

The main window turns each entry into one QAction (window-wide shortcut) and the user's
rebindings, stored in settings["hotkeys"] as {action_id: key text}, override the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Hotkey:
    action_id: str
    label: str
    default: str  # QKeySequence portable text; "" for no default binding
    menu: str  # which menu shows it: Trade, View, Orders, File, Tools


KEYMAP: tuple[Hotkey, ...] = (
    Hotkey("buy", "Buy order", "F1", "Trade"),
    Hotkey("sell", "Sell order", "F2", "Trade"),
    Hotkey("order_book", "Order book", "F3", "View"),
    Hotkey("market_watch", "Market watch", "F4", "View"),
    Hotkey("market_depth", "Market depth", "F6", "View"),
    Hotkey("positions", "Positions", "Alt+F6", "View"),
    Hotkey("trade_book", "Trade book", "F8", "View"),
    Hotkey("funds", "Funds", "Shift+F12", "View"),
    Hotkey("log", "Message log", "Ctrl+Shift+L", "View"),
    Hotkey("chart", "Chart of selected instrument", "Ctrl+G", "View"),
    Hotkey("option_chain", "Option chain", "Ctrl+O", "View"),
    Hotkey("strategy_builder", "Strategy builder", "Ctrl+Shift+B", "View"),
    Hotkey("gtt_orders", "GTT orders (brokers that keep GTT rules)", "Ctrl+Shift+G", "View"),
    Hotkey("market_movers", "Market movers (brokers that publish them)", "Ctrl+Shift+M", "View"),
    Hotkey("search", "Find instrument", "Ctrl+F", "Trade"),
    Hotkey("cancel_all", "Cancel all open orders", "Ctrl+Shift+C", "Orders"),
    Hotkey("square_off_all", "Square off all positions", "Ctrl+Shift+Q", "Orders"),
    Hotkey("kill_switch", "Kill switch: cancel all, square off all, lock entries…", "Ctrl+Shift+K", "Orders"),
    Hotkey("refresh", "Refresh orders and positions", "Ctrl+R", "Orders"),
    Hotkey("hotkeys", "Keyboard shortcuts…", "Ctrl+K", "Tools"),
    Hotkey("settings", "Settings…", "Ctrl+,", "Tools"),
    Hotkey("export_csv", "Export table to CSV…", "Ctrl+E", "File"),
    Hotkey("about", "About Trading Terminal", "", "Help"),
    Hotkey("toggle_theme", "Switch dark/light theme", "Ctrl+Shift+T", "Tools"),
    Hotkey("reset_layout", "Reset layout", "", "View"),
    Hotkey("relogin", "Log in again", "", "File"),
    Hotkey("quit", "Quit", "Ctrl+Q", "File"),
)

BY_ID: dict[str, Hotkey] = {h.action_id: h for h in KEYMAP}


def effective_bindings(overrides: dict[str, str] | None) -> dict[str, str]:
    """Default bindings with the user's overrides applied (unknown ids are ignored)."""
    bindings = {h.action_id: h.default for h in KEYMAP}
    for action_id, keys in (overrides or {}).items():
        if action_id in bindings and isinstance(keys, str):
            bindings[action_id] = keys
    return bindings


def conflicts(bindings: dict[str, str]) -> dict[str, list[str]]:
    """Key texts bound to more than one action, with those actions."""
    seen: dict[str, list[str]] = {}
    for action_id, keys in bindings.items():
        if keys:
            seen.setdefault(keys, []).append(action_id)
    return {keys: ids for keys, ids in seen.items() if len(ids) > 1}


def overrides_from(bindings: dict[str, str]) -> dict[str, str]:
    """Only what differs from the defaults, for the settings file."""
    return {a: k for a, k in bindings.items() if a in BY_ID and BY_ID[a].default != k}
