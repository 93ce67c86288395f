"""Connection target: where the DSN comes from, how passwords are masked, and the safe session settings.

Every session pgdba opens sets application_name, statement_timeout, lock_timeout and TimeZone=UTC (and jit=off
but where it times the application's queries), and is read-only (default_transaction_read_only=on) unless the
command was given --apply. It also turns pg_stat_statements tracking off for itself where the role may, so
pgdba's own statements are never counted as the application's.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import pwd
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import psycopg
from psycopg import conninfo
from psycopg.abc import Buffer
from psycopg.adapt import Loader

from pgdba.errors import ConnectionFailed, InputError

APPLICATION_NAME = "pgdba"
DEFAULT_STATEMENT_TIMEOUT_MS = 30_000
DEFAULT_LOCK_TIMEOUT_MS = 2_000
DEFAULT_CONNECT_TIMEOUT_S = 10
MAX_TIMEOUT_MS = 2_147_483_647  # PostgreSQL's limit for statement_timeout and lock_timeout
# libpq's target_session_attrs judged by default_transaction_read_only, as the server role each asks for in
# a session pgdba makes read-only (libpq 14+: primary, not in recovery; standby, in recovery)
READ_ONLY_SESSION_ATTRS = {"read-write": "primary", "read-only": "standby"}

_LIBPQ_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")
# `scheme://user:password@` for any scheme (postgresql://, postgresql+psycopg2://, …), and a bare
# `user:password@host` (what someone types without the scheme)
_URI_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)", re.IGNORECASE
)
_BARE_USERINFO_PASSWORD = re.compile(
    r"(?P<head>(?:^|(?<=['\"]))[^\s:/@'\"=]+:)(?P<pw>[^\s@'\"/]+)(?P<tail>@)"
)
# libpq's secret parameters (those it shows as "*": `PQconndefaults()` dispchar), masked like `password`
_SECRET_KEYWORD = r"(?:password|sslpassword|oauth_client_secret)"
# `?password=…` / `&password=…` in a URI: the value ends at `&` or a blank; a `:` right before a blank is
# the message's own separator (`…?password=x: connection refused`)
_QUERY_PASSWORD = re.compile(
    rf"(?P<head>[?&]{_SECRET_KEYWORD}=)(?P<pw>[^&\s]+?)(?P<tail>:?(?:[&\s]|$))", re.IGNORECASE
)
# `password=…` in a key=value string: quoted, or up to a blank (the same separator rule)
_DRIVER_SCHEME = re.compile(r"^(?P<scheme>postgres(?:ql)?)\+[a-z0-9_]+://", re.IGNORECASE)
_KV_PASSWORD = re.compile(
    rf"(?P<head>(?<![?&])\b{_SECRET_KEYWORD}\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*(?:'|$)|(?:\\.|[^\s\\])+?)"
    r"(?P<tail>:?(?:\s|$))",
    re.IGNORECASE,
)
# Where a password may stand in a DSN libpq cannot parse, read broadly (blanks, `/`, `?` and `#` included)
# to know what a message must not repeat: the userinfo of a URI up to its `@` (`u:pa/ss@h`, which libpq reads
# as host `u`, port `pa`), a `password=` query parameter up to `&`, a key=value password (an unquoted one
# may escape a blank with a backslash)
_RAW_URI_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^:/@\s]*:(?P<pw>[^@]*)@", re.IGNORECASE)
_RAW_QUERY_PASSWORD = re.compile(rf"[?&]{_SECRET_KEYWORD}=(?P<pw>[^&]*)", re.IGNORECASE)
_RAW_KV_PASSWORD = re.compile(
    rf"(?<![?&])\b{_SECRET_KEYWORD}\s*=\s*(?P<pw>'(?:[^'\\]|\\.)*(?:'|$)|(?:\\.|[^\s\\])+)", re.IGNORECASE
)
# a piece of a raw password this long is masked wherever a message repeats it (libpq quotes pieces: the
# "port" of `u:pa/ss@h`); shorter pieces would mask ordinary words
_SECRET_PIECE_MIN = 3


def secret_tokens(dsn: str) -> tuple[str, ...]:
    """What may be a password in `dsn`, read broadly (also where libpq would not parse one), as written,
    percent-decoded and unescaped, with its pieces between `/ ? # ` and blanks: the strings an error
    message about this DSN must not repeat. Longest first, so a masked piece never splits a longer one."""
    found: set[str] = set()
    raw = [m["pw"] for pattern in (_RAW_URI_PASSWORD, _RAW_QUERY_PASSWORD) for m in pattern.finditer(dsn)]
    raw += [_unquoted_value(m["pw"]) for m in _RAW_KV_PASSWORD.finditer(dsn)]
    for token in raw:
        forms = {token, urllib.parse.unquote(token), re.sub(r"\\(.)", r"\1", token)}
        found |= forms
        found |= {p for form in forms for p in re.split(r"[/?#\s]+", form) if len(p) >= _SECRET_PIECE_MIN}
    return tuple(sorted((t for t in found if t), key=len, reverse=True))


def _unquoted_value(value: str) -> str:
    """A key=value value without its single quotes (libpq's quoting; the closing one may be missing)."""
    if value.startswith("'"):
        value = value[1:]
        return value[:-1] if value.endswith("'") and not value.endswith("\\'") else value
    return value


def mask_password(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Return text with every password replaced by ***: URI and key=value forms, plus known secrets."""
    masked = _URI_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)
    masked = _BARE_USERINFO_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", masked)
    masked = _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", masked)
    masked = _KV_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", masked)
    for secret in secrets:
        if secret:
            masked = masked.replace(secret, "***")
    return masked


class HistoryKey(str):
    """A target's history-store key, with the keys earlier versions stored the same database under
    (`former`): the store reads those too, and writes only under the key itself."""

    former: tuple[str, ...]

    def __new__(cls, key: str, former: tuple[str, ...] = ()) -> HistoryKey:
        made = super().__new__(cls, key)
        made.former = tuple(k for k in former if k != key)
        return made


def _login_name() -> str:
    """The OS user name libpq defaults the role to: the effective user's passwd entry (not $USER)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # no passwd entry: libpq fails there too, getpass at least reads $USER / $LOGNAME
        return getpass.getuser()


@dataclass(frozen=True)
class Target:
    """A database to connect to, and how the session must behave."""

    dsn: str
    source: str = "--dsn"
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S
    extra_settings: Mapping[str, str] = field(default_factory=dict)
    # True for a session that plays a workload to be measured: its statements stay in pg_stat_statements
    track_statements: bool = False
    # True for a session that times the application's queries (the advisor's --verify): JIT stays as the
    # server sets it. Every other session turns it off: pgdba's catalog queries are costed high on a large
    # catalog, and compiling them took longer than running them (the check-up on 31 600 relations: 16.0 s
    # with JIT, 4.2 s without; benchmarks/checkup/large_catalog.py)
    measures_queries: bool = False
    # Prisma's pool size per application instance (its URL's connection_limit, which libpq does not read)
    connection_limit: int | None = None
    # the URL says it goes through PgBouncer (Prisma's pgbouncer=true): its host is the pooler
    through_pgbouncer: bool = False

    @property
    def password(self) -> str:
        """The DSN's password; from a DSN libpq cannot parse, the raw token where a password stands (an
        unparsable one, e.g. a bad %-escape, is what libpq's error message repeats)."""
        try:
            return str(conninfo.conninfo_to_dict(self.dsn).get("password") or "")
        except psycopg.ProgrammingError:
            raw = _URI_PASSWORD.search(self.dsn) or _QUERY_PASSWORD.search(self.dsn)
            return raw["pw"] if raw else ""

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every string a message about this target must mask: its password, and whatever stands where a
        password may (secret_tokens), for a DSN libpq reads otherwise (`u:pa/ss@h`: host u, port pa)."""
        return tuple(dict.fromkeys(t for t in (self.password, *secret_tokens(self.dsn)) if t))

    @property
    def masked_dsn(self) -> str:
        """The DSN with its password masked; a line break shown as `\\n` (a message stays one line)."""
        return mask_password(self.dsn, self.secrets).replace("\r", "\\r").replace("\n", "\\n")

    @property
    def database(self) -> str:
        """The database libpq connects to: dbname (the DSN's, else its connection service's), else PGDATABASE,
        else the user's name (libpq's default), so two users' databases on one server never share a
        history-store key."""
        return self._database_of(self._with_service(self.params()))

    def _database_of(self, params: dict[str, object]) -> str:
        return str(params.get("dbname") or os.environ.get("PGDATABASE") or self._user(params))

    def _with_service(self, params: dict[str, object]) -> dict[str, object]:
        """The DSN's keywords completed from its connection service (`service=NAME` or PGSERVICE), as libpq
        completes them: a keyword the DSN sets wins over the service file's."""
        return {**(self._service_parameters(params) or {}), **params}

    @staticmethod
    def _service_parameters(params: dict[str, object]) -> dict[str, str] | None:
        """The keywords of the DSN's connection service; None without one or when no file pgdba finds has it."""
        name = params.get("service") or os.environ.get("PGSERVICE")
        return service_parameters(str(name), os.environ) if name else None

    @staticmethod
    def _user(params: dict[str, object]) -> str:
        """The role libpq logs in as: user, else PGUSER, else the name of the effective OS user."""
        with contextlib.suppress(Exception):  # no login name (a container without a passwd entry)
            return str(params.get("user") or os.environ.get("PGUSER") or _login_name())
        return ""

    @property
    def key(self) -> HistoryKey:
        """A password-free identity of the monitored database (host:port/dbname) for the history store.

        Without dbname in the DSN, the database is libpq's default (PGDATABASE, else the user's name), so
        two users' databases never share a key and a database has one key however its DSN names it. Earlier
        versions keyed such a DSN (without PGDATABASE) `host:port/`: that key is kept as a former key, which
        the history store reads too."""
        params = self.params()
        former = []
        service = params.get("service") or os.environ.get("PGSERVICE")
        if service:
            # earlier versions did not read the service file: what they keyed the same DSN, read as well
            former.append(_host_port(params, os.environ) + "/" + self._database_of(params))
            found = self._service_parameters(params)
            if found is None:
                # a file pgdba cannot find (libpq's compiled-in system folder): two services never share a key
                return HistoryKey(f"service={service}/{self._database_of(params)}", tuple(former))
            params = {**found, **params}
        host_port = _host_port(params, os.environ)
        if not (params.get("dbname") or os.environ.get("PGDATABASE")):
            former.append(f"{host_port}/")
        return HistoryKey(f"{host_port}/{self._database_of(params)}", tuple(former))

    def params(self) -> dict[str, object]:
        """The DSN as a dict of libpq keywords; a malformed DSN is an InputError with the password masked."""
        try:
            params: dict[str, object] = dict(conninfo.conninfo_to_dict(self.dsn))
        except psycopg.ProgrammingError as exc:
            raise InputError(f"malformed DSN '{self.masked_dsn}': {_first_line(exc, self)}") from None
        ports = str(params.get("port") or "").split(",")
        if any(p and not p.strip().isdigit() for p in ports):
            if any(p and p in secret for p in ports for secret in self.secrets):
                raise InputError(
                    f"malformed DSN '{self.masked_dsn}': libpq reads the password as a port (a '/' ends the "
                    "user:password part): write a '/' in a password as %2F"
                )
            raise InputError(f"malformed DSN '{self.masked_dsn}': port {params['port']!r} is not a number")
        return params

    def with_database(self, dbname: str) -> Target:
        """The same server and credentials, another database."""
        params = self.params()
        params["dbname"] = dbname
        return replace(self, dsn=conninfo.make_conninfo(**{k: str(v) for k, v in params.items()}))

    def without_statement_timeout(
        self, settings: Mapping[str, str] | None = None, *, measures_queries: bool = False
    ) -> Target:
        """The same target for work that may take longer than a statement timeout (an index build, a
        measured workload, counting a restored table's rows), `settings` set over its own extra ones."""
        return replace(
            self,
            statement_timeout_ms=0,
            extra_settings={**self.extra_settings, **(settings or {})},
            measures_queries=measures_queries,
        )

    def session_settings(self, apply: bool) -> dict[str, str]:
        """pgdba's session settings, by name."""
        return {
            "statement_timeout": str(self.statement_timeout_ms),
            "lock_timeout": str(self.lock_timeout_ms),
            "default_transaction_read_only": "off" if apply else "on",
            # timestamps come back in UTC, which is what every time pgdba prints says it is
            "TimeZone": "UTC",
            # pg_qualstats records the constants of every plan it sees, a plain EXPLAIN's too: the advisor's
            # what-if plans would leave their sampled values there, and the next advice would read them back
            # as constants the application sent (user-settable; a placeholder where it is not loaded)
            **({} if self.track_statements else {"pg_qualstats.enabled": "off"}),
            **({} if self.measures_queries else {"jit": "off"}),
            **self.extra_settings,
        }

    def session_options(self, apply: bool) -> str:
        """The libpq `options` string that sets pgdba's session settings at connection start."""
        return " ".join(
            f"-c {name}={option_value(value)}" for name, value in self.session_settings(apply).items()
        )

    def startup_parameters(self, options: str, *, read_only: bool) -> dict[str, object]:
        """The DSN's keywords with `options` (pgdba's `-c name=value` settings) after the user's own: the
        DSN's, else its connection service's, else PGOPTIONS, which libpq reads only where the DSN sets none,
        so pgdba's would replace them. For a `read_only` session, a target_session_attrs (the DSN's, its
        service's or PGTARGETSESSIONATTRS) of read-write or read-only becomes the server role it asks for
        (READ_ONLY_SESSION_ATTRS): libpq judges those two by default_transaction_read_only, which pgdba's
        own read-only setting turns on, so read-write would refuse every server and read-only take the
        first, a primary too."""
        params = self.params()
        completed = self._with_service(params)
        existing = str(completed.get("options") or os.environ.get("PGOPTIONS") or "")
        params["options"] = f"{existing} {options}".strip()
        attrs = str(completed.get("target_session_attrs") or os.environ.get("PGTARGETSESSIONATTRS") or "")
        if read_only and attrs in READ_ONLY_SESSION_ATTRS:
            params["target_session_attrs"] = READ_ONLY_SESSION_ATTRS[attrs]
        return params

    def connect(self, *, apply: bool = False, autocommit: bool = True) -> psycopg.Connection:
        """Open a session with pgdba's settings; every failure becomes a ConnectionFailed with no password."""
        params = self.startup_parameters(self.session_options(apply), read_only=not apply)
        params["application_name"] = APPLICATION_NAME
        # libpq would take a SQL_ASCII database's encoding as the client's, and psycopg would then hand back
        # every text value as bytes. Asked for UTF8, the server converts from any other encoding, and from
        # SQL_ASCII it checks: bytes that are not UTF-8 there are a one-line database error, not garbage.
        params["client_encoding"] = "UTF8"
        params.setdefault("connect_timeout", self.connect_timeout_s)
        try:
            conn = psycopg.connect(**params, autocommit=autocommit)  # type: ignore[arg-type]
        except psycopg.Error as exc:
            reason = _first_line(exc, self)
            if UNSUPPORTED_STARTUP_PARAMETER in reason:
                reason += f": {self.pooler_advice}"
            raise ConnectionFailed(f"cannot connect to {self.where}: {reason}") from None
        for type_name in ("name", "text"):  # text: a name concatenated or cast in a query
            conn.adapters.register_loader(type_name, ReplacingTextLoader)
        if not self.track_statements:
            untrack_own_statements(conn)
        if os.environ.get("PGTZ"):  # libpq applies PGTZ after the options' TimeZone
            conn.execute("SET TimeZone TO 'UTC'")
            if not conn.autocommit:
                conn.commit()  # (a rollback would undo a SET of the open transaction)
        self._refuse_unapplied_settings(conn, apply)
        return conn

    @property
    def pooler_advice(self) -> str:
        """What to do when a pooler stands between pgdba and the server."""
        if not self.through_pgbouncer:
            return POOLER_ADVICE
        return (
            f"{POOLER_ADVICE} (this URL says pgbouncer=true: give pgdba the address Prisma migrates "
            "through, its directUrl)"
        )

    @property
    def where(self) -> str:
        """The server as pgdba names it in messages: the DSN with its password masked."""
        return self.masked_dsn or "the libpq default server"

    def _refuse_unapplied_settings(self, conn: psycopg.Connection, apply: bool) -> None:
        """Close the session and raise ConnectionFailed unless the server runs it with pgdba's timeouts and
        read-only guard. A pooler that drops startup options (PgBouncer's `ignore_startup_parameters`) would
        otherwise hand pgdba a session with none of them."""
        # a library caller's extra_settings may set one in other units ("5s"): those are not compared
        settings = self.session_settings(apply)
        wanted = {name: settings[name] for name in GUARD_SETTINGS if name not in self.extra_settings}
        try:
            rows = conn.execute(SESSION_SETTINGS_SQL, {"names": list(wanted)}).fetchall()
        except psycopg.errors.QueryCanceled:
            # pgdba's statement_timeout cut the check short (a timeout of a few ms), so the startup options
            # were applied: they travel as one string, a pooler drops them all or none
            rows = list(wanted.items())
        except psycopg.Error as exc:
            conn.close()
            raise ConnectionFailed(f"cannot use {self.where}: {_first_line(exc, self)}") from None
        if not conn.autocommit:
            conn.rollback()
        found = {str(name): str(value) for name, value in rows}
        unapplied = [
            f"{name} is {found.get(name, 'unknown')}, not {value}"
            for name, value in wanted.items()
            if found.get(name) != value
        ]
        if unapplied:
            conn.close()
            raise ConnectionFailed(
                f"cannot use {self.where}: the server did not apply pgdba's session settings "
                f"({'; '.join(unapplied)}): {self.pooler_advice}"
            )


class ReplacingTextLoader(Loader):
    """`name` and `text` values as str, bytes that are not UTF-8 shown as U+FFFD. A database or role name
    written in Latin-1 from a SQL_ASCII session lives in the shared catalogs and reaches every other database
    unconverted: decoded strictly, it failed every command that lists the server's databases, on every
    database of the server. (Text of a UTF-8 database is checked by the server on its way in; a SQL_ASCII
    database's is checked on its way out, a one-line error: pgdba asks for client_encoding UTF8.)"""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode("utf-8", errors="replace")


# The settings that keep pgdba safe on production (no runaway statement, no lock queue, no write without
# --apply): each session checks that the server applied them. pg_settings gives the timeouts in ms, as set.
GUARD_SETTINGS = ("statement_timeout", "lock_timeout", "default_transaction_read_only")
SESSION_SETTINGS_SQL = """
SELECT name, setting FROM pg_catalog.pg_settings WHERE name = ANY(%(names)s)
"""
UNSUPPORTED_STARTUP_PARAMETER = "unsupported startup parameter"
POOLER_ADVICE = (
    "a connection pooler (such as PgBouncer) drops or refuses the startup options that set pgdba's timeouts "
    "and read-only guard: point pgdba at PostgreSQL itself"
)


# pg_stat_statements.track is superuser-only (PGC_SUSET), so it cannot go in the `options` above: a role
# without the right would be refused the connection. Turned off after connecting instead, only when the
# library is loaded (the setting exists) and the role may set it. Every value is a bound parameter: a
# constant would make pg_stat_statements store this statement's text while parsing it, before tracking is off.
UNTRACK_SQL = """
SELECT set_config(%(name)s, %(value)s, %(is_local)s)
 WHERE current_setting(%(name)s, %(missing_ok)s) IS NOT NULL
"""
# PostgreSQL 15+ lets a superuser GRANT SET ON PARAMETER pg_stat_statements.track to a monitoring role
UNTRACK_SQL_15 = UNTRACK_SQL + "   AND has_parameter_privilege(%(name)s, %(privilege)s)\n"
_UNTRACK_PARAMS = {
    "name": "pg_stat_statements.track",
    "value": "none",
    "is_local": False,
    "missing_ok": True,
    "privilege": "SET",
}


def untrack_own_statements(conn: psycopg.Connection) -> bool:
    """Stop pg_stat_statements from counting this session's statements; True when it did.

    False (and the session unchanged) when the library is not loaded or the role may not set the parameter;
    never an error. A session-level set_config in an open transaction would be undone by a rollback: it is
    committed at once."""
    superuser = conn.info.parameter_status("is_superuser") == "on"
    if not superuser and conn.info.server_version < 150000:
        return False
    try:
        row = conn.execute(UNTRACK_SQL if superuser else UNTRACK_SQL_15, _UNTRACK_PARAMS).fetchone()
    except psycopg.DatabaseError:  # a server or pooler that refuses it: pgdba works on, tracked
        if not conn.autocommit:
            conn.rollback()
        return False
    if not conn.autocommit:
        conn.commit()
    return row is not None


def _host_port(params: Mapping[str, object], env: Mapping[str, str]) -> str:
    """`host:port` as libpq connects: the keyword, else PGHOST / PGPORT, else localhost:5432."""
    host = params.get("host") or params.get("hostaddr") or env.get("PGHOST") or "localhost"
    port = params.get("port") or env.get("PGPORT") or "5432"
    return f"{host}:{port}"


def service_parameters(name: str, env: Mapping[str, str]) -> dict[str, str] | None:
    """The keywords of connection service `name` from the first service file that defines it, in libpq's
    order: PGSERVICEFILE (else ~/.pg_service.conf), then pg_service.conf in PGSYSCONFDIR. None when no file
    pgdba can find has it: libpq also reads its compiled-in system folder, which pgdba does not know."""
    files = [Path(env["PGSERVICEFILE"] if env.get("PGSERVICEFILE") else "~/.pg_service.conf").expanduser()]
    if env.get("PGSYSCONFDIR"):
        files.append(Path(env["PGSYSCONFDIR"]) / "pg_service.conf")
    for path in files:
        found = _service_section(path, name)
        if found is not None:
            return found
    return None


def _service_section(path: Path, name: str) -> dict[str, str] | None:
    """The `key=value` lines of section `[name]` of a service file (blank lines and `#` comments skipped),
    None when the file cannot be read or has no such section."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    section: dict[str, str] | None = None
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if section is not None:
                return section  # the next section: ours is complete
            section = {} if line == f"[{name}]" else None
        elif section is not None and "=" in line:
            key, value = line.split("=", 1)
            section[key.strip()] = value.strip()
    return section


# psycopg's list of a multi-host DSN's attempts ("All failures were:"), one line each
_ATTEMPT = re.compile(
    r"^- host: '(?P<host>[^']*)', port: '(?P<port>[^']*)'(?:, hostaddr: '[^']*')?: (?P<why>.*)$"
)
_FAILURE_PREFIX = re.compile(r"^(connection failed: )?(connection to server at .*? failed: )?")


def option_value(value: str) -> str:
    """A setting's value as libpq's `options` takes it: a blank or a backslash escaped with a backslash
    (`-c search_path=app,\\ public`), as libpq splits the string at blanks."""
    return re.sub(r"([\\\s])", r"\\\1", value)


def _first_line(exc: BaseException, target: Target) -> str:
    """The useful line of a libpq error message, with any password masked. Where psycopg tried several
    servers (`host=a,b`), each one's reason, `a:5432: …; b:5432: …`: the last one's alone would hide why the
    others were passed over (target_session_attrs)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    attempts = [m for m in map(_ATTEMPT.match, lines) if m]
    if len({(m["host"], m["port"]) for m in attempts}) > 1:
        reasons = (f"{m['host']}:{m['port']}: {_FAILURE_PREFIX.sub('', m['why'])}" for m in attempts)
        return mask_password("; ".join(dict.fromkeys(reasons)), target.secrets)
    fatal = [line for line in lines if "FATAL" in line or "failed" in line]
    text = (fatal[-1] if fatal else lines[0]) if lines else type(exc).__name__
    return mask_password(_FAILURE_PREFIX.sub("", text), target.secrets)


def _without_driver(dsn: str) -> str:
    """`postgresql+psycopg2://…` (SQLAlchemy's URL, often in DATABASE_URL) as libpq reads it:
    `postgresql://…`."""
    return _DRIVER_SCHEME.sub(r"\g<scheme>://", dsn, count=1)


# Parameters of the connection URLs JavaScript applications keep in DATABASE_URL, which libpq refuses
# ("invalid URI query parameter"). Prisma's set up its pool, timeouts and TLS, which mean nothing to a libpq
# session, but for `schema`: the search_path Prisma's sessions use, so pgdba's sessions get it too (the
# application's unqualified table names resolve as they do for it). node-postgres (Drizzle's driver) reads
# `sslmode=no-verify` (TLS without checking the certificate: libpq's `require`, and a value libpq refuses
# when it connects) and `ssl=false` (libpq reads only `ssl=true`, as `require`).
PRISMA_URL_PARAMETERS = frozenset(
    {
        "schema",
        "connection_limit",
        "pool_timeout",
        "pgbouncer",
        "sslaccept",
        "sslidentity",
        "socket_timeout",
        "statement_cache_size",
        "max_connection_lifetime",
        "max_idle_connection_lifetime",
    }
)
_NODE_SSL = {"true": "require", "1": "require", "false": "disable", "0": "disable"}
_URI = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)


