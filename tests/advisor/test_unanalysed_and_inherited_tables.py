"""Tables whose rows the catalog does not describe as a plain table's: one never analysed (just loaded or
restored, before autovacuum reaches it: pg_class.reltuples is -1, which the advisor took as 0 rows, so every
index on it was estimated at 16 kB, and said nothing about the plans resting on the planner's guesses), and
one with inheritance children (legacy partitioning: a query of it scans them too, and nothing was advised)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.advisor.apply import create_indexes
from pgdba.advisor.candidates import Candidate
from pgdba.advisor.orm_patch import prisma_patch
from pgdba.advisor.partitioned_build import inheritance_layout, inheritance_steps
from tests.advisor.helpers import advise, table_info
from tests.conftest import TestDatabase
from tests.inheritance_workload import READINGS_SQL

LOADED_SQL = """
CREATE TABLE loaded (id bigint, account int, amount numeric, at timestamptz)
  WITH (autovacuum_enabled = off);  -- stays never analysed while the test runs
INSERT INTO loaded
SELECT g, g % 5000, g % 97, now() - g * interval '1 minute' FROM generate_series(1, 100000) g;
CREATE TABLE created_empty (id bigint, account int) WITH (autovacuum_enabled = off);
"""


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_never_analysed_tables_size_is_the_planners_estimate_and_a_note_names_it(db: TestDatabase) -> None:
    db.execute(LOADED_SQL)
    queries = [
        "SELECT sum(amount) FROM loaded WHERE account = $1",
        "SELECT id FROM created_empty WHERE account = $1",
    ]
    advice = advise(db, queries)

    [chosen] = [r for r in advice.recommendations if r.candidate.table == "loaded"]
    assert chosen.candidate.columns[0] == "account"
    [note] = [n for n in advice.notes if n.startswith("never analysed")]
    assert "public.loaded" in note and "created_empty" not in note  # no pages: nothing to guess about
    with db.connect() as conn:
        conn.execute("CREATE INDEX built ON loaded (account)")
        row = conn.execute("SELECT pg_relation_size('built')").fetchone()
        assert row is not None
        built = int(row[0])
    assert built / 3 < chosen.size_bytes < built * 3  # was 16 kB: an empty table's index

    db.execute("DROP INDEX built; ANALYZE loaded")
    again = advise(db, queries)
    assert not [n for n in again.notes if n.startswith("never analysed")]


@pytest.mark.catalog
def test_a_never_analysed_table_holds_the_rows_the_planner_expects(db: TestDatabase) -> None:
    db.execute(LOADED_SQL)
    with db.target.connect() as conn:
        info = table_info(conn, "loaded")
        assert info.never_analysed and 50_000 < info.rows < 200_000  # was 0 (reltuples -1)
        assert not table_info(conn, "created_empty").never_analysed
    db.execute("ANALYZE loaded")
    with db.target.connect() as conn:
        info = table_info(conn, "loaded")
        assert not info.never_analysed and info.rows == 100_000


@pytest.mark.catalog
@pytest.mark.hypopg
def test_a_table_with_inheritance_children_gets_its_index_on_each_child(db: TestDatabase) -> None:
    """Legacy partitioning by table inheritance: the query names the parent, which holds no rows; its
    children hold them all. Before, nothing was advised (a hypothetical index on the parent serves none of
    its children's rows) while the check-up pointed each child's sequential scans at `advise indexes`."""
    db.execute(READINGS_SQL)
    query = "SELECT avg(v) FROM readings WHERE device = $1 AND at >= $2"
    advice = advise(db, [query])

    [chosen] = advice.recommendations
    assert chosen.candidate.table == "readings" and chosen.candidate.inherited
    assert chosen.candidate.columns[0] == "device"
    assert chosen.queries[0].cost_after < chosen.queries[0].cost_before / 10
    assert [step.split(" ON ")[1].split(" USING")[0] for step in chosen.build_steps] == [
        '"public"."readings"',
        '"public"."readings_2025"',
        '"public"."readings_2026"',
    ]
    assert all(step.startswith("CREATE INDEX CONCURRENTLY ") for step in chosen.build_steps)
    assert any(note.startswith("table inheritance (public.readings)") for note in advice.notes)

    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == [] and len(created) == 3
    with db.connect() as conn:
        conn.execute("SET enable_seqscan = off")  # (a plan that can use the child's index, on any size)
        plan = "\n".join(
            row[0] for row in conn.execute("EXPLAIN SELECT avg(v) FROM readings WHERE device = 7").fetchall()
        )
    assert f"readings_2026_{chosen.candidate.name().removeprefix('readings_')}" in plan
    again = advise(db, [query])  # now served: no index leading with device, the query's cost as advised
    assert again.cost_before < chosen.queries[0].cost_before / 10
    assert not [r for r in again.recommendations if r.candidate.columns[0] == "device"]


@pytest.mark.catalog
def test_a_child_that_has_the_index_already_keeps_it(db: TestDatabase) -> None:
    db.execute(READINGS_SQL + "CREATE INDEX readings_2025_by_device ON readings_2025 (device);")
    with db.target.connect() as conn:
        children, existing = inheritance_layout(conn, "public", "readings")
    assert [(c.name, c.parent_name) for c in children] == [
        ("readings_2025", "readings"),
        ("readings_2026", "readings"),
    ]
    device = Candidate("public", "readings", ("device",), inherited=True)
    steps = inheritance_steps(device, children, existing)
    assert [step.creates for step in steps] == [
        ("public", "readings_device_idx"),
        ("public", "readings_2026_device_idx"),
    ]
    db.execute("CREATE INDEX readings_by_device ON readings (device)")  # the table's own: kept too
    with db.target.connect() as conn:
        children, existing = inheritance_layout(conn, "public", "readings")
    steps = inheritance_steps(device, children, existing)
    assert [step.creates for step in steps] == [("public", "readings_2026_device_idx")]


def test_an_orm_patch_on_a_table_with_inheritance_children_says_the_migration_misses_them(
    tmp_path: Path,
) -> None:
    schema = tmp_path / "schema.prisma"
    schema.write_text(
        'datasource db {\n  provider = "postgresql"\n  url      = env("DATABASE_URL")\n}\n\n'
        "model readings {\n  id     Int @id\n  device Int\n}\n"
    )
    inherited = Candidate("public", "readings", ("device",), inherited=True)
    patch = prisma_patch(schema, [inherited])
    assert "@@index([device])" in patch.new_text
    [note] = [n for n in patch.notes if "inheritance children" in n]
    assert note.startswith("Prisma Migrate creates the index on public.readings only")
    assert not [n for n in prisma_patch(schema, [Candidate("public", "readings", ("device",))]).notes]


@pytest.mark.catalog
def test_timescaledb_chunks_are_not_read_as_inheritance_children(db: TestDatabase) -> None:
    """TimescaleDB's chunks inherit from their hypertable and TimescaleDB builds the hypertable's indexes on
    them itself (refusing CONCURRENTLY there): the hypertable is advised as a plain table, as before."""
    db.execute(
        """
        CREATE SCHEMA _timescaledb_internal;
        CREATE TABLE hyper (device int, at timestamptz);
        CREATE TABLE _timescaledb_internal._hyper_1_1_chunk () INHERITS (hyper);
        CREATE TABLE hyper_archive () INHERITS (hyper);
        """
    )
    with db.target.connect() as conn:
        assert table_info(conn, "hyper").inheritance_children == ("public.hyper_archive",)


@pytest.mark.catalog
@pytest.mark.hypopg
def test_an_index_on_the_parent_alone_does_not_serve_its_childrens_rows(db: TestDatabase) -> None:
    """A common mistake with inheritance: the index created on the parent only, in the belief that it
    reaches the children. Before, the advisor took the parent's index as serving the query and advised
    nothing; now each child gets it, and the parent keeps the one it has."""
    db.execute(READINGS_SQL + "CREATE INDEX readings_by_device ON readings (device, at);")
    advice = advise(db, ["SELECT avg(v) FROM readings WHERE device = $1 AND at >= $2"])

    [chosen] = advice.recommendations
    assert chosen.candidate.inherited and chosen.candidate.columns[:2] == ("device", "at")
    if chosen.candidate.columns == ("device", "at") and not chosen.candidate.include:
        # the parent's own index is of the same definition: only the children's are built
        assert [step.split(" ON ")[1].split(" USING")[0] for step in chosen.build_steps] == [
            '"public"."readings_2025"',
            '"public"."readings_2026"',
        ]
    with db.target.connect(apply=True) as conn:
        created, failed = create_indexes(conn, advice)
    assert failed == [] and {c["index"] for c in created} >= {
        f"readings_2025_{chosen.candidate.name().removeprefix('readings_')}",
        f"readings_2026_{chosen.candidate.name().removeprefix('readings_')}",
    }
