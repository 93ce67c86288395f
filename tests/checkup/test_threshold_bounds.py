"""`--set CHECK.PARAM=VALUE` values past what the parameter can mean (beyond a bigint, a time span past 100
years) are refused where they are parsed, naming the parameter: never an overflow inside a check."""

from __future__ import annotations

import pytest

from pgdba.checkup import parse_overrides
from pgdba.cli import main
from pgdba.errors import InputError
from tests.conftest import TestDatabase


@pytest.mark.parametrize("command", ["check", "health"])
@pytest.mark.parametrize(
    ("item", "bound"),
    [
        ("safety.wraparound.freeze_margin=1e300", "at most 9,223,372,036,854,775,807 (2^63 - 1)"),
        ("safety.wraparound.warning_age=9223372036854775808", "at most 9,223,372,036,854,775,807"),
        ("backup.restore_test.max_archive_age_hours=1e15", "at most 876,600 hours (100 years)"),
        ("safety.long_running.warning_seconds=1e10", "at most 3,155,760,000 seconds (100 years)"),
    ],
)
def test_an_out_of_range_threshold_is_a_one_line_input_error(
    db: TestDatabase, capsys: pytest.CaptureFixture[str], command: str, item: str, bound: str
) -> None:
    assert main([command, "--dsn", db.dsn, "--set", item]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    name, _, raw = item.partition("=")
    assert line.startswith(f"pgdba: error: --set {name}: threshold value {raw!r} must be {bound}")


@pytest.mark.parametrize(
    "item",
    [
        "safety.wraparound.freeze_margin=9.2e18",
        f"safety.wraparound.warning_age={2**63 - 1}",
        "backup.restore_test.max_archive_age_hours=876600",
        "table.vacuum_overdue.max_age=36525",
    ],
)
def test_a_threshold_at_its_bound_runs_the_checks(
    db: TestDatabase, capsys: pytest.CaptureFixture[str], item: str
) -> None:
    assert main(["check", "--dsn", db.dsn, "--set", item]) in (0, 1)
    assert "error" not in capsys.readouterr().err


def test_a_threshold_error_names_the_parameter() -> None:
    with pytest.raises(InputError, match=r"^--set query\.slow\.threshold_ms: threshold value 'fast' is not"):
        parse_overrides(["query.slow.threshold_ms=fast"])
    with pytest.raises(InputError, match=r"^--set capacity\.forecast\.warning_days: .* at most 36,525 days"):
        parse_overrides(["capacity.forecast.warning_days=40000"])
    assert parse_overrides(["safety.long_running.warning_seconds=3155760000"]) == {
        "safety.long_running": {"warning_seconds": 3155760000}
    }
