"""Notifications go out once per change (firing, resolved) and never twice; failed ones are retried."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pgdba.alerts.rules import EmailConfig, NotifyConfig, WebhookConfig
from pgdba.cli import main
from pgdba.history.store import HistoryStore
from tests.alerts.conftest import WebhookReceiver, run_check, status_of
from tests.conftest import TestDatabase

GB = 1024**3


def _size_rules(db: TestDatabase, rules_file: Callable[[str], Path], extra: str = "") -> Path:
    with db.connect() as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    just_under = (int(row[0]) - 1024**2) / GB
    text = (
        "include_defaults = false\n"
        f"[[rule]]\nname = 'database_size'\nmetric = 'database_size_gb'\nwarn = {just_under!r}\nhysteresis = 0\n"
        "summary = 'database size'\n" + extra
    )
    return rules_file(text)


def test_webhook_gets_exactly_one_firing_and_one_resolved_message(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path], webhook: WebhookReceiver
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file, f"[notify]\n[[notify.webhook]]\nurl = '{webhook.url}'\n")

    for _ in range(3):  # firing, then twice still firing: one message
        result = run_check(db.target, store, rules, notify=True)
        assert status_of(result, "database_size").status == "warning"
    db.execute("DROP TABLE filler")
    for _ in range(2):  # resolved, then still ok: one message
        result = run_check(db.target, store, rules, notify=True)
        assert status_of(result, "database_size").status == "ok"

    assert [(m["event"], m["rule"], m["severity"]) for m in webhook.messages] == [
        ("firing", "database_size", "warning"),
        ("resolved", "database_size", "ok"),
    ]
    first = webhook.messages[0]
    assert first["schema_version"] == 1
    assert first["object"] == db.name
    assert first["target"] == db.target.key
    assert "passfile" not in str(first) and "password" not in str(first)


def test_slack_format_posts_only_text(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path], webhook: WebhookReceiver
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file)
    config = NotifyConfig((WebhookConfig(webhook.url, "slack"),))
    run_check(db.target, store, rules, notify=True, notify_config=config)
    assert len(webhook.messages) == 1
    assert set(webhook.messages[0]) == {"text"}
    assert webhook.messages[0]["text"].startswith("🟠 pgdba WARNING: database_size on ")


def test_a_failed_delivery_is_retried_by_the_next_check_and_then_not_again(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path], webhook: WebhookReceiver
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file)
    config = NotifyConfig((WebhookConfig(webhook.url),))
    webhook.fail_next = 1
    first = run_check(db.target, store, rules, notify=True, notify_config=config)
    assert [(n.event, n.delivered) for n in first.notifications] == [("firing", False)]
    assert "HTTP 500" in first.notifications[0].error
    second = run_check(db.target, store, rules, notify=True, notify_config=config)
    assert [(n.event, n.delivered) for n in second.notifications] == [("firing", True)]
    third = run_check(db.target, store, rules, notify=True, notify_config=config)
    assert third.notifications == []
    assert len(webhook.messages) == 1


class _SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept a message: records (sender, recipients, data)."""

    received: list[tuple[str, list[str], str]]

    def handle(self) -> None:
        sender, recipients, data = "", [], []
        self.wfile.write(b"220 sink ESMTP\r\n")
        while line := self.rfile.readline().decode():
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 sink\r\n")
            elif verb == "MAIL":
                sender = line.split(":", 1)[1].strip()
                self.wfile.write(b"250 ok\r\n")
            elif verb == "RCPT":
                recipients.append(line.split(":", 1)[1].strip())
                self.wfile.write(b"250 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go\r\n")
                while (chunk := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(chunk)
                self.received.append((sender, recipients, "".join(data)))
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_sink() -> Iterator[tuple[int, list[tuple[str, list[str], str]]]]:
    received: list[tuple[str, list[str], str]] = []
    handler = type("Sink", (_SmtpSink,), {"received": received})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def test_email_is_sent_once_over_smtp(
    db: TestDatabase,
    store: HistoryStore,
    rules_file: Callable[[str], Path],
    smtp_sink: tuple[int, list[tuple[str, list[str], str]]],
) -> None:
    port, received = smtp_sink
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file)
    config = NotifyConfig(
        emails=(EmailConfig("127.0.0.1", ("dba@example.org",), "pgdba@example.org", port=port),)
    )
    run_check(db.target, store, rules, notify=True, notify_config=config)
    run_check(db.target, store, rules, notify=True, notify_config=config)
    assert len(received) == 1
    sender, recipients, data = received[0]
    assert sender == "<pgdba@example.org>" and recipients == ["<dba@example.org>"]
    assert "Subject: [pgdba] FIRING warning: database_size on" in data


