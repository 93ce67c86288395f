"""`pgdba advise indexes`: the workload index advisor."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from pgdba.advisor.advise import (
    DEFAULT_BUDGET_MB,
    STATIC_FILLFACTOR,
    Advice,
    AdvisorOptions,
    QueryEffect,
    Recommendation,
    advise_indexes,
)
from pgdba.advisor.apply import apply_indexes, refuse_unverified_apply
from pgdba.advisor.foreign_key_cover import foreign_key_note
from pgdba.advisor.hidden_workload import hidden_workload_notes
from pgdba.advisor.orm_patch import OrmPatch, check_schema_file, drizzle_patch, prisma_patch
from pgdba.advisor.selection import DEFAULT_MIN_IMPROVEMENT_PCT
from pgdba.advisor.trigram import SearchIndexAdvice, SearchQuery, search_statements
from pgdba.advisor.verify import verify_advice
from pgdba.advisor.whatif import MAX_WHATIF_PARTITIONS
from pgdba.advisor.workload import (
    DEFAULT_MIN_CALLS,
    DEFAULT_MIN_MEAN_MS,
    DEFAULT_TOP,
    queries_from_file,
    queries_from_statements,
    roles_known_here,
    run_as,
    table_writes_from_statements,
)
from pgdba.checks.indexes import MAX_STATS_AGE_DAYS, MIN_STATS_AGE
from pgdba.cli.options import (
    DsnOption,
    FailOnOption,
    FormatOption,
    StatementTimeoutOption,
    StoreOption,
    check_fail_on,
    check_format,
    finite,
    store_if_openable,
    target_from,
)
from pgdba.errors import InputError
from pgdba.findings import Report
from pgdba.history.snapshot import index_ages
from pgdba.render import Column, markdown_table, md_code, md_fenced, md_text, print_rows, to_json
from pgdba.server import load_server_facts
from pgdba.statement_text import shortened
from pgdba.target import DEFAULT_STATEMENT_TIMEOUT_MS
from pgdba.text_files import check_writable, write_text_atomically

app = typer.Typer(help="Advice from the workload: indexes to create and to drop.", no_args_is_help=True)
EMITS = ("sql", "prisma", "drizzle")


@app.command("indexes")
def indexes(
    dsn: DsnOption = None,
    budget_mb: Annotated[
        float,
        typer.Option(
            "--budget-mb", parser=finite(min=0, min_open=True), help="Storage the new indexes may take, in MB"
        ),
    ] = DEFAULT_BUDGET_MB,
    min_improvement: Annotated[
        float,
        typer.Option(
            "--min-improvement",
            parser=finite(min=0, max=100),
            help="Least share (%) of the workload's estimated cost an index must remove",
        ),
    ] = DEFAULT_MIN_IMPROVEMENT_PCT,
    emit: Annotated[str, typer.Option("--emit", help="sql, prisma or drizzle")] = "sql",
    schema: Annotated[
        Path | None, typer.Option("--schema", help="Prisma / Drizzle schema file to patch")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Measure before/after with EXPLAIN ANALYZE on a scratch copy")
    ] = False,
    apply: Annotated[
        bool, typer.Option("--apply", help="Create the indexes on the target (CREATE INDEX CONCURRENTLY)")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Allow --apply without --verify on large tables")
    ] = False,
    min_calls: Annotated[
        int, typer.Option("--min-calls", help="pg_stat_statements: least calls", min=0)
    ] = DEFAULT_MIN_CALLS,
    min_mean_ms: Annotated[
        float,
        typer.Option("--min-mean-ms", parser=finite(min=0), help="pg_stat_statements: least mean time (ms)"),
    ] = DEFAULT_MIN_MEAN_MS,
    top: Annotated[
        int,
        typer.Option(
            "--top", help="pg_stat_statements: the N queries with most total time", min=1, max=100_000
        ),
    ] = DEFAULT_TOP,
    queries: Annotated[
        Path | None,
        typer.Option(
            "--queries",
            help="SQL file or PostgreSQL server log (stderr, csvlog or jsonlog) to take the workload from",
        ),
    ] = None,
    as_role: Annotated[
        str | None,
        typer.Option(
            "--as-role",
            help="With --queries: the role that runs them (its row-level security policies are applied)",
        ),
    ] = None,
    max_width: Annotated[int, typer.Option("--max-width", help="Most key columns per index")] = 3,
    static_fillfactor: Annotated[
        int,
        typer.Option(
            "--static-fillfactor",
            help="btree fillfactor on tables nothing writes (90 keeps PostgreSQL's default)",
        ),
    ] = STATIC_FILLFACTOR,
    min_stats_age_days: Annotated[
        float,
        typer.Option(
            parser=finite(min=0, max=MAX_STATS_AGE_DAYS),
            help="Judge unused indexes only on scan counters that have counted at least this many days",
        ),
    ] = MIN_STATS_AGE.days,
    max_partitions: Annotated[
        int,
        typer.Option(
            "--max-partitions",
            help="Cost partitioned tables of up to this many leaf partitions (one hypothetical index each; "
            "what-if plans get slower with their number)",
        ),
    ] = MAX_WHATIF_PARTITIONS,
    statement_timeout: StatementTimeoutOption = DEFAULT_STATEMENT_TIMEOUT_MS,
    store: StoreOption = None,
    fail_on: FailOnOption = "critical",
    fmt: FormatOption = "table",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the advice to this file (*.md or *.json; replaced whole, never half-written) instead"
            " of stdout: the weekly job of `pgdba schedule`",
        ),
    ] = None,
) -> None:
    """Advise the indexes that cut the workload's cost most within the budget, and the ones to drop (not
    those created after the history store's week-old index snapshot).

    Example: pgdba advise indexes --queries workload.sql --budget-mb 200 --emit prisma --schema schema.prisma
    """
    fmt = check_format(fmt)
    if out is not None:
        fmt = out_format(out, fmt)
        check_writable(out, "--out file")  # before the advisor runs
    severity = check_fail_on(fail_on)
    if emit not in EMITS:
        raise InputError(f"unknown --emit {emit!r}: use sql, prisma or drizzle")
    if emit != "sql" and schema is None:
        raise InputError(f"--emit {emit} needs --schema FILE (the schema to patch)")
    if emit == "sql" and schema is not None:
        raise InputError("--schema FILE is patched only with --emit prisma or --emit drizzle")
    if schema is not None:
        check_schema_file(emit, schema)
    if as_role is not None and queries is None:
        raise InputError("--as-role is for --queries FILE (pg_stat_statements records each query's role)")
    options = AdvisorOptions(
        budget_mb=budget_mb,
        min_improvement_pct=min_improvement,
        max_width=max_width,
        static_fillfactor=static_fillfactor,
        min_stats_age_days=min_stats_age_days,
        max_partitions=max_partitions,
    )
    options.validate()
    target = target_from(dsn, statement_timeout)
    # (a csvlog or jsonlog holds every database's statements: this one's are kept)
    workload = queries_from_file(queries, target.database) if queries is not None else []
    hidden_notes: list[str] = []  # on other roles' statements, when the workload is this database's
    with target.connect() as conn:
        facts = load_server_facts(conn)
        if queries is None:
            workload = queries_from_statements(
                conn, facts, min_calls=min_calls, min_mean_ms=min_mean_ms, top=top
            )
            hidden_notes = hidden_workload_notes(conn, facts, workload, instead="or pass --queries FILE")
            if not workload:
                raise InputError("pg_stat_statements holds no query above --min-calls / --min-mean-ms here")
        elif as_role is not None:
            workload = run_as(conn, workload, as_role)
        else:
            workload = roles_known_here(conn, workload)
        writes = None if queries is not None else table_writes_from_statements(conn, facts)
        with store_if_openable(store) as (history, unopened):
            ages = None if history is None else index_ages(history, target.key, datetime.now(UTC))
        advice = advise_indexes(conn, facts, workload, options, writes=writes, index_ages=ages)
        if unopened and advice.drops:
            advice.notes.append(f"{unopened}: indexes created in the last week cannot be told apart")
        advice.notes += hidden_notes
        if apply and not verify:
            refuse_unverified_apply(advice, yes=yes)
    patch = _patch(emit, schema, advice)
    if verify or apply:
        _announce(advice, apply)
    if verify:
        advice.verification = verify_advice(target, facts, advice, on_target=apply)
    elif apply:
        advice.verification = apply_indexes(target, advice)
    if out is None:
        _print(advice, patch, emit, fmt)
    else:
        write_text_atomically(out, _rendered(advice, patch, emit, fmt), "--out file")
        print(
            f"wrote {out}: {len(advice.recommendations)} to create, {len(advice.search_indexes)} search "
            f"indexes, {len(advice.drops)} to drop"
        )
    if Report(findings=advice.findings()).fails(severity):
        raise typer.Exit(1)


_OUT_FORMATS = {".md": "markdown", ".markdown": "markdown", ".json": "json"}


def out_format(out: Path, fmt: str) -> str:
    """The format an --out file is written in: its suffix's (.md, .json); --format, when given, must agree."""
    implied = _OUT_FORMATS.get(out.suffix.lower())
    if implied is None:
        raise InputError(f"--out {out}: use a .md or .json file name")
    if fmt not in ("table", implied):  # ("table": the default, i.e. --format not given)
        raise InputError(f"--out {out} is a {implied} file name but --format is {fmt}")
    return implied


