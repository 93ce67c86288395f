"""A DSN naming a primary and its standby (`host=a,b target_session_attrs=…`), as HA clients write them.

libpq judges `read-write` and `read-only` by default_transaction_read_only, which pgdba's own sessions turn
on: before, `read-write` refused every server and `read-only` took the first one listed, a primary too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgdba.cli import main
from pgdba.embedded import SUPERUSER, EmbeddedCluster
from pgdba.pool.factory import PoolSettings, create_pool
from pgdba.target import resolve_target
from tests.clusters import own_cluster
from tests.standby import standby_of


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[EmbeddedCluster, EmbeddedCluster]]:
    """(primary, standby), the standby streaming from the primary."""
    with own_cluster("attrs-primary") as primary, standby_of(primary) as standby:
        yield primary, standby


def _both(first: EmbeddedCluster, second: EmbeddedCluster, attrs: str = "") -> str:
    """A key=value DSN listing two servers (both on 127.0.0.1, each its port), as an HA client lists them."""
    return (
        f"host=127.0.0.1,127.0.0.1 port={first.port},{second.port} user={SUPERUSER} dbname=postgres "
        f"passfile={first.passfile}" + (f" target_session_attrs={attrs}" if attrs else "")
    )


def _in_recovery(dsn: str, *, apply: bool = False) -> tuple[bool, str]:
    """(pg_is_in_recovery(), default_transaction_read_only) of the session pgdba opens."""
    with resolve_target(dsn).connect(apply=apply) as conn:
        row = conn.execute("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')")
        found = row.fetchone()
    assert found is not None
    return bool(found[0]), str(found[1])


@pytest.mark.catalog
def test_read_write_reaches_the_primary_listed_after_its_standby_and_the_session_stays_read_only(
    pair: tuple[EmbeddedCluster, EmbeddedCluster],
) -> None:
    primary, standby = pair
    assert _in_recovery(_both(standby, primary, "read-write")) == (False, "on")
    assert _in_recovery(_both(standby, primary, "read-write"), apply=True) == (False, "off")


@pytest.mark.catalog
def test_read_only_passes_over_the_primary_listed_first(
    pair: tuple[EmbeddedCluster, EmbeddedCluster],
) -> None:
    primary, standby = pair
    assert _in_recovery(_both(primary, standby, "read-only")) == (True, "on")


@pytest.mark.catalog
def test_the_environments_target_session_attrs_is_read_as_the_dsns(
    pair: tuple[EmbeddedCluster, EmbeddedCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, standby = pair
    monkeypatch.setenv("PGTARGETSESSIONATTRS", "read-write")
    assert _in_recovery(_both(standby, primary)) == (False, "on")


@pytest.mark.catalog
def test_pool_sessions_reach_the_primary_with_read_write(
    pair: tuple[EmbeddedCluster, EmbeddedCluster],
) -> None:
    primary, standby = pair
    target = resolve_target(_both(standby, primary, "read-write"))
    with create_pool(target, PoolSettings(min_size=1, max_size=1)) as pool, pool.connection() as conn:
        row = conn.execute("SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')")
        assert row.fetchone() == (False, "on")


@pytest.mark.catalog
def test_when_no_server_qualifies_the_error_gives_each_servers_reason(
    pair: tuple[EmbeddedCluster, EmbeddedCluster], capsys: pytest.CaptureFixture[str]
) -> None:
    primary, _standby = pair
    # the primary listed first, then a port nothing listens on
    dsn = _both(primary, primary, "standby").replace(f",{primary.port}", ",1")
    assert main(["health", "--dsn", dsn]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"127.0.0.1:{primary.port}: server is not in hot standby mode" in err
    assert "127.0.0.1:1: Connection refused" in err
