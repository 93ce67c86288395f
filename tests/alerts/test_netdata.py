"""Netdata: the plugin speaks plugins.d, the health file attaches to its charts, and a real agent loads every
pgdba alarm and raises the slow-query alarm to WARNING after a slow query."""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from pgdba.alerts.netdata import (
    PluginState,
    alarm_names,
    family_of,
    health_config,
    plugin_round,
    run_plugin,
)
from pgdba.alerts.rules import load_rules
from pgdba.cli import main
from pgdba.target import resolve_target
from tests.api.conftest import free_port
from tests.conftest import TestDatabase

NETDATA = shutil.which("netdata") or ("/usr/sbin/netdata" if Path("/usr/sbin/netdata").exists() else None)


def _charts(output: str) -> dict[str, dict[str, Any]]:
    """Chart id → context and the values SET for it, from plugins.d output."""
    charts: dict[str, dict[str, Any]] = {}
    current = None
    for line in output.splitlines():
        words = line.split()
        if words[0] == "CHART":
            context = next(w for w in words if w.startswith("pgdba.") and w != words[1])
            charts[words[1]] = {"context": context, "values": []}
        elif words[0] == "BEGIN":
            current = words[1]
        elif words[0] == "SET":
            assert current is not None
            charts[current]["values"].append(int(words[-1]))
    return charts


# a table partitioned by time: the partition_runway rule's chart (no INSERT yet: no value, no alarm)
PARTITIONED_BY_TIME = (
    "CREATE TABLE visit (at date NOT NULL) PARTITION BY RANGE (at);"
    "CREATE TABLE visit_all PARTITION OF visit FOR VALUES FROM ('2000-01-01') TO ('2100-01-01')"
)


@pytest.mark.catalog
def test_plugin_emits_a_chart_for_every_rule_and_the_slow_query_after_pg_sleep(db: TestDatabase) -> None:
    db.execute('CREATE TABLE "BehaviorLog" (id int)')
    db.execute(PARTITIONED_BY_TIME)
    rules = load_rules()
    state = PluginState()
    first = io.StringIO()
    plugin_round(db.target, rules, state, first, 1, None)
    with db.connect() as conn:
        conn.execute('SELECT pg_sleep(%s), count(*) FROM "BehaviorLog"', (1.05,))
    second = io.StringIO()
    plugin_round(db.target, rules, state, second, 1, None)
    charts = _charts(first.getvalue())
    contexts = {c["context"] for c in charts.values()}
    assert contexts == {f"pgdba.{r.name}" for r in rules.enabled}
    assert "CHART" not in second.getvalue()  # charts are declared once
    slow = _charts(first.getvalue() + second.getvalue())[f"pgdba.slow_queries_{db.name}"]["values"]
    assert slow[-1] >= 1_050_000  # ms × 1000
    growth = charts["pgdba.table_growth_public_BehaviorLog"]
    assert growth["values"] == []  # one sample: no growth yet, so no value rather than a guess
    # every template attaches to a context the plugin emits
    config = health_config(rules)
    attached = {
        line.split(":", 1)[1].strip() for line in config.splitlines() if line.strip().startswith("on:")
    }
    assert attached == contexts


