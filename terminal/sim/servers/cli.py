"""`trading-terminal sandbox {noren,smartapi} [--host H] [--port N] [...]`."""

from __future__ import annotations

import importlib
import sys

SANDBOXES = {
    "noren": "terminal.sim.servers.noren",  # Flattrade PiConnect
    "smartapi": "terminal.sim.servers.smartapi",  # Angel One SmartAPI
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in SANDBOXES:
        print(f"usage: trading-terminal sandbox {{{','.join(SANDBOXES)}}} [--host 127.0.0.1] [--port N]",
              file=sys.stderr)
        return 2
    module = importlib.import_module(SANDBOXES[argv[0]])
    return module.serve_main(argv[1:])