def _patch(emit: str, schema: Path | None, advice: Advice) -> OrmPatch | None:
    if schema is None or emit == "sql":
        return None
    chosen = [r.candidate for r in advice.recommendations]
    patch = prisma_patch if emit == "prisma" else drizzle_patch
    return patch(schema, chosen, advice.search_indexes, advice.table_bytes())


def _announce(advice: Advice, apply: bool) -> None:
    """The SQL goes to stderr before anything changes (stdout stays clean for JSON)."""
    statements = [statement for r in advice.recommendations for statement in r.statements()]
    statements += search_statements(advice.search_indexes)
    if not apply or not statements:
        return
    sys.stderr.write("pgdba: creating on the target:\n")
    for statement in statements:
        sys.stderr.write(f"  {statement};\n")
    sys.stderr.flush()


_COSTING_LABELS = {"sampled": " (sampled constants)", "observed": " (constants the application sent)"}
_INDEX_COLUMNS = (
    Column("index", "index"),
    Column("size", "est. size", "right"),
    Column("share", "cost removed %", "right"),
    Column("queries", "queries", "right"),
    Column("status", "status"),
)
_DROP_COLUMNS = (
    Column("index", "index"),
    Column("reason", "reason"),
    Column("detail", "why"),
    Column("size", "size", "right"),
)


