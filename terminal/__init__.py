"""A keyboard-first desktop trading terminal for Indian markets."""

__version__ = "0.1.0"
