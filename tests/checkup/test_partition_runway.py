"""capacity.partition_runway: a table partitioned by a time range whose partitions run out refuses every
INSERT past the last one; provoked on the real cluster, the SQL of the finding run, the INSERT then taken."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import psycopg
import pytest

from pgdba.findings import Finding, Severity
from tests.checkup.helpers import current_date, find, run
from tests.conftest import TestDatabase
from tests.matrix.stats_visibility import eventually, publish_stats

CHECK = "capacity.partition_runway"


def _visits(db: TestDatabase, bounds: list[date], *, insert: date | None, default: bool = False) -> None:
    """`visit` partitioned by day ranges, one partition a pair of `bounds` named by its first day, a row
    inserted on `insert` (published to the statistics)."""
    statements = ["CREATE TABLE visit (id int, at date NOT NULL) PARTITION BY RANGE (at)"]
    statements += [
        f"CREATE TABLE visit_{lower:%Y%m%d} PARTITION OF visit FOR VALUES FROM ('{lower}') TO ('{upper}')"
        for lower, upper in itertools.pairwise(bounds)
    ]
    if default:
        statements.append("CREATE TABLE visit_default PARTITION OF visit DEFAULT")
    with db.connect() as conn:
        for statement in statements:
            conn.execute(statement)
        if insert is not None:
            conn.execute("INSERT INTO visit VALUES (1, %s)", (insert,))
            publish_stats(conn)


def _runway(db: TestDatabase, severity: Severity) -> Finding:
    def findings() -> list[Finding]:
        return find(run(db, CHECK), CHECK)

    found = eventually(findings, lambda f: [x.severity for x in f] == [severity])
    assert [f.severity for f in found] == [severity]
    return found[0]


@pytest.mark.catalog
def test_partitions_that_end_within_a_week_warn_and_the_sql_creates_the_next_ones(db: TestDatabase) -> None:
    today = current_date(db)
    _visits(
        db, [today - timedelta(days=17), today - timedelta(days=7), today + timedelta(days=3)], insert=today
    )
    finding = _runway(db, Severity.WARNING)
    assert finding.object == "public.visit"
    assert finding.title.startswith("Partitions end in 2 days") or finding.title.startswith(
        "Partitions end in 3"
    )
    assert finding.metrics["last_partition"] == f"public.visit_{today - timedelta(days=7):%Y%m%d}"
    assert finding.metrics["partition_step"] == "10 days"
    assert finding.sql is not None
    # ten-day partitions from where they end until two widths (20 days) ahead are covered
    firsts = [today + timedelta(days=3), today + timedelta(days=13), today + timedelta(days=23)]
    assert finding.sql.splitlines() == [
        "SET lock_timeout = '5s';",
        *(
            f'CREATE TABLE IF NOT EXISTS "public"."visit_{lower:%Y%m%d}" PARTITION OF "public"."visit" '
            f"FOR VALUES FROM ('{lower}') TO ('{upper}');"
            for lower, upper in itertools.pairwise(firsts)
        ),
    ]
    with db.connect() as conn:
        with pytest.raises(psycopg.errors.CheckViolation):  # no partition of relation "visit" found for row
            conn.execute("INSERT INTO visit VALUES (2, %s)", (today + timedelta(days=5),))
        conn.execute(finding.sql)
        conn.execute("INSERT INTO visit VALUES (2, %s)", (today + timedelta(days=5),))
    assert find(run(db, CHECK), CHECK) == []


@pytest.mark.catalog
def test_partitions_that_ended_are_critical_for_a_table_written_to_and_info_for_an_archive(
    db: TestDatabase,
) -> None:
    today = current_date(db)
    _visits(db, [today - timedelta(days=40), today - timedelta(days=10)], insert=today - timedelta(days=20))
    finding = _runway(db, Severity.CRITICAL)
    assert finding.title.startswith("INSERTs fail now")
    assert finding.metrics["days_left"] < -9 and finding.metrics["last_partition_inserts"] == 1
    db.execute(
        "CREATE TABLE archive (at timestamptz NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE archive_2020 PARTITION OF archive FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')"
    )
    db.execute(  # its last partition partitioned in turn: the next one needs its own partitions too
        "CREATE TABLE yearly (at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE yearly_2020 PARTITION OF yearly FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')"
        " PARTITION BY RANGE (at);"
        "CREATE TABLE yearly_2020_h1 PARTITION OF yearly_2020 FOR VALUES FROM ('2020-01-01') TO ('2020-07-01')"
    )
    by_table = {f.object: f for f in find(run(db, CHECK), CHECK)}
    assert by_table["public.archive"].severity is Severity.INFO
    assert "an archive?" in by_table["public.archive"].title
    assert by_table["public.archive"].sql is not None
    assert by_table["public.yearly"].sql is None
    assert "yearly_2020 is partitioned in turn" in by_table["public.yearly"].recommendation


@pytest.mark.catalog
def test_a_default_partition_or_maxvalue_takes_the_rows_and_a_table_without_partitions_fails_every_insert(
    db: TestDatabase,
) -> None:
    today = current_date(db)
    _visits(db, [today - timedelta(days=40), today - timedelta(days=10)], insert=None, default=True)
    db.execute(
        "CREATE TABLE upto (at date NOT NULL) PARTITION BY RANGE (at);"
        "CREATE TABLE upto_old PARTITION OF upto FOR VALUES FROM ('2020-01-01') TO (MAXVALUE);"
        "CREATE TABLE forever (at timestamptz NOT NULL) PARTITION BY RANGE (at);"  # up to 'infinity'
        "CREATE TABLE forever_all PARTITION OF forever FOR VALUES FROM ('-infinity') TO ('infinity');"
        "CREATE TABLE by_kind (kind text NOT NULL) PARTITION BY RANGE (kind);"  # not a time range
        "CREATE TABLE empty_log (at timestamp NOT NULL) PARTITION BY RANGE (at)"
    )
    result = run(db, CHECK)
    assert result.report.skipped == []  # (an infinite bound, which Python's datetime cannot hold, is read)
    [finding] = find(result, CHECK)
    assert finding.object == "public.empty_log" and finding.severity is Severity.CRITICAL
    assert finding.sql is None and "every INSERT fails" in finding.title


@pytest.mark.catalog
def test_a_last_partition_partitioned_by_hash_or_list_is_followed_with_its_partitions(
    db: TestDatabase,
) -> None:
    today = current_date(db)
    first, last, end = today - timedelta(days=17), today - timedelta(days=7), today + timedelta(days=3)
    statements = [
        "CREATE TABLE event (user_id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at)",
        f"CREATE TABLE event_{first:%Y%m%d} PARTITION OF event FOR VALUES FROM ('{first}') TO ('{last}')",
        f"CREATE TABLE event_{last:%Y%m%d} PARTITION OF event FOR VALUES FROM ('{last}') TO ('{end}')"
        " PARTITION BY HASH (user_id)",
        *(
            f"CREATE TABLE event_{last:%Y%m%d}_h{r} PARTITION OF event_{last:%Y%m%d}"
            f" FOR VALUES WITH (MODULUS 3, REMAINDER {r})"
            for r in range(3)
        ),
        # named with the date inside: region_log_eu_<date>; a DEFAULT partition among them
        "CREATE TABLE region_log (region text NOT NULL, at date NOT NULL) PARTITION BY RANGE (at)",
        f"CREATE TABLE region_log_{last:%Y%m%d} PARTITION OF region_log FOR VALUES FROM ('{last}') TO ('{end}')"
        " PARTITION BY LIST (region)",
        f"CREATE TABLE region_log_eu_{last:%Y%m%d} PARTITION OF region_log_{last:%Y%m%d} FOR VALUES IN ('eu')",
        f"CREATE TABLE region_log_rest_{last:%Y%m%d} PARTITION OF region_log_{last:%Y%m%d} DEFAULT",
        # partitions named so that no name for the next one follows: advice only
        "CREATE TABLE odd (user_id int NOT NULL, at date NOT NULL) PARTITION BY RANGE (at)",
        f"CREATE TABLE odd_{last:%Y%m%d} PARTITION OF odd FOR VALUES FROM ('{last}') TO ('{end}')"
        " PARTITION BY HASH (user_id)",
        *(
            f"CREATE TABLE odd_h{r} PARTITION OF odd_{last:%Y%m%d} FOR VALUES WITH (MODULUS 2, REMAINDER {r})"
            for r in range(2)
        ),
    ]
    with db.connect() as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO event VALUES (1, %s)", (today,))
        conn.execute("INSERT INTO region_log VALUES ('eu', %s)", (today,))
        conn.execute("INSERT INTO odd VALUES (1, %s)", (today,))
        publish_stats(conn)

    def findings() -> dict[str, Finding]:
        return {f.object: f for f in find(run(db, CHECK), CHECK)}

    found = eventually(findings, lambda f: all(x.severity is Severity.WARNING for x in f.values()))
    assert sorted(found) == ["public.event", "public.odd", "public.region_log"]
    assert found["public.odd"].sql is None
    assert "create the next one the same way" in found["public.odd"].recommendation
    event, region = found["public.event"], found["public.region_log"]
    assert "each next one is too, HASH (user_id)" in event.recommendation
    assert event.sql is not None and region.sql is not None
    new = end  # the first partition to come
    assert (
        f'CREATE TABLE IF NOT EXISTS "public"."event_{new:%Y%m%d}_h2" PARTITION OF "public"."event_{new:%Y%m%d}"'
        " FOR VALUES WITH (modulus 3, remainder 2);" in event.sql.splitlines()
    )
    assert (
        f'CREATE TABLE IF NOT EXISTS "public"."region_log_rest_{new:%Y%m%d}" PARTITION OF '
        f'"public"."region_log_{new:%Y%m%d}" DEFAULT;' in region.sql.splitlines()
    )
    later = today + timedelta(days=5)
    with db.connect() as conn:
        with pytest.raises(psycopg.errors.CheckViolation):  # no partition of relation "event" found for row
            conn.execute("INSERT INTO event VALUES (7, %s)", (later,))
        conn.execute(event.sql)
        conn.execute(region.sql)
        conn.execute("INSERT INTO event VALUES (7, %s)", (later,))
        conn.execute("INSERT INTO region_log VALUES ('eu', %s), ('us', %s)", (later, later))
        landed = conn.execute(
            "SELECT tableoid::regclass::text FROM event WHERE user_id = 7"
            " UNION ALL SELECT tableoid::regclass::text FROM region_log WHERE at = %s ORDER BY 1",
            (later,),
        ).fetchall()
    assert landed[0][0].startswith(f"event_{new:%Y%m%d}_h")
    assert [row[0] for row in landed[1:]] == [f"region_log_eu_{new:%Y%m%d}", f"region_log_rest_{new:%Y%m%d}"]
    assert sorted(f.object for f in find(run(db, CHECK), CHECK)) == ["public.odd"]
