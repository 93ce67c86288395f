"""`pgdba schedule`: cron lines or systemd timers for snapshots, alert checks, backups (pruned when retention
rules are given), restore tests, reports.

The jobs read the connection from an environment file (PGDBA_DSN=…, mode 0600), so no password ends up
in a crontab or a unit file. They write their logs, the weekly report and their lock files to directories the
installing user can write, and flock(1) keeps the backup, the prune and the restore test (and two alert
checks) apart.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from pgdba.errors import InputError
from pgdba.target import resolve_target

CRON_BEGIN = "# BEGIN pgdba schedule"
CRON_END = "# END pgdba schedule"
# flock's exit code when `flock -n` finds the lock taken (EX_TEMPFAIL; pgdba itself exits 0, 1 or 2)
LOCK_TAKEN_EXIT = 75


@dataclass(frozen=True)
class Job:
    name: str
    cron: str  # cron expression
    calendar: str  # systemd OnCalendar
    args: tuple[str, ...]
    description: str
    lock: str | None = None  # jobs with the same lock never run at the same time
    skip_if_locked: bool = False  # a run that finds the lock taken is skipped instead of waiting


@dataclass(frozen=True)
class JobRuntime:
    """Where the jobs write, and how they are kept apart."""

    logs: Path  # one <job>.log per job (cron; systemd jobs log to the journal)
    state: Path  # the weekly report and the lock files
    flock: str | None  # flock(1); None when util-linux is missing: the jobs are then not serialised

    def log_file(self, job: Job) -> Path:
        return self.logs / f"{job.name}.log"

    def lock_file(self, lock: str) -> Path:
        return self.state / f"{lock}.lock"


def default_dirs(*, root: bool, environ: Mapping[str, str], home: Path) -> tuple[Path, Path]:
    """(logs, state) for a user: root writes to /var/log/pgdba and /var/lib/pgdba; anyone else (a
    `postgres` or service user installing its own crontab) cannot, so to $XDG_STATE_HOME/pgdba, by
    default ~/.local/state/pgdba."""
    if root:
        return Path("/var/log/pgdba"), Path("/var/lib/pgdba")
    xdg_state = environ.get("XDG_STATE_HOME", "")
    # the XDG spec says a relative value is invalid and must be ignored
    base = Path(xdg_state) if xdg_state and Path(xdg_state).is_absolute() else home / ".local/state"
    return base / "pgdba", base / "pgdba"


def default_install_paths(*, root: bool, environ: Mapping[str, str], home: Path) -> tuple[Path, Path]:
    """(env file, systemd unit directory) for a user: root's are /etc/pgdba/pgdba.env and the system
    manager's /etc/systemd/system; anyone else cannot write /etc, so $XDG_CONFIG_HOME/pgdba/pgdba.env and
    the user manager's $XDG_CONFIG_HOME/systemd/user (by default under ~/.config)."""
    if root:
        return Path("/etc/pgdba/pgdba.env"), Path("/etc/systemd/system")
    config_home = _config_home(environ, home)
    return config_home / "pgdba/pgdba.env", config_home / "systemd/user"


def _config_home(environ: Mapping[str, str], home: Path) -> Path:
    config = environ.get("XDG_CONFIG_HOME", "")
    # the XDG spec says a relative value is invalid and must be ignored
    return Path(config) if config and Path(config).is_absolute() else home / ".config"


def job_runtime(state_dir: str | None = None) -> JobRuntime:
    """The runtime for the current user: everything in state_dir when given, else the default dirs."""
    if state_dir is not None:
        logs = state = Path(_absolute(state_dir))
    else:
        logs, state = default_dirs(root=os.geteuid() == 0, environ=os.environ, home=Path.home())
    return JobRuntime(logs=logs, state=state, flock=shutil.which("flock"))


