"""`pgdba serve` refuses to start when a file or folder its options name is missing or does not parse."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pgdba.api.settings import ApiSettings
from pgdba.api.startup_checks import check_served_files
from pgdba.cli import main
from pgdba.errors import InputError
from pgdba.render import to_json
from tests.api.conftest import DEMO_PRISMA, small_pool_bench
from tests.conftest import TestDatabase


@pytest.fixture
def broken_files(tmp_path: Path) -> Path:
    (tmp_path / "not-json.json").write_text("results: none")
    (tmp_path / "not-a-report.json").write_text('{"results": "nope"}')
    (tmp_path / "bad.toml").write_text("[rule\n")
    (tmp_path / "latin1.toml").write_bytes("# caf\xe9\n".encode("latin-1"))
    (tmp_path / "a-file").write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("pool_bench", "{dir}/missing.json", "cannot read --pool-bench file {dir}/missing.json"),
        ("pool_bench", "{dir}/not-json.json", "--pool-bench file {dir}/not-json.json is not JSON"),
        ("pool_bench", "{dir}/not-a-report.json", "is not a `pgdba pool bench --out` report: schema_version"),
        ("pool_bench", "{dir}", "cannot read --pool-bench file {dir}: it is a directory"),
        ("alert_rules", "{dir}/missing.toml", "cannot read --alert-rules file {dir}/missing.toml"),
        ("alert_rules", "{dir}/bad.toml", "{dir}/bad.toml: invalid TOML"),
        ("alert_rules", "{dir}/latin1.toml", "--alert-rules file {dir}/latin1.toml is not UTF-8 text"),
        ("schema_sources", "prisma:{dir}/missing.prisma", "no Prisma schema at {dir}/missing.prisma"),
        ("schema_sources", "drizzle:{dir}/missing.ts", "no Drizzle schema at {dir}/missing.ts"),
        ("schema_sources", "sqlalchemy:no_such_module:Base", "cannot import no_such_module"),
        ("schema_sources", "typeorm:{dir}/x.ts", "unknown source 'typeorm:{dir}/x.ts'"),
        ("schema_config", "{dir}/missing.toml", "config file {dir}/missing.toml not found"),
        ("backup_storage", "file://{dir}/missing", "file://{dir}/missing: {dir}/missing is not"),
        ("backup_storage", "file://{dir}/a-file", "{dir}/a-file is not an existing folder"),
        ("backup_storage", "ftp://host/x", "unsupported --backup-storage scheme 'ftp'"),
        ("history_store", "{dir}/missing/h.sqlite3", "folder {dir}/missing does not exist"),
        ("history_store", "{dir}/bad.toml", "cannot open history store {dir}/bad.toml"),
    ],
)
def test_a_broken_served_file_is_an_input_error_naming_it(
    db: TestDatabase, broken_files: Path, option: str, value: str, message: str
) -> None:
    setting = value.format(dir=broken_files)
    settings = ApiSettings(
        db.target,
        **{option: (setting,) if option == "schema_sources" else setting},  # type: ignore[arg-type]
    )
    with pytest.raises(InputError) as raised:
        check_served_files(settings)
    assert message.format(dir=broken_files) in str(raised.value)
    assert "\n" not in str(raised.value)


def test_working_served_files_pass_the_start_up_check(db: TestDatabase, tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(to_json(small_pool_bench(db.target).to_dict()))
    rules = tmp_path / "alerts.toml"
    rules.write_text("include_defaults = true\n")
    (tmp_path / "backups").mkdir()
    settings = ApiSettings(
        db.target,
        pool_bench=str(bench),
        alert_rules=str(rules),
        schema_sources=(f"prisma:{DEMO_PRISMA}", f"live:{db.dsn}"),
        backup_storage=f"file://{tmp_path / 'backups'}",
    )
    check_served_files(settings)  # raises on any problem


def test_serve_with_a_missing_bench_file_exits_2_with_one_line(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "bench.json"
    code = main(["serve", "--dsn", db.dsn, "--port", "1", "--pool-bench", str(missing)])
    assert code == 2
    assert capsys.readouterr().err == (
        f"pgdba: error: cannot read --pool-bench file {missing}: No such file or directory\n"
    )


def test_serve_on_a_port_in_use_exits_2_with_one_line(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        code = main(["serve", "--dsn", db.dsn, "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(
        f"pgdba: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert err.count("\n") == 1


def test_serve_config_that_is_not_utf8_is_named(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "databases.toml"
    config.write_bytes(b'[[database]]\nname = "caf\xe9"\n')
    assert main(["serve", "--config", str(config)]) == 2
    assert f"--config file {config} is not UTF-8 text" in capsys.readouterr().err


def test_serve_refuses_a_dsn_beside_a_config_of_databases(
    db: TestDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "databases.toml"
    config.write_text(f'[[database]]\nname = "app"\ndsn = "{db.dsn}"\n')
    assert main(["serve", "--config", str(config), "--dsn", db.dsn]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "pgdba: error: --dsn and --config both name the databases to serve: add this one to the config file\n"
    )
