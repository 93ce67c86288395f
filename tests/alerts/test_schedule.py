"""`pgdba schedule`: cron lines and systemd timers for the six jobs, installed without a password in them,
writing where the installing user can, and kept apart by flock(1)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pgdba.alerts.schedule import (
    CRON_BEGIN,
    CRON_END,
    JobRuntime,
    cron_lines,
    default_dirs,
    default_install_paths,
    merge_crontab,
    schedule_jobs,
    systemctl_scope,
    systemd_units,
)
from pgdba.backup.manifest import BACKUP_KIND
from pgdba.cli import main
from pgdba.history.store import HistoryStore
from pgdba.target import resolve_target
from tests.conftest import TestDatabase

FLOCK = shutil.which("flock")
needs_flock = pytest.mark.skipif(FLOCK is None, reason="flock (util-linux) is not installed")
# cron runs its lines with /bin/sh (dash on Debian); bash is what most people test them with
SHELLS = ["bash", "/bin/sh"]


def test_cron_schedule_covers_snapshots_alerts_backups_restore_tests_the_advice_and_the_report(
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
        ["30", "6", "*", "*", "1"],
        ["0", "7", "*", "*", "1"],
    ]
    for command in (
        "pgdba snapshot",
        "pgdba alerts check --notify",
        "pgdba backup run",
        "pgdba restore-test",
        "pgdba advise indexes --out",
        "pgdba report",
    ):
        assert any(command in line for line in jobs), command
    assert all(". /etc/pgdba/pgdba.env" in line for line in jobs)


def test_installing_the_crontab_twice_keeps_one_block_and_the_users_own_lines(tmp_path: Path) -> None:
    runtime = JobRuntime(logs=tmp_path, state=tmp_path, flock=FLOCK)
    jobs = schedule_jobs(env_file="/etc/pgdba/pgdba.env", runtime=runtime)
    lines = cron_lines(jobs, Path("/etc/pgdba/pgdba.env"), runtime)
    once = merge_crontab("MAILTO=me\n15 1 * * * /usr/local/bin/mine\n", lines)
    twice = merge_crontab(once, lines)
    assert once == twice
    assert twice.count(CRON_BEGIN) == 1 and twice.count(CRON_END) == 1
    assert twice.startswith("MAILTO=me\n15 1 * * * /usr/local/bin/mine\n")


def test_systemd_apply_writes_timers_a_private_env_file_and_the_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "pgdba.env"
    units = tmp_path / "units"
    state = tmp_path / "state" / "pgdba"
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
        "--state-dir",
        str(state),
    ]
    assert main(args) == 0
    written = sorted(p.name for p in units.iterdir())
    assert len(written) == 12 and "pgdba-alerts-check.timer" in written
    assert "OnCalendar=*:0/5" in (units / "pgdba-alerts-check.timer").read_text()
    assert f"EnvironmentFile={env_file}" in (units / "pgdba-alerts-check.service").read_text()
    assert f"--out {state / 'weekly-report.html'}" in (units / "pgdba-weekly-report.service").read_text()
    assert state.is_dir()  # the report and the lock files go there: a job cannot create it
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "s3cret" in env_file.read_text()
    assert not any("s3cret" in p.read_text() for p in units.iterdir())
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert f"report and locks: {state}" in out


# 1. logs and the report go where the installing user can write


def test_a_non_root_user_logs_under_its_own_state_home(tmp_path: Path) -> None:
    assert default_dirs(root=True, environ={}, home=tmp_path) == (
        Path("/var/log/pgdba"),
        Path("/var/lib/pgdba"),
    )
    own = tmp_path / "xdg-state"
    assert default_dirs(root=False, environ={"XDG_STATE_HOME": str(own)}, home=tmp_path) == (
        own / "pgdba",
        own / "pgdba",
    )
    # the XDG spec: a relative XDG_STATE_HOME is invalid and ignored
    fallback = tmp_path / ".local/state/pgdba"
    assert default_dirs(root=False, environ={"XDG_STATE_HOME": "rel"}, home=tmp_path) == (fallback, fallback)
    assert default_dirs(root=False, environ={}, home=tmp_path) == (fallback, fallback)


def test_a_non_root_user_installs_its_env_file_and_units_under_its_own_config_home(tmp_path: Path) -> None:
    assert default_install_paths(root=True, environ={}, home=tmp_path) == (
        Path("/etc/pgdba/pgdba.env"),
        Path("/etc/systemd/system"),
    )
    own = tmp_path / "xdg-config"
    assert default_install_paths(root=False, environ={"XDG_CONFIG_HOME": str(own)}, home=tmp_path) == (
        own / "pgdba/pgdba.env",
        own / "systemd/user",
    )
    config = tmp_path / ".config"
    assert default_install_paths(root=False, environ={"XDG_CONFIG_HOME": "rel"}, home=tmp_path) == (
        config / "pgdba/pgdba.env",
        config / "systemd/user",
    )
    # the user's unit directory is the one the user manager reads: enabled with systemctl --user
    user_units = default_install_paths(root=False, environ=os.environ, home=Path.home())[1]
    assert systemctl_scope(user_units) == ("--user",)


def test_state_dir_holds_every_log_the_report_and_the_locks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["schedule", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    jobs = [line for line in out.splitlines() if line and not line.startswith("#")]
    for name in ("snapshot", "alerts-check", "backup", "restore-test", "index-advice", "weekly-report"):
        assert sum(f">> {tmp_path / name}.log 2>&1" in line for line in jobs) == 1, name
    assert f"--out {tmp_path / 'weekly-report.html'}" in out
    assert f"advise indexes --out {tmp_path / 'index-advice.md'}" in out
    assert f"# logs: {tmp_path}/<job>.log; report and locks: {tmp_path}" in out
    assert "/var/" not in out


# 2. flock keeps the backup and the restore test apart and skips an overlapping alert check


def _job_command(tmp_path: Path, db: TestDatabase, name: str) -> tuple[str, JobRuntime]:
    """The shell command of a job's cron line (its schedule stripped), with its env file written."""
    env_file = tmp_path / "pgdba.env"
    env_file.write_text(
        f"PGDBA_DSN='{db.dsn}'\nPGDBA_BACKUP_STORAGE='file://{tmp_path / 'backups'}'\n", encoding="utf-8"
    )
    (tmp_path / "backups").mkdir(exist_ok=True)
    runtime = JobRuntime(logs=tmp_path / "logs", state=tmp_path / "state", flock=FLOCK)
    runtime.logs.mkdir(exist_ok=True)
    runtime.state.mkdir(exist_ok=True)
    jobs = schedule_jobs(env_file=str(env_file), store=str(tmp_path / "history.sqlite3"), runtime=runtime)
    job = next(job for job in jobs if job.name == name)
    line = next(line for line in cron_lines([job], env_file, runtime) if line.startswith(job.cron))
    return line.removeprefix(job.cron + " "), runtime


