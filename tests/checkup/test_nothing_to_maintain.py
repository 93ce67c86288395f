"""`pgdba maintenance` on a database that needs none says so, rather than asking for --apply."""

from __future__ import annotations

import pytest

from pgdba.cli import main
from tests.conftest import TestDatabase


@pytest.mark.parametrize("apply", [False, True])
def test_nothing_to_do_reads_as_no_maintenance_needed(
    db: TestDatabase, capsys: pytest.CaptureFixture[str], apply: bool
) -> None:
    code = main(["maintenance", "--dsn", db.dsn, *(["--apply"] if apply else [])])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert out == "No maintenance needed: no table needs VACUUM or ANALYZE"
