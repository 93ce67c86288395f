"""`pgdba schedule`: cron lines and systemd timers for the five jobs, installed without a password in them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pgdba.alerts.schedule import CRON_BEGIN, CRON_END, cron_lines, merge_crontab, schedule_jobs
from pgdba.cli import main


def test_cron_schedule_covers_snapshots_alerts_backups_restore_tests_and_the_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schedule"]) == 0
    out = capsys.readouterr().out.splitlines()
    jobs = [line for line in out if line and not line.startswith("#")]
    assert [line.split(" ")[:5] for line in jobs] == [
        ["0", "*", "*", "*", "*"],
        ["*/5", "*", "*", "*", "*"],
        ["0", "3", "*", "*", "*"],
        ["0", "4", "*", "*", "0"],
        ["0", "7", "*", "*", "1"],
    ]
    for command in (
        "pgdba snapshot",
        "pgdba alerts check --notify",
        "pgdba backup run",
        "pgdba restore-test",
        "pgdba report",
    ):
        assert any(command in line for line in jobs), command
    assert all(". /etc/pgdba/pgdba.env" in line for line in jobs)


def test_installing_the_crontab_twice_keeps_one_block_and_the_users_own_lines() -> None:
    lines = cron_lines(schedule_jobs(env_file="/etc/pgdba/pgdba.env"), Path("/etc/pgdba/pgdba.env"))
    once = merge_crontab("MAILTO=me\n15 1 * * * /usr/local/bin/mine\n", lines)
    twice = merge_crontab(once, lines)
    assert once == twice
    assert twice.count(CRON_BEGIN) == 1 and twice.count(CRON_END) == 1
    assert twice.startswith("MAILTO=me\n15 1 * * * /usr/local/bin/mine\n")


def test_systemd_apply_writes_timers_and_a_private_env_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "pgdba.env"
    units = tmp_path / "units"
    dsn = "postgresql://monitor:s3cret@db.example:5432/app"
    args = [
        "schedule",
        "--kind",
        "systemd",
        "--apply",
        "--dsn",
        dsn,
        "--env-file",
        str(env_file),
        "--unit-dir",
        str(units),
    ]
    assert main(args) == 0
    written = sorted(p.name for p in units.iterdir())
    assert len(written) == 10 and "pgdba-alerts-check.timer" in written
    assert "OnCalendar=*:0/5" in (units / "pgdba-alerts-check.timer").read_text()
    assert f"EnvironmentFile={env_file}" in (units / "pgdba-alerts-check.service").read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "s3cret" in env_file.read_text()
    assert not any("s3cret" in p.read_text() for p in units.iterdir())
    assert "s3cret" not in capsys.readouterr().out
