"""Error texts as the API and the dashboard show them: a server is named host:port/dbname, never by its
connection string (which carries the user name, the passfile path and, unmasked, secrets)."""

from __future__ import annotations

import re

from psycopg import pq

from pgdba.errors import PgdbaError
from pgdba.target import Target, mask_password

# a URI ends at a blank or a quote; a `:` right at its end is the message's own separator (`…/db: refused`)
_URI = re.compile(r"postgres(?:ql)?://[^\s'\"]*?(?=:?(?:[\s'\"]|$))", re.IGNORECASE)
_URI_SERVER = re.compile(r"^[^:]+://(?:[^@/?\s]*@)?(?P<hosts>[^/?]*)(?P<db>/[^?]*)?")
# `keyword=value` pairs one blank apart, the value quoted or up to a blank (the same separator rule)
_PAIR = r"[a-z_]+\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^\s']*?(?=:?(?:\s|$)))"
_PAIRS = re.compile(rf"{_PAIR}(?:\s+{_PAIR})*", re.IGNORECASE)
_LIBPQ_KEYWORDS = frozenset(option.keyword.decode() for option in pq.Conninfo.get_defaults())
_SERVER_KEYWORDS = frozenset({"host", "hostaddr", "port", "dbname", "service"})


def without_connection_strings(text: str) -> str:
    """`text` with passwords masked and every connection string (URI or key=value) replaced by the
    host:port/dbname of its server."""
    masked = mask_password(text)
    named = _URI.sub(lambda m: _server_of_uri(m[0]), masked)
    return _PAIRS.sub(lambda m: _server_of_pairs(m[0]), named)


def _server_of_uri(uri: str) -> str:
    try:
        return Target(uri).key
    except PgdbaError:  # a URI libpq cannot read (an InputError repeats it): its host and path as written
        parts = _URI_SERVER.match(uri)
        return f"{parts['hosts']}{parts['db'] or '/'}" if parts else "the server"


def _server_of_pairs(pairs: str) -> str:
    """The server of a run of libpq `keyword=value` pairs; any other run (not a DSN) as it is."""
    keywords = {pair.split("=", 1)[0].strip().lower() for pair in re.findall(_PAIR, pairs, re.IGNORECASE)}
    if not keywords <= _LIBPQ_KEYWORDS or not keywords & _SERVER_KEYWORDS:
        return pairs
    try:
        return Target(pairs).key
    except PgdbaError:
        return "the server"