def schedule_jobs(
    *,
    env_file: str,
    rules_file: str | None = None,
    store: str | None = None,
    runtime: JobRuntime | None = None,
    orm_schema: tuple[str, str] | None = None,
    retention: Mapping[str, int] | None = None,
) -> list[Job]:
    """The default schedule: snapshots hourly, alert checks every 5 minutes, a daily backup at 03:00,
    a weekly restore test on Sunday 04:00, the weekly index advice (Markdown, with its SQL) on Monday 06:30
    and the weekly report on Monday 07:00 (the server's local time, for cron and systemd alike). Paths are made absolute: cron runs jobs in $HOME, systemd in /.
    With `retention` (the rules of a RetentionPolicy by option: {"--keep-daily": 7, …}), a daily
    `backup prune` at 03:30 too. The backup, the prune and the restore test share a lock (each waits for
    the one running); an alert check that finds the previous one still running is skipped. `orm_schema`:
    ("prisma" or "drizzle", the schema file) whose patch the index advice carries."""
    state = (runtime or job_runtime()).state
    report = state / "weekly-report.html"
    advice_file = state / "index-advice.md"
    # one history store for every job: the alert check reads the backups and restore tests they record
    store_args = ("--store", _absolute(store)) if store else ()
    rules_args = ("--rules", _absolute(rules_file)) if rules_file else ()
    patch_args = ("--emit", orm_schema[0], "--schema", _absolute(orm_schema[1])) if orm_schema else ()
    prune = [prune_job(retention)] if retention else []
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
            lock="alerts-check",
            skip_if_locked=True,
        ),
        Job(
            "backup",
            "0 3 * * *",
            "*-*-* 03:00:00",
            ("backup", "run", *store_args),
            "daily logical backup",
            lock="backup",
        ),
        *prune,
        Job(
            "restore-test",
            "0 4 * * 0",
            "Sun *-*-* 04:00:00",
            ("restore-test", *store_args),
            "weekly restore test",
            lock="backup",
        ),
        Job(
            "index-advice",
            "30 6 * * 1",
            "Mon *-*-* 06:30:00",
            ("advise", "indexes", "--out", str(advice_file), *patch_args, *store_args),
            "weekly index advice from pg_stat_statements (read only)",
        ),
        Job(
            "weekly-report",
            "0 7 * * 1",
            "Mon *-*-* 07:00:00",
            ("report", "--out", str(report), *store_args),
            "weekly report",
        ),
    ]


def prune_job(retention: Mapping[str, int]) -> Job:
    """`backup prune` with these rules, half an hour after the backup and behind its lock (a backup still
    running is waited for), over every backup in the storage, as the README's cron set-up prunes."""
    rules = tuple(arg for option, value in retention.items() for arg in (option, str(value)))
    return Job(
        "backup-prune",
        "30 3 * * *",
        "*-*-* 03:30:00",
        ("backup", "prune", *rules),
        "daily pruning of the backups the retention rules do not keep",
        lock="backup",
    )


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().absolute())


def _pgdba() -> str:
    """This installation's console script (next to the interpreter, as in a virtualenv not on PATH), else
    the one on PATH, else `python -m pgdba`."""
    beside = Path(sys.executable).parent / "pgdba"
    if os.access(beside, os.X_OK) and beside.is_file():
        return shlex.quote(str(beside))
    found = shutil.which("pgdba")
    return shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m pgdba"


def _command(job: Job) -> str:
    return " ".join([_pgdba(), *(shlex.quote(a) for a in job.args)])


def _not_serialised_note(runtime: JobRuntime) -> list[str]:
    if runtime.flock is not None:
        return []
    return [
        "# note: flock (util-linux) is not installed: jobs are not serialised, so a long backup can overlap"
        " the restore test; install util-linux and run pgdba schedule again"
    ]


# the jobs that read their storage from the env file: `backup run`, `backup prune` and `restore-test` take
# --storage, else PGDBA_BACKUP_STORAGE, and without either fail with "no backup storage given"
STORAGE_JOBS = frozenset({"backup", "backup-prune", "restore-test"})


def backup_storage_note(jobs: list[Job], env_file: Path) -> list[str]:
    """A `# note:` when the backup jobs would find no storage in the env file (or it cannot be read)."""
    if not any(job.name in STORAGE_JOBS for job in jobs):
        return []
    try:
        text = env_file.read_text(encoding="utf-8") if env_file.exists() else ""
    except (OSError, UnicodeDecodeError):
        return [f"# note: cannot read {env_file}: make sure it sets PGDBA_BACKUP_STORAGE for the backup jobs"]
    if any(_env_value(line, "PGDBA_BACKUP_STORAGE") for line in text.splitlines()):
        return []
    names = [job.name for job in jobs if job.name in STORAGE_JOBS]
    listed = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    listed += " jobs" if len(names) > 1 else " job"
    return [
        f"# note: {env_file} does not set PGDBA_BACKUP_STORAGE: the {listed} would fail"
        " every night with `no backup storage given` (seen only in their logs); add"
        " PGDBA_BACKUP_STORAGE=file:///path or s3://bucket/prefix to it"
    ]


def refuse_control_characters(jobs: list[Job], env_file: Path, runtime: JobRuntime) -> None:
    """An InputError for a path or argument with a line break or another control character: cron and
    systemd read one line per entry, so a line break in a path would cut a job in two, or add one (the
    comment naming the log folder included)."""
    values = [str(env_file), str(runtime.logs), str(runtime.state), runtime.flock or "", _pgdba()]
    values += [arg for job in jobs for arg in job.args]
    for value in values:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise InputError(
                f"{value!r}: a path or argument with a line break or another control character cannot go "
                "into a crontab or a systemd unit: rename it"
            )


