"""Connection target: DSN resolution, session settings, password masking and clean connection errors."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pgdba.cli import main
from pgdba.errors import InputError
from pgdba.target import mask_password, resolve_target
from tests.conftest import TestDatabase


def test_dsn_precedence_is_option_then_pgdba_dsn_then_database_url() -> None:
    env = {"PGDBA_DSN": "postgresql://a@h/pgdba_env", "DATABASE_URL": "postgresql://a@h/url_env"}
    assert resolve_target("postgresql://a@h/opt", env).database == "opt"
    assert resolve_target(None, env).source == "PGDBA_DSN"
    assert resolve_target(None, {"DATABASE_URL": "postgresql://a@h/u"}).source == "DATABASE_URL"
    assert resolve_target(None, {"PGHOST": "h", "PGDATABASE": "x"}).source == "libpq environment"


def test_no_target_at_all_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no database given"):
        resolve_target(None, {})


def test_mask_password_in_uri_and_keyword_forms() -> None:
    assert mask_password("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert "s3cret" not in mask_password("host=db password=s3cret user=app")
    assert "s3cret" not in mask_password("password='s3 cret' host=db".replace("s3 cret", "s3cret"))


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # libpq rejects the upper-case key, but the user typed a password: it is masked all the same
        ("postgresql://u@h/db?PASSWORD=hunter2: bad", "postgresql://u@h/db?PASSWORD=***: bad"),
        # the message's own `: ` separator stays; the value ends at `&` in a URI query
        ("db?password=hunter2: connection is bad", "db?password=***: connection is bad"),
        ("h/db?sslmode=require&password=hunter2&x=1 oops", "h/db?sslmode=require&password=***&x=1 oops"),
        ("host=h password=hunter2: refused", "host=h password=***: refused"),
        ("host=h PassWord=hu:nter2 user=u", "host=h PassWord=*** user=u"),
        ("POSTGRESQL://u:hunter2@h/db", "POSTGRESQL://u:***@h/db"),
        # SQLAlchemy's URL (DATABASE_URL of Python apps), and a DSN typed without its scheme
        ("postgresql+psycopg2://u:hunter2@h/db", "postgresql+psycopg2://u:***@h/db"),
        ("malformed DSN 'u:hunter2@h:5432/db': x", "malformed DSN 'u:***@h:5432/db': x"),
    ],
)
def test_mask_password_whatever_the_case_and_keeps_what_follows(text: str, masked: str) -> None:
    assert mask_password(text) == masked


def test_session_is_read_only_with_pgdba_settings(db: TestDatabase) -> None:
    with db.target.connect() as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('application_name','statement_timeout','lock_timeout','default_transaction_read_only')"
            ).fetchall()
        )
    assert settings == {
        "application_name": "pgdba",
        "statement_timeout": "30000",
        "lock_timeout": "2000",
        "default_transaction_read_only": "on",
    }


def test_sessions_keep_the_users_pgoptions_before_pgdbas_settings(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libpq reads PGOPTIONS only when the DSN has no `options`: pgdba's own would replace it (before: the
    user's search_path was lost), and pgdba's guards still win over the user's."""
    db.execute("CREATE SCHEMA app")
    monkeypatch.setenv("PGOPTIONS", "-c search_path=app -c statement_timeout=5")
    with db.target.connect() as conn:
        row = conn.execute("SELECT current_setting('search_path'), current_setting('statement_timeout')")
        assert row.fetchone() == ("app", "30s")


def test_jit_is_off_in_pgdba_sessions_and_as_the_server_sets_it_where_queries_are_timed(
    db: TestDatabase,
) -> None:
    """JIT compiled pgdba's catalog queries for seconds on a large catalog; the advisor's --verify times the
    application's queries as the server runs them."""
    db.execute(f'ALTER DATABASE "{db.name}" SET jit = on')
    with db.target.connect() as conn:
        assert conn.execute("SHOW jit").fetchone() == ("off",)
    timing = replace(db.target, measures_queries=True)
    for target in (timing, timing.with_database(db.name)):
        with target.connect() as conn:
            assert conn.execute("SHOW jit").fetchone() == ("on",)


def test_a_target_without_statement_timeout_keeps_its_own_settings_and_adds_the_given_ones(
    db: TestDatabase,
) -> None:
    """The advisor's --verify and --apply sessions (and a restore test's row counts): before, each built its
    Target field by field, dropping a library caller's extra_settings and the URL's pool facts."""
    own = replace(db.target, extra_settings={"work_mem": "7MB"}, connection_limit=5, through_pgbouncer=True)
    long_running = own.without_statement_timeout({"search_path": "pg_catalog"}, measures_queries=True)
    assert (long_running.connection_limit, long_running.through_pgbouncer) == (5, True)
    with long_running.connect() as conn:
        row = conn.execute(
            "SELECT current_setting('statement_timeout'), current_setting('work_mem'), "
            "current_setting('search_path'), current_setting('jit')"
        ).fetchone()
    assert row == ("0", "7MB", "pg_catalog", "on")
    assert own.with_database(db.name).extra_settings == {"work_mem": "7MB"}


