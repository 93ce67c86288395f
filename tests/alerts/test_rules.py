"""Rules as data: the default file holds the user's seven alerts at their thresholds; user files override,
add and disable; mistakes are errors that name the line."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pgdba.alerts.evaluate import AlertState, evaluate
from pgdba.alerts.rules import load_rules, parse_duration
from pgdba.alerts.values import MetricValue
from pgdba.cli import main
from pgdba.errors import InputError


def test_default_rules_hold_the_users_seven_alerts_at_their_thresholds() -> None:
    rules = load_rules()
    size = rules.rule("database_size")
    assert (size.metric, size.op, size.warn, size.crit) == ("database_size_gb", ">", 40, 60)
    growth = rules.rule("table_growth")
    assert growth.thresholds_for("public.BehaviorLog").warn == 500
    assert growth.thresholds_for("public.other").warn == growth.warn != 500
    assert (rules.rule("connection_usage").op, rules.rule("connection_usage").warn) == (">", 80)
    assert (rules.rule("slow_queries").metric, rules.rule("slow_queries").warn) == (
        "slow_query_mean_ms",
        1000,
    )
    assert (rules.rule("cache_hit_ratio").op, rules.rule("cache_hit_ratio").warn) == ("<", 90)
    assert (rules.rule("disk_usage").op, rules.rule("disk_usage").warn) == (">", 70)


def test_default_rules_cover_what_the_anchors_agree_on() -> None:
    names = {r.name for r in load_rules().rules}
    assert {
        "wraparound",
        "long_running_transaction",
        "idle_in_transaction",
        "blocked_sessions",
        "deadlocks",
        "rollback_ratio",
        "dead_tuples",
        "replication_lag",
        "inactive_replication_slots",
        "backup_age",
        "restore_test_age",
    } <= names


def test_user_file_overrides_only_the_fields_it_sets_adds_and_disables(
    rules_file: Callable[[str], Path],
) -> None:
    path = rules_file(
        """
[[rule]]
name = "connection_usage"
warn = 70

[[rule]]
name = "deadlocks"
enabled = false

[[rule]]
name = "tiny_cache"
metric = "cache_hit_ratio_percent"
scope = "database"
op = "<"
crit = 99
min_blocks = 10

