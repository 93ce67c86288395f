"""`pgdba schedule`: cron lines or systemd timers for snapshots, alert checks, backups, restore tests, reports.

The jobs read the connection from an environment file (PGDBA_DSN=…, mode 0600), so no password ends up
in a crontab or a unit file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pgdba.errors import InputError
from pgdba.target import resolve_target

CRON_BEGIN = "# BEGIN pgdba schedule"
CRON_END = "# END pgdba schedule"


@dataclass(frozen=True)
class Job:
    name: str
    cron: str  # cron expression
    calendar: str  # systemd OnCalendar
    args: tuple[str, ...]
    description: str


def schedule_jobs(*, env_file: str, rules_file: str | None = None, store: str | None = None) -> list[Job]:
    """The default schedule: snapshots hourly, alert checks every 5 minutes, a daily backup at 03:00,
    a weekly restore test on Sunday 04:00 and the weekly report on Monday 07:00 (the server's local time,
    for cron and systemd alike). Paths are made absolute: cron runs jobs in $HOME, systemd in /."""
    # one history store for every job: the alert check reads the backups and restore tests they record
    store_args = ("--store", _absolute(store)) if store else ()
    history_args = ("--history", _absolute(store)) if store else ()
    rules_args = ("--rules", _absolute(rules_file)) if rules_file else ()
    return [
        Job(
            "snapshot",
            "0 * * * *",
            "hourly",
            ("snapshot", *store_args),
            "store statistics for deltas and growth",
        ),
        Job(
            "alerts-check",
            "*/5 * * * *",
            "*:0/5",
            ("alerts", "check", "--notify", *rules_args, *store_args),
            "evaluate alert rules, notify on changes",
        ),
        Job(
            "backup",
            "0 3 * * *",
            "*-*-* 03:00:00",
            ("backup", "run", *history_args),
            "daily logical backup",
        ),
        Job(
            "restore-test",
            "0 4 * * 0",
            "Sun *-*-* 04:00:00",
            ("restore-test", *history_args),
            "weekly restore test",
        ),
        Job(
            "weekly-report",
            "0 7 * * 1",
            "Mon *-*-* 07:00:00",
            ("report", "--out", "/var/lib/pgdba/weekly-report.html", *store_args),
            "weekly report",
        ),
    ]


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def _pgdba() -> str:
    found = shutil.which("pgdba")
    return found or f"{sys.executable} -m pgdba"


def cron_lines(jobs: list[Job], env_file: Path) -> list[str]:
    exe = _pgdba()
    env = shlex.quote(_absolute(str(env_file)))
    lines = [CRON_BEGIN]
    for job in jobs:
        command = " ".join(shlex.quote(a) for a in job.args)
        lines.append(f"# {job.description}")
        lines.append(
            f"{job.cron} set -a; . {env}; set +a; {exe} {command} >> /var/log/pgdba-{job.name}.log 2>&1"
        )
    lines.append(CRON_END)
    return lines


def systemd_units(jobs: list[Job], env_file: Path) -> dict[str, str]:
    exe = _pgdba()
    units: dict[str, str] = {}
    for job in jobs:
        command = " ".join(shlex.quote(a) for a in job.args)
        units[f"pgdba-{job.name}.service"] = (
            f"[Unit]\nDescription=pgdba: {job.description}\n\n"
            f"[Service]\nType=oneshot\nEnvironmentFile={_absolute(str(env_file))}\nExecStart={exe} {command}\n"
        )
        units[f"pgdba-{job.name}.timer"] = (
            f"[Unit]\nDescription=pgdba: {job.description}\n\n"
            f"[Timer]\nOnCalendar={job.calendar}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n"
        )
    return units


def merge_crontab(existing: str, lines: list[str]) -> str:
    """The existing crontab with pgdba's block replaced (or appended): installing twice changes nothing."""
    kept: list[str] = []
    inside = False
    for line in existing.splitlines():
        if line.strip() == CRON_BEGIN:
            inside = True
            continue
        if line.strip() == CRON_END:
            inside = False
            continue
        if not inside:
            kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join([*kept, *lines]) + "\n"


def install_schedule(
    jobs: list[Job], kind: str, *, apply: bool, env_file: Path, unit_dir: Path, dsn: str | None = None
) -> Iterator[str]:
    """Print the schedule, or install it with apply (crontab of the current user, or systemd timers)."""
    if kind == "cron":
        lines = cron_lines(jobs, env_file)
        if not apply:
            yield from lines
            return
        _write_env(env_file, dsn)
        crontab = shutil.which("crontab")
        if crontab is None:
            raise InputError("crontab is not installed: install cron, or use --kind systemd")
        current = subprocess.run([crontab, "-l"], capture_output=True, text=True)
        merged = merge_crontab(current.stdout if current.returncode == 0 else "", lines)
        subprocess.run([crontab, "-"], input=merged, text=True, check=True)
        yield f"installed {len(jobs)} cron jobs in the crontab of {os.environ.get('USER', 'this user')}"
        return
    units = systemd_units(jobs, env_file)
    if not apply:
        for name, text in units.items():
            yield f"# {unit_dir / name}\n{text}"
        yield "systemctl daemon-reload && systemctl enable --now " + " ".join(
            n for n in units if n.endswith(".timer")
        )
        return
    _write_env(env_file, dsn)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        for name, text in units.items():
            (unit_dir / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write units to {unit_dir}: {exc.strerror or exc}") from None
    yield f"wrote {len(units)} units to {unit_dir}"
    timers = [n for n in units if n.endswith(".timer")]
    systemctl = shutil.which("systemctl")
    # only a directory systemd reads can be enabled; elsewhere (a staging dir) say what to run
    known = {Path("/etc/systemd/system"), Path.home() / ".config/systemd/user"}
    done = (
        systemctl is not None
        and unit_dir.resolve() in known
        and subprocess.run([systemctl, "daemon-reload"], capture_output=True).returncode == 0
    )
    if done and systemctl is not None:
        subprocess.run([systemctl, "enable", "--now", *timers], capture_output=True, check=False)
        yield "enabled " + " ".join(timers)
    else:
        yield (
            "not enabled here: run `systemctl daemon-reload && systemctl enable --now "
            + " ".join(timers)
            + "`"
        )


def _write_env(env_file: Path, dsn: str | None) -> None:
    """Set PGDBA_DSN in the env file (0600) when a DSN was given, keeping its other lines (the backup's
    PGDBA_BACKUP_STORAGE, AWS settings); keep an existing file as it is otherwise."""
    if dsn is None:
        if not env_file.exists():
            raise InputError(f"{env_file} does not exist: pass --dsn so --apply can write it")
        return
    target = resolve_target(dsn)
    try:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        env_file.touch(mode=0o600)
        env_file.chmod(0o600)
        kept = [line for line in env_file.read_text(encoding="utf-8").splitlines() if not _sets_dsn(line)]
        env_file.write_text(
            "\n".join([f"PGDBA_DSN={shlex.quote(target.dsn)}", *kept]) + "\n", encoding="utf-8"
        )
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise InputError(f"cannot write {env_file}: {reason or exc}") from None


def _sets_dsn(line: str) -> bool:
    words = line.strip().removeprefix("export ").lstrip()
    return words.startswith("PGDBA_DSN=")
