"""What the API serves: the monitored databases, the history store and the access token."""

from __future__ import annotations

from dataclasses import dataclass, field

from pgdba.errors import PgdbaError
from pgdba.target import Target


class UnknownDatabase(PgdbaError):
    """A `db=` name that is not configured; the API and the dashboard pages answer 404."""


@dataclass(frozen=True)
class ApiSettings:
    target: Target
    token: str | None = None
    history_store: str | None = None
    pool_bench: str | None = None
    schema_sources: tuple[str, ...] = ()
    schema_config: str | None = None
    alert_rules: str | None = None
    backup_storage: str | None = None
    databases: dict[str, Target] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.databases) or ["default"]

    def target_for(self, name: str | None) -> Target:
        """The target of a monitored database by name (the first/only one when no name is given)."""
        if not name or (not self.databases and name == "default"):
            return self.target
        if name not in self.databases:
            raise UnknownDatabase(
                f"no monitored database named {name!r}; configured: {', '.join(self.names)}"
            )
        return self.databases[name]
