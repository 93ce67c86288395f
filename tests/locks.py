"""Another session holding a table lock, as a migration in flight does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import TestDatabase


@contextmanager
def locked(db: TestDatabase, table: str) -> Iterator[None]:
    """Another session holds ACCESS EXCLUSIVE on the table (a migration in flight) until the block ends."""
    migration = db.connect(autocommit=False)
    try:
        migration.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        migration.rollback()
        migration.close()
