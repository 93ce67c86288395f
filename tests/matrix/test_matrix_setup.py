"""`setup pg-stat-statements` on every major: what is missing is found, and fixed where the role may."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from pgdba.server import load_server_facts
from pgdba.setup import apply_pg_stat_statements_setup, pg_stat_statements_status, statements_setup_steps
from pgdba.target import Target, resolve_target
from tests.conftest import TestDatabase

pytestmark = pytest.mark.catalog

PASSWORD = "Matrix-Setup-Pw-1"


def test_ready_server_needs_nothing(db: TestDatabase) -> None:
    status = pg_stat_statements_status(db.target)
    assert status.ready
    assert status.steps == []


def test_missing_extension_is_found_and_created_with_apply(db: TestDatabase) -> None:
    db.execute("DROP EXTENSION pg_stat_statements")
    status = pg_stat_statements_status(db.target)
    assert [s.code for s in status.steps] == ["extension_not_created"]
    assert status.steps[0].can_apply
    applied = apply_pg_stat_statements_setup(db.target)
    assert applied.applied == ["CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"]
    assert pg_stat_statements_status(db.target).ready


def test_tracking_switched_off_is_found(db: TestDatabase) -> None:
    target = Target(db.dsn, extra_settings={"pg_stat_statements.track": "none"})
    status = pg_stat_statements_status(target)
    assert [s.code for s in status.steps] == ["tracking_off"]


@pytest.fixture
def plain_role(db: TestDatabase) -> Iterator[Target]:
    name = f"setup_{uuid.uuid4().hex[:8]}"
    db.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
    yield resolve_target(f"postgresql://{name}:{PASSWORD}@127.0.0.1:{db.cluster.port}/{db.name}")
    db.execute(f"DROP OWNED BY {name}")
    db.execute(f"DROP ROLE {name}")


def test_role_without_pg_monitor_is_told_to_get_it(db: TestDatabase, plain_role: Target) -> None:
    status = pg_stat_statements_status(plain_role)
    assert [s.code for s in status.steps] == ["no_privilege"], status.steps
    (step,) = status.steps
    assert step.code == "no_privilege"
    assert not step.can_apply
    assert step.sql == f'GRANT pg_monitor TO "{plain_role.params()["user"]}";'
    db.execute(f"GRANT pg_monitor TO {plain_role.params()['user']}")
    assert pg_stat_statements_status(plain_role).ready


def _tracking_off_step_can_apply(target: Target) -> bool:
    with target.connect() as conn:
        facts = load_server_facts(conn)
        # the setting is superuser-only, so this role cannot switch it off itself: hand the check that fact
        facts = replace(facts, settings={**facts.settings, "pg_stat_statements.track": "none"})
        steps = {s.code: s for s in statements_setup_steps(conn, facts)}
    return steps["tracking_off"].can_apply


# stays >= 15, not for the statistics delay: GRANT ... ON PARAMETER is new in 15 (the test below covers 14)
@pytest.mark.pg(">= 15")
def test_parameter_grant_lets_a_plain_role_alter_the_setting(db: TestDatabase, plain_role: Target) -> None:
    assert not _tracking_off_step_can_apply(plain_role)
    db.execute(f"GRANT ALTER SYSTEM ON PARAMETER pg_stat_statements.track TO {plain_role.params()['user']}")
    assert _tracking_off_step_can_apply(plain_role)


@pytest.mark.pg("< 15")
def test_before_15_only_a_superuser_may_alter_the_setting(db: TestDatabase, plain_role: Target) -> None:
    db.execute(f"GRANT pg_monitor TO {plain_role.params()['user']}")
    assert not _tracking_off_step_can_apply(plain_role)
    assert _tracking_off_step_can_apply(db.target)
