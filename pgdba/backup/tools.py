"""Finding pg_dump / pg_restore / pg_dumpall of the server's major version or newer.

An older pg_dump refuses to dump a newer server ("aborting because of server version mismatch"), and a
newer one reads every older server, so the rule is: same major or newer. The search order is the one
`pgdba.embedded.find_pg_bin` uses: PGDBA_PG_BIN, `pg_config --bindir`, /usr/lib/postgresql/*/bin, PATH.
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


def candidate_bin_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Directories that may hold pg_dump, in the order they are tried."""
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
    on_path = shutil.which("pg_dump", path=env.get("PATH"))
    if on_path:
        found.append(Path(on_path).resolve().parent)
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def find_pg_tools(server_major: int, environ: Mapping[str, str] | None = None) -> PgTools:
    """The newest pg_dump/pg_restore whose major is at least the server's; NotAvailable with what was seen."""
    seen: list[str] = []
    best: PgTools | None = None
    for bin_dir in candidate_bin_dirs(environ):
        version = tool_version(bin_dir / "pg_dump")
        if version is None or not (bin_dir / "pg_restore").exists():
            continue
        major, text = version
        seen.append(f"{bin_dir}/pg_dump is {major}")
        if major >= server_major and (best is None or major > best.major):
            best = PgTools(bin_dir, major, text)
    if best is not None:
        return best
    where = "; ".join(seen) if seen else "no pg_dump found"
    raise NotAvailable(
        f"the server runs PostgreSQL {server_major} and needs pg_dump {server_major} or newer ({where}): "
        f"install postgresql-client-{server_major} or point PGDBA_PG_BIN at its bin directory"
    )
