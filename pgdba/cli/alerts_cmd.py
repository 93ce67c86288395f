"""`pgdba alerts …`, `pgdba netdata-plugin` and `pgdba schedule`: thin wrappers over pgdba.alerts."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from pgdba.alerts.check import CheckResult, check_alerts
from pgdba.alerts.netdata import MIN_PLUGIN_UPDATE_EVERY_S
from pgdba.alerts.rules import NotifyConfig, RuleSet, Thresholds, load_rules, webhook_config
from pgdba.cli.options import (
    DsnOption,
    FailOnOption,
    FormatOption,
    StoreOption,
    check_fail_on,
    check_format,
    target_from,
)
from pgdba.errors import InputError, PgdbaError
from pgdba.history.store import open_store
from pgdba.render import Column, print_rows
from pgdba.text_files import write_text_atomically
from pgdba.units import format_bytes

app = typer.Typer(
    help="Capacity and health alerts: check, export for Prometheus / Netdata, deploy.", no_args_is_help=True
)
export_app = typer.Typer(help="Write the rules for another monitoring system.", no_args_is_help=True)
deploy_app = typer.Typer(
    help="Install the exported rules (and plugin) into a monitoring system.", no_args_is_help=True
)
app.add_typer(export_app, name="export")
app.add_typer(deploy_app, name="deploy")

RulesOption = Annotated[
    str | None,
    typer.Option("--rules", help="Your rule file (TOML): overrides and additions to the default rules"),
]
OutOption = Annotated[str | None, typer.Option("--out", "-o", help="Write to this file instead of stdout")]


def _rules(path: str | None) -> RuleSet:
    return load_rules(path)


def _format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "GB":
        return format_bytes(value * 1024**3)
    if unit == "boolean":
        return "yes" if value else "no"
    return f"{value:,.2f} {unit}"


def _thresholds(op: str, thresholds: Thresholds, unit: str) -> str:
    """`> 40 / > 60 GB`: in the rule's unit, which the value beside it may not be printed in (338.3 MB)."""
    levels = " / ".join(f"{op} {t:g}" for t in (thresholds.warn, thresholds.crit) if t is not None)
    return f"{levels} {unit}" if levels and unit and unit != "boolean" else levels


def print_check(result: CheckResult, fmt: str) -> None:
    rows = [
        {
            "status": s.status,
            "rule": s.rule.name,
            "object": s.object,
            "value": _format_value(s.value, s.rule.unit),
            "thresholds": _thresholds(s.rule.op, s.rule.thresholds_for(s.object), s.rule.unit),
            "event": s.event or "",
            "note": s.note,
        }
        for s in result.statuses
    ]
    columns = [
        Column("status", "status"),
        Column("rule", "rule"),
        Column("object", "object"),
        Column("value", "value", "right"),
        Column("thresholds", "warn / crit"),
        Column("event", "event"),
        Column("note", "note"),
    ]
    print_rows(rows, columns, fmt, title=f"Alerts for {result.target}", json_data=result.to_dict())
    if fmt != "json":
        for sent in result.notifications:
            outcome = "sent" if sent.delivered else f"FAILED ({sent.error})"
            print(f"notification {sent.event} {sent.rule} on {sent.object} via {sent.channel}: {outcome}")
        for note in result.notes:
            print(f"note: {note}")


@app.command()
def check(
    dsn: DsnOption = None,
    rules: RulesOption = None,
    store: StoreOption = None,
    fail_on: FailOnOption = "critical",
    notify: Annotated[
        bool, typer.Option("--notify", help="Send notifications for alerts that changed")
    ] = False,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            help="Notify this URL too (besides the notify section of the rule file);"
            " http://user:password@host/… sends HTTP Basic auth",
        ),
    ] = None,
    webhook_format: Annotated[str, typer.Option("--webhook-format", help="json or slack")] = "json",
    fmt: FormatOption = "table",
) -> None:
    """Evaluate every rule against the live database and the history store; print each rule's state.

    Exit 1 when an alert is at least --fail-on (warning or critical). With --notify, a change
    (firing, resolved) is sent once to every configured channel.

    Example: pgdba alerts check --fail-on warning --notify --webhook https://hooks.slack.com/… --webhook-format slack
    """
    fmt = check_format(fmt)
    severity = check_fail_on(fail_on)
    ruleset = _rules(rules)
    config = ruleset.notify
    if webhook:
        if webhook_format not in ("json", "slack"):
            raise InputError("--webhook-format takes json or slack")
        config = NotifyConfig(
            (*config.webhooks, webhook_config(webhook, webhook_format, where="--webhook")), config.emails
        )
    target = target_from(dsn)
    with open_store(store) as history:
        result = check_alerts(target, history, ruleset, notify=notify, notify_config=config)
    print_check(result, fmt)
    if result.fails(severity):
        raise typer.Exit(1)


