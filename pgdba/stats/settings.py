"""Server settings with their unit, source and built-in default."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    unit: str | None
    source: str
    boot_value: str | None

    @property
    def is_default(self) -> bool:
        return self.source == "default" or self.value == self.boot_value

    def bytes(self) -> int | None:
        """Memory settings in bytes (unit '8kB', 'kB', 'MB' …); None when not a memory setting."""
        factors = {"B": 1, "kB": 1024, "8kB": 8192, "MB": 1024**2, "GB": 1024**3, "16MB": 16 * 1024**2}
        if self.unit not in factors:
            return None
        try:
            return int(self.value) * factors[self.unit]
        except ValueError:
            return None


SETTINGS_SQL = """
SELECT name,
       setting AS value,
       unit,
       source,
       boot_val AS boot_value
  FROM pg_settings
"""


def server_settings(conn: psycopg.Connection) -> dict[str, Setting]:
    """Every setting as this session sees it (database- and role-level overrides included)."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(SETTINGS_SQL).fetchall()
    return {row["name"]: Setting(**row) for row in rows}
