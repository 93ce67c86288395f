"""Checks: pure functions over collected statistics. A check never connects to anything."""