[[rule]]
name = "table_growth"
[rule.tables."public.audit"]
warn = 50
"""
    )
    rules = load_rules(path)
    conn = rules.rule("connection_usage")
    assert (conn.warn, conn.crit, conn.hysteresis) == (70, 90, 10)
    assert not rules.rule("deadlocks").enabled
    assert rules.rule("tiny_cache").param("min_blocks") == 10
    growth = rules.rule("table_growth")
    assert growth.thresholds_for("public.audit").warn == 50
    assert growth.thresholds_for("public.BehaviorLog").warn == 500  # the default override stays


def test_include_defaults_false_starts_from_nothing(rules_file: Callable[[str], Path]) -> None:
    path = rules_file(
        "include_defaults = false\n[[rule]]\nname = 'x'\nmetric = 'blocked_sessions'\nwarn = 2\n"
    )
    assert [r.name for r in load_rules(path).rules] == ["x"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]]\nname = 'a'\nmetric = 'x'\nwarn = = 1\n", "line 4"),
        (
            "\n\n[[rule]]\nname = 'db'\nmetric = 'no_such_metric'\nwarn = 1\n",
            "line 4: rule 'db': unknown metric",
        ),
        (
            "[[rule]]\nname = 'database_size'\nwarn = 70\ncrit = 50\n",
            "line 2: rule 'database_size': with op > crit (50)",
        ),
        (
            "[[rule]]\nname = 'database_size'\nfor = 'soon'\n",
            "line 2: rule 'database_size': for: not a duration",
        ),
        ("[[rule]]\nname = 'database_size'\nwran = 1\n", "unknown field 'wran'"),
        ("[[rule]]\nname = 'database_size'\nscope = 'table'\n", "is measured per database, not per table"),
        ("[notify]\n[[notify.email]]\nhost = 'h'\nfrom = 'a'\nto = 'b'\npassword = 'pw'\n", "password_env"),
    ],
)
def test_invalid_rule_files_name_the_line(rules_file: Callable[[str], Path], text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_rules(rules_file(text))


def test_cli_reports_a_bad_rule_file_in_one_line_with_exit_2(
    rules_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = rules_file("[[rule]]\nname = 'database_size'\nwarn = 'big'\n")
    assert main(["alerts", "rules", "--rules", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"pgdba: error: {path} line 2: rule 'database_size': warn must be a number (got 'big')"


@pytest.mark.parametrize("literal", ["nan", "inf", "-inf", "+nan"])
@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("warn = {x}\n", "warn"),
        ("crit = {x}\n", "crit"),
        ("hysteresis = {x}\n", "hysteresis"),
        ("metric = 'table_growth_mb_per_hour'\nscope = 'table'\nwarn = 1\ntop_tables = {x}\n", "top_tables"),
        ("warn = 1\ntables.orders = {{ warn = {x} }}\n", "tables.orders.warn"),
        ("warn = 1\ntables.orders = {{ crit = {x} }}\n", "tables.orders.crit"),
        ("warn = 1\ntables.orders = {{ hysteresis = {x} }}\n", "tables.orders.hysteresis"),
    ],
)
def test_a_rule_file_number_that_is_not_finite_is_refused_naming_file_rule_and_key(
    rules_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str], body: str, key: str, literal: str
) -> None:
    name = "table_growth" if "tables." in key or "top_tables" in key else "database_size"
    path = rules_file(f"[[rule]]\nname = '{name}'\n" + body.format(x=literal))
    assert main(["alerts", "rules", "--rules", str(path), "-f", "json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"pgdba: error: {path} line 2: rule '{name}': {key} must be a finite number")


@pytest.mark.parametrize("text", ["for = nan", "for = inf", "window = inf"])
def test_a_duration_that_is_not_finite_is_refused(rules_file: Callable[[str], Path], text: str) -> None:
    path = rules_file(f"[[rule]]\nname = 'table_growth'\n{text}\n")
    key = text.split(" ", 1)[0]
    with pytest.raises(InputError, match=re.escape(f"{path} line 2: rule 'table_growth': {key}")):
        load_rules(path)


def test_a_not_finite_email_timeout_is_refused(rules_file: Callable[[str], Path]) -> None:
    path = rules_file("[notify]\n[[notify.email]]\nhost = 'h'\nfrom = 'a'\nto = 'b'\ntimeout = nan\n")
    with pytest.raises(InputError, match=r"notify\.email timeout must be a positive, finite number"):
        load_rules(path)


def test_parse_duration() -> None:
    assert [parse_duration(t) for t in ("0s", "90s", "5m", "1h", "2d", 30)] == [0, 90, 300, 3600, 172800, 30]


# ---- evaluation: hysteresis, for, unknown values ----------------------------------------------------------
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(
    rule_name: str, values: list[float | None], step_s: float = 60, rules_path: Path | None = None
) -> list[str]:
    rule = load_rules(rules_path).rule(rule_name)
    state: AlertState | None = None
    seen = []
    for i, value in enumerate(values):
        status, state = evaluate(
            rule, MetricValue("server", value), state, T0 + timedelta(seconds=i * step_s)
        )
        seen.append(f"{status.status}{'!' + status.event if status.event else ''}")
    return seen


def test_hysteresis_keeps_a_connection_alert_until_the_value_is_10_points_lower() -> None:
    assert _run("connection_usage", [81, 75, 71, 69, 75]) == [
        "warning!firing",
        "warning",
        "warning",
        "ok!resolved",
        "ok",
    ]


def test_critical_falls_back_to_warning_then_resolves() -> None:
    assert _run("connection_usage", [95, 85, 79, 60]) == [
        "critical!firing",
        "critical",  # 85 > 90 - 10: still critical
        "warning!firing",
        "ok!resolved",
    ]


def test_for_holds_an_alert_pending_until_the_duration_passed(rules_file: Callable[[str], Path]) -> None:
    path = rules_file("[[rule]]\nname = 'blocked_sessions'\nfor = '2m'\n")
    assert _run("blocked_sessions", [1, 1, 1, 0], step_s=60, rules_path=path) == [
        "pending",
        "pending",
        "warning!firing",
        "ok!resolved",
    ]
    assert _run("blocked_sessions", [1, 0, 1], step_s=60, rules_path=path) == ["pending", "ok", "pending"]


def test_an_unknown_value_changes_nothing() -> None:
    assert _run("connection_usage", [85, None, 85, None, 10]) == [
        "warning!firing",
        "unknown",
        "warning",
        "unknown",
        "ok!resolved",
    ]


def test_each_level_waits_out_its_own_for_as_the_prometheus_alerts_do(
    rules_file: Callable[[str], Path],
) -> None:
    path = rules_file("[[rule]]\nname = 'connection_usage'\nfor = '5m'\n")
    # over 80 since t0: the warning fires at t+5m; over 90 only since t+5m: critical waits until t+10m
    assert _run("connection_usage", [85, 95, 95], step_s=300, rules_path=path) == [
        "pending",
        "warning!firing",
        "critical!firing",
    ]
    # over 80 since t0, whatever it did above 90: the warning fires at t+5m
    assert _run("connection_usage", [95, 85, 85], step_s=300, rules_path=path) == [
        "pending",
        "warning!firing",
        "warning",
    ]
    # a fired warning stays one while critical is pending (the warning alert is still firing)
    assert _run("connection_usage", [85, 85, 95], step_s=300, rules_path=path) == [
        "pending",
        "warning!firing",
        "warning",
    ]


def test_a_state_stored_by_an_earlier_pgdba_keeps_its_level_and_pending_timer(
    rules_file: Callable[[str], Path],
) -> None:
    rule = load_rules(rules_file("[[rule]]\nname = 'connection_usage'\nfor = '5m'\n")).rule(
        "connection_usage"
    )
    earlier = {  # one timer for whichever level was pending, no per-level start times
        "level": "warning",
        "since": T0.isoformat(),
        "pending": "critical",
        "pending_since": (T0 + timedelta(minutes=2)).isoformat(),
        "value": 95.0,
        "unknown": None,
    }
    state = AlertState.from_dict(earlier)
    at = T0 + timedelta(minutes=3)
    status, state = evaluate(rule, MetricValue("server", 95.0), state, at)
    assert (status.status, status.level, state.pending) == ("warning", "warning", "critical")
    assert state.critical_since == earlier["pending_since"]
    status, state = evaluate(rule, MetricValue("server", 95.0), state, at + timedelta(minutes=4))
    assert (status.status, status.event) == ("critical", "firing")  # over 90 since T0 + 2m, 5 minutes on
    assert set(state.to_dict()) == {*earlier, "warning_since", "critical_since"}
