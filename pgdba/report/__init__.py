"""Health score and the weekly report."""