def cron_lines(jobs: list[Job], env_file: Path, runtime: JobRuntime | None = None) -> list[str]:
    runtime = runtime or job_runtime()
    refuse_control_characters(jobs, env_file, runtime)
    env = shlex.quote(_absolute(str(env_file)))
    lines = [CRON_BEGIN, f"# logs: {runtime.logs}/<job>.log; report and locks: {runtime.state}"]
    lines += _not_serialised_note(runtime)
    lines += backup_storage_note(jobs, env_file)
    for job in jobs:
        lines.append(f"# {job.description}")
        command = f"set -a; . {env}; set +a; {_cron_command(job, runtime)}"
        lines.append(f"{job.cron} {cron_escaped(command)}")
    lines.append(CRON_END)
    return lines


def cron_escaped(command: str) -> str:
    """`command` as a crontab line holds it: cron ends the command at an unescaped `%` (what follows becomes
    its stdin) and reads `\\%` as `%`. A backslash of the command's own before a `%` cannot be kept."""
    if "\\%" in command:
        path = next(word for word in shlex.split(command) if "\\%" in word)
        raise InputError(
            f"{path}: a path with a backslash before `%` cannot go into a crontab line (cron drops that "
            "backslash): rename it"
        )
    return command.replace("%", "\\%")


def _cron_command(job: Job, runtime: JobRuntime) -> str:
    """The job's shell command (POSIX sh, as cron runs it), output appended to its log."""
    log = shlex.quote(str(runtime.log_file(job)))
    if job.lock is None or runtime.flock is None:
        return f"{_command(job)} >> {log} 2>&1"
    flock, lock = shlex.quote(runtime.flock), shlex.quote(str(runtime.lock_file(job.lock)))
    if not job.skip_if_locked:
        return f"{flock} {lock} {_command(job)} >> {log} 2>&1"
    skipped = f'echo "$(date): skipped, the previous {job.name} still runs" >> {log}'
    return (
        f"{flock} -n -E {LOCK_TAKEN_EXIT} {lock} {_command(job)} >> {log} 2>&1"
        f" || [ $? -ne {LOCK_TAKEN_EXIT} ] || {skipped}"
    )


def systemd_units(jobs: list[Job], env_file: Path, runtime: JobRuntime | None = None) -> dict[str, str]:
    runtime = runtime or job_runtime()
    refuse_control_characters(jobs, env_file, runtime)
    units: dict[str, str] = {}
    for job in jobs:
        units[f"pgdba-{job.name}.service"] = (
            f"[Unit]\nDescription=pgdba: {job.description}\n\n"
            f"[Service]\nType=oneshot\nEnvironmentFile={systemd_escaped(_absolute(str(env_file)))}\n"
            f"ExecStart={systemd_escaped(_systemd_command(job, runtime))}\n"
        )
        units[f"pgdba-{job.name}.timer"] = (
            f"[Unit]\nDescription=pgdba: {job.description}\n\n"
            f"[Timer]\nOnCalendar={job.calendar}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n"
        )
    return units


def systemd_escaped(value: str) -> str:
    """`value` as a unit file setting holds it: systemd reads `%x` as a specifier and `%%` as `%`."""
    return value.replace("%", "%%")


def _systemd_command(job: Job, runtime: JobRuntime) -> str:
    # systemd never starts a oneshot service twice, so only jobs that share a lock with another one need
    # flock. The same flock as cron rather than After=/Conflicts=: Conflicts= would stop a running backup
    # when the restore test starts, and After= orders one way only (both ways is a cycle).
    if job.lock is None or job.skip_if_locked or runtime.flock is None:
        return _command(job)
    return f"{shlex.quote(runtime.flock)} {shlex.quote(str(runtime.lock_file(job.lock)))} {_command(job)}"


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
    jobs: list[Job],
    kind: str,
    *,
    apply: bool,
    env_file: Path,
    unit_dir: Path,
    dsn: str | None = None,
    runtime: JobRuntime | None = None,
) -> Iterator[str]:
    """Print the schedule, or install it with apply (crontab of the current user, or systemd timers)."""
    runtime = runtime or job_runtime()
    if kind == "cron":
        yield from _install_cron(jobs, apply=apply, env_file=env_file, dsn=dsn, runtime=runtime)
    else:
        yield from _install_systemd(
            jobs, apply=apply, env_file=env_file, unit_dir=unit_dir, dsn=dsn, runtime=runtime
        )


