"""S3 options boto3 refuses while building its client (a malformed endpoint or region, an unknown profile)
and credentials in an s3:// URL are input errors: one line naming the option, exit 2, no secret echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgdba.backup.storage import S3Storage
from pgdba.cli import main


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """AWS configuration files of the test's own (one `default` profile), so the user's are not read."""
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")
    credentials = tmp_path / "aws-credentials"
    credentials.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_REGION", "PGDBA_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    return config


def _backup_args(command: str, dsn: str) -> list[str]:
    if command == "run":
        return ["backup", "run", "--dsn", dsn]
    if command == "prune":
        return ["backup", "prune", "--keep-last", "1", "--dry-run"]
    return ["backup", command]


COMMANDS = ["list", "verify", "prune", "run"]
BAD_OPTIONS = [
    (["--endpoint-url", "not a url"], "--endpoint-url 'not a url'", "is not a valid URL"),
    (["--region", "bad region!"], "--region 'bad region!'", "is not a valid region name"),
    (["--profile", "nonexistentprofile"], "--profile 'nonexistentprofile'", "no such profile"),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("options", "names", "says"), BAD_OPTIONS)
def test_a_bad_s3_option_is_a_one_line_input_error_naming_it(
    db, aws_config, capsys, command, options, names, says
):  # type: ignore[no-untyped-def]
    args = [*_backup_args(command, db.dsn), "--storage", "s3://bucket/pg", *options]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"pgdba: error: {names}") and says in line
    assert "internal error" not in line


def test_a_malformed_endpoint_keeps_its_password_out_of_the_message(aws_config, capsys):  # type: ignore[no-untyped-def]
    args = ["backup", "list", "--storage", "s3://bucket/pg", "--endpoint-url", "http://key:s3cr3t@not a host"]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "is not a valid URL" in line and "s3cr3t" not in line


def test_an_unknown_profile_from_aws_profile_is_an_input_error(aws_config, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_PROFILE", "nonexistentprofile")
    assert main(["backup", "list", "--storage", "s3://bucket/pg"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("pgdba: error: the AWS profile from AWS_PROFILE does not exist")


@pytest.mark.parametrize("command", COMMANDS)
def test_credentials_in_an_s3_url_are_refused_without_echoing_them(db, aws_config, capsys, command):  # type: ignore[no-untyped-def]
    args = [*_backup_args(command, db.dsn), "--storage", "s3://AKIAUSER:pw-S3cret@bucket/pg"]
    assert main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        "pgdba: error: --storage 's3://bucket/pg': an s3:// URL must not carry credentials "
        "(user:password@); use --profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )
    assert "pw-S3cret" not in line and "AKIAUSER" not in line


def test_a_named_profile_that_exists_still_builds_the_client(aws_config):  # type: ignore[no-untyped-def]
    storage = S3Storage("bucket", "pg", profile="default", endpoint_url="http://127.0.0.1:9000")
    assert storage.client.meta.region_name == "us-east-1"
