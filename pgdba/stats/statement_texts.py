"""Reading pg_stat_statements when one of its query texts cannot be converted to this database's encoding.

pg_stat_statements hands out the texts of every database of the server at once, each converted from the
encoding it was recorded in to this database's: before any WHERE clause applies. One text it cannot convert
(Latin-1 bytes recorded in a SQL_ASCII database, a character this database's encoding lacks) fails every
read of the view, in every database of the server, until that entry is reset. The counters stay readable
through the function with `showtext => false`, whose query column is NULL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, LiteralString

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

if TYPE_CHECKING:
    from pgdba.server import ServerFacts

# the server's errors for a text it cannot convert: an invalid byte sequence in the source encoding, or a
# character the target encoding lacks
TEXT_CONVERSION_ERRORS = (psycopg.errors.CharacterNotInRepertoire, psycopg.errors.UntranslatableCharacter)

_TEXT_BYTES = re.compile(r"0x[0-9a-fA-F]{2}(?: 0x[0-9a-fA-F]{2})*")
NAMED_AT_MOST = 5  # databases named in the reason (its reset covers them all)


# SQL_ASCII databases first (they store bytes unchecked: the likely source), then those still there, then
# dropped ones
OTHER_ENCODINGS_SQL: LiteralString = """
SELECT s.dbid,
       d.datname,
       pg_encoding_to_char(d.encoding) AS encoding
  FROM {without_texts} AS s
  LEFT JOIN pg_database AS d ON d.oid = s.dbid
 WHERE d.oid IS NULL
    OR d.encoding <> (SELECT encoding FROM pg_database WHERE datname = current_database())
 GROUP BY s.dbid, d.oid, d.datname, d.encoding
 ORDER BY d.encoding = pg_char_to_encoding('SQL_ASCII') DESC NULLS LAST, d.oid IS NULL, s.dbid
"""


def without_texts(facts: ServerFacts) -> sql.Composable:
    """pg_stat_statements' counters, `showtext => false`: no text is read, so none can fail to convert."""
    return sql.SQL("{}(false)").format(facts.statements_view())


def rows_with_texts(
    conn: psycopg.Connection,
    facts: ServerFacts,
    template: LiteralString,
    params: dict[str, Any],
    **parts: sql.Composable,
) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of `template` (which reads `FROM {source}`, its other placeholders filled from `parts`) with
    the query texts; when the server cannot convert one of them, the rows without texts (query NULL) and the
    reason: what failed, whose texts, how to clear it."""

    def rows(source: sql.Composable) -> list[dict[str, Any]]:
        with conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql.SQL(template).format(source=source, **parts), params).fetchall()

    try:
        with conn.transaction():
            return rows(facts.statements_view()), None
    except TEXT_CONVERSION_ERRORS as exc:
        reason = unreadable_texts_reason(conn, facts, exc)
    return rows(without_texts(facts)), reason


def unreadable_texts_reason(conn: psycopg.Connection, facts: ServerFacts, error: psycopg.Error) -> str:
    """Why pg_stat_statements hands out no text, naming the databases of another encoding whose statements
    it holds and the reset that forgets them."""
    # the server's message quotes the bytes of the text (a password's, in an ALTER ROLE): never shown
    detail = _TEXT_BYTES.sub("…", str(error).splitlines()[0]) if str(error) else type(error).__name__
    try:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            others = cur.execute(
                sql.SQL(OTHER_ENCODINGS_SQL).format(without_texts=without_texts(facts))
            ).fetchall()
    except psycopg.Error:  # the reason without the databases' names: the counters are still read
        others = []
    reason = (
        f"pg_stat_statements cannot convert one of its query texts to this database's encoding ({detail})"
    )
    if not others:
        return reason
    shown, more = others[:NAMED_AT_MOST], len(others) - NAMED_AT_MOST
    named = ", ".join(
        f'"{row["datname"]}" ({row["encoding"]})'
        if row["datname"]
        else f"a dropped database (oid {row['dbid']})"
        for row in shown
    )
    rest = f" and {more} more" if more > 0 else ""
    function = facts.statements_view("pg_stat_statements_reset").as_string(conn)
    if len(others) == 1:
        reset = f"SELECT {function}(0, {others[0]['dbid']}, 0)"
    else:
        oids = ",".join(str(row["dbid"]) for row in others)
        reset = f"SELECT {function}(0, dbid, 0) FROM unnest('{{{oids}}}'::oid[]) AS dbid"
    return (
        f"{reason}; it holds statements of databases in another encoding: {named}{rest}; "
        f"forget them with {reset}"
    )