def test_deploy_print_shows_what_to_run_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = "postgresql://monitor:s3cret@db.example:5432/app"
    assert main(["alerts", "deploy", "netdata", "--dsn", dsn, "--netdata-dir", str(tmp_path), "--print"]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "netdatacli reload-health" in out
    assert f"{tmp_path}/custom-plugins.d/pgdba.plugin" in out
    assert not any(tmp_path.iterdir())  # --print writes nothing


def _alarms(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alarms?all", timeout=5) as response:
        return dict(json.loads(response.read())["alarms"])


def _warning_logged(port: int, key: str) -> dict[str, Any] | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alarm_log", timeout=5) as response:
        log = json.loads(response.read())
    chart, name = key.rsplit(".", 1)
    return next(
        (e for e in log if e["chart"] == chart and e["name"] == name and e["status"] == "WARNING"), None
    )


def _wait_for(what: str, condition: Any, timeout_s: float) -> Any:
    """Poll the agent's API until the condition holds (the agent runs on its own clock), bounded."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except OSError:
            last = None
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture
def netdata_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="pgdba-netdata-"))
    os.chmod(home, 0o755)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.netdata
@pytest.mark.skipif(NETDATA is None or os.geteuid() != 0, reason="needs Debian's netdata and root")
def test_netdata_agent_loads_every_pgdba_alarm_and_warns_on_slow_queries(
    db: TestDatabase, netdata_home: Path, tmp_path: Path
) -> None:
    db.execute('CREATE TABLE "BehaviorLog" (id int)')
    db.execute('CREATE TABLE "Course" (id int)')
    db.execute(PARTITIONED_BY_TIME)
    # archive."Course": the generic growth alarm's (BehaviorLog has its own, public.Course an override)
    db.execute('CREATE SCHEMA archive; CREATE TABLE archive."Course" (id int)')
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nname = "table_growth"\n[rule.tables."public.Course"]\nwarn = 900\n')
    etc = netdata_home / "etc"
    assert (
        main(
            [
                "alerts",
                "deploy",
                "netdata",
                "--dsn",
                db.dsn,
                "--rules",
                str(rules),
                "--netdata-dir",
                str(etc),
                "--store",
                str(tmp_path / "h.sqlite3"),
                "--no-reload",  # the agent starts below and reads the files itself
            ]
        )
        == 0
    )
    for sub in ("cache", "lib", "log", "stock-health"):
        (netdata_home / sub).mkdir()
    port = free_port()
    (etc / "netdata.conf").write_text(
        f"""
[global]
  run as user = root
  memory mode = ram
  hostname = pgdba-test
[directories]
  config = {etc}
  stock config = /usr/lib/netdata/conf.d
  log = {netdata_home}/log
  cache = {netdata_home}/cache
  lib = {netdata_home}/lib
  plugins = {etc}/custom-plugins.d
  stock health config = {netdata_home}/stock-health
  web = /usr/share/netdata/web
  home = {netdata_home}
[logs]
  debug log = none
  error = {netdata_home}/log/error.log
  access = none
[web]
  bind to = 127.0.0.1:{port}
[plugins]
  enable running new plugins = no
  proc = no
  diskspace = no
  cgroups = no
  tc = no
  idlejitter = no
  timex = no
  statsd = no
  apps = no
  charts.d = no
  python.d = no
  go.d = no
  pgdba = yes
[plugin:pgdba]
  update every = 2
[health]
  enabled = yes
  postpone alarms during hibernation for seconds = 0
[ml]
  enabled = no
[cloud]
  enabled = no
"""
    )
    assert NETDATA is not None
    agent = subprocess.Popen(
        [NETDATA, "-D", "-c", str(etc / "netdata.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        expected = set(alarm_names(load_rules(rules)))
        try:
            loaded = _wait_for(
                "every pgdba alarm",
                lambda: (names := {a["name"] for a in _alarms(port).values()}) >= expected and names,
                60,
            )
        except AssertionError:
            log = (netdata_home / "log" / "error.log").read_text(errors="replace").splitlines()
            raise AssertionError(
                "\n".join([line for line in log if "pgdba" in line.lower() or "ERROR" in line][-30:])
            ) from None
        assert {n for n in loaded if n.startswith("pgdba_")} == expected
        # the schema-qualified override attaches to that schema's table only, the generic alarm to the other
        growth = {key for key in _alarms(port) if key.startswith("pgdba.table_growth_")}
        assert growth == {
            "pgdba.table_growth_public_BehaviorLog.pgdba_table_growth_behaviorlog",
            "pgdba.table_growth_public_Course.pgdba_table_growth_public_course",
            "pgdba.table_growth_archive_Course.pgdba_table_growth",
            "pgdba.table_growth_public_visit.pgdba_table_growth",
            "pgdba.table_growth_public_visit_all.pgdba_table_growth",
        }
        slow_key = f"pgdba.slow_queries_{db.name}.pgdba_slow_queries"
        assert slow_key in _alarms(port)
        _wait_for("a first slow-query evaluation", lambda: _alarms(port)[slow_key]["status"] == "CLEAR", 90)
        with db.connect() as conn:
            conn.execute('SELECT pg_sleep(%s), count(*) FROM "BehaviorLog"', (1.1,))
        # the alarm log keeps the transition even if a loaded machine polls after it cleared again
        entry = _wait_for("the slow-query alarm at WARNING", lambda: _warning_logged(port, slow_key), 90)
        assert entry["value"] >= 1100
    finally:
        os.killpg(agent.pid, signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(agent.pid, signal.SIGKILL)
            agent.wait(timeout=10)


def test_health_config_uses_the_status_idiom_for_hysteresis_and_min_over_for(
    rules_file: Callable[[str], Path],
) -> None:
    rules = load_rules(rules_file("[[rule]]\nname = 'connection_usage'\nfor = '5m'\n"))
    config = health_config(rules)
    block = config.split(" template: pgdba_connection_usage\n", 1)[1].split("\n\n", 1)[0]
    assert "   lookup: min -5m unaligned of value" in block  # above 80 for the whole five minutes
    assert "     warn: $this > (($status >= $WARNING) ? (70) : (80))" in block
    assert "     crit: $this > (($status == $CRITICAL) ? (80) : (90))" in block
    cache = config.split(" template: pgdba_cache_hit_ratio\n", 1)[1].split("\n\n", 1)[0]
    assert "   lookup: min -10s unaligned of value" in cache  # a "<" rule looks at the lowest value
    assert "     warn: $this < (($status >= $WARNING) ? (95) : (90))" in cache


def test_netdata_plugin_command_writes_one_round(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["netdata-plugin", "5", "--dsn", db.dsn, "--iterations", "1"]) == 0
    out = capsys.readouterr().out
    assert f"CHART pgdba.database_size_{db.name} '' " in out
    assert " pgdba.database_size line 90000 10 '' pgdba alerts" in out  # at least 10 s, not Netdata's 5
    # Netdata's global default of 1 s would read pg_stat_statements and table sizes every second
    assert main(["netdata-plugin", "1", "--dsn", db.dsn, "--iterations", "1"]) == 0
    assert " pgdba.database_size line 90000 10 '' pgdba alerts" in capsys.readouterr().out
    assert main(["netdata-plugin", "30", "--dsn", db.dsn, "--iterations", "1"]) == 0
    assert " pgdba.database_size line 90000 30 '' pgdba alerts" in capsys.readouterr().out


def test_plugin_without_a_usable_history_store_still_charts_and_leaves_backups_unknown(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    plugin_round(
        db.target, load_rules(), PluginState(), out, 1, "/proc/pgdba-cannot-write-here/history.sqlite3"
    )
    charts = _charts(out.getvalue())
    assert charts["pgdba.backup_age_server"]["values"] == []
    assert charts[f"pgdba.database_size_{db.name}"]["values"] != []
    assert "cannot open history store" in capsys.readouterr().err


def _deploy_args(db: TestDatabase, netdata_dir: Path) -> list[str]:
    return ["alerts", "deploy", "netdata", "--dsn", db.dsn, "--netdata-dir", str(netdata_dir)]


def _installed(netdata_dir: Path) -> bool:
    return all(
        (netdata_dir / name).is_file()
        for name in ("health.d/pgdba.conf", "custom-plugins.d/pgdba.plugin", "pgdba.env")
    )


def test_deploy_exits_1_when_netdatacli_is_missing_but_says_the_files_are_installed(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(_deploy_args(db, tmp_path / "nd")) == 1
    out, err = capsys.readouterr()
    assert _installed(tmp_path / "nd")
    assert f"wrote {tmp_path}/nd/health.d/pgdba.conf" in out
    assert err.count("\n") == 1
    assert err.startswith(
        "pgdba: error: netdatacli not found: the files are installed; reload Netdata yourself"
    )


def test_deploy_exits_1_when_netdatacli_reload_fails(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # netdatacli as it answers when no agent is running (Debian's netdatacli 1.37, exit 255)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    netdatacli = bin_dir / "netdatacli"
    netdatacli.write_text(
        "#!/bin/sh\necho 'uv_pipe_connect(): no such file or directory'\n"
        "echo 'Make sure the netdata service is running.' >&2\nexit 255\n"
    )
    netdatacli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    assert main(_deploy_args(db, tmp_path / "nd")) == 1
    err = capsys.readouterr().err
    assert _installed(tmp_path / "nd")
    assert err.startswith(
        "pgdba: error: netdatacli reload-health failed (Make sure the netdata service is running.): "
        "is netdata running? the files are installed"
    )


def test_deploy_with_no_reload_installs_and_exits_0_without_netdatacli(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main([*_deploy_args(db, tmp_path / "nd"), "--no-reload"]) == 0
    out, err = capsys.readouterr()
    assert _installed(tmp_path / "nd")
    assert "not reloaded (--no-reload)" in out and err == ""


@pytest.mark.parametrize(
    "args",
    [["1", "--iterations", "-1"], ["0", "--iterations", "1"], ["-5"]],
    ids=["negative-iterations", "zero-update-every", "negative-update-every"],
)
def test_plugin_refuses_bad_option_values_in_one_line_with_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["netdata-plugin", *args, "--dsn", "postgresql://127.0.0.1:1/x"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("pgdba: error: ")


@pytest.fixture
def plugin_role(db: TestDatabase) -> Iterator[str]:
    db.execute("DROP ROLE IF EXISTS pgdba_plugin_login")
    db.execute("CREATE ROLE pgdba_plugin_login LOGIN PASSWORD 'Right0ne'")
    yield "pgdba_plugin_login"
    db.execute("DROP ROLE IF EXISTS pgdba_plugin_login")


@pytest.mark.parametrize(
    ("credentials", "database", "expected"),
    [
        ("pgdba_plugin_login:Wr0ngPassw0rd", None, "password authentication failed"),
        ("pgdba_plugin_login:Right0ne", "no_such_database", "does not exist"),
        ("no_such_role_here:Wr0ngPassw0rd", None, "password authentication failed"),
    ],
    ids=["wrong-password", "unknown-database", "unknown-role"],
)
def test_plugin_that_cannot_log_in_prints_disable_and_exits_non_zero(
    db: TestDatabase,
    plugin_role: str,
    capsys: pytest.CaptureFixture[str],
    credentials: str,
    database: str | None,
    expected: str,
) -> None:
    dsn = f"postgresql://{credentials}@127.0.0.1:{db.cluster.port}/{database or db.name}"
    assert main(["netdata-plugin", "1", "--iterations", "1", "--dsn", dsn]) == 2
    out, err = capsys.readouterr()
    assert out == "DISABLE\n"
    assert err.count("\n") == 1 and err.startswith("pgdba: error: pgdba.plugin disabled: cannot connect")
    assert expected in err
    assert "Wr0ngPassw0rd" not in out + err and "Right0ne" not in out + err


def test_plugin_keeps_retrying_an_unreachable_server_without_disabling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = io.StringIO()
    target = resolve_target("postgresql://postgres@127.0.0.1:1/x?connect_timeout=2")
    failed = run_plugin(target, load_rules(), 1, iterations=2, out=out)
    assert failed == 2
    assert out.getvalue() == ""  # no DISABLE: Netdata keeps the plugin, the next round tries again
    assert capsys.readouterr().err.count("pgdba.plugin: cannot connect") == 2


def test_plugin_command_exits_1_when_its_only_sample_failed(capsys: pytest.CaptureFixture[str]) -> None:
    dsn = "postgresql://postgres@127.0.0.1:1/x?connect_timeout=2"
    assert main(["netdata-plugin", "1", "--iterations", "1", "--dsn", dsn]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "pgdba.plugin: cannot connect" in err


def _not_utf8(path: Path) -> Path:
    data = bytes([0xFF]) + random.Random(7).randbytes(512)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    path.write_bytes(data)
    return path


def test_a_rule_file_that_is_not_utf8_is_one_line_for_rules_and_disables_the_plugin(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = _not_utf8(tmp_path / "binary.sql")
    assert main(["alerts", "rules", "--rules", str(binary)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"pgdba: error: rule file {binary} is not UTF-8 text (byte 0xff at offset 0)\n"
    assert main(["netdata-plugin", "1", "--iterations", "1", "--dsn", db.dsn, "--rules", str(binary)]) == 2
    out, err = capsys.readouterr()
    assert out == "DISABLE\n"
    assert (
        err
        == f"pgdba: error: pgdba.plugin disabled: rule file {binary} is not UTF-8 text (byte 0xff at offset 0)\n"
    )


# ---- names from the database cannot break out of the protocol or the health file ------------------------
PLUGINS_D_KEYWORDS = {"CHART", "DIMENSION", "BEGIN", "SET", "END"}
TABLE_CONTEXTS = ("pgdba.table_growth", "pgdba.dead_tuples")
HOSTILE_TABLES = ("x\nDISABLE\ny", "x\rDISABLE", "it's", 'say "hi"', "two words", "x y", "x_y", "tab\there")


def _plugins_d_words(line: str) -> list[str]:
    """A line split as Netdata's plugins.d parser splits it: on spaces, a word in ' or " quotes kept whole."""
    words: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == " ":
            i += 1
            continue
        if line[i] in "'\"":
            end = line.index(line[i], i + 1)  # an unterminated quote fails the test
            words.append(line[i + 1 : end])
            i = end + 1
        else:
            end = line.find(" ", i)
            end = len(line) if end < 0 else end
            words.append(line[i:end])
            i = end
    return words


def _create_tables(db: TestDatabase, names: tuple[str, ...]) -> None:
    with db.connect() as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(name)))