def _install_cron(
    jobs: list[Job], *, apply: bool, env_file: Path, dsn: str | None, runtime: JobRuntime
) -> Iterator[str]:
    lines = cron_lines(jobs, env_file, runtime)
    if not apply:
        yield from lines
        return
    crontab = shutil.which("crontab")
    if crontab is None:
        raise InputError("crontab is not installed: install cron, or use --kind systemd")
    _write_env(env_file, dsn)
    create_dirs(runtime.logs, runtime.state)
    current = subprocess.run([crontab, "-l"], capture_output=True, text=True)
    merged = merge_crontab(current.stdout if current.returncode == 0 else "", lines)
    installed = subprocess.run([crontab, "-"], input=merged, text=True, capture_output=True)
    if installed.returncode != 0:
        raise InputError(f"crontab refused the schedule: {_first_line(installed.stderr)}")
    yield f"installed {len(jobs)} cron jobs in the crontab of {os.environ.get('USER', 'this user')}"
    yield f"logs: {runtime.logs}/<job>.log; report and locks: {runtime.state}"
    yield from _not_serialised_note(runtime)
    yield from (line.removeprefix("# ") for line in backup_storage_note(jobs, env_file))


def _install_systemd(
    jobs: list[Job], *, apply: bool, env_file: Path, unit_dir: Path, dsn: str | None, runtime: JobRuntime
) -> Iterator[str]:
    units = systemd_units(jobs, env_file, runtime)
    timers = [n for n in units if n.endswith(".timer")]
    scope = systemctl_scope(unit_dir)
    commands = systemctl_commands(scope or (), timers)
    to_run = " && ".join(shlex.join(c) for c in commands)
    about = [
        f"# logs: journalctl {shlex.join([*(scope or ()), '-u', 'pgdba-*'])}; report and locks: {runtime.state}",
        *_not_serialised_note(runtime),
        *backup_storage_note(jobs, env_file),
        *_linger_note(scope),
    ]
    if not apply:
        for name, text in units.items():
            yield f"# {unit_dir / name}\n{text}"
        yield from about
        yield to_run
        return
    _write_env(env_file, dsn)
    create_dirs(runtime.state)
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        for name, text in units.items():
            (unit_dir / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write units to {unit_dir}: {exc.strerror or exc}") from None
    yield f"wrote {len(units)} units to {unit_dir}"
    yield from (line.removeprefix("# ") for line in about)
    systemctl = shutil.which("systemctl")
    # only a directory a systemd manager reads can be enabled; elsewhere (a staging dir) say what to run
    if systemctl is None or scope is None:
        yield f"not enabled here: run `{to_run}`"
        return
    for command in commands:
        done = subprocess.run([systemctl, *command[1:]], capture_output=True, text=True)
        if done.returncode != 0:
            yield f"not enabled: `{shlex.join(command)}` failed ({_first_line(done.stderr)}): run `{to_run}`"
            return
    yield "enabled " + " ".join(timers)


def systemctl_scope(unit_dir: Path) -> tuple[str, ...] | None:
    """systemctl's flags for the manager that reads unit_dir: () the system manager, ("--user",) the
    user's own manager (its units are invisible to the system one), None a directory no manager reads."""
    where = unit_dir.expanduser().resolve()
    if where == Path("/etc/systemd/system").resolve():
        return ()
    if where == (_config_home(os.environ, Path.home()) / "systemd/user").resolve():
        return ("--user",)
    return None


def systemctl_commands(scope: tuple[str, ...], timers: list[str]) -> list[list[str]]:
    """Reload the manager of that scope and start the timers now and at every boot (timers.target)."""
    return [["systemctl", *scope, "daemon-reload"], ["systemctl", *scope, "enable", "--now", *timers]]


def _linger_note(scope: tuple[str, ...] | None) -> list[str]:
    if scope != ("--user",):
        return []
    user = os.environ.get("USER", "$USER")
    return [
        f"# user timers run only while {user} is logged in: `loginctl enable-linger {user}` keeps them running"
    ]


def create_dirs(*dirs: Path) -> None:
    """Create the jobs' directories; one this user cannot write would make every job fail unseen."""
    for directory in dirs:
        try:
            directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {directory}: {exc.strerror or exc} (pass --state-dir)") from None
        if not os.access(directory, os.W_OK | os.X_OK):
            raise InputError(f"{directory} is not writable by this user: pass --state-dir")


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")


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


def _env_value(line: str, name: str) -> str:
    """The value a `NAME=value` (or `export NAME=value`) line of the env file gives `name`; "" otherwise."""
    words = line.strip().removeprefix("export ").lstrip()
    if not words.startswith(f"{name}="):
        return ""
    try:
        values = shlex.split(words.removeprefix(f"{name}="), comments=True)
    except ValueError:  # unbalanced quotes: sh would refuse the file too
        return ""
    return values[0] if values else ""
