"""`pgdba schedule --keep-…`: a daily `backup prune` with those rules at 03:30, behind the backup's flock,
in the printed crontab and systemd units alike; without a rule there is no prune job."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pgdba.alerts.schedule import JobRuntime, cron_lines, schedule_jobs
from pgdba.backup import list_backups, run_backup
from pgdba.backup.storage import FileStorage
from pgdba.cli import main
from tests.conftest import TestDatabase

FLOCK = shutil.which("flock")
needs_flock = pytest.mark.skipif(FLOCK is None, reason="flock (util-linux) is not installed")
RULES = ["--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]


def _jobs(printed: str) -> list[str]:
    return [line for line in printed.splitlines() if line and not line.startswith("#")]


@needs_flock
def test_the_printed_crontab_prunes_after_the_backup_behind_its_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "pgdba.env"
    assert main(["schedule", "--state-dir", str(tmp_path), "--env-file", str(env_file), *RULES]) == 0
    out = capsys.readouterr().out
    jobs = _jobs(out)
    assert [line.split(" ")[:5] for line in jobs][2:5] == [
        ["0", "3", "*", "*", "*"],
        ["30", "3", "*", "*", "*"],
        ["0", "4", "*", "*", "0"],
    ]
    backup, prune = jobs[2], jobs[3]
    lock = f"{FLOCK} {tmp_path / 'backup.lock'} "
    assert lock in backup
    assert prune.startswith(f"30 3 * * * set -a; . {env_file}; set +a; {lock}")
    assert prune.endswith(
        f"pgdba backup prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6 >> {tmp_path / 'backup-prune.log'} 2>&1"
    )
    assert "# daily pruning of the backups the retention rules do not keep" in out.splitlines()
    # the prune reads PGDBA_BACKUP_STORAGE from the env file too
    assert "the backup, backup-prune and restore-test jobs would fail" in out


def test_the_printed_systemd_units_prune_at_half_past_three_behind_the_backups_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["schedule", "--kind", "systemd", "--unit-dir", str(tmp_path / "units")]
    assert main([*argv, "--state-dir", str(tmp_path), "--env-file", "/etc/pgdba/pgdba.env", *RULES]) == 0
    out = capsys.readouterr().out
    service = out.split(f"# {tmp_path / 'units' / 'pgdba-backup-prune.service'}\n", 1)[1].split("\n# ", 1)[0]
    timer = out.split(f"# {tmp_path / 'units' / 'pgdba-backup-prune.timer'}\n", 1)[1].split("\n# ", 1)[0]
    assert "EnvironmentFile=/etc/pgdba/pgdba.env" in service
    (exec_start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    if FLOCK is not None:
        assert exec_start.startswith(f"ExecStart={FLOCK} {tmp_path / 'backup.lock'} ")
    assert exec_start.endswith("pgdba backup prune --keep-daily 7 --keep-weekly 4 --keep-monthly 6")
    assert "OnCalendar=*-*-* 03:30:00" in timer and "Persistent=true" in timer
    assert "pgdba-backup-prune.timer" in out.splitlines()[-1]  # enabled with the others


@pytest.mark.parametrize("kind", ["cron", "systemd"])
def test_without_a_retention_rule_there_is_no_prune_job(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    argv = ["schedule", "--kind", kind, "--unit-dir", str(tmp_path / "units"), "--state-dir", str(tmp_path)]
    assert main(argv) == 0
    assert "prune" not in capsys.readouterr().out


def test_a_retention_rule_the_prune_would_refuse_is_refused_when_the_schedule_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["schedule", "--state-dir", str(tmp_path), "--keep-daily", "0"]
    assert (
        main([*argv, "--apply", "--env-file", str(tmp_path / "pgdba.env"), "--dsn", "postgresql://m@db/a"])
        == 2
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("pgdba: error: --keep-daily takes 1 to 100000: 0 would keep no backup")
    assert not (tmp_path / "pgdba.env").exists()


def _someone_waits_for(lock: Path) -> bool:
    """A blocked flock() on the lock file shows in /proc/locks as a `->` line with its inode."""
    inode = f":{lock.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


@needs_flock
def test_the_scheduled_prune_waits_for_the_running_backup_then_prunes(
    db: TestDatabase, tmp_path: Path
) -> None:
    storage = FileStorage(tmp_path / "backups")
    older = run_backup(db.target, storage, include_globals=False)
    newer = run_backup(db.target, storage, include_globals=False)
    env_file = tmp_path / "pgdba.env"
    env_file.write_text(f"PGDBA_DSN='{db.dsn}'\nPGDBA_BACKUP_STORAGE='{storage.url}'\n", encoding="utf-8")
    runtime = JobRuntime(logs=tmp_path / "logs", state=tmp_path / "state", flock=FLOCK)
    runtime.logs.mkdir()
    runtime.state.mkdir()
    jobs = schedule_jobs(env_file=str(env_file), runtime=runtime, retention={"--keep-last": 1})
    (job,) = [job for job in jobs if job.name == "backup-prune"]
    line = next(line for line in cron_lines([job], env_file, runtime) if line.startswith(job.cron))
    lock = runtime.state / "backup.lock"
    lock.touch()
    backup = subprocess.Popen(
        ["flock", str(lock), "-c", "echo locked; read x; true"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert backup.stdout is not None and backup.stdout.readline() == "locked\n"

    prune = subprocess.Popen(["/bin/sh", "-c", line.removeprefix(job.cron + " ")])
    deadline = time.monotonic() + 30
    while not _someone_waits_for(lock):
        assert prune.poll() is None, "the prune did not wait for the backup"
        assert time.monotonic() < deadline, "the prune never asked for the backup lock"
    assert [b.backup_id for b in list_backups(storage)] == [older.backup_id, newer.backup_id]
    assert backup.stdin is not None
    backup.stdin.close()
    assert backup.wait(timeout=30) == 0
    assert prune.wait(timeout=120) == 0, (runtime.logs / "backup-prune.log").read_text()

    assert [b.backup_id for b in list_backups(storage)] == [newer.backup_id]
    assert older.backup_id in (runtime.logs / "backup-prune.log").read_text()
