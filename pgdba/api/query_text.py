"""Query texts the API and dashboard may show: normalised by PostgreSQL's own parser, never with literals.

pg_stat_statements already replaces constants with $n for planned statements, but utility statements and
texts from other sources can still carry literals (a password in ALTER ROLE, an e-mail in a WHERE clause).
"""

from __future__ import annotations

from typing import Any

import pglast

WITHHELD = "(statement text withheld: it could not be parsed to remove its literals)"


def normalised(text: str) -> str:
    """The statement with every literal replaced by $n; a text that does not parse is withheld."""
    try:
        result: str = pglast.parser.normalize(text)
    except pglast.parser.ParseError:
        return WITHHELD
    return result


def with_normalised_queries(report: dict[str, Any]) -> dict[str, Any]:
    """An analyze report (the seed's shape) whose statement texts carry no literals."""
    recommendations = [{**r, "query": normalised(r["query"])} for r in report["recommendations"]]
    return {**report, "recommendations": recommendations}
