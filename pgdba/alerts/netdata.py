"""Netdata: the external plugin (plugins.d text protocol) and the health configuration for its charts.

The plugin emits one chart per rule and object: id `pgdba.<rule>_<object>` (plus a short hash of the object
when another object's id would be the same), context `pgdba.<rule>`, family the object (`schema.table` for
table rules, so a health template's `families:` can name one table, `public.orders`, or a table name in every
schema, `*.orders`), one dimension `value` in the rule's unit (sent ×1000
with divisor 1000, the protocol carries integers). Values come from the same functions `alerts check` uses;
rates are taken against the plugin's previous sample, growth against the sizes it saw `window` ago.
An unknown value is not SET, so Netdata shows a gap and the alarm stays undefined instead of firing.
Names from the database reach the protocol and the health file only through netdata_id / netdata_text.
"""

from __future__ import annotations

import contextlib
import grp
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from pgdba.alerts.check import collect_samples, families_needed, growth_window, table_selection
from pgdba.alerts.rules import Rule, RuleSet, format_duration, format_number, table_key_parts
from pgdba.alerts.values import Counters, SizeSnapshot, counters_payload, rule_values
from pgdba.errors import ConnectionFailed, InputError, PgdbaError
from pgdba.history.store import HistoryStore, open_store
from pgdba.server import load_server_facts
from pgdba.target import Target, session

HEALTH_EVERY_S = 10
_CLASS = {
    "database_size_gb": "Utilization",
    "table_growth_mb_per_hour": "Workload",
    "connection_usage_percent": "Utilization",
    "slow_query_mean_ms": "Latency",
    "cache_hit_ratio_percent": "Latency",
    "disk_usage_percent": "Utilization",
    "xid_age_percent": "Utilization",
    "longest_transaction_seconds": "Latency",
    "idle_in_transaction_seconds": "Latency",
    "blocked_sessions": "Latency",
    "deadlocks_per_minute": "Errors",
    "rollback_ratio_percent": "Errors",
    "dead_tuple_ratio_percent": "Utilization",
    "replication_lag_seconds": "Latency",
    "inactive_replication_slots": "Errors",
    "backup_age_hours": "Errors",
    "restore_test_age_days": "Errors",
    "restore_test_failed": "Errors",
    "wal_archive_failing_hours": "Errors",
    "partition_runway_days": "Errors",
}


# ---- names from the database, made safe for plugins.d and health.d ------------------------------------
# Table and database names can hold anything (newlines, quotes, spaces): each one goes through netdata_id or
# netdata_text before it reaches a protocol line or the health configuration.
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_]")
# control characters and line separators end or split a line; quotes and backslashes end a quoted word
_UNSAFE_TEXT_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029'\"\\]")


def netdata_id(name: str) -> str:
    """A name as (part of) a chart id, family or alarm name: letters, digits and _ only. When other
    characters had to be replaced, a short hash of the name is appended so two names never meet."""
    safe = _UNSAFE_ID_CHARS.sub("_", name)
    if safe == name:
        return name
    return f"{safe}_{_short_hash(name)}"


