"""Query texts the API and dashboard may show: every literal replaced by $n, comments dropped.

pg_stat_statements already replaces constants with $n in planned statements, but utility statements,
pg_stat_activity and finding metrics carry texts as the client sent them (a password in ALTER ROLE, an
e-mail in a WHERE clause, a truncated statement). PostgreSQL's own scanner (through pglast) finds the
literal tokens even in a statement cut short; a text it cannot scan is withheld, never shown raw.
"""

from __future__ import annotations

from typing import Any

from pgdba.statement_text import WITHHELD, finding_without_literals, normalised

__all__ = ["WITHHELD", "finding_without_literals", "normalised", "with_normalised_queries"]


def with_normalised_queries(report: dict[str, Any]) -> dict[str, Any]:
    """An analyze report (the seed's shape) whose statement texts carry no literals."""
    recommendations = [{**r, "query": normalised(r["query"])} for r in report["recommendations"]]
    return {**report, "recommendations": recommendations}