def _size(num: int | None) -> str:
    if num is None:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(num) < 1024 or unit == "GB":
            return f"{num:.0f} {unit}" if unit == "B" else f"{num:.1f} {unit}"
        num = num / 1024  # type: ignore[assignment]
    return str(num)


def _rendered(advice: Advice, patch: OrmPatch | None, emit: str, fmt: str) -> str:
    """The advice as JSON or Markdown text."""
    if fmt == "markdown":
        return _markdown(advice, patch, emit) + "\n"
    data: dict[str, Any] = advice.to_dict()
    data["emit"] = {
        "format": emit,
        "sql": [statement + ";" for r in advice.recommendations for statement in r.statements()]
        + [s + ";" for s in search_statements(advice.search_indexes)],
        "patch": patch.diff if patch else None,
        "unmapped": patch.unmapped if patch else [],
        "patch_notes": patch.notes if patch else [],
    }
    return to_json(data) + "\n"


def _print(advice: Advice, patch: OrmPatch | None, emit: str, fmt: str) -> None:
    if fmt in ("json", "markdown"):
        sys.stdout.write(_rendered(advice, patch, emit, fmt))
        return
    print(f"index advice: {_summary(advice)}")
    print(f"minimum improvement per index: {advice.options.min_improvement_pct:g} % of the workload's cost")
    print_rows(
        _index_rows(advice), _INDEX_COLUMNS, fmt, title="Indexes to create", empty="no index worth creating"
    )
    for r in advice.recommendations:
        for q in r.queries[:5]:
            print(f"  {r.candidate.name()}: {_query_effect(r, q)}: {shortened(q.sql, 100)}")
        if r.serves_foreign_keys:
            print(f"  {r.candidate.name()}: {foreign_key_note(r.serves_foreign_keys)}")
    _print_search_indexes(advice)
    print_rows(_drop_rows(advice), _DROP_COLUMNS, fmt, title="Indexes to drop", empty="none")
    if advice.verification:
        _print_verification(advice.verification)
    for note in advice.notes:
        print(f"note: {note}")
    for sql_text, reason in advice.skipped:  # whole: the reason may be about its end
        print(f"skipped: {_one_line(sql_text)} ({reason})")
    if emit == "sql" and (advice.recommendations or search_statements(advice.search_indexes)):
        print("\n-- SQL")
        for statement in _statements(advice):
            print(statement)
    if patch is not None:
        print(f"\n-- patch for {patch.path}")
        print(patch.diff or "(no change)")
        for line in patch.unmapped:
            print(f"not in the patch: {line}")
        for line in patch.notes:
            print(f"patch note: {line}")


_SEARCH_TITLE = "Search indexes (pg_trgm GIN, for pattern searches no btree serves)"