def test_plugin_output_stays_in_the_protocol_whatever_the_table_names(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_tables(db, HOSTILE_TABLES)
    assert main(["netdata-plugin", "1", "--iterations", "1", "--dsn", db.dsn]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n")
    growth_charts = []
    for line in out[:-1].split("\n"):  # Netdata reads lines up to \n; \r must not appear either
        words = _plugins_d_words(line)
        assert words and words[0] in PLUGINS_D_KEYWORDS, repr(line)
        assert not any(ch in line for ch in "\r\t\x0b\x0c")
        if words[0] == "CHART":
            # CHART type.id name title units family context charttype priority update_every options plugin module
            assert len(words) == 13, repr(line)
            assert re.fullmatch(r"pgdba\.[A-Za-z0-9_]+", words[1]), repr(line)
            family = r"[A-Za-z0-9_]+\.[A-Za-z0-9_]+" if words[6] in TABLE_CONTEXTS else r"[A-Za-z0-9_]+"
            assert re.fullmatch(family, words[5]), repr(line)  # schema.table for table rules
            if words[6] == "pgdba.table_growth":
                growth_charts.append(words[1])
        if words[0] in ("BEGIN", "SET", "END"):
            assert len(words) == {"BEGIN": 2, "SET": 4, "END": 1}[words[0]], repr(line)
    # every table keeps its own chart: sanitising never merges two tables (x y, x_y and x\rDISABLE…)
    assert len(growth_charts) == len(set(growth_charts)) == len(HOSTILE_TABLES)
    assert "pgdba.table_growth_public_x_y" in growth_charts  # a plain name keeps its plain id


def test_health_config_families_and_alarm_names_of_hostile_table_names_match_the_plugin(
    db: TestDatabase, rules_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _create_tables(db, (*HOSTILE_TABLES, "BehaviorLog"))  # the default rules override BehaviorLog too
    overrides = "".join(f"tables.{json.dumps(name)} = {{ warn = 1 }}\n" for name in HOSTILE_TABLES)
    path = rules_file(f"[[rule]]\nname = 'table_growth'\nsummary = 'grows\\nfast'\n{overrides}")
    assert main(["alerts", "export", "netdata", "--rules", str(path)]) == 0
    config = capsys.readouterr().out
    templates: dict[str, str] = {}
    current = ""
    for line in config.split("\n"):
        if not line or line.startswith("#"):
            continue
        key, value = (part.strip() for part in line.split(":", 1))  # every line is one `key: value`
        assert re.fullmatch(r"[a-z]+", key), repr(line)
        assert "'" not in value and '"' not in value and "\r" not in value, repr(line)
        if key == "template":
            assert re.fullmatch(r"pgdba_[a-z0-9_]+", value), repr(line)
            current = value
        if key == "families":
            words = value.split(" ")
            assert all(re.fullmatch(r"!?(\*|[A-Za-z0-9_]+)\.[A-Za-z0-9_]+|\*", w) for w in words), repr(line)
            templates[current] = value
    rules = load_rules(path)
    growth = {name for name in templates if name.startswith("pgdba_table_growth_")}
    assert growth == {name for name in alarm_names(rules) if name.startswith("pgdba_table_growth_")}
    assert len(growth) == len(HOSTILE_TABLES) + 1
    # the families the health file names are those the plugin gives the tables' charts
    out = io.StringIO()
    plugin_round(db.target, rules, PluginState(), out, 1, None)
    plugin_families = {
        _plugins_d_words(line)[5]
        for line in out.getvalue().splitlines()
        if line.startswith("CHART ") and " pgdba.table_growth " in line
    }
    # each override's template (`*.table`: a bare name, in every schema) matches its table's chart only
    matched = [
        {family for family in plugin_families if _netdata_families_match(templates[name], family)}
        for name in growth
    ]
    assert all(len(families) == 1 for families in matched) and set.union(*matched) == plugin_families
    assert not any(_netdata_families_match(templates["pgdba_table_growth"], f) for f in plugin_families)


def _netdata_families_match(patterns: str, family: str) -> bool:
    """Netdata's simple patterns: the first pattern that matches decides, `!` makes it a refusal."""
    for pattern in patterns.split(" "):
        if fnmatch.fnmatchcase(family, pattern.removeprefix("!")):
            return not pattern.startswith("!")
    return False


def test_a_schema_qualified_override_names_that_schemas_table_in_the_health_families(
    rules_file: Callable[[str], Path],
) -> None:
    path = rules_file(
        "[[rule]]\nname = 'table_growth'\n"
        '[rule.tables."public.orders"]\nwarn = 50\n'
        '[rule.tables."orders"]\nwarn = 70\n'
        '[rule.tables."public_orders"]\nwarn = 80\n'  # its alarm name would be public.orders' one
    )
    rules = load_rules(path)
    config = health_config(rules)
    families = {
        block["template"]: block["families"]
        for block in (
            dict(line.strip().split(": ", 1) for line in text.splitlines() if not line.startswith("#"))
            for text in config.split("\n\n")
        )
        if "families" in block
    }
    public_orders, bare_public_orders = (
        f"pgdba_table_growth_public_orders_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        for key in ("public.orders", "public_orders")
    )
    growth = [n for n in alarm_names(rules) if n.startswith("pgdba_table_growth")]
    assert sorted(growth) == sorted(
        [
            "pgdba_table_growth",
            "pgdba_table_growth_behaviorlog",
            public_orders,
            "pgdba_table_growth_orders",
            bare_public_orders,
        ]
    )
    rule = rules.rule("table_growth")
    tables = (
        "public.orders",
        "archive.orders",
        "public.BehaviorLog",
        "public.public_orders",
        "public.Course",
    )
    chosen = {
        table: [n for n in growth if _netdata_families_match(families[n], family_of(rule, table))]
        for table in tables
    }
    # one template per table, the one the check applies: public.orders its own, archive.orders the bare one
    assert chosen == {
        "public.orders": [public_orders],
        "archive.orders": ["pgdba_table_growth_orders"],
        "public.BehaviorLog": ["pgdba_table_growth_behaviorlog"],
        "public.public_orders": [bare_public_orders],
        "public.Course": ["pgdba_table_growth"],
    }
    assert [rule.thresholds_for(table).warn for table in tables] == [50, 70, 500, 80, 1000]
    assert "     warn: $this > 50\n" in config.split(f" template: {public_orders}\n")[1].split("\n\n")[0]


def test_deploy_refuses_an_empty_netdata_or_plugins_dir(
    db: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["alerts", "deploy", "netdata", "--dsn", db.dsn, "--netdata-dir", "", "--no-reload"]) == 2
    assert capsys.readouterr().err == "pgdba: error: --netdata-dir needs a directory (got an empty string)\n"
    args = ["alerts", "deploy", "netdata", "--dsn", db.dsn, "--netdata-dir", str(tmp_path / "nd")]
    assert main([*args, "--plugins-dir", "", "--no-reload"]) == 2
    assert capsys.readouterr().err == "pgdba: error: --plugins-dir needs a directory (got an empty string)\n"
    assert list(tmp_path.iterdir()) == []  # nothing installed, in the current directory or elsewhere


def test_export_refuses_an_empty_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for system in ("netdata", "prometheus"):
        assert main(["alerts", "export", system, "--out", ""]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pgdba: error: ") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_tables_whose_schema_and_name_join_to_one_chart_id_keep_a_chart_each(db: TestDatabase) -> None:
    with db.connect() as conn:
        conn.execute("CREATE SCHEMA a_b")
        conn.execute("CREATE SCHEMA a")
        conn.execute("CREATE TABLE a_b.c (id int)")  # a_b + c and a + b_c both join to a_b_c
        conn.execute("CREATE TABLE a.b_c (id int)")
        conn.execute("CREATE TABLE public.orders (id int)")
    out = io.StringIO()
    plugin_round(db.target, load_rules(), PluginState(), out, 1, None)
    titles = {
        words[1]: words[3]
        for words in map(_plugins_d_words, out.getvalue().splitlines())
        if words[0] == "CHART" and words[6] == "pgdba.table_growth"
    }
    mine = {chart: title for chart, title in titles.items() if "(a_b.c)" in title or "(a.b_c)" in title}
    assert len(mine) == 2  # one chart each, not one chart both write into
    assert all(re.fullmatch(r"pgdba\.table_growth_a_b_c_[0-9a-f]{8}", chart) for chart in mine)
    assert "pgdba.table_growth_public_orders" in titles  # a name no other meets keeps its plain id
    begun = [line for line in out.getvalue().splitlines() if line.startswith("BEGIN ")]
    assert len(begun) == len(set(begun))  # no chart is written twice in one round
