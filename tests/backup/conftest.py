"""Fixtures for the backup tests: a small e-learning-like database, databases of any name, a backup folder,
a moto S3 server on 127.0.0.1 and an S3 proxy that injects faults (a real HTTP server between boto3 and
moto)."""

from __future__ import annotations

import http.client
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from psycopg import conninfo, sql

from pgdba.backup.storage import FileStorage, S3Storage
from pgdba.embedded import EmbeddedCluster
from pgdba.target import Target, resolve_target

SCHEMA_SQL = """
CREATE TYPE role_kind AS ENUM ('student', 'teacher', 'admin');
CREATE TABLE app_user (
    id bigserial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    role role_kind NOT NULL DEFAULT 'student',
    created_at timestamptz NOT NULL DEFAULT now(),
    score double precision
);
CREATE TABLE course (
    id serial PRIMARY KEY,
    title text NOT NULL,
    price numeric(10, 2) CHECK (price >= 0),
    tags text[],
    meta jsonb
);
CREATE TABLE enrollment (
    user_id bigint NOT NULL REFERENCES app_user(id),
    course_id int NOT NULL REFERENCES course(id) ON DELETE CASCADE,
    enrolled_at timestamptz NOT NULL,
    payload bytea,
    PRIMARY KEY (user_id, course_id)
);
CREATE INDEX enrollment_course_idx ON enrollment (course_id, enrolled_at DESC);
CREATE SCHEMA audit;
CREATE TABLE audit.behavior_log (id bigint, user_id bigint, event text, at timestamptz);
CREATE VIEW active_course AS SELECT id, title FROM course WHERE price > 0;
CREATE FUNCTION course_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM course';
INSERT INTO app_user (email, role, created_at, score)
SELECT 'user' || g || '@example.com',
       (ARRAY['student', 'teacher', 'admin']::role_kind[])[1 + g % 3],
       timestamptz '2025-01-01 00:00:00+00' + g * interval '37 minutes',
       g / 7.0
  FROM generate_series(1, 2000) AS g;
INSERT INTO course (title, price, tags, meta)
SELECT 'Course ' || g, (g % 50) * 1.5, ARRAY['t' || g % 5, 'x'], jsonb_build_object('level', g % 4)
  FROM generate_series(1, 60) AS g;
INSERT INTO enrollment
SELECT u, 1 + (u * 7 + k) % 60, timestamptz '2025-03-01 00:00:00+00' + u * interval '1 minute',
       decode(md5(u::text || k::text), 'hex')
  FROM generate_series(1, 2000) AS u, generate_series(1, 3) AS k;
INSERT INTO audit.behavior_log
SELECT g, 1 + g % 2000, 'view', timestamptz '2025-04-01 00:00:00+00' + g * interval '1 second'
  FROM generate_series(1, 5000) AS g;
ANALYZE;
"""

# ~10 MB without compression: large enough that a dump can be killed mid-way and needs two 8 MiB parts
BIG_TABLE_SQL = """
CREATE TABLE big_log AS
SELECT g AS id, repeat(md5(g::text), 2) AS body
  FROM generate_series(1, 140000) AS g;
ANALYZE big_log;
"""


@pytest.fixture
def demo_db(db):  # type: ignore[no-untyped-def]
    db.execute(SCHEMA_SQL)
    return db


@pytest.fixture
def big_db(db):  # type: ignore[no-untyped-def]
    db.execute(BIG_TABLE_SQL)
    return db


@pytest.fixture
def backup_dir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="pgdba-backups-"))
    yield root
    for path in sorted(root.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    root.rmdir()


@pytest.fixture
def file_storage(backup_dir: Path) -> FileStorage:
    return FileStorage(backup_dir)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_endpoint: str, request: pytest.FixtureRequest) -> str:
    name = "pgdba-" + request.node.name.lower().replace("_", "-")[:40]
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_storage(moto_endpoint: str, bucket: str) -> S3Storage:
    return S3Storage(bucket, "pg/prod", endpoint_url=moto_endpoint, region="us-east-1", max_attempts=2)


@dataclass
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FaultyS3Proxy:
    """Forwards to moto; answers 500 InternalError to the requests `fail_when` selects."""

    endpoint: str
    seen: list[SeenRequest] = field(default_factory=list)
    failed: list[SeenRequest] = field(default_factory=list)
    fail_when: Callable[[SeenRequest], bool] = lambda _r: False


@pytest.fixture
def faulty_s3(moto_endpoint: str) -> Iterator[FaultyS3Proxy]:
    upstream = urlparse(moto_endpoint)
    proxy = FaultyS3Proxy(endpoint="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parsed = urlparse(self.path)
            request = SeenRequest(
                self.command,
                parsed.path,
                parse_qs(parsed.query),
                {k.lower(): v for k, v in self.headers.items()},
            )
            proxy.seen.append(request)
            if proxy.fail_when(request):
                proxy.failed.append(request)
                error = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                self.send_response(500)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(error)))
                self.end_headers()
                self.wfile.write(error)
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("expect", "connection")}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    proxy.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    yield proxy
    server.shutdown()
    server.server_close()


@dataclass
class PgDumpKiller:
    """A progress callback that SIGKILLs our pg_dump child after its first chunk (as the OOM killer would)."""

    killed: list[int] = field(default_factory=list)

    def progress(self, done: int) -> None:
        if self.killed:
            return
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            comm = text.split("(", 1)[1].rsplit(")", 1)[0]
            ppid = int(text.rsplit(")", 1)[1].split()[1])
            if comm == "pg_dump" and ppid == os.getpid():
                self.killed.append(int(stat.parent.name))
        for pid in self.killed:
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def pg_dump_killer() -> PgDumpKiller:
    return PgDumpKiller()


@pytest.fixture
def named_database(pg_cluster: EmbeddedCluster) -> Iterator[Callable[[str], Target]]:
    """Databases with the names given (dropped afterwards), each holding a small table."""
    created: list[str] = []

    def create(name: str) -> Target:
        with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        dsn = conninfo.make_conninfo(pg_cluster.dsn(), dbname=name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE sale AS SELECT g AS id, g * 2 AS amount FROM generate_series(1, 500) AS g"
            )
            conn.execute("ANALYZE sale")
        return resolve_target(dsn)

    yield create
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