def test_session_times_are_utc_whatever_the_servers_or_clients_time_zone(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every time pgdba prints says UTC: a server (or a PGTZ) in Tokyo must not shift them by nine hours."""
    db.execute(f"ALTER DATABASE \"{db.name}\" SET TimeZone = 'Asia/Tokyo'")
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")
    with db.connect() as plain:
        row = plain.execute("SELECT current_setting('TimeZone'), now()").fetchone()
    assert row is not None and row[0] == "Asia/Tokyo" and row[1].utcoffset().total_seconds() == 9 * 3600
    with db.target.connect() as conn:
        row = conn.execute("SELECT current_setting('TimeZone'), now()").fetchone()
    assert row is not None and row[0] == "UTC" and row[1].utcoffset().total_seconds() == 0
    with db.target.connect(autocommit=False) as conn:
        conn.rollback()
        row = conn.execute("SELECT current_setting('TimeZone')").fetchone()
    assert row == ("UTC",)


def test_apply_session_may_write(db: TestDatabase) -> None:
    with db.target.connect(apply=True) as conn:
        conn.execute("CREATE TABLE written (id int)")
        row = conn.execute("SHOW default_transaction_read_only").fetchone()
    assert row == ("off",)


@pytest.fixture
def app_role(db: TestDatabase) -> str:
    db.execute("DROP ROLE IF EXISTS pgdba_app")
    db.execute("CREATE ROLE pgdba_app LOGIN PASSWORD 'Sup3rSecretPw'")
    return "pgdba_app"


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "make_dsn, expected",
    [
        (
            lambda port, db: f"postgresql://pgdba_app:WrongPw123@127.0.0.1:{port}/{db}",
            "password authentication failed",
        ),
        (
            lambda port, db: f"postgresql://pgdba_app:Sup3rSecretPw@127.0.0.1:{port}/no_such_db",
            "does not exist",
        ),
        (lambda port, db: "postgresql://pgdba_app:Sup3rSecretPw@127.0.0.1:1/x?connect_timeout=2", "refused"),
        (lambda port, db: "postgresql://pgdba_app:Sup3rSecretPw@host:notaport/db", "malformed DSN"),
        (lambda port, db: "host=127.0.0.1 password=Sup3rSecretPw dbname", "malformed DSN"),
    ],
    ids=["wrong-password", "unknown-database", "unreachable", "bad-port", "malformed-keywords"],
)
def test_connection_failures_are_one_masked_line_and_exit_2(
    db: TestDatabase, app_role: str, capsys: pytest.CaptureFixture[str], make_dsn: object, expected: str
) -> None:
    dsn = make_dsn(db.cluster.port, db.name)  # type: ignore[operator]
    code, out, err = _run_cli(["queries", "analyze", "--dsn", dsn], capsys)
    assert code == 2
    assert expected in err
    assert err.count("\n") == 1 and err.startswith("pgdba: error:")
    assert "Sup3rSecretPw" not in out + err
    assert "WrongPw123" not in out + err
    assert "Traceback" not in err


def test_a_sqlalchemy_url_is_read_as_libpq_reads_postgresql_urls() -> None:
    target = resolve_target(None, {"DATABASE_URL": "postgresql+asyncpg://app:hunter2@db.internal:5433/shop"})
    assert target.dsn == "postgresql://app:hunter2@db.internal:5433/shop" and target.source == "DATABASE_URL"
    assert target.params()["port"] == "5433" and "hunter2" not in target.masked_dsn


def test_a_prisma_database_url_is_read_with_its_schema_as_the_search_path(
    db: TestDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """Prisma's DATABASE_URL carries its own parameters (`?schema=public&connection_limit=5`), which libpq
    refuses: pgdba leaves them out, and its sessions take `schema` as their search_path, as Prisma's do."""
    db.execute('CREATE SCHEMA "My App"; CREATE TABLE "My App".lesson (id int PRIMARY KEY)')
    url = (
        db.dsn + "&schema=My%20App&connection_limit=5&pool_timeout=10&pgbouncer=false&socket_timeout=30"
        "&statement_cache_size=100&sslaccept=strict"
    )
    target = resolve_target(None, {"DATABASE_URL": url})
    with target.connect() as conn:
        assert conn.execute("SHOW search_path").fetchone() == ('"My App"',)
        found = conn.execute(
            "SELECT relnamespace::regnamespace::text FROM pg_class WHERE oid = 'lesson'::regclass"
        )
        assert found.fetchone() == ('"My App"',)
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PGDBA_DSN", raising=False)
        patch.setenv("DATABASE_URL", url)
        code, out, err = _run_cli(["indexes", "usage", "--format", "json"], capsys)
    assert code == 0, err
    assert "lesson_pkey" in out


def test_node_postgres_tls_parameters_are_read_as_the_sslmode_they_mean() -> None:
    """Drizzle's driver reads `ssl=true` and `sslmode=no-verify` (TLS, certificate unchecked), which libpq
    refuses; an sslmode libpq knows is kept as written."""
    for query, sslmode in (
        ("ssl=true", "require"),
        ("sslmode=no-verify", "require"),
        ("ssl=false", "disable"),
        ("ssl=true&sslmode=verify-full", "verify-full"),
    ):
        target = resolve_target(None, {"DATABASE_URL": f"postgresql://app:hunter2@db.internal/shop?{query}"})
        assert target.params()["sslmode"] == sslmode, query


def test_a_password_libpq_cannot_decode_is_not_repeated_by_its_error() -> None:
    with pytest.raises(InputError) as raised:
        resolve_target("postgresql://app:S3cret%ZZ@127.0.0.1:5432/db")
    assert "S3cret" not in str(raised.value) and "invalid percent-encoded token" in str(raised.value)


def test_a_dsn_without_a_database_names_the_users_database_as_libpq_does(
    db: TestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGDATABASE", raising=False)
    monkeypatch.delenv("PGUSER", raising=False)
    alice = resolve_target("postgresql://alice@db.example:5432")
    bob = resolve_target("postgresql://bob@db.example:5432")
    assert (alice.database, bob.database) == ("alice", "bob")
    # each keys its own database's history; the key earlier versions stored both under is still read
    assert (alice.key, bob.key) == ("db.example:5432/alice", "db.example:5432/bob")
    assert alice.key.former == bob.key.former == ("db.example:5432/",)
    # and the name is the one the server connects to: a role named like its database, no dbname given
    db.execute(f"CREATE ROLE \"{db.name}\" LOGIN PASSWORD 'pw-of-the-test'")
    try:
        params = db.target.params()
        target = resolve_target(
            f"host={params['host']} port={params['port']} user={db.name} password=pw-of-the-test"
        )
        with target.connect() as conn:
            row = conn.execute("SELECT current_database()").fetchone()
        assert row == (target.database,)
    finally:
        db.execute(f'DROP ROLE "{db.name}"')


@pytest.mark.parametrize(
    "dsn, expected",
    [
        # libpq ends the userinfo at a '/': host `u`, port `S3cretPw` (the port message repeated it)
        ("postgresql://u:S3cretPw/x@127.0.0.1:1/x", "write a '/' in a password as %2F"),
        ("postgresql://u:S3cretPw/@127.0.0.1:1/x", "write a '/' in a password as %2F"),
        # libpq's own message quotes the password with its blank
        ("postgresql://u:S3cret Pw@127.0.0.1:1/x", "unexpected spaces found"),
        ("postgresql://u@127.0.0.1:1/x?password=S3cretPw%zz", "invalid percent-encoded token"),
        # an unquoted key=value password may escape a blank (the mask stopped at it)
        ("host=127.0.0.1 port=1 password=S3cret\\ Pw connect_timeout=2", "refused"),
        # a line break in the DSN: the message stays one line and keeps its reason
        ("postgresql://u:S3cretPw@127.0.0.1:1/x\ny", "refused"),
        # a quoted key=value password without its closing quote (the mask stopped at the blank)
        ("host=127.0.0.1 port=1 password='S3cret Pw", "unterminated quoted string"),
        ("host=127.0.0.1 port=1 password= 'S3cret Pw", "unterminated quoted string"),
    ],
    ids=[
        "slash",
        "slash-at-end",
        "blank",
        "bad-escape-query",
        "escaped-blank",
        "line-break",
        "open-quote",
        "open-quote-blank",
    ],
)
def test_no_piece_of_a_password_in_a_malformed_dsn_reaches_the_message(
    capsys: pytest.CaptureFixture[str], dsn: str, expected: str
) -> None:
    for args, env in (
        (["indexes", "usage", "--dsn", dsn], {}),
        (["indexes", "usage"], {"DATABASE_URL": dsn}),
    ):
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv("PGDBA_DSN", raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            code, out, err = _run_cli(args, capsys)
        assert code == 2, err
        assert expected in err and err.startswith("pgdba: error:") and err.count("\n") == 1, err
        assert "S3cret" not in out + err and " Pw" not in err, err
