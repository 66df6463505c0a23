"""Broker adapters. Each package implements terminal.brokers.base.Broker; none imports Qt."""