def _print_search_indexes(advice: Advice) -> None:
    """The search indexes, each with what, why, its SQL and its queries (after the btree ones)."""
    if not advice.search_indexes:
        return
    print(f"\n{_SEARCH_TITLE}:")
    for search in advice.search_indexes:
        print(f"  {search.label()}: {_search_status(search)}, {_search_size(search)}")
        print(f"    why: {_search_why(search)}")
        for statement in search.statements():
            print(f"    sql: {statement};")
        for line in search.notes:
            print(f"    note: {line}")
        for q in search.queries[:5]:
            print(f"    {_search_query(q)}: {shortened(q.sql, 100)}")


def _search_status(search: SearchIndexAdvice) -> str:
    if search.status == "unverified":
        return f"unverified ({search.reason})"
    return search.status


def _search_size(search: SearchIndexAdvice) -> str:
    return f"about {_size(search.estimated_bytes)} (rough)" if search.estimated_bytes else "size unknown"


def _search_why(search: SearchIndexAdvice) -> str:
    operators = sorted({q.operator for q in search.queries})
    return (
        f"{len(search.queries)} queries search {search.key} with {' / '.join(operators)}: no btree "
        "serves a pattern that does not start with fixed text; a trigram index does"
    )


def _search_query(q: SearchQuery) -> str:
    text = f"{q.operator}, {q.calls} calls"
    return f"{text}, only if it sends patterns that start with a wildcard" if q.ambiguous else text


def _search_markdown(advice: Advice) -> list[str]:
    """The search indexes as a Markdown section (after the btree ones)."""
    if not advice.search_indexes:
        return []
    lines = ["", f"### {_SEARCH_TITLE}", ""]
    for search in advice.search_indexes:
        status = f"{_search_status(search)}, {_search_size(search)}"
        lines.append(f"- {md_code(search.label())}: {md_text(status)}")
        lines.append(f"  - why: {md_text(_search_why(search))}")
        lines += [f"  - note: {md_text(line)}" for line in search.notes]
        lines += [
            f"  - {md_text(_search_query(q))}: {md_code(shortened(q.sql, 100))}" for q in search.queries[:5]
        ]
        statements = search.statements()
        if statements:
            lines += ["", md_fenced("\n".join(s + ";" for s in statements), "sql"), ""]
    return lines


def _summary(advice: Advice) -> str:
    summary = (
        f"{advice.queries} queries, {advice.candidates} candidates, {advice.whatif_calls} what-if plans "
        f"({advice.cache_hits} cached), {advice.runtime_s:.2f} s"
    )
    if advice.hypopg:
        summary += (
            f"; estimated workload cost {advice.cost_before:,.0f} → {advice.cost_after:,.0f} "
            f"({100 * advice.relative_cost:.1f} %), {_size(advice.used_bytes)} of {advice.options.budget_mb:g} MB"
        )
    return summary


def _index_rows(advice: Advice) -> list[dict[str, Any]]:
    return [
        {
            "index": r.candidate.label(),
            "size": _size(r.size_bytes),
            "share": round(r.share_pct, 1) if r.costed else None,
            "queries": len(r.queries),
            "status": _status(r),
        }
        for r in advice.recommendations
    ]


_MEASURED_LABELS = {"faster": "measured faster", "slower": ""}


def _status(r: Recommendation) -> str:
    """The status with --verify's verdict beside it ("estimated, too fast to measure")."""
    label = _MEASURED_LABELS.get(r.measured, r.measured) if r.measured else ""
    return f"{r.status}, {label}" if label else r.status


def _drop_rows(advice: Advice) -> list[dict[str, Any]]:
    return [
        {
            "index": d.index.qualified_name,
            "reason": d.reason,
            "detail": d.detail,
            "size": _size(d.index.size_bytes),
        }
        for d in advice.drops
    ]


def _query_effect(r: Recommendation, q: QueryEffect) -> str:
    if not r.costed:
        return f"unverified, {q.calls} calls"
    costing = _COSTING_LABELS.get(q.costing, "")
    return f"cost {q.cost_before:,.0f} → {q.cost_after:,.0f}{costing}, {q.calls} calls"


def _one_line(sql_text: str) -> str:
    return " ".join(sql_text.split())


def _statements(advice: Advice) -> list[str]:
    """The runnable SQL: CREATE INDEX for every recommendation, then DROP INDEX for every drop."""
    creates = [
        (
            "-- measured slower with it (see the verification): check before creating\n"
            if r.measured == "slower"
            else ""
        )
        + "".join(statement + ";\n" for statement in r.statements()).rstrip("\n")
        for r in advice.recommendations
    ]
    searches = [s + ";" for s in search_statements(advice.search_indexes)]
    return creates + searches + [d.ddl().as_string(None) + ";" for d in advice.drops]


