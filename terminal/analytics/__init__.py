"""Numerical analytics with numpy: option pricing and greeks, candles, indicators. No Qt."""