def _hold(lock: Path, then: str = ":") -> subprocess.Popen[str]:
    """Hold the lock until our end of the pipe is closed, then run `then` (still holding it)."""
    holder = subprocess.Popen(
        ["flock", str(lock), "-c", f"echo locked; read x; {then}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0


def _someone_waits_for(lock: Path) -> bool:
    """A blocked flock() on the lock file shows in /proc/locks as a `->` line with its inode."""
    inode = f":{lock.stat().st_ino} "
    return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())


@needs_flock
@pytest.mark.parametrize("shell", SHELLS)
def test_restore_test_waits_for_the_running_backup(db: TestDatabase, tmp_path: Path, shell: str) -> None:
    command, runtime = _job_command(tmp_path, db, "restore-test")
    lock = runtime.state / "backup.lock"  # the backup job's lock
    lock.touch()
    log = runtime.logs / "restore-test.log"
    backup = _hold(lock, then=f"echo backup-finished >> {log}")

    restore_test = subprocess.Popen([shell, "-c", command])
    deadline = time.monotonic() + 30
    while not _someone_waits_for(lock):  # the restore test's flock is queued behind the backup
        assert restore_test.poll() is None, "the restore test did not wait for the backup"
        assert time.monotonic() < deadline, "the restore test never asked for the backup lock"
    assert log.read_text() == ""  # the shell opened it for the restore test: nothing ran yet
    _release(backup)
    restore_test.wait(timeout=120)

    first, *rest = log.read_text().splitlines()
    assert first == "backup-finished" and rest  # then the restore test ran and logged


@needs_flock
@pytest.mark.parametrize("shell", SHELLS)
def test_an_alert_check_is_skipped_while_the_previous_one_runs(
    db: TestDatabase, tmp_path: Path, shell: str
) -> None:
    command, runtime = _job_command(tmp_path, db, "alerts-check")
    lock = runtime.state / "alerts-check.lock"
    lock.touch()
    log = runtime.logs / "alerts-check.log"
    previous = _hold(lock)

    skipped = subprocess.run([shell, "-c", command], timeout=120)

    assert skipped.returncode == 0
    assert log.read_text().endswith(": skipped, the previous alerts-check still runs\n")
    assert len(log.read_text().splitlines()) == 1
    _release(previous)
    ran = subprocess.run([shell, "-c", command], timeout=120)
    assert ran.returncode == 0
    assert "skipped" not in log.read_text().split("\n", 1)[1]  # this time the check itself logged
    assert len(log.read_text().splitlines()) > 1


def test_systemd_backup_and_restore_test_share_the_lock_and_cron_says_when_flock_is_missing(
    tmp_path: Path,
) -> None:
    runtime = JobRuntime(logs=tmp_path, state=tmp_path, flock="/usr/bin/flock")
    jobs = schedule_jobs(env_file="/etc/pgdba/pgdba.env", runtime=runtime)
    units = systemd_units(jobs, Path("/etc/pgdba/pgdba.env"), runtime)
    locked = f"ExecStart=/usr/bin/flock {tmp_path / 'backup.lock'} "
    assert locked in units["pgdba-backup.service"] and locked in units["pgdba-restore-test.service"]
    assert "flock" not in units["pgdba-alerts-check.service"]  # systemd never starts a oneshot twice

    without = JobRuntime(logs=tmp_path, state=tmp_path, flock=None)
    lines = cron_lines(
        schedule_jobs(env_file="/etc/pgdba/pgdba.env", runtime=without), Path("x.env"), without
    )
    assert not any("flock " in line for line in lines if not line.startswith("#"))
    assert any(line.startswith("# note: flock (util-linux) is not installed") for line in lines)


# 3. user units are for the user's own systemd manager


@pytest.fixture
def home_without_a_user_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME in tmp_path, and no user bus, so `systemctl --user` cannot reach a real manager."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    runtime_dir = tmp_path / "run"
    runtime_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime_dir))
    return tmp_path