def _url_parameter(dsn: str, name: str) -> str | None:
    """A URL's query parameter (the first of that name), else None."""
    if not _URI.match(dsn) or "?" not in dsn:
        return None
    for part in dsn.partition("?")[2].split("&"):
        key, _, value = part.partition("=")
        if urllib.parse.unquote(key).lower() == name:
            return urllib.parse.unquote(value)
    return None


def prisma_connection_limit(dsn: str) -> int | None:
    """The pool size per instance a Prisma URL sets (`?connection_limit=N`), else None."""
    value = _url_parameter(dsn, "connection_limit")
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else None


def _libpq_url(dsn: str) -> str:
    """A Prisma or node-postgres connection URL as libpq reads it: Prisma's own query parameters left out,
    its `schema` turned into the session's search_path (`options=-c search_path=…`), node-postgres's `ssl`
    and `sslmode=no-verify` as the sslmode they mean. Other parameters stay as written."""
    if not _URI.match(dsn) or "?" not in dsn:
        return dsn
    head, _, query = dsn.partition("?")
    kept: list[str] = []
    schema: str | None = None
    options: str | None = None
    ssl: str | None = None
    for part in query.split("&"):
        key, _, value = part.partition("=")
        name = urllib.parse.unquote(key).lower()
        if name == "schema":
            schema = urllib.parse.unquote(value)
        elif name == "options":
            options = urllib.parse.unquote(value)
        elif name == "ssl" and value.lower() in _NODE_SSL:
            ssl = ssl or _NODE_SSL[value.lower()]
        elif name == "sslmode" and value.lower() == "no-verify":
            ssl = "require"
        elif name == "sslmode":
            ssl = urllib.parse.unquote(value)
        elif name not in PRISMA_URL_PARAMETERS:
            kept.append(part)
    if ssl is not None:
        kept.append("sslmode=" + urllib.parse.quote(ssl, safe=""))
    if schema:
        quoted = (
            schema if re.fullmatch(r"[a-z_][a-z0-9_$]*", schema) else '"' + schema.replace('"', '""') + '"'
        )
        # libpq splits `options` at blanks unless a backslash escapes them
        setting = "-c search_path=" + option_value(quoted)
        options = f"{options} {setting}" if options else setting
    if options is not None:
        kept.append("options=" + urllib.parse.quote(options, safe=""))
    return head + ("?" + "&".join(kept) if kept else "")