def _markdown(advice: Advice, patch: OrmPatch | None, emit: str) -> str:
    """The advice as Markdown: tables, one list item per query an index helps, SQL and patch fenced."""
    lines = [
        f"## Index advice: {md_text(_summary(advice))}",
        "",
        f"Minimum improvement per index: {advice.options.min_improvement_pct:g} % of the workload's cost.",
        "",
        "### Indexes to create",
        "",
        markdown_table(_index_rows(advice), _INDEX_COLUMNS)
        if advice.recommendations
        else "_no index worth creating_",
        "",
    ]
    queries = [(r, q) for r in advice.recommendations for q in r.queries[:5]]
    lines += [
        f"- index {md_code(r.candidate.name())}: {_query_effect(r, q)}: {md_code(shortened(q.sql, 100))}"
        for r, q in queries
    ]
    lines += [
        f"- index {md_code(r.candidate.name())}: {md_text(foreign_key_note(r.serves_foreign_keys))}"
        for r in advice.recommendations
        if r.serves_foreign_keys
    ]
    lines += _search_markdown(advice)
    lines += ["", "### Indexes to drop", ""]
    lines.append(markdown_table(_drop_rows(advice), _DROP_COLUMNS) if advice.drops else "_none_")
    if advice.verification:
        lines += ["", "### Verification", "", *_verification_markdown(advice.verification)]
    if advice.notes or advice.skipped:
        lines += ["", "### Notes", ""]
        lines += [f"- _note_: {md_text(note)}" for note in advice.notes]
        lines += [
            f"- _skipped_: {md_code(_one_line(sql_text))} ({md_text(reason)})"
            for sql_text, reason in advice.skipped
        ]
    if emit == "sql" and (advice.recommendations or search_statements(advice.search_indexes)):
        lines += ["", "### SQL", "", md_fenced("\n".join(_statements(advice)), "sql")]
    if patch is not None:
        lines += ["", f"### Patch for {md_code(str(patch.path))}", ""]
        lines.append(md_fenced(patch.diff, "diff") if patch.diff else "_no change_")
        if patch.unmapped or patch.notes:
            lines.append("")
            lines += [f"- not in the patch: {md_text(line)}" for line in patch.unmapped]
            lines += [f"- patch note: {md_text(line)}" for line in patch.notes]
    return "\n".join(lines)


def _print_verification(verification: dict[str, Any]) -> None:
    for created in verification.get("created", []):
        print(f"created on the {verification['where']}: {created['index']} ({_size(created['size_bytes'])})")
    for failed in verification.get("failed", []):
        print(f"failed: {failed}")
    if "before_ms" in verification and verification.get("queries"):
        print(_measured(verification))
        for q in verification["queries"]:
            print(f"  {_query_timing(q)}  {shortened(q['query'], 80)}")
    for line in verification.get("notes", []):
        print(f"  note: {line}")


def _verification_markdown(verification: dict[str, Any]) -> list[str]:
    """The same lines as _print_verification, as a Markdown list (query timings nested)."""
    lines = [
        f"- created on the {md_text(verification['where'])}: {md_code(created['index'])} "
        f"({_size(created['size_bytes'])})"
        for created in verification.get("created", [])
    ]
    lines += [f"- failed: {md_text(str(failed))}" for failed in verification.get("failed", [])]
    if "before_ms" in verification and verification.get("queries"):
        lines.append(f"- {md_text(_measured(verification))}")
        lines += [
            f"  - {q['before_ms']:.2f} ms → {q['after_ms']:.2f} ms{_verdict(q)}: "
            f"{md_code(shortened(q['query'], 80))}"
            for q in verification["queries"]
        ]
    lines += [f"- note: {md_text(line)}" for line in verification.get("notes", [])]
    return lines


def _measured(verification: dict[str, Any]) -> str:
    return (
        f"measured ({verification['where']}): {verification['before_ms']:.1f} ms → "
        f"{verification['after_ms']:.1f} ms over {len(verification['queries'])} queries"
    )


def _query_timing(q: dict[str, Any]) -> str:
    return f"{q['before_ms']:9.2f} ms → {q['after_ms']:9.2f} ms{_verdict(q)}"


def _verdict(q: dict[str, Any]) -> str:
    return f" ({q['verdict']})" if q.get("verdict") else ""
