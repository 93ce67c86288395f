"""`advise indexes` run as a role that may not read the workload's tables names the missing privilege."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from pgdba.advisor.advise import AdvisorOptions, advise_indexes
from pgdba.advisor.workload import WorkloadQuery
from pgdba.cli import main
from pgdba.errors import PgdbaError
from pgdba.server import load_server_facts
from pgdba.target import Target, resolve_target
from tests.conftest import TestDatabase

SCHEMA = """
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric NOT NULL);
INSERT INTO orders SELECT g, g % 500, g % 97 FROM generate_series(1, 20000) g;
CREATE TABLE notes (id int PRIMARY KEY, author_id int NOT NULL, body text);
INSERT INTO notes SELECT g, g % 300, md5(g::text) FROM generate_series(1, 20000) g;
ANALYZE;
"""
ORDERS_QUERY = "SELECT * FROM orders WHERE customer_id = $1"
NOTES_QUERY = "SELECT * FROM notes WHERE author_id = $1"


@pytest.fixture
def monitor(db: TestDatabase) -> Iterator[tuple[str, Target, str]]:
    """A login role with pg_monitor only: it sees the statistics, not the rows. (name, target, dsn)"""
    db.execute(SCHEMA)
    role, password = f"mon_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    db.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE pg_monitor")
    params = psycopg.conninfo.conninfo_to_dict(db.dsn)
    params.update(user=role, password=password)
    params.pop("passfile", None)
    dsn = psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    try:
        yield role, resolve_target(dsn), dsn
    finally:
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")


@pytest.mark.catalog
@pytest.mark.hypopg
def test_advise_as_a_monitor_role_names_the_missing_select_privilege(
    monitor: tuple[str, Target, str],
) -> None:
    role, target, _ = monitor
    with target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [WorkloadQuery(ORDERS_QUERY), WorkloadQuery(NOTES_QUERY)]
        with pytest.raises(PgdbaError) as raised:
            advise_indexes(conn, facts, workload, AdvisorOptions())
    message = str(raised.value)
    assert "permission denied for table notes, orders" in message
    assert f"grant SELECT on the workload's tables to {role} (EXPLAIN needs it)" in message


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_query_on_one_unreadable_table_is_skipped_with_the_grant_it_needs(
    db: TestDatabase, monitor: tuple[str, Target, str]
) -> None:
    role, target, _ = monitor
    db.execute(f"GRANT SELECT ON orders TO {role}")
    with target.connect() as conn:
        facts = load_server_facts(conn)
        workload = [WorkloadQuery(ORDERS_QUERY), WorkloadQuery(NOTES_QUERY)]
        advice = advise_indexes(conn, facts, workload, AdvisorOptions())
    assert advice.queries == 1
    assert advice.skipped == [
        (
            NOTES_QUERY,
            f"cannot EXPLAIN: permission denied for table notes: grant SELECT on it to {role} "
            "(EXPLAIN needs it)",
        )
    ]


@pytest.mark.catalog
@pytest.mark.hypopg
def test_cli_as_a_monitor_role_exits_2_naming_the_privilege(
    monitor: tuple[str, Target, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role, _, dsn = monitor
    workload = tmp_path / "workload.sql"
    workload.write_text(f"{ORDERS_QUERY};\n")
    code = main(["advise", "indexes", "--dsn", dsn, "--queries", str(workload)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("pgdba: error: ") and len(err.strip().splitlines()) == 1
    assert "permission denied for table orders" in err and f"to {role} (EXPLAIN needs it)" in err
