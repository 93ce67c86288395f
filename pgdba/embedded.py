"""An embedded PostgreSQL cluster: initdb + pg_ctl on 127.0.0.1, run as an unprivileged user when we are root.

The cluster keeps its superuser password in a libpq passfile beside the data directory, so the DSN it
prints (`...?passfile=...`) works for psql and pgdba alike and never contains the password itself.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import platformdirs

from pgdba.errors import EmbeddedClusterError
from pgdba.server import library_name, list_setting_entries

SUPERUSER = "postgres"
DEFAULT_SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.max": "10000",
    "track_io_timing": "on",
    "compute_query_id": "on",
    "max_connections": "100",
    "shared_buffers": "128MB",
    "fsync": "on",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
}
_UNPRIVILEGED_USERS = ("postgres", "nobody")
PGDBA_STATE_FOLDER = Path("/var/lib/pgdba")  # root's: the embedded cluster's, and `pgdba schedule`'s state


def default_data_root() -> Path:
    """Where `pgdba embedded` keeps its cluster unless told otherwise (PGDBA_EMBEDDED_DIR)."""
    if env := os.environ.get("PGDBA_EMBEDDED_DIR"):
        return Path(env)
    if os.geteuid() == 0:
        # root's home is private; the unprivileged server user must be able to reach its data directory
        return PGDBA_STATE_FOLDER / "embedded"
    return Path(platformdirs.user_data_dir("pgdba")) / "embedded"


def find_pg_bin(environ: Mapping[str, str] | None = None) -> Path:
    """PGDBA_PG_BIN, then `pg_config --bindir`, then /usr/lib/postgresql/*/bin (newest major first)."""
    env = os.environ if environ is None else environ
    candidates: list[Path] = []
    if env.get("PGDBA_PG_BIN"):
        explicit = Path(env["PGDBA_PG_BIN"])
        if not (explicit / "postgres").exists():
            raise EmbeddedClusterError(f"PGDBA_PG_BIN={explicit} has no 'postgres' binary")
        return explicit
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _major_of(p), reverse=True)
    candidates.extend(Path(p) for p in debian)
    for candidate in candidates:
        if (candidate / "postgres").exists() and (candidate / "initdb").exists():
            return candidate
    raise EmbeddedClusterError(
        "no PostgreSQL server binaries found: set PGDBA_PG_BIN or install postgresql (apt-get install postgresql-15)"
    )


def _major_of(path: str) -> int:
    try:
        return int(Path(path).parent.name.split(".")[0])
    except ValueError:
        return 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_taken(port: int) -> bool:
    """Another process listens on the port. Like PostgreSQL's own listener, ignore connections of a
    just-stopped server lingering in TIME_WAIT: they would make a plain bind() fail for a minute."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass
class ClusterStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path
    dsn: str | None
    version: str | None


class EmbeddedCluster:
    """One PostgreSQL cluster under `data_root` (data/, passfile, server.log)."""

    def __init__(
        self,
        data_root: Path | str | None = None,
        *,
        bin_dir: Path | None = None,
        settings: Mapping[str, str] | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        """preload: server libraries to load besides pg_stat_statements and HypoPG (e.g. pg_qualstats);
        like `settings`, applied when the cluster is created."""
        if data_root is not None and not str(data_root).strip():
            raise EmbeddedClusterError(
                "an empty data root: pass a folder, or leave --dir out for the default"
            )
        # absolute: initdb runs in another directory, and the DSN's passfile must not depend on the caller's
        self.data_root = Path(data_root).absolute() if data_root is not None else default_data_root()
        self.preload = tuple(preload)
        self.bin_dir = bin_dir or find_pg_bin()
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.data_dir = self.data_root / "data"
        self.passfile = self.data_root / "pgpass"
        self.log_file = self.data_root / "server.log"
        self.run_as = self._unprivileged_user() if os.geteuid() == 0 else None

    # ---- facts -------------------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def major(self) -> int:
        out = self._run([str(self.bin_dir / "postgres"), "--version"], as_server=False)
        return int(out.split()[-1].split(".")[0].rstrip("beta").rstrip("rc").split("devel")[0] or 0)

    @property
    def port(self) -> int | None:
        value = self.configured("port")
        return int(value) if value is not None else None

    def configured(self, name: str) -> str | None:
        """A setting as the server will read it at start: ALTER SYSTEM's file first, then pgdba's own."""
        found = self._configured_in(name)
        return found[0] if found else None

    def _configured_in(self, name: str) -> tuple[str, Path] | None:
        for path in (self.data_dir / "postgresql.auto.conf", self.data_dir / "pgdba.conf"):
            if path.exists():
                for line in path.read_text().splitlines():
                    key, _, value = line.partition("=")
                    if key.strip() == name:
                        return value.strip().strip("'"), path
        return None

    def _missing_preload_libraries(self) -> list[str]:
        """Libraries shared_preload_libraries names that are not installed for these binaries (a package
        removed after the cluster was set up): the server would refuse to start."""
        lib = self._lib_dir()
        if lib is None or not (lib / "pg_stat_statements.so").exists():
            return []  # where the server's modules live is unknown: let the server say
        value = self.configured("shared_preload_libraries") or ""
        # '$libdir/auto_explain', 'auto_explain.so' and 'auto_explain' are one library; other paths: the server says
        entries = [e for e in list_setting_entries(value) if "/" not in e.removeprefix("$libdir/")]
        names = [library_name(entry) for entry in entries]
        return [name for name in names if not (lib / f"{name}.so").exists()]

    def _refuse_missing_preload_libraries(self) -> None:
        missing = self._missing_preload_libraries()
        found = self._configured_in("shared_preload_libraries")
        if missing and found:
            raise EmbeddedClusterError(
                f"the cluster in {self.data_root} preloads {', '.join(missing)}, not installed for "
                f"{self.bin_dir}: install it again (Debian package postgresql-{self.major}-"
                f"{missing[0].replace('_', '-')}), or remove it from shared_preload_libraries in {found[1]}"
            )

    def dsn(self, dbname: str = "postgres") -> str:
        if self.port is None:
            raise EmbeddedClusterError(f"no embedded cluster in {self.data_root}; run `pgdba embedded start`")
        return (
            f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{quote(dbname)}"
            f"?passfile={quote(str(self.passfile))}"
        )

    def hypopg_available(self) -> bool:
        return self.library_available("hypopg")

    def library_available(self, name: str) -> bool:
        """Is the server-side library `name` (hypopg, pg_qualstats, …) installed for these binaries?"""
        lib = self._lib_dir()
        return bool(lib and (lib / f"{name}.so").exists())

    def _lib_dir(self) -> Path | None:
        pg_config = self.bin_dir / "pg_config"
        if pg_config.exists():
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                return Path(self._run([str(pg_config), "--pkglibdir"], as_server=False).strip())
        candidate = self.bin_dir.parent / "lib"
        return candidate if candidate.exists() else None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def init(self, port: int | None = None) -> None:
        """Create the cluster (initdb) with pgdba's settings; a no-op when it already exists."""
        if self.initialized:
            return
        self.data_root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_root, 0o755)
        self._check_server_can_enter(self.data_root)
        self.data_dir.mkdir(exist_ok=True)
        password = secrets.token_urlsafe(24)
        pwfile = self.data_root / ".initdb-pw"
        # the superuser's password: readable by the server's user only, from its first byte on
        descriptor = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(password + "\n")
        self._chown(self.data_dir, pwfile)
        os.chmod(self.data_dir, 0o700)
        try:
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
            )
        finally:
            pwfile.unlink(missing_ok=True)
        self.passfile.write_text(f"127.0.0.1:*:*:{SUPERUSER}:{password}\n")
        os.chmod(self.passfile, 0o600)
        settings = dict(self.settings)
        settings["port"] = str(port or _free_port())
        libraries = ["pg_stat_statements", *(["hypopg"] if self.hypopg_available() else []), *self.preload]
        settings["shared_preload_libraries"] = "'" + ",".join(libraries) + "'"
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        (self.data_dir / "pgdba.conf").write_text(conf)
        self._chown(self.data_dir / "pgdba.conf")
        with (self.data_dir / "postgresql.conf").open("a") as fh:
            fh.write("\ninclude = 'pgdba.conf'\n")

    def start(self, port: int | None = None) -> ClusterStatus:
        """Create if needed and start; idempotent when already running. A new cluster's port is checked
        before initdb, so a port that cannot be used leaves nothing behind."""
        if not self.initialized and port is not None:
            if not 1024 <= port <= 65535:
                raise EmbeddedClusterError(f"port {port}: use 1024–65535 (the server runs unprivileged)")
            if _port_taken(port):
                raise EmbeddedClusterError(f"port {port} on 127.0.0.1 is taken by another process")
        self.init(port)
        status = self.status()
        if status.running:
            return status
        self._clear_stale_pid()
        self._refuse_missing_preload_libraries()
        assert self.port is not None
        if _port_taken(self.port):
            raise EmbeddedClusterError(
                f"port {self.port} on 127.0.0.1 is taken by another process; stop it, or recreate the "
                f"cluster with another port (remove {self.data_root})"
            )
        self.log_file.touch()
        self._chown(self.log_file)
        try:
            self._run(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
        except EmbeddedClusterError as exc:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise EmbeddedClusterError(f"{exc}; server log: {' | '.join(tail)}") from None
        return self.status()

    def stop(self) -> ClusterStatus:
        if self.initialized and self.status().running:
            self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        return self.status()

    def restart(self) -> ClusterStatus:
        self.stop()
        return self.start()

    def destroy(self) -> None:
        """Stop and delete the whole data root."""
        with contextlib.suppress(EmbeddedClusterError):
            self.stop()
        shutil.rmtree(self.data_root, ignore_errors=True)

    def status(self) -> ClusterStatus:
        pid = self._live_pid()
        running = pid is not None
        version = (self.data_dir / "PG_VERSION").read_text().strip() if self.initialized else None
        return ClusterStatus(
            running=running,
            pid=pid,
            port=self.port,
            data_dir=self.data_dir,
            dsn=self.dsn() if self.initialized else None,
            version=version,
        )

    # ---- helpers -----------------------------------------------------------------------------------
    def _live_pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return None
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"postgres" not in cmdline.read_bytes():
            return None  # the pid was reused by an unrelated process
        return pid

    def _clear_stale_pid(self) -> None:
        pidfile = self.data_dir / "postmaster.pid"
        if pidfile.exists() and self._live_pid() is None:
            pidfile.unlink()

    def _unprivileged_user(self) -> pwd.struct_passwd:
        for name in _UNPRIVILEGED_USERS:
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise EmbeddedClusterError(
            "running as root and no unprivileged 'postgres' or 'nobody' user to run the server"
        )

    def _check_server_can_enter(self, folder: Path) -> None:
        """The unprivileged server user must be able to enter every folder above its data directory, or
        initdb fails on its password file with a bare "Permission denied". pgdba's own /var/lib/pgdba, which
        `pgdba schedule --apply` creates 0750 for its logs and locks, is given search permission only (o+x:
        no listing); any other folder is named in the error."""
        if not self.run_as:
            return
        for folder_above in reversed((folder, *folder.parents)):
            mode = folder_above.stat()
            if mode.st_uid == self.run_as.pw_uid:
                may_enter = mode.st_mode & stat.S_IXUSR
            elif mode.st_gid == self.run_as.pw_gid:
                may_enter = mode.st_mode & stat.S_IXGRP
            else:
                may_enter = mode.st_mode & stat.S_IXOTH
            if may_enter:
                continue
            if folder_above == PGDBA_STATE_FOLDER and mode.st_uid == os.geteuid():
                os.chmod(folder_above, stat.S_IMODE(mode.st_mode) | stat.S_IXOTH)
                continue
            raise EmbeddedClusterError(
                f"the server's user {self.run_as.pw_name} cannot enter {folder_above} (mode "
                f"{stat.S_IMODE(mode.st_mode):o}): `chmod o+x {folder_above}`, or choose another --dir"
            )

    def _chown(self, *paths: Path) -> None:
        if self.run_as:
            for path in paths:
                os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)

    def _run(self, argv: list[str], *, as_server: bool = True) -> str:
        kwargs: dict[str, Any] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if as_server and self.run_as:
            kwargs = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
            env["HOME"] = self.run_as.pw_dir
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=env,
                cwd=str(self.data_root) if self.data_root.exists() else "/",
                timeout=120,
                **kwargs,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedClusterError(f"{Path(argv[0]).name} failed: {exc}") from None
        if proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().splitlines()
            raise EmbeddedClusterError(
                f"{Path(argv[0]).name} failed: {message[-1] if message else proc.returncode}"
            )
        return proc.stdout


# postmaster.pid: line 1 the pid, 2 the data directory, 3 the start time (epoch seconds), 4 the port
_PID_FILE_START_LINE, _PID_FILE_PORT_LINE = 2, 3
# the pid file's start time and pg_postmaster_start_time() are taken a moment apart (libraries load between)
_START_TIME_TOLERANCE_S = 60


def running_embedded_root(data_directory: str | None, port: int, started_at: datetime) -> Path | None:
    """The data root of the embedded cluster pgdba created that runs here now as the server reached: the
    server's data directory (the default root's when it cannot be read) holds pgdba's settings file, its
    passfile sits beside it, and the live postmaster of that directory listens on `port` and started at
    `started_at`. None for any other server: pgdba never restarts one it did not start."""
    root = Path(data_directory).parent if data_directory else default_data_root()
    data_dir = root / "data"
    if not ((data_dir / "pgdba.conf").is_file() and (root / "pgpass").is_file()):
        return None
    lines = _pid_file_lines(data_dir)
    if len(lines) <= _PID_FILE_PORT_LINE or not _process_alive(lines[0]):
        return None
    try:
        same_port = int(lines[_PID_FILE_PORT_LINE]) == port
        start_gap = abs(int(lines[_PID_FILE_START_LINE]) - started_at.timestamp())
    except ValueError:
        return None
    return root if same_port and start_gap <= _START_TIME_TOLERANCE_S else None


def _pid_file_lines(data_dir: Path) -> list[str]:
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def _process_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
