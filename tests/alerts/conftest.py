"""Fixtures for the alert tests: a history store, rule files, a webhook receiver and a small cluster whose
shared_buffers (128 kB) and max_connections (20) are small enough to drive cache misses and a surge."""

from __future__ import annotations

import http.server
import json
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgdba.alerts.check import CheckResult, check_alerts
from pgdba.alerts.evaluate import AlertStatus
from pgdba.alerts.rules import NotifyConfig, load_rules
from pgdba.embedded import EmbeddedCluster
from pgdba.history.store import HistoryStore
from pgdba.target import Target, resolve_target


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.sqlite3") as history:
        yield history


@pytest.fixture
def rules_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write a user rule file and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / f"rules-{uuid.uuid4().hex[:6]}.toml"
        path.write_text(text)
        return path

    return write


def run_check(
    target: Target,
    store: HistoryStore,
    rules: Path | None = None,
    *,
    notify: bool = False,
    notify_config: NotifyConfig | None = None,
) -> CheckResult:
    return check_alerts(target, store, load_rules(rules), notify=notify, notify_config=notify_config)


def status_of(result: CheckResult, rule: str, obj: str | None = None) -> AlertStatus:
    found = [s for s in result.statuses if s.rule.name == rule and (obj is None or s.object == obj)]
    assert len(found) == 1, f"{rule}/{obj}: {[(s.rule.name, s.object) for s in result.statuses]}"
    return found[0]


@dataclass
class SmallCluster:
    cluster: EmbeddedCluster
    dsn: str
    target: Target

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn, autocommit=True)


@pytest.fixture(scope="session")
def small_cluster() -> Iterator[SmallCluster]:
    root = Path(tempfile.mkdtemp(prefix="pgdba-alerts-small-"))
    os.chmod(root, 0o755)
    cluster = EmbeddedCluster(root, settings={"shared_buffers": "128kB", "max_connections": "20"})
    cluster.start()
    try:
        dsn = cluster.dsn("postgres")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield SmallCluster(cluster, dsn, resolve_target(dsn))
    finally:
        cluster.destroy()


@dataclass
class WebhookReceiver:
    url: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)  # the Authorization header of each POST
    fail_next: int = 0  # answer HTTP 500 to this many requests


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """An HTTP server on 127.0.0.1 (port 0) that records every JSON body POSTed to it."""
    receiver = WebhookReceiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.authorizations.append(self.headers.get("Authorization"))
            if receiver.fail_next > 0:
                receiver.fail_next -= 1
                self.send_response(500)
                self.end_headers()
                return
            receiver.messages.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
