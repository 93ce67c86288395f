"""`pgdba schedule` refuses a rule file the alert check could not load when the schedule is made (not every
5 minutes after), and a `%` in a path survives the crontab (`\\%`) and the systemd units (`%%`)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from pgdba.alerts.schedule import JobRuntime, schedule_jobs, systemd_units
from pgdba.cli import main
from pgdba.errors import InputError
from tests.conftest import TestDatabase

BAD_RULE_FILES = {
    "missing": None,
    "not TOML": "[[rule]\nname = 'x'\n",
    "unknown metric": "[[rule]]\nname = 'x'\nmetric = 'no_such_metric'\nwarn = 1\n",
}


def _as_cron_reads(command: str) -> tuple[str, str | None]:
    r"""(the shell command, its stdin) as cron makes them of a crontab line's command: `\%` is `%`, and the
    first unescaped `%` ends the command (the rest, each further `%` a newline, is its stdin)."""
    read: list[str] = []
    escaped = False
    for at, char in enumerate(command):
        if escaped and char == "%":
            read[-1] = "%"
        elif char == "%":
            return "".join(read), command[at + 1 :].replace("%", "\n")
        else:
            read.append(char)
        escaped = char == "\\" and not escaped
    return "".join(read), None


def _as_systemd_reads(value: str) -> str:
    """A unit file setting with its specifiers resolved: `%%` is `%`, any other `%x` is not the path."""
    return re.sub(r"%(.)", lambda m: "%" if m[1] == "%" else f"<specifier %{m[1]}>", value)


@pytest.mark.parametrize("case", BAD_RULE_FILES)
def test_a_rule_file_the_alert_check_cannot_load_is_refused_and_nothing_is_installed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    rules = tmp_path / "rules.toml"
    if BAD_RULE_FILES[case] is not None:
        rules.write_text(str(BAD_RULE_FILES[case]), encoding="utf-8")
    env_file, units = tmp_path / "pgdba.env", tmp_path / "units"
    argv = ["schedule", "--kind", "systemd", "--unit-dir", str(units), "--env-file", str(env_file)]
    argv += ["--state-dir", str(tmp_path / "state"), "--rules", str(rules)]

    assert main([*argv, "--apply", "--dsn", "postgresql://monitor:s3cret@db.example/app"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("pgdba: error: ") and str(rules) in err
    assert not units.exists() and not env_file.exists() and not (tmp_path / "state").exists()

    assert main(argv) == 2  # printing the schedule is refused too
    assert capsys.readouterr().out == ""
    rules.write_text("[[rule]]\nname = 'x'\nmetric = 'deadlocks_per_minute'\nwarn = 1\n", encoding="utf-8")
    assert main(argv) == 0
    assert f"alerts check --notify --rules {rules}" in capsys.readouterr().out


def test_a_percent_in_a_path_is_escaped_in_the_crontab_and_cron_runs_the_whole_command(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state, store, env_file = tmp_path / "st%ate", tmp_path / "h%1.sqlite", tmp_path / "pg%dba.env"
    env_file.write_text(f"PGDBA_DSN={shlex.quote(db.dsn)}\n", encoding="utf-8")
    argv = ["schedule", "--state-dir", str(state), "--store", str(store), "--env-file", str(env_file)]
    assert main(argv) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("0 * * * * ")]
    assert f"--store {tmp_path}/h\\%1.sqlite " in line

    command, stdin = _as_cron_reads(line.removeprefix("0 * * * * "))
    assert stdin is None  # cron cut nothing off
    assert f". {env_file};" in command and f">> {state / 'snapshot.log'} 2>&1" in command
    state.mkdir()  # what --apply creates
    ran = subprocess.run(["/bin/sh", "-c", command], cwd=tmp_path, timeout=120)
    assert ran.returncode == 0, (state / "snapshot.log").read_text()
    assert store.stat().st_size > 0  # the snapshot went to the store named with `%`


def test_a_backslash_before_a_percent_cannot_go_into_a_crontab_and_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "a\\%b"
    assert main(["schedule", "--state-dir", str(state), "--env-file", str(tmp_path / "pgdba.env")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and "backslash before `%`" in err and str(state) in err


def test_a_percent_in_a_path_is_doubled_in_the_systemd_units(tmp_path: Path) -> None:
    state, store, env_file = tmp_path / "st%ate", tmp_path / "h%1.sqlite", tmp_path / "pg%v.env"
    env_file.write_text("PGDBA_DSN=postgresql://monitor@db.example/app\n", encoding="utf-8")
    runtime = JobRuntime(logs=state, state=state, flock="/usr/bin/flock")
    jobs = schedule_jobs(env_file=str(env_file), store=str(store), runtime=runtime)
    units = systemd_units(jobs, env_file, runtime)

    backup = dict(line.split("=", 1) for line in units["pgdba-backup.service"].splitlines() if "=" in line)
    assert _as_systemd_reads(backup["EnvironmentFile"]) == str(env_file)
    assert _as_systemd_reads(backup["ExecStart"]).startswith(f"/usr/bin/flock {state / 'backup.lock'} ")
    assert _as_systemd_reads(backup["ExecStart"]).endswith(f" backup run --store {store}")

    if shutil.which("systemd-analyze") is not None:  # systemd's own reading agrees
        for name, text in units.items():
            (tmp_path / name).write_text(text, encoding="utf-8")
        services = [str(tmp_path / name) for name in units if name.endswith(".service")]
        verified = subprocess.run(
            ["systemd-analyze", "verify", "--man=no", *services], capture_output=True, text=True, timeout=60
        )
        assert "specifier" not in verified.stdout + verified.stderr


@pytest.mark.parametrize("option", ["--state-dir", "--store"])
def test_a_line_break_in_a_path_cannot_add_a_job_to_the_crontab(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    planted = tmp_path / "planted"
    hostile = f"{tmp_path}/x\n* * * * * touch {planted}"
    env_file = str(tmp_path / "pgdba.env")
    args = ["schedule", "--env-file", env_file, option, hostile]
    if option == "--store":
        args += ["--state-dir", str(tmp_path / "state")]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert "control character" in err and repr(hostile) in err
    runtime = JobRuntime(logs=tmp_path, state=tmp_path, flock=None)
    with pytest.raises(InputError, match="line break"):
        systemd_units(
            schedule_jobs(env_file=env_file, store=hostile, runtime=runtime), Path(env_file), runtime
        )