def test_units_in_the_user_directory_are_enabled_with_systemctl_user(
    home_without_a_user_manager: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = home_without_a_user_manager
    user_units = home / ".config/systemd/user"
    assert systemctl_scope(user_units) == ("--user",)
    assert systemctl_scope(Path("/etc/systemd/system")) == ()
    assert systemctl_scope(home / "staging") is None
    common = ["schedule", "--kind", "systemd", "--unit-dir", str(user_units), "--state-dir", str(home / "s")]

    assert main(common) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("systemctl --user daemon-reload && systemctl --user enable --now pgdba-")
    assert any("loginctl enable-linger" in line for line in printed)

    assert (
        main([*common, "--apply", "--env-file", str(home / "pgdba.env"), "--dsn", "postgresql://m@db/app"])
        == 0
    )
    applied = capsys.readouterr().out
    assert "WantedBy=timers.target" in (user_units / "pgdba-backup.timer").read_text()
    # no user manager here: the command that failed and the one to run both name the user manager
    assert "systemctl --user daemon-reload" in applied
    assert "systemctl daemon-reload" not in applied
    assert "\nenabled " not in applied


# 4. the jobs run the console script of this installation, and say when the backups have nowhere to go


def test_the_jobs_run_the_console_script_next_to_the_interpreter_when_pgdba_is_not_on_path(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = Path(sys.executable).parent / "pgdba"
    if not os.access(script, os.X_OK):
        pytest.skip(f"this installation has no console script at {script}")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["schedule"]) == 0
    jobs = [line for line in capsys.readouterr().out.splitlines() if line and not line.startswith("#")]
    assert all(f"{script} " in line for line in jobs)
    assert not any(" -m pgdba" in line for line in jobs)


@pytest.mark.parametrize("kind", ["cron", "systemd"])
def test_an_env_file_without_backup_storage_is_pointed_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    env_file = tmp_path / "pgdba.env"
    env_file.write_text("PGDBA_DSN='postgresql://m@db/app'\nPGDBA_BACKUP_STORAGE=\n", encoding="utf-8")
    common = ["schedule", "--kind", kind, "--env-file", str(env_file), "--state-dir", str(tmp_path / "s")]
    common += ["--unit-dir", str(tmp_path / "units")]
    assert main(common) == 0
    [note] = [line for line in capsys.readouterr().out.splitlines() if "PGDBA_BACKUP_STORAGE" in line]
    assert note.startswith(f"# note: {env_file} does not set PGDBA_BACKUP_STORAGE")
    assert "no backup storage given" in note

    if kind == "systemd":
        assert main([*common, "--apply"]) == 0  # the units go to a staging dir: nothing is enabled
        applied = capsys.readouterr().out.splitlines()
        assert any(line.startswith(f"note: {env_file} does not set PGDBA_BACKUP_STORAGE") for line in applied)

    env_file.write_text(
        "PGDBA_DSN='postgresql://m@db/app'\nexport PGDBA_BACKUP_STORAGE='file:///var/backups/pg'\n",
        encoding="utf-8",
    )
    assert main(common) == 0
    assert "PGDBA_BACKUP_STORAGE" not in capsys.readouterr().out


@needs_flock
def test_the_scheduled_backup_job_records_into_the_store_it_names_with_store(
    db: TestDatabase, tmp_path: Path
) -> None:
    command, runtime = _job_command(tmp_path, db, "backup")
    history = tmp_path / "history.sqlite3"
    assert f"backup run --store {history}" in command and "--history" not in command
    done = subprocess.run(["bash", "-c", command], timeout=300, check=False)
    assert done.returncode == 0, (runtime.logs / "backup.log").read_text()
    with HistoryStore(history) as store:
        assert len(store.records(resolve_target(db.dsn).key, BACKUP_KIND)) == 1
    jobs = schedule_jobs(env_file="/etc/pgdba/pgdba.env", store=str(history))
    restore_test = next(job for job in jobs if job.name == "restore-test")
    assert restore_test.args == ("restore-test", "--store", str(history))
