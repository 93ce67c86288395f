"""Which workload statements are plain reads: all `pgdba pool bench` runs without --apply.

PostgreSQL's own parser (through pglast) classifies each statement before anything runs. A plain read is a
SELECT, VALUES, TABLE or WITH query, or an EXPLAIN of one, with no data-modifying WITH, no SELECT … INTO, no
row locks and no call of a built-in (or common extension) function with effects a READ ONLY transaction
does not stop: set_config(), dblink, large objects, replication slots, statistics resets, signals to other
sessions, advisory locks, … (_LASTING_EFFECTS). This check is the first line only: the load test also refuses
a call of a user-defined VOLATILE function (pgdba.pool.volatile_calls: its body is not seen here), and runs
each request in a READ ONLY transaction, so that a write this check missed (a STABLE function's nextval(), a
view's function) fails on the server. A view whose function has effects READ ONLY does not stop is not
detected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import pglast
from pglast import ast, enums

from pgdba.advisor.parse_tree import walk
from pgdba.errors import InputError

PLAIN_READS = "SELECT, VALUES, TABLE, WITH, EXPLAIN of those"
_DATA_MODIFYING = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
# commands whose node name does not spell them
_COMMAND_NAMES = {
    "Create": "CREATE TABLE",
    "Index": "CREATE INDEX",
    "VariableShow": "SHOW",
    "RefreshMatView": "REFRESH MATERIALIZED VIEW",
}
_RESETS = (enums.VariableSetKind.VAR_RESET, enums.VariableSetKind.VAR_RESET_ALL)


class _Effect(NamedTuple):
    """Functions whose call has an effect outside the transaction or on other sessions."""

    why: str  # for the error: "calls lo_unlink() (<why>)"
    names: frozenset[str]
    prefixes: tuple[str, ...]


def _effect(why: str, names: str, prefixes: str = "") -> _Effect:
    return _Effect(why, frozenset(names.split()), tuple(prefixes.split()))


# Matched on the name as PostgreSQL folds it, in any schema: an extension's functions live in whatever schema
# it was created in (public.pg_stat_statements_reset()). On PostgreSQL 15 every one of these runs in a READ
# ONLY transaction except nextval() and setval(), refused here too so the error comes before the run.
_LASTING_EFFECTS = (
    # set_config(): can switch the session or the transaction out of read-only
    _effect("it can switch the session out of read-only", "set_config"),
    # dblink, pg_background: SQL in another session, which pgdba's read-only settings do not cover
    _effect("another session, not read-only", "pg_background_launch", "dblink"),
    # SQL given as text, run by the function where this check cannot see it (tablefunc, xml2 included)
    _effect(
        "it runs a SQL text this check cannot see",
        "query_to_xml query_to_xmlschema query_to_xml_and_xmlschema ts_stat ts_rewrite connectby xpath_table",
        "crosstab",
    ),
    # large objects: lo_create, lo_unlink, lo_put, lo_import, lo_export, …
    _effect("it changes large objects even in a READ ONLY transaction", "loread lowrite", "lo_ be_lo_"),
    # replication slots and origins: created, dropped, advanced, their changes consumed
    _effect(
        "it changes replication slots or origins even in a READ ONLY transaction",
        "pg_create_physical_replication_slot pg_create_logical_replication_slot pg_drop_replication_slot "
        "pg_replication_slot_advance pg_logical_slot_get_changes pg_logical_slot_get_binary_changes "
        "pg_sync_replication_slots",
        "pg_copy_ pg_replication_origin_",
    ),
    # statistics reset (for every session) or overwritten; pg_stat_clear_snapshot() only drops this
    # transaction's snapshot of them and passes
    _effect(
        "it resets or changes statistics even in a READ ONLY transaction",
        "pg_stat_statements_reset pg_stat_kcache_reset pg_qualstats_reset pg_stat_monitor_reset "
        "pg_wait_sampling_reset_profile pg_restore_relation_stats pg_restore_attribute_stats "
        "pg_clear_relation_stats pg_clear_attribute_stats",
        "pg_stat_reset",
    ),
    # HypoPG: the session's hypothetical indexes, which outlive the transaction
    _effect(
        "it changes the session's hypothetical indexes, which outlive the transaction",
        "hypopg_create_index hypopg_drop_index hypopg_hide_index hypopg_unhide_index hypopg_unhide_all_indexes",
        "hypopg_reset",
    ),
    # signals to other sessions and server control, WAL records and switches included
    _effect(
        "it signals other sessions, controls the server or writes WAL",
        "pg_terminate_backend pg_cancel_backend pg_reload_conf pg_switch_wal pg_switch_xlog pg_promote "
        "pg_wal_replay_pause pg_wal_replay_resume pg_xlog_replay_pause pg_xlog_replay_resume "
        "pg_create_restore_point pg_backup_start pg_backup_stop pg_start_backup pg_stop_backup "
        "pg_log_backend_memory_contexts pg_logical_emit_message",
        "pg_rotate_logfile pg_buffercache_evict",
    ),
    # NOTIFY as a function: delivered to the listening sessions
    _effect("it notifies other sessions", "pg_notify"),
    # advisory locks: they block other sessions, and the session forms outlive the transaction
    _effect(
        "it takes or releases advisory locks other sessions wait on", "", "pg_advisory_ pg_try_advisory_"
    ),
    # sequences (a READ ONLY transaction refuses these on the server too)
    _effect("it advances or sets a sequence", "nextval setval"),
    # transaction ids: a READ ONLY transaction still gets one assigned, and each one is used up
    _effect("it assigns a transaction id", "txid_current pg_current_xact_id"),
    # files on the server (adminpack)
    _effect("it writes files on the server", "pg_file_write pg_file_unlink pg_file_rename"),
    # catalogs, table and index pages written directly, past the READ ONLY check (pg_surgery, pg_visibility)
    _effect(
        "it writes catalogs, tables or indexes even in a READ ONLY transaction",
        "pg_import_system_collations brin_summarize_new_values brin_summarize_range brin_desummarize_range "
        "gin_clean_pending_list heap_force_kill heap_force_freeze pg_truncate_visibility_map",
    ),
)


def check_plain_reads(statements: Sequence[str], workload_name: str) -> None:
    """Refuse, naming the first offender, a workload with any statement that is not a plain read."""
    for number, statement in enumerate(statements, start=1):
        try:
            problem = not_a_plain_read(statement)
        except pglast.parser.ParseError as exc:
            raise InputError(f"{workload_name}: statement {number} is not valid SQL: {exc}") from None
        if problem is not None:
            raise InputError(
                f"{workload_name}: statement {number} {problem}, not a plain read ({PLAIN_READS}): "
                "pass --apply to run a workload that may write"
            )


def not_a_plain_read(statement: str) -> str | None:
    """What keeps the statement from being a plain read ("is SET", "calls set_config()"), None for a read.
    Raises pglast's ParseError for a text that is not SQL."""
    parsed = pglast.parse_sql(statement)
    if len(parsed) != 1:
        return f"holds {len(parsed)} statements"
    root = parsed[0].stmt
    assert root is not None  # a parsed statement always has its node
    explained = root.query if isinstance(root, ast.ExplainStmt) else None
    if explained is not None:
        if not isinstance(explained, ast.SelectStmt):
            return f"is EXPLAIN of {command_name(explained)}"
        return _writing_part(explained)
    if not isinstance(root, ast.SelectStmt):
        return f"is {command_name(root)}"
    return _writing_part(root)


