"""Rule durations (`for`, a per-table `for`, the `window` parameter) run from 0s to 365d: a longer one is
refused when the rule file is validated, naming the rule and the field, instead of crashing `alerts check`
or being exported as a duration Prometheus and Netdata cannot hold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pgdba.cli import main
from tests.conftest import TestDatabase

GROWTH = "[[rule]]\nname = 'table_growth'\n"
SIZE = "[[rule]]\nname = 'database_size'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GROWTH + "window = '100000000000d'\n",
            "rule 'table_growth': window must be from 0s to 365d (got '100000000000d')",
        ),
        (
            SIZE + "for = '99999999999999999999d'\n",
            "rule 'database_size': for must be from 0s to 365d (got '99999999999999999999d')",
        ),
        (
            GROWTH + "tables.orders = { for = '53w' }\n",
            "rule 'table_growth': tables.orders.for must be from 0s to 365d (got '53w')",
        ),
        (SIZE + "for = -60\n", "rule 'database_size': for must be from 0s to 365d (got -60)"),
        (SIZE + "for = [1]\n", "rule 'database_size': for: not a duration: [1]"),
    ],
)
def test_alerts_rules_refuses_a_duration_out_of_range(
    rules_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = rules_file(text)
    assert main(["alerts", "rules", "--rules", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pgdba: error: {path} line 2: {message}")


def test_alerts_check_refuses_a_window_out_of_range_before_checking(
    db: TestDatabase,
    rules_file: Callable[[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = rules_file(GROWTH + "window = '100000000000d'\n")
    store = tmp_path / "history.sqlite3"
    args = ["alerts", "check", "--dsn", db.dsn, "--rules", str(path), "--store", str(store)]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "window must be from 0s to 365d" in line


def test_a_year_is_accepted_and_exported_as_written(
    rules_file: Callable[[str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rules_file(SIZE + "for = '365d'\n")
    out = tmp_path / "pgdba.rules.yml"
    assert main(["alerts", "export", "prometheus", "--rules", str(path), "--out", str(out)]) == 0
    assert "for: 365d" in out.read_text()
