"""Monitored databases for `pgdba serve`: one `--dsn`, or several from a TOML file.

# pgdba.toml
[[database]]
name = "production"
dsn = "postgresql://pgdba@db1/app"     # or dsn_env = "PROD_DSN"

[[database]]
name = "analytics"
dsn_env = "ANALYTICS_DSN"
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from pgdba.errors import InputError
from pgdba.target import Target, resolve_target
from pgdba.text_files import read_text_file

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def load_databases(path: Path) -> dict[str, Target]:
    """Name → target, in file order; a malformed file is an InputError naming the problem."""
    text = read_text_file(path, "--config file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from None
    entries = data.get("database")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: expected one or more [[database]] tables with name and dsn")
    databases: dict[str, Target] = {}
    for number, entry in enumerate(entries, start=1):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError(f"{path}: database #{number} needs a name of letters, digits, '_', '.', '-'")
        if name in databases:
            raise InputError(f"{path}: database name {name!r} is used twice")
        dsn = entry.get("dsn")
        if dsn is None and isinstance(entry.get("dsn_env"), str):
            dsn = os.environ.get(entry["dsn_env"])
            if not dsn:
                raise InputError(
                    f"{path}: database {name!r}: environment variable {entry['dsn_env']} is not set"
                )
        if not isinstance(dsn, str) or not dsn:
            raise InputError(f"{path}: database {name!r} needs dsn or dsn_env")
        databases[name] = resolve_target(dsn, {})
    return databases