@app.command("rules")
def show_rules(rules: RulesOption = None, fmt: FormatOption = "table") -> None:
    """Print the effective rules (defaults plus your file).

    Example: pgdba alerts rules --rules my-rules.toml --format markdown
    """
    fmt = check_format(fmt)
    ruleset = _rules(rules)
    rows = [
        {
            "name": r.name + ("" if r.enabled else " (off)"),
            "metric": r.metric,
            "scope": r.scope,
            "op": r.op,
            "warn": "" if r.warn is None else f"{r.warn:g}",
            "crit": "" if r.crit is None else f"{r.crit:g}",
            "unit": r.unit,
            "for": r.to_dict()["for"],
            "hysteresis": f"{r.hysteresis:g}",
            "overrides": ", ".join(
                f"{name}: {t.warn:g}/{t.crit:g}" if t.crit is not None and t.warn is not None else name
                for name, t in r.tables.items()
            ),
        }
        for r in ruleset.rules
    ]
    columns = [
        Column(k, k)
        for k in ("name", "metric", "scope", "op", "warn", "crit", "unit", "for", "hysteresis", "overrides")
    ]
    print_rows(
        rows,
        columns,
        fmt,
        title="Alert rules",
        json_data={
            "schema_version": 1,
            "sources": list(ruleset.sources),
            "rules": [r.to_dict() for r in ruleset.rules],
        },
    )


def _directory(value: str, option: str) -> Path:
    """A directory option as a Path; an empty one would silently mean the current directory."""
    if not value.strip():
        raise InputError(f"{option} needs a directory (got an empty string)")
    return Path(value)


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    write_text_atomically(Path(out), text, "--out file")
    print(f"wrote {out}", file=sys.stderr)


@export_app.command("prometheus")
def export_prometheus(rules: RulesOption = None, out: OutOption = None) -> None:
    """Prometheus alerting rules for the metrics of `pgdba serve`'s /metrics (promtool check rules accepts them).

    Example: pgdba alerts export prometheus --out /etc/prometheus/rules/pgdba.yml
    """
    from pgdba.alerts.prometheus_rules import prometheus_rules

    _write(prometheus_rules(_rules(rules)), out)


@export_app.command("netdata")
def export_netdata(rules: RulesOption = None, out: OutOption = None) -> None:
    """Netdata health configuration whose templates attach to the pgdba.* charts of `pgdba netdata-plugin`.

    Example: pgdba alerts export netdata --out /etc/netdata/health.d/pgdba.conf
    """
    from pgdba.alerts.netdata import health_config

    _write(health_config(_rules(rules)), out)


@deploy_app.command("netdata")
def deploy_netdata(
    dsn: DsnOption = None,
    rules: RulesOption = None,
    store: StoreOption = None,
    netdata_dir: Annotated[
        str, typer.Option("--netdata-dir", help="Netdata's config directory")
    ] = "/etc/netdata",
    plugins_dir: Annotated[
        str | None,
        typer.Option("--plugins-dir", help="Where the plugin goes (default: NETDATA_DIR/custom-plugins.d)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--print", help="Only print what to run")] = False,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload/--no-reload",
            help="Run `netdatacli reload-health` after installing (--no-reload: do not)",
        ),
    ] = True,
) -> None:
    """Install the pgdba.plugin, its settings and the health file into Netdata, and reload health.

    Exit 0 when everything is installed and Netdata reloaded. Exit 1 when the files are installed but the
    reload failed (netdatacli missing, or netdata not running): reload Netdata by hand. Exit 2 when the
    files could not be written. --no-reload installs only (exit 0).

    Example: sudo pgdba alerts deploy netdata --dsn postgresql://pgdba@db/app --netdata-dir /etc/netdata
    """
    from pgdba.alerts.netdata import deploy

    directory = _directory(netdata_dir, "--netdata-dir")
    plugins = None if plugins_dir is None else _directory(plugins_dir, "--plugins-dir")
    target = target_from(dsn)
    for line in deploy(
        target,
        _rules(rules),
        directory,
        plugins,
        rules_file=rules,
        store=store,
        dry_run=dry_run,
        reload=reload,
    ):
        print(line, flush=True)


def netdata_plugin(
    update_every: Annotated[
        int,
        typer.Argument(
            min=1, help=f"Seconds between samples (Netdata passes it; at least {MIN_PLUGIN_UPDATE_EVERY_S})"
        ),
    ] = 10,
    dsn: DsnOption = None,
    rules: RulesOption = None,
    store: StoreOption = None,
    iterations: Annotated[
        int, typer.Option("--iterations", min=0, help="Stop after N samples (0: run forever)")
    ] = 0,
) -> None:
    """Netdata external plugin: pgdba.* charts on stdout in the plugins.d protocol (CHART/DIMENSION/BEGIN/SET/END).

    A setting that can never work (a bad --dsn or rule file, a wrong password, an unknown role or database)
    prints DISABLE, so Netdata stops respawning the plugin, and exits 2. An unreachable server is retried
    every UPDATE_EVERY seconds; with --iterations, exit 1 when a sample failed.

    Example: pgdba netdata-plugin 10 --iterations 1
    """
    from pgdba.alerts.netdata import disable_plugin, plugin_interval, run_plugin

    try:
        target, ruleset = target_from(dsn), _rules(rules)
    except PgdbaError as exc:
        raise disable_plugin(sys.stdout, str(exc)) from None
    if run_plugin(target, ruleset, plugin_interval(update_every), store=store, iterations=iterations):
        raise typer.Exit(1)


