"""Finding pg_dump / pg_restore / pg_dumpall of the server's major version (else the nearest newer one),
and the pg_restore that reads an archive.

An older pg_dump refuses to dump a newer server ("aborting because of server version mismatch"), and a
newer one reads every older server, so the rule is: same major or newer, the nearest preferred: the
archive of a newer pg_dump needs a pg_restore as new, and pg_restore 17+ sends `SET transaction_timeout`,
which a PostgreSQL 16 or older server (the scratch server of a restore test) rejects. Likewise an older
pg_restore refuses the archive of a newer pg_dump ("unsupported version (1.16) in file header"), so
pg_restore is chosen by the major of the pg_dump that wrote the archive, not by the server's. The search
order is the one `pgdba.embedded.find_pg_bin` uses: PGDBA_PG_BIN, `pg_config --bindir`,
/usr/lib/postgresql/*/bin, PATH.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pgdba.errors import NotAvailable

_VERSION = re.compile(r"\(PostgreSQL\)\s+(?P<major>\d+)(?:\.(?P<minor>\d+))?")


@dataclass(frozen=True)
class PgTools:
    """The client programs of one PostgreSQL build."""

    bin_dir: Path
    major: int
    version: str

    @property
    def pg_dump(self) -> str:
        return str(self.bin_dir / "pg_dump")

    @property
    def pg_restore(self) -> str:
        return str(self.bin_dir / "pg_restore")

    @property
    def pg_dumpall(self) -> str:
        return str(self.bin_dir / "pg_dumpall")


def tool_version(program: Path) -> tuple[int, str] | None:
    """(major, full version text) of a PostgreSQL client program, or None when it does not run."""
    try:
        out = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(out.stdout)
    if out.returncode != 0 or match is None:
        return None
    return int(match["major"]), out.stdout.strip()


def pg_dump_major(version_text: str) -> int | None:
    """The major of a `--version` line as the manifest records it ("pg_dump (PostgreSQL) 15.18 (Debian …)")."""
    match = _VERSION.search(version_text)
    return int(match["major"]) if match else None


def candidate_bin_dirs(environ: Mapping[str, str] | None = None, program: str = "pg_dump") -> list[Path]:
    """Directories that may hold `program`, in the order they are tried."""
    env = os.environ if environ is None else environ
    if env.get("PGDBA_PG_BIN"):
        return [Path(env["PGDBA_PG_BIN"])]
    found: list[Path] = []
    pg_config = shutil.which("pg_config", path=env.get("PATH"))
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            found.append(Path(out.stdout.strip()))
    found.extend(Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    on_path = shutil.which(program, path=env.get("PATH"))
    if on_path:
        found.append(Path(on_path).resolve().parent)
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def find_pg_tools(server_major: int, environ: Mapping[str, str] | None = None) -> PgTools:
    """The pg_dump/pg_restore for dumping a server (see choose_pg_dump); NotAvailable with what was seen."""
    return choose_pg_dump(installed_pg_dumps(environ), server_major)


def installed_pg_dumps(environ: Mapping[str, str] | None = None) -> list[PgTools]:
    """Every pg_dump that runs and has a pg_restore beside it, in search order."""
    found: list[PgTools] = []
    for bin_dir in candidate_bin_dirs(environ):
        version = tool_version(bin_dir / "pg_dump")
        if version is not None and (bin_dir / "pg_restore").exists():
            found.append(PgTools(bin_dir, *version))
    return found


def choose_pg_dump(found: list[PgTools], server_major: int) -> PgTools:
    """The pg_dump of the server's major, else the oldest newer one (nearest_tools); NotAvailable naming
    each one seen when all are older."""
    chosen = nearest_tools(found, server_major)
    if chosen is not None:
        return chosen
    where = "; ".join(f"{t.bin_dir}/pg_dump is {t.major}" for t in found) or "no pg_dump found"
    raise NotAvailable(
        f"the server runs PostgreSQL {server_major} and needs pg_dump {server_major} or newer ({where}): "
        f"install postgresql-client-{server_major} or point PGDBA_PG_BIN at its bin directory"
    )


def nearest_tools(found: list[PgTools], major: int) -> PgTools | None:
    """The tools of `major`, else the oldest newer ones: a newer client works with an older server or
    archive, but may emit settings an older server lacks. None when all are older."""
    usable = [tools for tools in found if tools.major >= major]
    return min(usable, key=lambda tools: tools.major, default=None)


def nearest_pg_restore(found: list[PgTools], archive_major: int) -> PgTools | None:
    """The pg_restore of the archive's pg_dump major, else the oldest newer one: the closest to the
    pg_dump that wrote the archive."""
    return nearest_tools(found, archive_major)


def find_pg_restore(archive_major: int, environ: Mapping[str, str] | None = None) -> PgTools:
    """The pg_restore that reads an archive written by pg_dump `archive_major` (see nearest_pg_restore);
    NotAvailable with what was seen."""
    found: list[PgTools] = []
    for bin_dir in candidate_bin_dirs(environ, "pg_restore"):
        version = tool_version(bin_dir / "pg_restore")
        if version is not None:
            found.append(PgTools(bin_dir, *version))
    chosen = nearest_pg_restore(found, archive_major)
    if chosen is not None:
        return chosen
    where = "; ".join(f"{t.bin_dir}/pg_restore is {t.major}" for t in found) or "no pg_restore found"
    raise NotAvailable(
        f"the archive was written by pg_dump {archive_major} and needs pg_restore {archive_major} or newer "
        f"({where}): install postgresql-client-{archive_major} or point PGDBA_PG_BIN at its bin directory"
    )


def pg_restore_for_archive(
    pg_dump_version: str, server_major: int, environ: Mapping[str, str] | None = None
) -> PgTools:
    """The pg_restore for a backup, from its manifest's pg_dump_version (the server's major when that
    line cannot be read: pg_dump was at least as new as the server)."""
    return find_pg_restore(pg_dump_major(pg_dump_version) or server_major, environ)