def test_cli_check_notify_with_webhook_option(
    db: TestDatabase,
    tmp_path: Path,
    rules_file: Callable[[str], Path],
    webhook: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file)
    args = ["alerts", "check", "--dsn", db.dsn, "--rules", str(rules), "--store", str(tmp_path / "h.sqlite3")]
    assert main([*args, "--notify", "--webhook", webhook.url, "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert "notification firing database_size on" in out and ": sent" in out
    assert main([*args, "--notify", "--webhook", webhook.url]) == 0  # warning < default --fail-on critical
    assert len(webhook.messages) == 1


def _with_userinfo(url: str, userinfo: str) -> str:
    return url.replace("http://", f"http://{userinfo}@", 1)


def test_a_webhook_url_with_user_and_password_sends_basic_auth_and_never_shows_the_password(
    db: TestDatabase,
    tmp_path: Path,
    rules_file: Callable[[str], Path],
    webhook: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file)
    port = webhook.url.split(":")[2].split("/")[0]
    args = ["alerts", "check", "--dsn", db.dsn, "--rules", str(rules), "--notify"]
    hook = _with_userinfo(webhook.url, "u:hunter2")
    assert main([*args, "--store", str(tmp_path / "a.sqlite3"), "--webhook", hook]) == 0
    out, err = capsys.readouterr()
    assert f"via webhook json to http://***@127.0.0.1:{port}: sent" in out
    assert webhook.authorizations == ["Basic " + base64.b64encode(b"u:hunter2").decode()]
    assert len(webhook.messages) == 1
    assert main([*args, "--store", str(tmp_path / "b.sqlite3"), "--webhook", hook, "-f", "json"]) == 0
    json_out, json_err = capsys.readouterr()
    assert (
        json.loads(json_out)["notifications"][0]["channel"] == f"webhook json to http://***@127.0.0.1:{port}"
    )
    assert "hunter2" not in out + err + json_out + json_err


def test_an_unreachable_webhook_with_a_password_fails_without_showing_it(
    db: TestDatabase, tmp_path: Path, rules_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file)
    args = ["alerts", "check", "--dsn", db.dsn, "--rules", str(rules), "--store", str(tmp_path / "h.sqlite3")]
    assert main([*args, "--notify", "--webhook", "http://u:hunter2@127.0.0.1:1/hook"]) == 0
    out, err = capsys.readouterr()
    assert "via webhook json to http://***@127.0.0.1:1: FAILED (webhook unreachable:" in out
    assert "Name or service not known" not in out  # it connected to 127.0.0.1, not to a host "u:hunter2@…"
    assert "hunter2" not in out + err


def test_a_rule_file_webhook_decodes_percent_escaped_credentials(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path], webhook: WebhookReceiver
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    hook = _with_userinfo(webhook.url, "ops%40example.org:p%3Ass%40w0rd")
    rules = _size_rules(db, rules_file, f"[notify]\n[[notify.webhook]]\nurl = '{hook}'\nformat = 'slack'\n")
    result = run_check(db.target, store, rules, notify=True)
    assert [(n.delivered, n.channel) for n in result.notifications] == [
        (True, f"webhook slack to {webhook.url.removesuffix('/hook').replace('//', '//***@')}")
    ]
    assert webhook.authorizations == ["Basic " + base64.b64encode(b"ops@example.org:p:ss@w0rd").decode()]
    assert webhook.messages[0]["text"].startswith("🟠 pgdba WARNING: database_size on ")


def test_a_webhook_without_credentials_sends_no_authorization(
    db: TestDatabase, store: HistoryStore, rules_file: Callable[[str], Path], webhook: WebhookReceiver
) -> None:
    db.execute(
        "CREATE TABLE filler AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 8000) AS g"
    )
    rules = _size_rules(db, rules_file)
    run_check(db.target, store, rules, notify=True, notify_config=NotifyConfig((WebhookConfig(webhook.url),)))
    assert webhook.authorizations == [None]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://u:hunter2@127.0.0.1:port/hook", "the webhook URL has an invalid port"),
        ("http://u:hunter2@/hook", "the webhook URL has no host name"),
        ("ftp://u:hunter2@example.org/", "a webhook needs an http:// or https:// URL"),
    ],
)
def test_a_bad_webhook_url_is_one_line_without_the_password(
    rules_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    rules = rules_file(f"[notify]\n[[notify.webhook]]\nurl = '{url}'\n")
    assert main(["alerts", "rules", "--rules", str(rules)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pgdba: error: {rules} line 1: notify: {message}") and err.count("\n") == 1
    assert "hunter2" not in err
    assert main(["alerts", "check", "--dsn", "postgresql://127.0.0.1:1/x", "--webhook", url, "--notify"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--webhook: {message}" in err and "hunter2" not in err
