"""Alerts: rules as data, evaluation with state, notifications, and the Netdata / Prometheus exporters."""