def resolve_target(
    dsn: str | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
) -> Target:
    """Pick the DSN: --dsn, then PGDBA_DSN, then DATABASE_URL, then the libpq environment (PGHOST …)."""
    env = os.environ if environ is None else environ
    if not (0 <= statement_timeout_ms <= MAX_TIMEOUT_MS and 0 <= lock_timeout_ms <= MAX_TIMEOUT_MS):
        raise InputError(
            f"timeouts must be zero (no limit) or positive milliseconds, at most {MAX_TIMEOUT_MS}"
        )
    for value, source in (
        (dsn, "--dsn"),
        (env.get("PGDBA_DSN"), "PGDBA_DSN"),
        (env.get("DATABASE_URL"), "DATABASE_URL"),
    ):
        if value:
            url = _without_driver(value.strip())
            target = Target(
                _libpq_url(url),
                source,
                statement_timeout_ms,
                lock_timeout_ms,
                connection_limit=prisma_connection_limit(url),
                through_pgbouncer=(_url_parameter(url, "pgbouncer") or "").lower() == "true",
            )
            target.params()  # validate early: a malformed DSN is an input error, not a connection error
            return target
    if any(env.get(name) for name in _LIBPQ_ENV):
        return Target("", "libpq environment", statement_timeout_ms, lock_timeout_ms)
    raise InputError("no database given: pass --dsn, or set PGDBA_DSN, DATABASE_URL or PGHOST/PGDATABASE")


@contextmanager
def session(target: Target, *, apply: bool = False) -> Iterator[psycopg.Connection]:
    """A connection with pgdba's settings, closed afterwards."""
    conn = target.connect(apply=apply)
    try:
        yield conn
    finally:
        conn.close()
