"""Statement texts without their literals: every literal replaced by $n, comments dropped.

pg_stat_statements already replaces constants with $n in planned statements, but utility statements,
pg_stat_activity and finding metrics carry texts as the client sent them (a password in ALTER ROLE, an
e-mail in a WHERE clause, a truncated statement). PostgreSQL's own scanner (through pglast) finds the
literal tokens even in a statement cut short; a text it cannot scan is withheld, never shown raw. Every
statement text pgdba reads from pg_stat_statements passes through here before anyone prints or stores it.
"""

from __future__ import annotations

import re
from typing import Any

import pglast

WITHHELD = "(statement text withheld: its literals could not be located)"
_LITERALS = {"SCONST", "ICONST", "FCONST", "BCONST", "XCONST", "USCONST"}
_COMMENTS = {"C_COMMENT", "SQL_COMMENT"}  # comments can hold data (sqlcommenter tags, pasted values)
_PARAM = re.compile(r"\$(\d+)")


# A text without a quote (but those of whole double-quoted names), a comment marker, a `$` that does not
# start a parameter, or a digit that starts a token (not one inside a name) holds no literal and no comment,
# and the scanner accepts it: scanning it would change nothing. pg_stat_statements' planned statements
# (constants already $n) are mostly such texts; scanning an ORM's 40-column SELECT token by token costs
# about half a millisecond.
_QUOTED_NAME = re.compile(r'"[^"]+"')  # (an escaped "" is two names here, an empty one none)
_MAYBE_LITERAL = re.compile(r"""['"`]|--|/\*|\$(?!\d)|(?<![\w$])\d""")


def holds_no_literal(text: str) -> bool:
    return _MAYBE_LITERAL.search(_QUOTED_NAME.sub(" ", text)) is None


def normalised(text: str) -> str:
    """The statement with each literal replaced by $n (numbered after any $n it has) and no comments."""
    return text.strip() if holds_no_literal(text) else scanned(text)


def scanned(text: str) -> str:
    """`normalised`, always through PostgreSQL's scanner."""
    try:
        tokens = pglast.parser.scan(text)
    except pglast.parser.ParseError:
        return WITHHELD
    number = max((int(n) for n in _PARAM.findall(text)), default=0)
    parts: list[str] = []
    previous_end = -1
    for token in tokens:
        gap = text[previous_end + 1 : token.start]
        parts.append(gap if gap.isspace() or not gap else " ")  # only whitespace lies between tokens
        if token.name in _COMMENTS:
            parts.append("")
        elif token.name in _LITERALS:
            number += 1
            parts.append(f"${number}")
        else:
            parts.append(text[token.start : token.end + 1])
        previous_end = token.end
    return "".join(parts).strip()


def finding_without_literals(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding whose query-text metrics (query, last_query, blocker_query, …) are normalised."""
    metrics = {
        key: normalised(value) if "query" in key and isinstance(value, str) else value
        for key, value in finding.get("metrics", {}).items()
    }
    return {**finding, "metrics": metrics}


def shortened(text: str, width: int) -> str:
    """The text on one line (runs of blanks and line breaks as one space), cut to `width` characters with an
    ellipsis that says it was cut."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"
