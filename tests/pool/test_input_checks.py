"""Bad numbers, paths and files given to `pgdba pool advise|bench` and the library: one line, exit 2, and
nothing runs or is written."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pgdba.cli import main
from pgdba.embedded import EmbeddedCluster
from pgdba.errors import InputError
from pgdba.pool import AdviceInputs, LoadTestConfig, advise_pool
from pgdba.target import resolve_target
from pgdba.text_files import write_text_atomically
from tests.conftest import TestDatabase


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing half-printed, in particular no JSON with Infinity or NaN
    assert captured.err.startswith("pgdba: error: ") and captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--peak-rate", "inf"], "--peak-rate"),
        (["--peak-rate", "nan"], "--peak-rate"),
        (["--burst-factor", "inf", "--peak-rate", "10"], "--burst-factor"),
        (["--burst-factor", "nan"], "--burst-factor"),
        (["--query-ms", "inf", "-f", "json"], "--query-ms"),
        (["--query-ms", "nan", "-f", "json"], "--query-ms"),
        (["--query-ms", "-inf"], "--query-ms"),
    ],
)
def test_advise_refuses_infinite_and_nan_numbers(
    pg_cluster: EmbeddedCluster, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    assert main(["pool", "advise", "--dsn", pg_cluster.dsn(), *args]) == 2
    err = one_error_line(capsys)
    assert f"'{option}'" in err and "is not a finite number" in err
    assert "internal error" not in err and "cannot convert" not in err


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--headroom", "-100"], "--headroom"),
        (["--burst-factor", "-1"], "--burst-factor"),
        (["--burst-factor", "0.5"], "--burst-factor"),
        (["--burst-factor", "1000"], "--burst-factor"),
        (["--pool-size", "-1"], "--pool-size"),
        (["--pool-size", "0"], "--pool-size"),
        (["--instances", "99999999999999999999"], "--instances"),
        (["--instances", "0"], "--instances"),
        (["--workers-per-instance", "0"], "--workers-per-instance"),
        (["--server-cpus", "-4"], "--server-cpus"),
        (["--peak-rate", "-5"], "--peak-rate"),
        (["--query-ms", "-1"], "--query-ms"),
    ],
)
def test_advise_refuses_values_out_of_range(
    pg_cluster: EmbeddedCluster, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    assert main(["pool", "advise", "--dsn", pg_cluster.dsn(), *args]) == 2
    assert f"Invalid value for '{option}'" in one_error_line(capsys)


def test_advise_still_takes_the_edges_of_the_ranges(
    pg_cluster: EmbeddedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--instances", "10000", "--headroom", "0", "--burst-factor", "1", "--peak-rate", "0"]
    # 10000 instances cannot all get a connection: a critical finding (exit 1), not a usage error
    assert main(["pool", "advise", "--dsn", pg_cluster.dsn(), *args, "--pool-size", "1", "-f", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["instances"] == 10_000 and data["inputs"]["burst_factor"] == 1.0
    assert "headroom 0 " in data["steps"][0]["formula"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"mean_call_ms": math.inf},
        {"mean_call_ms": math.nan},
        {"peak_calls_per_s": math.inf},
        {"burst_factor": math.nan},
        {"burst_factor": 0.5},
        {"headroom": -100},
        {"current_pool_size": 0},
        {"instances": 0},
        {"headroom_fraction": math.nan},
    ],
)
def test_advice_library_refuses_nonsense_with_input_error(overrides: dict[str, object]) -> None:
    base: dict[str, object] = {"max_connections": 100, "reserved_connections": 3, "other_clients": 2}
    with pytest.raises(InputError):
        AdviceInputs(**base, **overrides)  # type: ignore[arg-type]


def test_advise_pool_refuses_a_non_finite_call_time_before_asking_the_server() -> None:
    nowhere = resolve_target("postgresql://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    with pytest.raises(InputError, match="call time"):
        advise_pool(nowhere, mean_call_ms=math.inf)
    with pytest.raises(InputError, match="peak rate"):
        advise_pool(nowhere, peak_calls_per_s=math.nan)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--max-waiting", "-1"], "--max-waiting"),
        (["--time-limit", "nan"], "--time-limit"),
        (["--time-limit", "inf"], "--time-limit"),
        (["--time-limit", "0"], "--time-limit"),
        (["--timeout", "nan"], "--timeout"),
        (["--timeout", "-1"], "--timeout"),
        (["--statement-timeout", "-1"], "--statement-timeout"),
        (["--statement-timeout", "0"], "--statement-timeout"),
        (["--clients", "0"], "--clients"),
        (["--requests", "-3"], "--requests"),
    ],
)
def test_bench_refuses_values_out_of_range_before_connecting(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], option: str
) -> None:
    query = tmp_path / "q.sql"
    query.write_text("SELECT 1;\n")
    assert main(["pool", "bench", "--dsn", db.dsn, "--query", str(query), *args]) == 2
    assert f"Invalid value for '{option}'" in one_error_line(capsys)


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_waiting": -1},
        {"time_limit_s": math.nan},
        {"connect_timeout_s": math.inf},
        {"statement_timeout_ms": -1},
        {"pool_sizes": (4, -1)},
        {"think_ms": math.nan},
    ],
)
def test_load_test_config_refuses_nonsense_with_input_error(overrides: dict[str, object]) -> None:
    with pytest.raises(InputError):
        LoadTestConfig(**overrides)  # type: ignore[arg-type]


def test_bench_refuses_a_negative_pool_size_in_the_list(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.sql"
    query.write_text("SELECT 1;\n")
    assert main(["pool", "bench", "--dsn", db.dsn, "--query", str(query), "--pool-sizes", "2,-1"]) == 2
    assert "pool size (0 = direct connections) must be between 0 and" in one_error_line(capsys)


MARKER_CALLS_SQL = """
SELECT coalesce(sum(calls), 0)
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query LIKE 'SELECT%out_check_marker%'
"""


def marker_calls(db: TestDatabase) -> int:
    with db.connect() as conn:
        row = conn.execute(MARKER_CALLS_SQL).fetchone()
    assert row is not None
    return int(row[0])


def test_bench_checks_its_output_paths_before_running(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute("CREATE TABLE out_check_marker ()")
    query = tmp_path / "marker.sql"
    query.write_text("SELECT count(*) FROM out_check_marker;\n")
    chart = tmp_path / "chart.svg"
    bench = ["pool", "bench", "--dsn", db.dsn, "--query", str(query), "--pool-sizes", "1", "--clients", "2",
             "--requests", "10", "--chart", str(chart)]  # fmt: skip

    assert main([*bench, "--out", "/nonexistent5/x.json"]) == 2
    err = one_error_line(capsys)
    assert "cannot write --out file /nonexistent5/x.json: directory /nonexistent5 does not exist" in err
    assert main([*bench, "--out", str(tmp_path)]) == 2
    assert "it is a directory" in one_error_line(capsys)
    assert marker_calls(db) == 0  # the benchmark never ran its statement
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marker.sql"]  # and wrote nothing

    out = tmp_path / "bench.json"
    assert main([*bench, "--out", str(out), "-f", "json"]) == 0
    printed = capsys.readouterr().out
    assert marker_calls(db) == 10  # the same command with a writable --out does run
    assert json.loads(out.read_text()) == json.loads(printed)
    assert chart.read_text().startswith("<svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "chart.svg", "marker.sql"]


def test_a_failed_atomic_write_keeps_the_old_file_and_leaves_no_partial_file(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    report.write_text('{"old": true}\n')
    with pytest.raises(UnicodeEncodeError):
        write_text_atomically(report, '{"new": "\ud800"}', "--out file")  # a lone surrogate fails mid-write
    assert report.read_text() == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]
    write_text_atomically(report, '{"new": true}\n', "--out file")
    assert report.read_text() == '{"new": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_bench_refuses_a_query_file_that_is_not_utf8(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "binary.sql"
    binary.write_bytes(b"SELECT 1;\n\xff\xfe\x00\x81")
    assert main(["pool", "bench", "--dsn", db.dsn, "--query", str(binary), "--pool-sizes", "1"]) == 2
    err = one_error_line(capsys)
    assert f"--query file {binary} is not UTF-8 text" in err and "internal error" not in err