def schedule(
    dsn: DsnOption = None,
    kind: Annotated[str, typer.Option("--kind", help="cron or systemd")] = "cron",
    apply: Annotated[
        bool, typer.Option("--apply", help="Install the schedule (crontab / systemd timers)")
    ] = False,
    env_file: Annotated[
        str | None,
        typer.Option(
            "--env-file",
            help="File with PGDBA_DSN=… the jobs read (written by --apply, mode 0600); default "
            "/etc/pgdba/pgdba.env for root, else ~/.config/pgdba/pgdba.env",
        ),
    ] = None,
    unit_dir: Annotated[
        str | None,
        typer.Option(
            "--unit-dir",
            help="systemd unit directory; default /etc/systemd/system for root, else ~/.config/systemd/user",
        ),
    ] = None,
    rules: RulesOption = None,
    store: StoreOption = None,
    state_dir: Annotated[
        str | None,
        typer.Option(
            "--state-dir",
            help="Directory for the jobs' logs, lock files and weekly report (created by --apply); default "
            "/var/log/pgdba + /var/lib/pgdba for root, else $XDG_STATE_HOME/pgdba or ~/.local/state/pgdba",
        ),
    ] = None,
    orm_schema: Annotated[
        Path | None,
        typer.Option(
            "--orm-schema",
            help="schema.prisma or a Drizzle *.ts file: the weekly index advice carries its patch too",
        ),
    ] = None,
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", help="with a daily `backup prune`: keep the N newest backups")
    ] = None,
    keep_daily: Annotated[
        int | None,
        typer.Option("--keep-daily", help="with a daily `backup prune`: one backup of each of N days"),
    ] = None,
    keep_weekly: Annotated[
        int | None,
        typer.Option("--keep-weekly", help="with a daily `backup prune`: one backup of each of N ISO weeks"),
    ] = None,
    keep_monthly: Annotated[
        int | None,
        typer.Option("--keep-monthly", help="with a daily `backup prune`: one backup of each of N months"),
    ] = None,
    keep_within_days: Annotated[
        int | None,
        typer.Option(
            "--keep-within-days", help="with a daily `backup prune`: every backup younger than N days"
        ),
    ] = None,
) -> None:
    """Print (or install with --apply) cron lines or systemd timers for snapshots, alert checks, backups,
    restore tests, the weekly index advice and the weekly report. flock(1) keeps the backup and the restore test apart and skips an
    alert check while the previous one still runs.

    Given retention rules (--keep-daily 7 --keep-weekly 4 …, as `pgdba backup prune` takes them), a daily
    `backup prune` at 03:30 too, behind the backup's lock: it judges every backup in the storage.

    Example: pgdba schedule --kind systemd --keep-daily 7 --keep-weekly 4 --keep-monthly 6
    """
    from pgdba.advisor.orm_patch import check_schema_file, orm_kind
    from pgdba.alerts.schedule import default_install_paths, install_schedule, job_runtime, schedule_jobs
    from pgdba.backup.retention import RetentionPolicy

    if kind not in ("cron", "systemd"):
        raise InputError("--kind takes cron or systemd")
    if env_file is not None and not env_file.strip():
        raise InputError("--env-file needs a file name (got an empty string)")
    default_env, default_units = default_install_paths(
        root=os.geteuid() == 0, environ=os.environ, home=Path.home()
    )
    env_file = env_file or str(default_env)
    units = _directory(unit_dir, "--unit-dir") if unit_dir is not None else default_units
    runtime = job_runtime(None if state_dir is None else str(_directory(state_dir, "--state-dir")))
    if rules is not None:
        _rules(rules)  # refused now, not by the alert check every 5 minutes
    emit = None
    if orm_schema is not None:
        emit = orm_kind(orm_schema)
        check_schema_file(emit, orm_schema)
    retention = None
    if any(rule is not None for rule in (keep_last, keep_daily, keep_weekly, keep_monthly, keep_within_days)):
        policy = RetentionPolicy(  # refused now, not by the prune every night
            keep_last=keep_last,
            keep_daily=keep_daily,
            keep_weekly=keep_weekly,
            keep_monthly=keep_monthly,
            keep_within_days=keep_within_days,
        )
        retention = policy.rules()
    jobs = schedule_jobs(
        env_file=env_file,
        rules_file=rules,
        store=store,
        runtime=runtime,
        orm_schema=None if emit is None else (emit, str(orm_schema)),
        retention=retention,
    )
    for line in install_schedule(
        jobs, kind, apply=apply, env_file=Path(env_file), unit_dir=units, dsn=dsn, runtime=runtime
    ):
        print(line)