def _short_hash(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def netdata_text(text: str) -> str:
    """Free text (a chart title, a health `info`) on one line, without quotes that would end its word."""
    return _UNSAFE_TEXT_CHARS.sub(" ", text)


def object_id(rule: Rule, obj: str) -> str:
    """The object's part of a chart id: schema_table for table rules (public.orders → public_orders)."""
    parts = obj.split(".", 1) if rule.scope == "table" else [obj]
    return "_".join(netdata_id(part) for part in parts)


def chart_id(rule: Rule, obj: str) -> str:
    return f"pgdba.{rule.name}_{object_id(rule, obj)}"


def unique_chart_ids(charted: Iterable[tuple[Rule, str]]) -> dict[tuple[str, str], str]:
    """The chart id of each (rule, object) of one round, by (rule name, object). Ids that meet (a_b.c and
    a.b_c both join to a_b_c) each get a short hash of their object; an id no other meets stays chart_id."""
    plain = {(rule.name, obj): chart_id(rule, obj) for rule, obj in charted}
    uses = Counter(plain.values())
    return {
        key: chart if uses[chart] == 1 else f"{chart}_{_short_hash(key[1])}" for key, chart in plain.items()
    }


def family_of(rule: Rule, obj: str) -> str:
    """The chart's family: `schema.table` for table rules (what health `families:` match; neither part
    holds a dot once through netdata_id), else the object."""
    if rule.scope != "table":
        return netdata_id(obj)
    schema, _, table = obj.partition(".")
    return f"{netdata_id(schema)}.{netdata_id(table)}"


def override_families(table: str) -> str:
    """The families a per-table override's template matches: one table for "public.orders", the table of
    that name in every schema (`*.orders`) for a bare "orders"."""
    schema, name = table_key_parts(table)
    return f"{'*' if schema is None else netdata_id(schema)}.{netdata_id(name)}"


def _table_alarm_names(rule: Rule) -> dict[str, str]:
    """The alarm name of each table override (pgdba_<rule>_<table>, or _<schema>_<table> for a qualified
    key); names that would meet (public.orders and public_orders, Orders and orders) get a short hash."""
    plain = {}
    for table in rule.tables:
        schema, name = table_key_parts(table)
        parts = [name] if schema is None else [schema, name]
        plain[table] = f"pgdba_{rule.name}_{'_'.join(netdata_id(p) for p in parts).lower()}"
    uses = Counter(plain.values())
    return {table: n if uses[n] == 1 else f"{n}_{_short_hash(table)}" for table, n in plain.items()}


# ---- health configuration ---------------------------------------------------------------------------------
def _condition(rule: Rule, threshold: float, hysteresis: float, level: str) -> str:
    held = "$status >= $WARNING" if level == "warn" else "$status == $CRITICAL"
    relaxed = threshold - hysteresis if rule.above else threshold + hysteresis
    if hysteresis == 0:
        return f"$this {rule.op} {format_number(threshold)}"
    return f"$this {rule.op} (({held}) ? ({format_number(relaxed)}) : ({format_number(threshold)}))"


def _template(
    rule: Rule,
    name: str,
    families: str | None,
    warn: float | None,
    crit: float | None,
    hysteresis: float,
    for_s: float,
) -> list[str]:
    # `for`: the condition must hold over the whole window (min of a ">" rule); else the worst value since
    # the previous health run, so a spike between two runs is not missed
    if for_s > 0:
        method, window = ("min" if rule.above else "max"), for_s
    else:
        method, window = ("max" if rule.above else "min"), HEALTH_EVERY_S
    lines = [
        f" template: {name}",
        f"       on: pgdba.{rule.name}",
        f"    class: {_CLASS[rule.metric]}",
        "     type: Database",
        "component: PostgreSQL",
    ]
    if families is not None:
        lines.append(f" families: {families}")
    lines += [
        f"   lookup: {method} -{format_duration(window)} unaligned of value",
        f"    units: {rule.unit}",
        f"    every: {HEALTH_EVERY_S}s",
    ]
    if warn is not None:
        lines.append(f"     warn: {_condition(rule, warn, hysteresis, 'warn')}")
    if crit is not None:
        lines.append(f"     crit: {_condition(rule, crit, hysteresis, 'crit')}")
    lines += [
        "    delay: down 5m multiplier 1.5 max 1h",
        f"     info: {netdata_text(rule.summary or rule.metric)} (pgdba rule {rule.name})",
        "       to: dba",
        "",
    ]
    return lines


def health_config(rules: RuleSet) -> str:
    """Netdata health.d configuration: one template per rule (plus one per table override) on pgdba.* charts."""
    lines = [
        "# Netdata health configuration generated by `pgdba alerts export netdata`.",
        "# The templates attach to the charts of the pgdba.plugin external plugin (`pgdba netdata-plugin`).",
        "# Stock go.d equivalent of connection_usage: template on postgres.connections_utilization (`of used`).",
        "",
    ]
    for rule in rules.enabled:
        if rule.tables:
            # Netdata's simple patterns: the first that matches decides, `!` excludes
            covered = {table: override_families(table) for table in rule.tables}
            qualified = sorted(f for t, f in covered.items() if table_key_parts(t)[0] is not None)
            others = " ".join(f"!{f}" for f in sorted(set(covered.values()))) + " *"
            lines += _template(
                rule, f"pgdba_{rule.name}", others, rule.warn, rule.crit, rule.hysteresis, rule.for_seconds
            )
            names = _table_alarm_names(rule)
            for table, th in rule.tables.items():
                if not th.enabled:
                    continue
                schema, bare = table_key_parts(table)
                # a qualified override of the same table name takes precedence, as in the check
                same_name = (
                    [] if schema is not None else [f for f in qualified if f.endswith(f".{netdata_id(bare)}")]
                )
                families = " ".join([*(f"!{f}" for f in same_name), covered[table]])
                lines += _template(
                    rule, names[table], families, th.warn, th.crit, th.hysteresis, th.for_seconds
                )
        else:
            lines += _template(
                rule, f"pgdba_{rule.name}", None, rule.warn, rule.crit, rule.hysteresis, rule.for_seconds
            )
    return "\n".join(lines)


def alarm_names(rules: RuleSet) -> list[str]:
    """The names of the templates health_config writes (what /api/v1/alarms lists once charts exist)."""
    names = []
    for rule in rules.enabled:
        names.append(f"pgdba_{rule.name}")
        table_names = _table_alarm_names(rule)
        names += [table_names[t] for t, th in rule.tables.items() if th.enabled]
    return names


# ---- the plugin -------------------------------------------------------------------------------------------
class PluginState:
    """What the plugin remembers between samples: counters for rates, sizes for growth, charts it declared."""

    def __init__(self) -> None:
        self.previous: Counters | None = None
        self.sizes: list[SizeSnapshot] = []
        self.charts: set[str] = set()


def plugin_round(
    target: Target, rules: RuleSet, state: PluginState, out: TextIO, update_every: int, store: str | None
) -> None:
    """Sample once and write CHART (first time) / BEGIN / SET / END for every rule and object."""
    top, always = table_selection(rules)
    families = families_needed(rules)
    with contextlib.ExitStack() as stack:
        history: HistoryStore | None = None
        if "backups" in families:
            try:
                history = stack.enter_context(open_store(store))
            except PgdbaError as exc:  # no readable store: backups are unknown, the rest still charts
                sys.stderr.write(f"pgdba.plugin: {exc}\n")
        conn = stack.enter_context(session(target))
        facts = load_server_facts(conn)
        samples = collect_samples(
            conn, facts, target, history, families, top_tables=top, always_tables=always
        )
    keep = growth_window(rules) * 2 + 60
    lines: list[str] = []
    values = [
        (rule, value)
        for rule in rules.enabled
        for value in rule_values(rule, samples, state.previous, state.sizes)
    ]
    charts = unique_chart_ids((rule, value.object) for rule, value in values)
    for rule, value in values:
        chart = charts[(rule.name, value.object)]
        if chart not in state.charts:
            title = netdata_text(f"{rule.summary or rule.metric} ({value.object})")
            lines.append(
                f"CHART {chart} '' '{title}' '{rule.unit}' '{family_of(rule, value.object)}' "
                f"pgdba.{rule.name} line 90000 {update_every} '' pgdba alerts"
            )
            lines.append("DIMENSION value value absolute 1 1000")
            state.charts.add(chart)
        lines.append(f"BEGIN {chart}")
        if value.value is not None:
            lines.append(f"SET value = {round(value.value * 1000)}")
        lines.append("END")
    out.write("\n".join(lines) + "\n")
    out.flush()
    payload = counters_payload(samples)
    state.previous = Counters(samples.taken_at, payload["databases"], payload["statements"])
    if samples.tables is not None:
        state.sizes.append(SizeSnapshot.of(samples))
        state.sizes = [s for s in state.sizes if samples.taken_at - s.taken_at <= timedelta(seconds=keep)]


class PluginDisabled(PgdbaError):
    """The plugin can never work as configured; it told Netdata DISABLE (so Netdata stops respawning it)."""


# libpq and server messages of a login that will fail the same way every time (wrong password, no such
# role or database, no pg_hba.conf entry): retrying cannot help, unlike an unreachable or starting server
_PERMANENT_LOGIN_FAILURES = (
    "authentication failed",
    "no pg_hba.conf entry",
    "pg_hba.conf rejects connection",
    "does not exist",
    "no password supplied",
    "is not permitted to log in",
    "permission denied for database",
)


def is_permanent(error: PgdbaError) -> bool:
    """A connection failure that the next sample would repeat: the settings must change first."""
    text = str(error)
    return isinstance(error, ConnectionFailed) and any(m in text for m in _PERMANENT_LOGIN_FAILURES)


def disable_plugin(out: TextIO, reason: str) -> PluginDisabled:
    """Tell Netdata to stop the plugin for good (plugins.d `DISABLE`); the error to raise with the reason."""
    out.write("DISABLE\n")
    out.flush()
    return PluginDisabled(f"pgdba.plugin disabled: {reason}")


# Netdata passes its global `update every` (1 s by default): a round reads pg_stat_statements and table sizes,
# which a busy server should not serve every second. The CHART lines declare the interval used.
MIN_PLUGIN_UPDATE_EVERY_S = 10


def plugin_interval(update_every: int) -> int:
    """The seconds between the plugin's rounds for the interval Netdata asked for."""
    return max(update_every, MIN_PLUGIN_UPDATE_EVERY_S)


def run_plugin(
    target: Target,
    rules: RuleSet,
    update_every: int,
    *,
    store: str | None = None,
    iterations: int = 0,
    out: TextIO | None = None,
) -> int:
    """The plugin's loop: one round every `update_every` seconds; returns how many rounds failed.

    A transient failure (server unreachable, restarting) goes to stderr (Netdata's error.log) and the next
    round retries. A login that can never succeed (is_permanent) sends DISABLE and raises PluginDisabled."""
    stream = out or sys.stdout
    state = PluginState()
    done = failed = 0
    while iterations == 0 or done < iterations:
        started = time.monotonic()
        try:
            plugin_round(target, rules, state, stream, update_every, store)
        except PgdbaError as exc:
            if is_permanent(exc):
                raise disable_plugin(stream, str(exc)) from None
            failed += 1
            sys.stderr.write(f"pgdba.plugin: {exc}\n")
            sys.stderr.flush()
        done += 1
        if iterations and done >= iterations:
            break
        time.sleep(max(update_every - (time.monotonic() - started), 0.1))  # the plugin's own cadence
    return failed


# ---- deploy -----------------------------------------------------------------------------------------------
PLUGIN_WRAPPER = """#!/bin/sh
# pgdba.plugin: Netdata external plugin, installed by `pgdba alerts deploy netdata`.
# Settings (PGDBA_DSN, PGDBA_HISTORY, PGDBA_ALERT_RULES) come from {env_file}.
set -a
[ -r {env_file} ] && . {env_file}
set +a
exec {python} -m pgdba netdata-plugin "$@" ${{PGDBA_ALERT_RULES:+--rules "$PGDBA_ALERT_RULES"}}
"""


def deploy(
    target: Target,
    rules: RuleSet,
    netdata_dir: Path,
    plugins_dir: Path | None = None,
    *,
    rules_file: str | None = None,
    store: str | None = None,
    dry_run: bool = False,
    reload: bool = True,
) -> Iterator[str]:
    """Install health.d/pgdba.conf, the pgdba.plugin wrapper and its settings; reload Netdata's health
    (unless reload is False). Raises ReloadFailed, after the files are in place, when the reload fails.

    With dry_run, yield the shell commands that would do it instead."""
    plugins = plugins_dir or netdata_dir / "custom-plugins.d"
    health_file = netdata_dir / "health.d" / "pgdba.conf"
    env_file = netdata_dir / "pgdba.env"
    plugin_file = plugins / "pgdba.plugin"
    env = {"PGDBA_DSN": target.dsn}
    if store:
        env["PGDBA_HISTORY"] = str(Path(store).resolve())
    if rules_file:
        env["PGDBA_ALERT_RULES"] = str(Path(rules_file).resolve())
    env_text = "".join(f"{key}={shlex.quote(value)}\n" for key, value in env.items())
    wrapper = PLUGIN_WRAPPER.format(env_file=shlex.quote(str(env_file)), python=shlex.quote(sys.executable))
    health = health_config(rules)
    if dry_run:
        yield f"install -d {shlex.quote(str(health_file.parent))} {shlex.quote(str(plugins))}"
        yield f"pgdba alerts export netdata{' --rules ' + shlex.quote(rules_file) if rules_file else ''} --out {shlex.quote(str(health_file))}"
        yield f"cat > {shlex.quote(str(plugin_file))} <<'EOF'\n{wrapper}EOF"
        yield f"chmod 0755 {shlex.quote(str(plugin_file))}"
        setting = shlex.quote(f"PGDBA_DSN={target.masked_dsn}")
        yield f"printf '%s\\n' {setting} > {shlex.quote(str(env_file))}  # put the real DSN here"
        yield f"chmod 0640 {shlex.quote(str(env_file))}; chgrp netdata {shlex.quote(str(env_file))}"
        if reload:
            yield "netdatacli reload-health   # a new plugin starts within 60 s, or restart netdata"
        return
    try:
        health_file.parent.mkdir(parents=True, exist_ok=True)
        plugins.mkdir(parents=True, exist_ok=True)
        health_file.write_text(health, encoding="utf-8")
        plugin_file.write_text(wrapper, encoding="utf-8")
        plugin_file.chmod(0o755)
        env_file.touch(mode=0o600)
        env_file.chmod(0o600)
        env_file.write_text(env_text, encoding="utf-8")
        _share_with_netdata(env_file)
        if store and Path(store).is_file():  # the history store is its owner's only: the plugin reads it
            _share_with_netdata(Path(store))
    except OSError as exc:
        raise InputError(
            f"cannot install into {netdata_dir}: {exc.strerror or exc} (run as root, or use --print)"
        ) from None
    yield f"wrote {health_file} ({len(alarm_names(rules))} alarms)"
    yield f"wrote {plugin_file}"
    yield f"wrote {env_file} (mode 0640, holds the DSN)"
    if reload:
        yield reload_health()
    else:
        yield "not reloaded (--no-reload): run `netdatacli reload-health` (or restart netdata) to load them"


def _share_with_netdata(path: Path) -> None:
    """Let the netdata group (the plugin's) read the settings file, and no one else."""
    try:
        gid = grp.getgrnam("netdata").gr_gid
        os.chown(path, -1, gid)
        path.chmod(0o640)
    except (KeyError, PermissionError):
        return


class ReloadFailed(PgdbaError):
    """The files are installed but Netdata did not reload its health configuration (exit 1, not 2: the
    install itself worked, and a scheduled deploy must still notice)."""

    exit_code = 1


def reload_health() -> str:
    """Run `netdatacli reload-health`; raises ReloadFailed when netdatacli is missing or fails."""
    by_hand = (
        "the files are installed; reload Netdata yourself (`netdatacli reload-health`, or restart netdata)"
    )
    cli = shutil.which("netdatacli")
    if cli is None:
        raise ReloadFailed(f"netdatacli not found: {by_hand}, or use --no-reload")
    try:
        proc = subprocess.run([cli, "reload-health"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReloadFailed(f"netdatacli reload-health failed ({exc}): {by_hand}") from None
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        shown = reason[-1] if reason else f"exit {proc.returncode}"
        raise ReloadFailed(f"netdatacli reload-health failed ({shown}): is netdata running? {by_hand}")
    return "reloaded Netdata health (a new plugin starts within 60 s, or restart netdata)"