def _writing_part(select: ast.SelectStmt) -> str | None:
    """What inside a SELECT may write or leave read-only mode, None when nothing does."""
    for node in walk(select):
        if isinstance(node, _DATA_MODIFYING):
            return f"has a data-modifying WITH ({command_name(node)})"
        if isinstance(node, ast.IntoClause):
            return "is SELECT … INTO (it creates a table)"
        if isinstance(node, ast.LockingClause):
            return "locks rows (FOR UPDATE/SHARE)"
        if isinstance(node, ast.FuncCall):
            function = _function_name(node)
            effect = lasting_effect(function)
            if effect is not None:
                return f"calls {function}() ({effect})"
    return None


def lasting_effect(function: str) -> str | None:
    """Why a call of the function (its name as PostgreSQL folds it) is not a plain read, None when it may be."""
    for effect in _LASTING_EFFECTS:
        if function in effect.names or function.startswith(effect.prefixes):
            return effect.why
    return None


def called_functions(statement: str) -> list[tuple[str | None, str]]:
    """(schema or None, name) of every function the statement calls by name, as PostgreSQL folds them.
    Raises pglast's ParseError for a text that is not SQL."""
    calls = []
    for node in walk(pglast.parse_sql(statement)):
        if isinstance(node, ast.FuncCall):
            parts = [str(part.sval) for part in node.funcname or () if isinstance(part, ast.String)]
            if parts:
                calls.append((parts[-2] if len(parts) > 1 else None, parts[-1]))
    return calls


def _function_name(call: ast.FuncCall) -> str:
    last = call.funcname[-1] if call.funcname else None
    return str(last.sval) if isinstance(last, ast.String) else ""


def command_name(stmt: ast.Node) -> str:
    """The SQL command a statement node is, as the user would write it: SET, BEGIN, DELETE, VACUUM, …"""
    if isinstance(stmt, ast.VariableSetStmt):
        if stmt.kind in _RESETS:
            return "RESET"
        # SET TRANSACTION …, SET SESSION CHARACTERISTICS …
        return f"SET {stmt.name}" if stmt.kind == enums.VariableSetKind.VAR_SET_MULTI else "SET"
    if isinstance(stmt, ast.TransactionStmt) and stmt.kind is not None:
        kind = stmt.kind.name.removeprefix("TRANS_STMT_").replace("_", " ")
        return {"START": "START TRANSACTION", "PREPARE": "PREPARE TRANSACTION"}.get(kind, kind)
    if isinstance(stmt, ast.VacuumStmt):
        return "VACUUM" if stmt.is_vacuumcmd else "ANALYZE"
    node = type(stmt).__name__.removesuffix("Stmt")
    return _COMMAND_NAMES.get(node) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", node).upper()
