"""The frozen bundle's entry point: the same main() as ``python -m terminal``."""

from terminal.app import main

if __name__ == "__main__":
    raise SystemExit(main())
